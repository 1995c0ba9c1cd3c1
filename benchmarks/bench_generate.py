"""Benchmark: generate one follow-up workbook per organisation of Quebec (~1,100).

Compares the full camf_excel workbook (build_workbook) with a bare xlsxwriter "floor"
holding the same sheet names and cell values, without validation, formats, formulas,
tables or charts. Both run on the same synthetic data, in the same pool size.

Usage: python benchmarks/bench_generate.py [--count 1100] [--workers N] [--seed 2025]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xlsxwriter

from camf_excel.model import Template
from camf_excel.templates import TEMPLATE_BY_DEMARCHE, load_template
from camf_excel.writer import SHEETS, build_workbook

DEMARCHES = {template_id: demarche for demarche, template_id in TEMPLATE_BY_DEMARCHE.items()}
TEMPLATE_IDS = tuple(DEMARCHES)
SINGLE_SUBSET = 200  # organisations used for the single-process run
MRC_SHARE = 0.08  # about 90 MRC plans among ~1,100 organisations
REGIONS = ("Bas-Saint-Laurent", "Saguenay–Lac-Saint-Jean", "Capitale-Nationale", "Mauricie",
           "Estrie", "Montréal", "Outaouais", "Abitibi-Témiscamingue", "Côte-Nord",
           "Nord-du-Québec", "Gaspésie–Îles-de-la-Madeleine", "Chaudière-Appalaches", "Laval",
           "Lanaudière", "Laurentides", "Montérégie", "Centre-du-Québec")
NAME_PARTS = ("Saint", "Sainte", "Lac", "Rivière", "Mont", "Notre-Dame", "Pointe", "Cap", "Val",
              "Grand", "Petite", "Haute", "Baie", "Îles")
NAME_ENDS = ("des-Érables", "du-Loup", "Jean", "Pierre", "Marie", "aux-Sables", "Gabriel",
             "des-Monts", "de-la-Paix", "Édouard", "Hyacinthe", "Luc", "Anne", "Rémi", "Joseph")
WORDS = ("aménager", "un", "parc", "intergénérationnel", "avec", "des", "modules", "adaptés",
         "aux", "aînés", "et", "familles", "offrir", "activités", "gratuites", "pour", "les",
         "jeunes", "bonifier", "le", "transport", "collectif", "vers", "centres", "de", "services",
         "sentiers", "pédestres", "accessibles", "à", "tous", "publier", "bulletin", "municipal",
         "informations", "sur", "programmes", "soutien", "halte-garderie", "pendant", "séances",
         "conseil", "bibliothèque", "heures", "d'ouverture", "prolongées", "en", "soirée",
         "sécuriser", "traverses", "piétonnes", "près", "école", "logements", "abordables",
         "comité", "citoyen", "consultation", "annuelle", "organismes", "communautaires",
         "partenariat", "avec", "CISSS", "centre", "services", "scolaire", "politique",
         "proches", "aidants", "fête", "voisins", "jardins", "collectifs", "piscine", "rampe")
TEXT_COLUMNS = ("objectif", "action", "partenaires", "indicateur", "obstacles",
                "prochaines_etapes", "commentaires")


@dataclass(frozen=True)
class Job:
    """One organisation's workbook to generate."""

    index: int
    template_id: str
    identification: dict[str, Any]
    actions: list[dict[str, Any]]


@dataclass(frozen=True)
class Result:
    """What a worker reports for one workbook."""

    index: int
    seconds: float
    size: int
    pid: int
    maxrss_mb: float


@dataclass(frozen=True)
class RunStats:
    """Measurements of one variant run over a list of jobs."""

    results: list[Result]
    wall: float
    startup: float


# -- synthetic data ---------------------------------------------------------------------
def french_text(rng: random.Random, low: int = 40, high: int = 150) -> str:
    """Return a French-looking sentence of low to high characters."""
    target = rng.randint(low, high)
    words: list[str] = []
    length = 0
    while length < target:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    text = " ".join(words)[:target].rstrip()
    return text[0].upper() + text[1:] + "."


def plan_size(rng: random.Random, is_mrc: bool) -> int:
    """Return a skewed plan size: mostly 15–50 actions, MRC plans up to 150."""
    if is_mrc:
        return round(rng.triangular(40, 150, 60))
    return round(rng.triangular(15, 60, 20)) if rng.random() < 0.9 else rng.randint(50, 90)


