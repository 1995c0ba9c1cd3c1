"""Windows first: what Windows does to consoles, workers and files, simulated here (fixtures: windows.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner
from conftest import SAMPLES
from hypothesis import given
from hypothesis import strategies as st

from camf_excel import batch, workers
from camf_excel.annotate import annotation_targets
from camf_excel.batch import check_files
from camf_excel.cli import main
from camf_excel.clickfr import fit_stream, nearest_ascii
from camf_excel.errors import InputError, OutputExistsError
from camf_excel.files import load_input
from camf_excel.generate import NAME_CHARS, generate_batch, safe_file_name
from camf_excel.outputs import (
    MAX_PATH_CHARS,
    WINDOWS_RESERVED,
    path_length,
    windows_name,
    windows_reserved,
    write_atomically,
    write_directory,
)
from camf_excel.validation import check_workbook
from camf_excel.workers import OVER_BUDGET, Failure, run_isolated

pytest_plugins = ["windows"]  # the simulations, one fixture each

Hold = Callable[[Path, str], None]
FILLED = SAMPLES / "classeurs-remplis"
GOOD = FILLED / "51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx"
WITH_ERRORS = FILLED / "mrc-de-mekinac_suivi-pfm-mada_2026_erreurs.xlsx"


def windows() -> ModuleType:
    """The simulations' module, as pytest imported it (workers import its functions by name)."""
    return sys.modules["windows"]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".camf-*") if not p.name.endswith(".camf-verrou"))


# --- 1. text that survives any console or log ----------------------------------------------------

