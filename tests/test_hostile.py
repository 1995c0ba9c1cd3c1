"""Hostile or broken files given as a plan get a message, never a crash of the process."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import hostile
import pytest
from conftest import ROOT

from camf_excel.batch import check_files
from camf_excel.generate import generate_workbook
from camf_excel.workers import Failure, run_isolated

CORPUS = ROOT.parent / "shared" / "corpus" / "realworld"
READ_PLAN = """
import sys
from pathlib import Path
from camf_excel.errors import PlanError
from camf_excel.plan import read_plan
from camf_excel.templates import load_template
template = load_template("pfm-mada")
for name in sys.argv[1:]:
    try:
        print("LU", len(read_plan(Path(name), template)), name)
    except PlanError as error:
        print("REFUSÉ", name, str(error).splitlines()[1])
"""


def _read_plans_in_child(paths: list[Path]) -> list[str]:
    completed = subprocess.run([sys.executable, "-c", READ_PLAN, *map(str, paths)],
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout.splitlines()


def _rewrite_part(source: Path, target: Path, part: str, old: bytes, new: bytes) -> Path:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for entry in original.infolist():
            data = original.read(entry)
            if entry.filename == part:
                assert old in data
                data = data.replace(old, new, 1)
            copy.writestr(entry, data)
    return target


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return generate_workbook(tmp_path / "base.xlsx", "pfm", {"periode": 2025},
                             ROOT / "samples" / "plans" / "plan-pfm-saint-elie-de-caxton.csv")


def test_plan__shared_string_bomb__refused_not_aborted(tmp_path: Path, workbook: Path) -> None:
    bomb = _rewrite_part(workbook, tmp_path / "bomb.xlsx", "xl/sharedStrings.xml",
                         b'uniqueCount="', b'uniqueCount="4000000000" x="')
    (line,) = _read_plans_in_child([bomb])
    assert line.startswith("REFUSÉ") and "textes partagés invraisemblable" in line


def test_plan__far_away_cell__refused_not_aborted(tmp_path: Path, workbook: Path) -> None:
    far = _rewrite_part(workbook, tmp_path / "far.xlsx", "xl/worksheets/sheet3.xml",
                        b'<c r="A4"', b'<c r="XFD1048576"')
    (line,) = _read_plans_in_child([far])
    assert line.startswith("REFUSÉ") and "hors de toute plage plausible" in line


def test_plan__doctype__refused(tmp_path: Path, workbook: Path) -> None:
    dtd = _rewrite_part(workbook, tmp_path / "dtd.xlsx", "xl/workbook.xml",
                        b"?>", b'?><!DOCTYPE x [<!ENTITY a "b">]>')
    (line,) = _read_plans_in_child([dtd])
    assert "DTD" in line


@pytest.mark.skipif(not CORPUS.is_dir(), reason="corpus absent : ../shared/corpus/realworld")
def test_plan__every_corpus_file__read_or_refused_without_crash() -> None:
    files = sorted(p for p in CORPUS.iterdir() if p.suffix not in {".md", ".csv"})
    lines = _read_plans_in_child(files)
    assert len(lines) == len(files)
    assert all(line.startswith(("LU", "REFUSÉ")) for line in lines)
    refused = {Path(line.split()[1]).name for line in lines if line.startswith("REFUSÉ")}
    for name in ("poi__duplicate-filename.xlsx", "poi__poc-xmlbomb.xlsx",
                 "poi__clusterfuzz-POIXSSFFuzzer-5937385319563264.xlsx",
                 "python-calamine__password.xlsx", "calamine__pass_protected.ods"):
        assert name in refused
    password = [line for line in lines if "python-calamine__password.xlsx" in line]
    assert "mot de passe" in password[0]


# --- validate: one hostile file never costs the batch (R6, R12) -------------------------------

def abort_on_poison(name: str) -> str:
    """A stand-in for a reader: dies like calamine on an allocation failure, hangs, or eats memory."""
    import os  # noqa: PLC0415
    import time  # noqa: PLC0415

    if name == "abort":
        os.abort()
    if name == "hang":
        time.sleep(60)
    if name == "memory":
        hog = bytearray(2 * 1024**3)
        return str(len(hog))
    return name.upper()


def test_workers__abort_hang_and_memory_hog__reported_and_batch_goes_on() -> None:
    tasks = [("a",), ("abort",), ("b",), ("hang",), ("memory",), ("c",)]
    outcomes = dict(run_isolated(abort_on_poison, tasks, jobs=2, timeout=3))
    assert [outcomes[i] for i in (0, 2, 5)] == ["A", "B", "C"]
    assert all(isinstance(outcomes[i], Failure) for i in (1, 3, 4))
    assert "brutalement" in outcomes[1].reason and "signal 6" in outcomes[1].reason
    assert "interrompue" in outcomes[3].reason
    assert "mémoire" in outcomes[4].reason


def test_validate__hostile_files_among_good__good_results_unchanged(tmp_path: Path, workbook: Path) -> None:
    folder = tmp_path / "recus"
    folder.mkdir()
    good = [folder / "a.xlsx", folder / "z.xlsx"]
    for path in good:
        path.write_bytes(workbook.read_bytes())
    _rewrite_part(workbook, folder / "bombe.xlsx", "xl/sharedStrings.xml",
                  b'uniqueCount="', b'uniqueCount="4000000000" x="')
    _rewrite_part(workbook, folder / "loin.xlsx", "xl/worksheets/sheet3.xml",
                  b'<c r="A4"', b'<c r="XFD1048576"')
    (folder / "~$a.xlsx").write_bytes(b"\x0bJulie")
    (folder / "bilan.pdf").write_bytes(b"%PDF-1.4")
    (folder / "repetitions.xlsx").write_bytes(hostile.ods_repeat_bomb())  # an ODS under an .xlsx name
    (folder / "textes").write_bytes(hostile.shared_string_amplification())  # no extension: found by content
    (folder / "ancien.xls").write_bytes(hostile.encrypted_xls("xor"))
    alone = check_files(good)
    mixed = check_files([folder])
    by_name = {Path(r.file).name: r for r in mixed.results}
    assert sorted(by_name) == ["a.xlsx", "ancien.xls", "bombe.xlsx", "loin.xlsx", "repetitions.xlsx",
                               "textes", "z.xlsx"]
    assert [by_name[p.name].actions for p in good] == [r.actions for r in alone.results]
    for name, code in (("bombe.xlsx", "FICHIER_DANGEREUX"), ("loin.xlsx", "FICHIER_DANGEREUX"),
                       ("repetitions.xlsx", "FICHIER_DANGEREUX"), ("textes", "FICHIER_DANGEREUX"),
                       ("ancien.xls", "FICHIER_PROTEGE")):
        assert [i.code for i in by_name[name].issues] == [code], name
    assert [(Path(i.file).name, i.code) for i in mixed.notices] == [("bilan.pdf", "FICHIER_IGNORE")]