def org_name(rng: random.Random) -> str:
    """Return a plausible Quebec municipality name."""
    return f"{rng.choice(NAME_PARTS)}-{rng.choice(NAME_ENDS)}"


def make_identification(rng: random.Random, template_id: str, is_mrc: bool) -> dict[str, Any]:
    """Return the identification values of one organisation."""
    start = rng.randint(2022, 2025)
    end = start + rng.choice((2, 3, 4))
    mrc = f"MRC de {org_name(rng)}"
    return {
        "organisation": mrc if is_mrc else org_name(rng),
        "type": "MRC" if is_mrc else "Municipalité",
        "code_geo": f"{rng.randint(1000, 99999):05d}",
        "mrc": mrc,
        "region": rng.choice(REGIONS),
        "demarche": DEMARCHES[template_id],
        "annee_debut": start,
        "annee_fin": end,
        "periode": min(end, start + rng.randint(1, 2)),
    }


def follow_up(rng: random.Random, template: Template, periode: int) -> dict[str, Any]:
    """Return the follow-up values of an action that has been reported on."""
    statut = rng.choice(template.lists["statut"].items)
    avancement = {"Non débutée": 0.0, "Réalisée": 100.0}.get(statut, float(rng.randint(5, 95)))
    return {
        "statut": statut,
        "avancement": avancement,
        "date_maj": dt.date(periode, rng.randint(1, 12), rng.randint(1, 28)),
        "budget_reel": round(rng.uniform(0, 40_000), 2),
        "commentaires": french_text(rng),
        "obstacles": french_text(rng) if rng.random() < 0.3 else None,
        "prochaines_etapes": french_text(rng) if rng.random() < 0.5 else None,
        "bon_coup": rng.choice(("Oui", "Non")),
    }


def make_action(rng: random.Random, template: Template, ident: Mapping[str, Any],
                number: int) -> dict[str, Any]:
    """Return one action of a plan, with follow-up values about half of the time."""
    start = rng.randint(ident["annee_debut"], ident["annee_fin"])
    action: dict[str, Any] = {
        "action_id": f"{number // 10 + 1}.{number % 10 + 1}",
        "champ": rng.choice(template.lists["champ"].items),
        "objectif": french_text(rng),
        "action": french_text(rng),
        "clientele": rng.choice(template.lists["clientele"].items),
        "responsable": rng.choice(template.lists["responsable"].items),
        "partenaires": french_text(rng, 40, 90),
        "annee_debut": start,
        "annee_fin": rng.randint(start, ident["annee_fin"]),
        "budget_prevu": float(rng.randrange(0, 50_000, 500)),
        "indicateur": french_text(rng, 40, 100),
    }
    if rng.random() < 0.5:
        action |= follow_up(rng, template, ident["periode"])
    return action


def make_jobs(count: int, seed: int, templates: Mapping[str, Template]) -> list[Job]:
    """Return count deterministic synthetic organisations with their plans."""
    rng = random.Random(seed)
    jobs = []
    for index in range(count):
        template_id = rng.choice(TEMPLATE_IDS)
        is_mrc = rng.random() < MRC_SHARE
        ident = make_identification(rng, template_id, is_mrc)
        template = templates[template_id]
        actions = [make_action(rng, template, ident, n) for n in range(plan_size(rng, is_mrc))]
        jobs.append(Job(index, template_id, ident, actions))
    return jobs


# -- workers ----------------------------------------------------------------------------
_TEMPLATES: dict[str, Template] = {}
_OUTDIR = Path()


def init_worker(outdir: str) -> None:
    """Load the templates once per worker and remember where to write."""
    global _OUTDIR  # noqa: PLW0603 - per-process state set by the pool initializer
    _OUTDIR = Path(outdir)
    for template_id in TEMPLATE_IDS:
        _TEMPLATES[template_id] = load_template(template_id)


def worker_ready(_: int) -> int:
    """Return the worker's pid once it is started (used to warm the pool up)."""
    time.sleep(0.05)
    return os.getpid()


