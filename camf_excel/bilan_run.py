"""Write the bilans of some workbooks: read each in a capped worker, build, render in workers, write once.

`write_bilans` is what `camf-excel bilan` runs. Inputs are read as `validate` reads them
(`batch.check_files`: folders walked, each file in a capped child process, a bad file named and
left aside); each bilan is rendered in a capped worker too (typst and docxtpl get the same
protection as the readers: a bilan that kills its worker is named, the others are written);
the files are written together (`outputs.write_directory`: atomic, never over an existing
folder's files without force).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from camf_excel.batch import PARALLEL_FROM, check_files
from camf_excel.bilan import ALL, MRC, Bilan, BilanSet, build_bilans
from camf_excel.bilan_docx import check_gabarit, default_gabarit, load_gabarit, render_docx
from camf_excel.bilan_pdf import render_chart_png, render_pdf
from camf_excel.bilan_text import FIELDS, view
from camf_excel.errors import InputError
from camf_excel.normalise import clean_text
from camf_excel.outputs import refuse_existing_folder, write_directory
from camf_excel.workers import Failure, run_isolated

FORMATS = ("pdf", "docx")
RENDER_TIMEOUT = 60.0  # seconds a bilan may take in its worker (a 150-action one takes well under 1 s)
Progress = Callable[[int, int], None]


@dataclass
class BilanReport:
    """What a run wrote, what it could not make (name, reason), and the bilans' sources."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    bilans: BilanSet | None = None

    @property
    def complete(self) -> bool:
        """Tell whether every input was read and every bilan written."""
        return not self.failed and not (self.bilans and self.bilans.unreadable)


def parse_formats(text: str) -> tuple[str, ...]:
    """Read `--format pdf,docx`; raise InputError on an unknown format."""
    parts = (part.strip().lower().lstrip(".") for part in text.split(","))
    wanted = tuple(dict.fromkeys(part for part in parts if part))
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown or not wanted:
        raise InputError(f"Format inconnu : {', '.join(unknown) or '(aucun)'}. Formats possibles : pdf, docx "
                         "(séparés par une virgule).")
    return wanted


def write_bilans(paths: Sequence[str | Path], output: Path, *, periode: int | None = None,
                 formats: Sequence[str] = FORMATS, par_mrc: bool = False,
                 precedent: Sequence[str | Path] = (), gabarit: Path | None = None, force: bool = False,
                 jobs: int | None = None, today: dt.date | None = None,
                 progress: Progress | None = None) -> BilanReport:
    """Read the workbooks under paths and write their bilans into the folder `output`."""
    refuse_existing_folder(output, force)
    template = load_gabarit(gabarit, FIELDS) if gabarit is not None and "docx" in formats else None
    run = check_files(paths, periode, jobs=jobs, today=today, progress=progress)
    previous = check_files(precedent, jobs=jobs, today=today) if precedent else None
    if not any(result.readable for result in run.results):
        raise InputError("Aucun classeur lisible : aucun bilan n'a été écrit.")
    bilans = build_bilans(run, previous, periode, par_mrc, today)
    report = BilanReport(bilans=bilans)
    files = render_all(bilans.bilans, tuple(formats), template, jobs, report)
    if not files:
        raise InputError("Aucun bilan n'a pu être mis en page : rien n'a été écrit.")
    report.written = write_directory(output, files, force)
    return report


def render_all(bilans: Sequence[Bilan], formats: tuple[str, ...], gabarit: bytes | None, jobs: int | None,
               report: BilanReport) -> dict[str, bytes]:
    """Render every bilan in capped workers; return the files by name (a failure goes to report.failed)."""
    names = file_stems(bilans)
    tasks = [(bilan, formats, gabarit) for bilan in bilans]
    workers = jobs if jobs is not None else (1 if len(tasks) < PARALLEL_FROM else None)
    files: dict[str, bytes] = {}
    for index, outcome in run_isolated(render_bilan, tasks, jobs=workers, timeout=RENDER_TIMEOUT):
        if isinstance(outcome, Failure) or not isinstance(outcome, dict):
            reason = outcome.reason if isinstance(outcome, Failure) else str(outcome)
            report.failed.append((bilans[index].organisation, reason))
            continue
        files.update({f"{names[index]}.{extension}": data for extension, data in outcome.items()})
    return dict(sorted(files.items()))


def render_bilan(bilan: Bilan, formats: tuple[str, ...], gabarit: bytes | None) -> dict[str, bytes]:
    """Render one bilan in each format (runs in a worker process)."""
    fields = view(bilan)
    rendered: dict[str, bytes] = {}
    if "pdf" in formats:
        rendered["pdf"] = render_pdf(fields, bilan.produced)
    if "docx" in formats:
        chart = render_chart_png(fields["graphique_donnees"])
        rendered["docx"] = render_docx(fields, chart, gabarit)
    return rendered


def check_default_gabarit() -> None:
    """Check the shipped Word template as a coordinator's would be (a test and the CI call it)."""
    check_gabarit(default_gabarit(), "bilan.docx (fourni)", FIELDS)


def file_stems(bilans: Sequence[Bilan]) -> list[str]:
    """Name each bilan's files: bilan_<code>_<organisation>_<période>, bilan_territoire_…, …"""
    stems: list[str] = []
    taken: set[str] = set()
    for bilan in bilans:
        periods = "-".join(str(p) for p in bilan.periodes if p is not None) or "sans-periode"
        if bilan.kind == MRC:
            stem = f"bilan_territoire_{slug(bilan.organisation)}_{periods}"
        elif bilan.kind == ALL:
            stem = f"bilan_ensemble_{periods}"
        else:
            code_geo = clean_text(bilan.identification.get("code_geo"))
            code = slug(code_geo)[:10] if code_geo else ""
            stem = "_".join(part for part in ("bilan", code, slug(bilan.organisation), periods) if part)
        unique, number = stem, 2
        while unique.casefold() in taken:
            unique, number = f"{stem}-{number}", number + 1
        taken.add(unique.casefold())
        stems.append(unique)
    return stems


def slug(text: str) -> str:
    """An ASCII, lower-case, Windows-safe piece of a file name (« Sainte-Thècle » -> sainte-thecle)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60] or "organisation"
