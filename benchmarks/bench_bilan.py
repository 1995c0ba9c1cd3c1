"""Benchmark: the PDF bilans of one filled workbook per organisation of Quebec (~1,100).

The measured run is `write_bilans` as `camf-excel bilan DIR -o OUT --format pdf` runs it:
folder walk, guards, each workbook read and checked in a capped worker (one per core), the
consolidation's decisions, each bilan laid out by typst in a capped worker, the files written
atomically. The floor, measured in the same run on the same files, is the irreducible work done
in one process: python-calamine reading the raw values of the two sheets, and typst compiling
each bilan's already-built fields — no checks, no isolation, no writing. The report gives both,
their ratio, and how much of the two cores the measured run used (children's CPU / wall time).

Usage: python benchmarks/bench_bilan.py [--count 1100] [--seed 2025] [--dir FOLDER] [--docx]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_validate import floor as read_floor
from bench_validate import write_workbooks

from camf_excel.batch import check_files
from camf_excel.bilan import build_bilans
from camf_excel.bilan_pdf import render_pdf
from camf_excel.bilan_run import write_bilans
from camf_excel.bilan_text import view
from camf_excel.workers import default_jobs


def layout_floor(folder: Path) -> tuple[float, int]:
    """Compile every organisation's bilan with typst in this process (fields built beforehand)."""
    bilans = build_bilans(check_files([folder])).bilans
    fields = [(view(b), b.produced) for b in bilans]
    start = time.perf_counter()
    for data, produced in fields:
        render_pdf(data, produced)
    return time.perf_counter() - start, len(fields)


def busy_cpu_seconds() -> float:
    """CPU seconds all cores spent busy since boot (Linux /proc/stat; workers are the forkserver's
    children, not ours, so os.times() would not see them)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measured(folder: Path, out: Path, formats: tuple[str, ...]) -> tuple[float, float, int]:
    """Run write_bilans; return wall seconds, CPU seconds the machine spent busy meanwhile, files written."""
    before = busy_cpu_seconds()
    start = time.perf_counter()
    report = write_bilans([folder], out, formats=formats, force=True)
    seconds = time.perf_counter() - start
    return seconds, busy_cpu_seconds() - before, len(report.written)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1100)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--dir", type=Path, default=None, help="folder to keep the workbooks in")
    parser.add_argument("--docx", action="store_true", help="also measure PDF + Word")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-bilan-") as scratch:
        folder = args.dir or Path(scratch) / "classeurs"
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        paths = write_workbooks(folder, args.count, args.seed)
        print(f"{len(paths)} workbooks ready in {time.perf_counter() - start:.1f} s ({folder})")
        read_floor(paths)  # warm the file cache
        read_seconds, rows = read_floor(paths)
        typst_seconds, compiled = layout_floor(folder)
        floor = read_seconds + typst_seconds
        print(f"floor  1 process: calamine raw read {read_seconds:6.2f} s ({rows} rows) + typst "
              f"{typst_seconds:6.2f} s ({compiled} bilans) = {floor:6.2f} s")
        runs = [("pdf",), ("pdf", "docx")] if args.docx else [("pdf",)]
        for formats in runs:
            out = Path(scratch) / f"bilans-{'-'.join(formats)}"
            seconds, cpu, written = measured(folder, out, formats)
            print(f"bilan {'+'.join(formats):8} {default_jobs()} workers: {seconds:6.2f} s wall, "
                  f"{written} files, {seconds / floor:4.2f}x the floor, "
                  f"{seconds / max(compiled, 1) * 1000:5.1f} ms/organisation, CPU busy {cpu:6.1f} s = "
                  f"{cpu / seconds:3.2f} of {os.cpu_count()} cores on average")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