def maxrss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Return ru_maxrss in MB (kilobytes on Linux, bytes on macOS)."""
    value = resource.getrusage(who).ru_maxrss
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


def build_floor(template: Template, identification: Mapping[str, Any],
                actions: Sequence[Mapping[str, Any]]) -> bytes:
    """Return a bare xlsxwriter workbook with the same sheets and cell values."""
    stream = io.BytesIO()
    book = xlsxwriter.Workbook(stream, {"in_memory": True})
    sheets = {name: book.add_worksheet(name) for name in SHEETS}
    ident_sheet = sheets["Identification"]
    for row, field in enumerate(template.identification):
        ident_sheet.write_string(row, 0, field.label)
        write_value(ident_sheet, row, 1, identification.get(field.key))
    plan = sheets["Plan d'action"]
    columns = [c for c in template.columns if c.kind != "formula"]
    for col, column in enumerate(columns):
        plan.write_string(0, col, column.header)
    for row, action in enumerate(actions, start=1):
        for col, column in enumerate(columns):
            write_value(plan, row, col, action.get(column.key))
    lists = sheets["Listes"]
    for col, spec in enumerate(template.lists.values()):
        for row, item in enumerate(spec.items):
            lists.write_string(row, col, item)
    book.close()
    return stream.getvalue()


def write_value(sheet: Any, row: int, col: int, value: object) -> None:
    """Write a value with the matching typed xlsxwriter method, skipping blanks."""
    if value is None or value == "":
        return
    if isinstance(value, dt.date):
        sheet.write_datetime(row, col, value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        sheet.write_number(row, col, value)
    else:
        sheet.write_string(row, col, str(value))


def run_job(job: Job, builder: Callable[..., bytes]) -> Result:
    """Build one workbook, write it to disk, and time both steps."""
    start = time.perf_counter()
    data = builder(_TEMPLATES[job.template_id], job.identification, job.actions)
    path = _OUTDIR / f"{job.index:05d}.xlsx"
    path.write_bytes(data)
    seconds = time.perf_counter() - start
    return Result(job.index, seconds, len(data), os.getpid(), maxrss_mb())


def run_full(job: Job) -> Result:
    """Worker task: the full camf_excel workbook."""
    return run_job(job, build_workbook)


def run_floor(job: Job) -> Result:
    """Worker task: the bare xlsxwriter floor."""
    return run_job(job, build_floor)


# -- runs -------------------------------------------------------------------------------
def start_pool(workers: int, outdir: Path) -> tuple[ProcessPoolExecutor, float]:
    """Start a spawned pool, wait until every worker is up; return it and its start-up time."""
    # Spawned (not forked) workers, started before the data is built: Linux carries the
    # parent's peak RSS over fork+exec into the child's ru_maxrss, which would hide ours.
    outdir.mkdir()
    started = time.perf_counter()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=init_worker, initargs=(str(outdir),))
    # Every process is spawned by the first submissions; repeat until each one has answered.
    pids: set[int] = set()
    for _ in range(50):
        pids |= set(pool.map(worker_ready, range(workers * 2)))
        if len(pids) >= workers:
            break
    return pool, time.perf_counter() - started


def run_pool(pool: ProcessPoolExecutor, startup: float, task: Callable[[Job], Result],
             jobs: Sequence[Job], workers: int) -> RunStats:
    """Run task over jobs in a started pool, then shut it down; return the measurements."""
    chunksize = max(1, len(jobs) // (workers * 16))
    with pool:
        started = time.perf_counter()
        results = list(pool.map(task, jobs, chunksize=chunksize))
        wall = time.perf_counter() - started
    return RunStats(results, wall, startup)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[rank]


def describe_ms(stats: RunStats) -> str:
    """Return 'mean / median / p95' of per-workbook times in ms."""
    ms = [r.seconds * 1000 for r in stats.results]
    return (f"{statistics.fmean(ms):7.1f} / {statistics.median(ms):7.1f} / "
            f"{percentile(ms, 0.95):7.1f}")


def rss_flatness(stats: RunStats) -> tuple[float, float]:
    """Return the worker peak RSS over the first 10% of results and over all of them."""
    first = stats.results[:max(1, len(stats.results) // 10)]
    return max(r.maxrss_mb for r in first), max(r.maxrss_mb for r in stats.results)


def mean_ms(stats: RunStats) -> float:
    """Return the mean per-workbook time in ms."""
    return statistics.fmean(r.seconds for r in stats.results) * 1000


def print_variant(name: str, single: RunStats, pooled: RunStats, workers: int) -> None:
    """Print the measurements of one variant."""
    sizes = [r.size for r in pooled.results]
    early, overall = rss_flatness(pooled)
    print(f"\n== {name} ==")
    print(f"  ms/workbook, 1 process ({len(single.results)} wb)  mean / median / p95: "
          f"{describe_ms(single)}")
    print(f"  ms/workbook, pool of {workers} ({len(pooled.results)} wb)  mean / median / p95: "
          f"{describe_ms(pooled)}")
    print(f"  wall time, 1 process, {len(single.results)} wb: {single.wall:6.2f} s")
    print(f"  wall time, pool, all {len(pooled.results)} wb:    {pooled.wall:6.2f} s "
          f"(+ {pooled.startup:.2f} s pool start-up) = "
          f"{len(pooled.results) / pooled.wall:.1f} wb/s")
    print(f"  peak RSS per worker: {overall:6.1f} MB (1 process: "
          f"{max(r.maxrss_mb for r in single.results):.1f} MB)")
    print(f"  RSS flatness: worker peak after first 10% {early:6.1f} MB, at end {overall:6.1f} MB "
          f"({overall - early:+.1f} MB)")
    print(f"  file size: mean {statistics.fmean(sizes) / 1024:6.1f} KB, total "
          f"{sum(sizes) / 1024 / 1024:.1f} MB")


def parse_args() -> argparse.Namespace:
    """Return the command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1100, help="organisations (default 1100)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="pool processes (default: CPU count)")
    parser.add_argument("--seed", type=int, default=2025, help="random seed (default 2025)")
    return parser.parse_args()