def test_validate__stdout_in_windows_code_page__readable_text_no_traceback(narrow_console: CliRunner) -> None:
    result = narrow_console.invoke(main, ["validate", str(GOOD), str(WITH_ERRORS)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    charset = narrow_console.charset
    stdout = result.stdout_bytes.decode(charset)  # strict: every byte is text in the log's encoding
    assert f"OK {GOOD}" in stdout and f"X {WITH_ERRORS}" in stdout
    assert ("réalisée(s)" if charset == "cp1252" else "realisee(s)") in stdout
    assert "Traceback" not in result.output and "\ufffd" not in result.output


def test_cli__redirected_to_a_cp1252_log__no_traceback_symbols_in_ascii(tmp_path: Path) -> None:
    """As `camf-excel validate FICHIER > log.txt` on Windows: Python gives the log the ANSI code page."""
    log = tmp_path / "log.txt"
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONUTF8"}
    with log.open("wb") as stdout:
        command = [sys.executable, "-m", "camf_excel", "validate", str(GOOD), str(WITH_ERRORS)]
        completed = subprocess.run(command,
                                   stdout=stdout, stderr=subprocess.PIPE, timeout=300, check=False,
                                   env={**environment, "PYTHONIOENCODING": "cp1252"})
    text = log.read_bytes().decode("cp1252")  # strict
    assert completed.returncode == 1, completed.stderr.decode("utf-8", "replace")
    assert completed.stderr == b""
    assert f"OK {GOOD}" in text and f"X {WITH_ERRORS}" in text and "réalisée(s)" in text


def test_click_own_messages__cp1252__readable() -> None:
    runner = CliRunner(charset="cp1252")
    result = runner.invoke(main, ["validate", "--periode", "deux-mille"])
    assert result.exit_code == 2
    assert "n'est pas un nombre entier" in result.stderr_bytes.decode("cp1252")
    assert runner.invoke(main, ["--help"]).stdout_bytes.decode("cp1252").startswith("Utilisation")


@given(st.text())
def test_fit_stream__any_text__encodable_and_never_longer_in_ascii_than_needed(text: str) -> None:
    class Stream:
        encoding = "ascii"

    fitted = fit_stream(text, Stream())
    assert fitted.isascii() and fitted == nearest_ascii(text)
    assert nearest_ascii("✔ Réalisée « à 50 % » — œuvre…") == 'OK Realisee " a 50 % " - oeuvre...'


# --- 2. workers as Windows runs them --------------------------------------------------------------

def test_validate__spawned_workers__same_results_as_in_process(spawn_only: None) -> None:
    spawned = check_files([FILLED / "mrc-mekinac"], jobs=2)
    assert workers._context().get_start_method() == "spawn"
    in_process = [check_workbook(result.file) for result in spawned.results]
    assert len(spawned.results) >= 10
    assert [(r.file, r.readable, [i.code for i in r.issues]) for r in spawned.results] == \
        [(r.file, r.readable, [i.code for i in r.issues]) for r in in_process]


def test_generate_batch__spawned_workers__every_row_written(spawn_only: None, tmp_path: Path) -> None:
    result = generate_batch(SAMPLES / "organisations.csv", tmp_path / "classeurs", SAMPLES / "plans",
                            workers=2)
    assert not result.failed and len(result.written) >= 3
    assert all(path.exists() and path.stat().st_size > 10_000 for path in result.written)


def test_workers__no_resource__worker_runs_uncapped_but_watched(no_resource: None) -> None:
    ((_, limit),) = list(run_isolated(windows().address_space_limit, [()], jobs=1))
    assert limit == "absent"


def test_workers__no_resource__memory_hog_killed_past_budget_others_go_on(no_resource: None) -> None:
    budget = 200 * 2**20
    start = time.monotonic()
    outcomes = dict(run_isolated(windows().hog, [(2000,), (16,)], jobs=1, budget=budget))
    elapsed = time.monotonic() - start
    assert outcomes[0] == Failure(OVER_BUDGET)
    assert outcomes[1] == 16  # the innocent task behind it ran in a fresh worker
    assert elapsed < 30


def test_validate__no_resource__hostile_files_named_good_one_read(no_resource: None, tmp_path: Path) -> None:
    import hostile  # noqa: PLC0415 - the test suite's hostile files

    hostile.write(tmp_path, "loin.xlsx", hostile.far_cell())
    hostile.write(tmp_path, "chaines.xlsx", hostile.shared_string_amplification())
    hostile.write(tmp_path, "repetitions.ods", hostile.ods_repeat_bomb())
    shutil.copy(GOOD, tmp_path / "bon.xlsx")
    run = check_files([tmp_path], jobs=2)
    verdicts = {Path(r.file).name: r.readable for r in run.results}
    assert verdicts == {"bon.xlsx": True, "chaines.xlsx": False, "loin.xlsx": False, "repetitions.ods": False}


# --- 3. files as Windows treats them ---------------------------------------------------------------

def test_write_atomically__no_hard_links__written_and_never_clobbers(no_hard_links: None,
                                                                    tmp_path: Path) -> None:
    target = tmp_path / "rapport.xlsx"
    write_atomically(target, b"premier")
    with pytest.raises(OutputExistsError):
        write_atomically(target, b"second")
    assert target.read_bytes() == b"premier" and _leftovers(tmp_path) == []
    write_atomically(target, b"second", force=True)
    assert target.read_bytes() == b"second"


def test_consolidate__no_links_no_folder_fsync__written_twice(no_hard_links: None, no_directory_fsync: None,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "rapport"
    for extra in ([], ["--force"]):
        result = CliRunner().invoke(main, ["consolidate", str(GOOD), "-o", str(out), "-q", *extra])
        assert result.exit_code == 0, result.output
    assert (out / "consolidation.xlsx").exists() and _leftovers(tmp_path) == []


def test_consolidate_force__last_report_open_in_excel__named_nothing_changed(held_open: Hold,
                                                                             tmp_path: Path) -> None:
    out = tmp_path / "rapport"
    assert CliRunner().invoke(main, ["consolidate", str(GOOD), "-o", str(out), "-q"]).exit_code == 0
    (out / "notes.txt").write_text("à garder", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    held_open(out / "consolidation.xlsx", "excel")
    result = CliRunner().invoke(main, ["consolidate", str(GOOD), str(WITH_ERRORS), "-o", str(out), "-q",
                                       "--force"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "consolidation.xlsx : fichier ouvert dans Excel : fermez-le puis relancez" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and _leftovers(tmp_path) == []


def test_validate_report_force__report_open_in_excel__named_nothing_written(held_open: Hold,
                                                                            tmp_path: Path) -> None:
    report = tmp_path / "problemes.xlsx"
    report.write_bytes(b"ancien rapport")
    held_open(report, "excel")
    result = CliRunner().invoke(main, ["validate", str(GOOD), "--report", str(report), "--force"])
    assert result.exit_code == 2 and "fichier ouvert dans Excel : fermez-le puis relancez" in result.stderr
    assert report.read_bytes() == b"ancien rapport" and _leftovers(tmp_path) == []


def test_write_directory__persons_file_open__swap_undone_file_named(held_open: Hold, tmp_path: Path) -> None:
    folder = tmp_path / "rapport"
    write_directory(folder, {"consolidation.xlsx": b"ancien"})
    (folder / "compte-rendu.docx").write_bytes(b"word")
    held_open(folder / "compte-rendu.docx", "excel")
    with pytest.raises(InputError, match=r"compte-rendu\.docx : fichier ouvert dans un autre programme"):
        write_directory(folder, {"consolidation.xlsx": b"nouveau"}, force=True)
    assert (folder / "consolidation.xlsx").read_bytes() == b"ancien"
    assert (folder / "compte-rendu.docx").read_bytes() == b"word" and _leftovers(tmp_path) == []


@pytest.mark.parametrize(("how", "said"), [("exclusive", "ouvert dans un autre programme"),
                                           ("onedrive", "OneDrive ou SharePoint")])
def test_load_input__held_or_placeholder__named_with_what_to_do(held_open: Hold, tmp_path: Path, how: str,
                                                               said: str) -> None:
    path = tmp_path / "recu.xlsx"
    shutil.copy(GOOD, path)
    held_open(path, how)
    assert said in (load_input(path).sniffed.message or "")
    result = check_workbook(path)
    assert not result.readable and said in result.issues[0].message
    assert result.issues[0].code == "FICHIER_INACCESSIBLE"  # not « endommagé »: the file is sound


def test_validate__input_held_exclusively__named_and_batch_goes_on(spawn_only: None,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    held = tmp_path / "en-synchronisation.xlsx"
    shutil.copy(GOOD, held)
    windows().hold_in_workers(monkeypatch, {held: "exclusive"})
    monkeypatch.setattr(batch, "check_workbook", windows().check_workbook_held)
    result = CliRunner().invoke(main, ["validate", str(GOOD), str(held)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"✔ {GOOD}" in result.output and f"✖ {held} : refusé" in result.output
    assert "ouvert dans un autre programme" in result.output


# --- names: reserved, trailing dots and spaces, case, long paths ------------------------------------

RESERVED = st.sampled_from(sorted(WINDOWS_RESERVED)).flatmap(
    lambda stem: st.tuples(st.sampled_from([stem, stem.upper(), stem.title()]),
                           st.sampled_from(["", ".xlsx", ".tar.gz", " .txt", ".", " "])).map("".join))
NAMES = st.one_of(RESERVED, st.text(min_size=0, max_size=40))


@given(NAMES)
def test_windows_name__any_text__a_name_windows_accepts(text: str) -> None:
    name = windows_name(text)
    assert name and not windows_reserved(name) and name == name.rstrip(". ")
    assert not re.search(r'[\x00-\x1f<>:"/\\|?*]', name)


@given(st.lists(st.one_of(RESERVED, st.sampled_from(["Saint-Tite", "SAINT-TITE", "saint-tite ", "Hérouxville",
                                                       "HEROUXVILLE", "St-Tite."])), min_size=1, max_size=6),
       st.integers(min_value=40, max_value=NAME_CHARS))
def test_batch_names__reserved_and_case_colliding__distinct_for_windows(organisations: list[str],
                                                                       room: int) -> None:
    names = [safe_file_name(organisation, "", "pfm", room) for organisation in organisations]
    for name in names:
        assert len(name) <= room and not windows_reserved(name) and name == windows_name(name)
    # equal names (case aside) only for organisations equal case aside: the batch refuses those as doubles
    for one, name_one in zip(organisations, names, strict=True):
        for two, name_two in zip(organisations, names, strict=True):
            if name_one.casefold() == name_two.casefold():
                assert safe_file_name(one, "", "pfm") == safe_file_name(two, "", "pfm")


def test_generate_batch__case_colliding_and_reserved_rows__one_file_each_or_named(tmp_path: Path) -> None:
    orgs = tmp_path / "orgs.csv"
    orgs.write_text("organisation,type\nSaint-Tite,Municipalité\nSAINT-TITE,Municipalité\nCON,Municipalité\n"
                    "Nul.,Municipalité\n", encoding="utf-8")
    result = generate_batch(orgs, tmp_path / "out", template="pfm")
    assert [line for line, _ in result.failed] == [3]
    names = sorted(path.name for path in result.written)
    assert names == ["con-org_suivi-pfm.xlsx", "nul-org_suivi-pfm.xlsx", "saint-tite_suivi-pfm.xlsx"]


def test_generate_batch__deep_folder__names_shortened_to_fit_windows_paths(tmp_path: Path) -> None:
    share = tmp_path / "dossier-partage-de-la-mrc"
    deep = share / ("x" * (MAX_PATH_CHARS - path_length(share) - 1 - 1 - 60))  # 60 characters left for names
    orgs = tmp_path / "orgs.csv"
    long_name = "Municipalité de Saint-Roch-de-Mékinac et ses environs"
    orgs.write_text(f"organisation,code_geo\n{long_name} immédiats,35045\n{long_name} lointains,35046\n",
                    encoding="utf-8")
    result = generate_batch(orgs, deep, template="pfm")
    assert not result.failed and len(result.written) == 2
    assert all(path_length(path) <= MAX_PATH_CHARS and path.exists() for path in result.written)
    too_deep = share / ("y" * (MAX_PATH_CHARS - path_length(share) - 1 - 1 - 20))
    with pytest.raises(InputError, match="trop profond"):
        generate_batch(orgs, too_deep, template="pfm")


def test_generate__reserved_or_too_long_output__refused_in_french(tmp_path: Path) -> None:
    for name in ("CON.xlsx", "nul.xlsx", "x" * 300 + ".xlsx"):
        result = CliRunner().invoke(main, ["generate", "-o", str(tmp_path / name), "--template", "pfm"])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "réservé par Windows" in result.stderr or "trop long pour Windows" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_annotation_targets__case_reserved_dots_and_depth__windows_paths_distinct(tmp_path: Path) -> None:
    sources = []
    for folder in ("MRC", "mrc", "aux", "notes.", "a" * 150):
        path = tmp_path / "recus" / folder / "Suivi.xlsx"
        path.parent.mkdir(parents=True)
        shutil.copy(GOOD, path)
        sources.append(path)
    deep = tmp_path / ("copies-" + "c" * 60)
    targets = annotation_targets(sources, deep, sources)
    written = [t for t in targets.values() if isinstance(t, Path)]
    assert len(written) == len(sources)
    assert len({str(t).casefold() for t in written}) == len(written)
    for target in written:
        assert path_length(target) <= MAX_PATH_CHARS
        assert all(part == windows_name(part) for part in target.relative_to(deep).parts)
    refused = annotation_targets(sources[:1], tmp_path / ("z" * 240), sources)
    assert isinstance(refused[sources[0]], str) and "259" in refused[sources[0]]

