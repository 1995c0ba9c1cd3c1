"""Benchmark: read and validate one filled workbook per organisation of Quebec (~1,100).

The floor, measured in the same run: python-calamine reading the raw values of the same two
sheets (Identification, Plan d'action) of every file, one process, no checks, no
normalisation. The measured run is `check_files` as `camf-excel validate` calls it: folder
walk, format sniffing, zip guards, one capped worker process per core, normalisation, rules.
A second part measures what a hostile file costs (time, and the worker's peak memory).

Usage: python benchmarks/bench_validate.py [--count 1100] [--seed 2025] [--dir FOLDER]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench_generate import Job, make_jobs
from python_calamine import CalamineWorkbook

from camf_excel.batch import check_files
from camf_excel.generate import safe_file_name
from camf_excel.templates import load_template
from camf_excel.workers import default_jobs
from camf_excel.writer import SHEETS, build_workbook

SHEETS_READ = (SHEETS[1], SHEETS[2])


def write_workbooks(folder: Path, count: int, seed: int,
                    place: Callable[[Job], None] | None = None) -> list[Path]:
    """Write the synthetic filled workbooks once (reused when the folder already holds them).

    `place` may change each job's identification before it is written (real names, say).
    """
    existing = sorted(folder.glob("*.xlsx"))
    if len(existing) == count:
        return existing
    templates = {t: load_template(t) for t in ("pfm", "mada", "pfm-mada")}
    jobs = make_jobs(count, seed, templates)
    for job in jobs if place else ():
        place(job)
    names = [safe_file_name(job.identification["organisation"], "", job.template_id) for job in jobs]
    paths = [folder / f"{job.index:04d}_{name}" for job, name in zip(jobs, names, strict=True)]
    with ProcessPoolExecutor() as pool:
        for path, data in zip(paths, pool.map(_build, jobs, chunksize=20), strict=True):
            path.write_bytes(data)
    return paths


def _build(job: object) -> bytes:
    return build_workbook(load_template(job.template_id), job.identification, job.actions)  # type: ignore[attr-defined]


def floor(paths: list[Path]) -> tuple[float, int]:
    """Read the two sheets' raw values with python-calamine, one process; return seconds and rows."""
    start = time.perf_counter()
    rows = 0
    for path in paths:
        book = CalamineWorkbook.from_path(str(path))
        for name in SHEETS_READ:
            rows += len(book.get_sheet_by_name(name).to_python())
    return time.perf_counter() - start, rows


def measured(folder: Path, jobs: int | None) -> tuple[float, int, int, int]:
    """Validate the folder; return seconds, files, action rows and issues."""
    start = time.perf_counter()
    run = check_files([folder], jobs=jobs)
    seconds = time.perf_counter() - start
    actions = sum(len(r.actions) for r in run.results)
    return seconds, len(run.results), actions, len(run.issues)


def hostile_files(folder: Path, model: Path) -> list[Path]:
    """Write hostile variants of one good workbook: they must cost little and never stop the batch."""
    def rewrite(name: str, part: str, old: bytes, new: bytes) -> Path:
        target = folder / name
        with zipfile.ZipFile(model) as original, zipfile.ZipFile(target, "w") as copy:
            for entry in original.infolist():
                data = original.read(entry)
                copy.writestr(entry, data.replace(old, new, 1) if entry.filename == part else data)
        return target

    bomb = b'uniqueCount="4000000000" x="'
    return [
        rewrite("bombe-textes.xlsx", "xl/sharedStrings.xml", b'uniqueCount="', bomb),
        rewrite("cellule-lointaine.xlsx", "xl/worksheets/sheet3.xml", b'<c r="A4"', b'<c r="XFD1048576"'),
        rewrite("dtd.xlsx", "xl/workbook.xml", b"?>", b'?><!DOCTYPE x [<!ENTITY a "b">]>'),
    ]


COST_PROBE = """
import resource, sys, time
from camf_excel.validation import check_workbook
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
result = check_workbook(sys.argv[1])
seconds = time.perf_counter() - start
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(f"{seconds:.3f} {grown / 1024:.1f} " + ",".join(i.code for i in result.issues[:3]))
"""


def hostile_costs(paths: list[Path], good: Path) -> None:
    """Print what each file costs a worker: seconds and memory grown, compared with a good file."""
    for path in [good, *paths]:
        completed = subprocess.run([sys.executable, "-c", COST_PROBE, str(path)], capture_output=True,
                                   text=True, check=False, timeout=120)
        seconds, grown_mb, codes = [*completed.stdout.split(), "", "", ""][:3]
        print(f"  {path.name[:34]:<34} {float(seconds or 'nan'):6.3f} s, +{grown_mb} MB -> {codes or 'ok'}")


def arguments(description: str) -> argparse.Namespace:
    """Parse the options the read-back benchmarks share: how many workbooks, seed, where to keep them."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--count", type=int, default=1100)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--dir", type=Path, default=None, help="folder to keep the workbooks in")
    return parser.parse_args()


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as scratch:
        folder = args.dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        paths = write_workbooks(folder, args.count, args.seed)
        print(f"{len(paths)} workbooks ready in {time.perf_counter() - start:.1f} s ({folder})")
        floor(paths)  # warm the file cache: both sides then read from memory
        floor_seconds, floor_rows = floor(paths)
        print(f"floor  python-calamine, 2 sheets, 1 process: {floor_seconds:6.2f} s ({floor_rows} rows)")
        for jobs in (1, default_jobs()):
            seconds, files, actions, issues = measured(folder, jobs)
            print(f"validate {jobs} worker(s): {seconds:6.2f} s, {files} files, {actions} actions, "
                  f"{issues} issues, {seconds / floor_seconds:4.2f}x the floor, "
                  f"{seconds / files * 1000:5.1f} ms/file")
        print("hostile files, each alone:")
        hostile_costs(hostile_files(Path(scratch), paths[0]), paths[0])
    sys.stdout.flush()


if __name__ == "__main__":
    main()