def main() -> None:
    """Build the data, run full and floor in one process and in the pool, print the report."""
    args = parse_args()
    tasks = (("full", run_full), ("floor", run_floor))
    with tempfile.TemporaryDirectory(prefix="camf-bench-") as tmp:
        pools = {(name, size): start_pool(size, Path(tmp) / f"{name}-{size}")
                 for name, _ in tasks for size in (1, args.workers)}
        report(args, tasks, pools)


def report(args: argparse.Namespace, tasks: Sequence[tuple[str, Callable[[Job], Result]]],
           pools: Mapping[tuple[str, int], tuple[ProcessPoolExecutor, float]]) -> None:
    """Build the data, run every variant in its pool and print the report."""
    templates = {t: load_template(t) for t in TEMPLATE_IDS}
    started = time.perf_counter()
    jobs = make_jobs(args.count, args.seed, templates)
    data_seconds = time.perf_counter() - started
    sizes = [len(j.actions) for j in jobs]
    followed = sum(1 for j in jobs for a in j.actions if "statut" in a)
    subset = jobs[:SINGLE_SUBSET]

    runs: dict[str, tuple[RunStats, RunStats]] = {}
    for name, task in tasks:
        single = run_pool(*pools[name, 1], task, subset, 1)
        pooled = run_pool(*pools[name, args.workers], task, jobs, args.workers)
        runs[name] = (single, pooled)

    print(f"camf-excel generation benchmark — {args.count} organisations, seed {args.seed}, "
          f"pool of {args.workers} (CPU count {os.cpu_count()})")
    print(f"  data: {sum(sizes)} actions, {min(sizes)}–{max(sizes)} per plan "
          f"(median {statistics.median(sizes):.0f}, p95 {percentile(sizes, 0.95):.0f}), "
          f"{followed / sum(sizes):.0%} with follow-up; built in {data_seconds:.2f} s")
    print("  per-workbook time = build + write to a temp file, measured inside the worker")
    for name, label in (("full", "full (camf_excel.build_workbook)"),
                        ("floor", "floor (bare xlsxwriter, same values)")):
        print_variant(label, *runs[name], args.workers)

    full_single, full_pool = runs["full"]
    floor_single, floor_pool = runs["floor"]
    print("\n== ratios full / floor ==")
    print(f"  mean ms/workbook, 1 process: {mean_ms(full_single) / mean_ms(floor_single):5.2f}×")
    print(f"  mean ms/workbook, pool:      {mean_ms(full_pool) / mean_ms(floor_pool):5.2f}×")
    print(f"  total wall time, pool:       {full_pool.wall / floor_pool.wall:5.2f}×")
    size_ratio = (statistics.fmean(r.size for r in full_pool.results)
                  / statistics.fmean(r.size for r in floor_pool.results))
    print(f"  mean file size:              {size_ratio:5.2f}×")
    print(f"\n  ru_maxrss: main process {maxrss_mb():.1f} MB, "
          f"largest child {maxrss_mb(resource.RUSAGE_CHILDREN):.1f} MB")


if __name__ == "__main__":
    main()
