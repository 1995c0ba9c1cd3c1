"""Benchmark: consolidate one filled workbook per organisation of Quebec (~1,100) with MUN.csv.

The workbooks carry the names and codes of the MAMH répertoire (../shared/corpus/realworld,
synthetic names when it is absent) and plans of 15 to 150 actions. Measured in the same run:
- the floor: python-calamine reading the same two sheets of every file, one process;
- `consolidate()` (walk, guards, reading and validation in worker processes, tables), then
  each output apart (consolidation.xlsx, CSV, Parquet);
- the command end to end (`camf-excel consolidate … -q`), wall time and peak memory.

Usage: python benchmarks/bench_consolidate.py [--count 1100] [--seed 2025] [--dir FOLDER]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_generate import Job
from bench_validate import arguments, floor, write_workbooks

from camf_excel.consolidation import consolidate
from camf_excel.report import consolidated_workbook, csv_bytes, parquet_bytes
from camf_excel.territories import Territory, load_territories

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "realworld"
MUN = CORPUS / "mamh-repertoire__MUN_2023-11.csv"


def territories() -> tuple[Territory, ...] | None:
    """The MAMH répertoire when the shared corpus is here."""
    return load_territories(MUN) if MUN.is_file() else None


def municipalities(reference: tuple[Territory, ...]) -> Callable[[Job], None]:
    """Name each job's organisation after a municipality (or, for an MRC, an MRC) of the reference."""
    def place(job: Job) -> None:
        territory = reference[job.index % len(reference)]
        ident = job.identification
        ident.update(mrc=territory.mrc, region=territory.region)
        if ident["type"] == "MRC":
            ident.update(organisation=territory.mrc, code_geo="")
        else:
            ident.update(organisation=territory.organisation, code_geo=territory.code_geo)
    return place


def timed(label: str, function: object, *args: object) -> tuple[object, float]:
    """Call function(*args), print and return its result and seconds."""
    start = time.perf_counter()
    result = function(*args)  # type: ignore[operator]
    seconds = time.perf_counter() - start
    print(f"  {label:<34} {seconds:6.2f} s")
    return result, seconds


def end_to_end(folder: Path, outdir: Path) -> tuple[float, float]:
    """Run the command as a user would; return wall seconds and the peak RSS of its largest process (MB)."""
    command = [sys.executable, "-m", "camf_excel", "consolidate", str(folder), "-o", str(outdir), "-q"]
    if MUN.is_file():
        command += ["--territories", str(MUN)]
    probe = ("import resource, subprocess, sys, time; s = time.perf_counter(); "
             "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); w = time.perf_counter() - s; "
             "print(w, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    completed = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True,
                               check=True)
    seconds, peak_kb = completed.stdout.split()
    return float(seconds), int(peak_kb) / 1024


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    reference = territories()
    place = municipalities(reference) if reference else None
    with tempfile.TemporaryDirectory(prefix="bench-consolidate-") as scratch:
        folder = args.dir or Path(scratch) / "recus"
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        paths = write_workbooks(folder, args.count, args.seed, place)
        print(f"{len(paths)} workbooks ready in {time.perf_counter() - start:.1f} s ({folder}); "
              f"territories: {len(reference) if reference else 'none'}")
        floor(paths)  # warm the file cache: both sides then read from memory
        floor_seconds, rows = floor(paths)
        print(f"floor  python-calamine, 2 sheets, 1 process: {floor_seconds:6.2f} s ({rows} rows)")
        print("split:")
        result, read = timed("read + validate + tables", consolidate, [folder], reference)
        _, xlsx = timed("consolidation.xlsx", consolidated_workbook, result)
        frames = [result.actions, result.organisations, result.issues, result.completeness]  # type: ignore[attr-defined]
        _, csv = timed("CSV (4 tables + sources)", lambda: [csv_bytes(f) for f in [*frames, result.sources]])  # type: ignore[attr-defined]
        _, parquet = timed("Parquet (4 tables)", lambda: [parquet_bytes(f) for f in frames])
        summary = result.summary  # type: ignore[attr-defined]
        print(f"  {summary.files_consolidated} files, {summary.rows_consolidated} actions, "
              f"{len(result.issues)} issues; sum of parts {read + xlsx + csv + parquet:5.2f} s")  # type: ignore[attr-defined]
        seconds, peak = end_to_end(folder, Path(scratch) / "sortie")
        print(f"end to end (camf-excel consolidate): {seconds:6.2f} s, "
              f"{seconds / floor_seconds:4.1f}x the floor, peak memory {peak:.0f} MB (largest process)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
