"""Hostile files (tests/hostile.py) through the checker, each in a capped worker: refused or read
within 2 s and 300 MB, never a traceback; arbitrary bytes as workbooks and plans, the same."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import time
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import hostile
import pytest
from conftest import PFM_PLAN, SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camf_excel.batch import check_files
from camf_excel.errors import PlanError
from camf_excel.plan import read_plan
from camf_excel.reader import read_raw
from camf_excel.templates import load_template
from camf_excel.validation import WorkbookResult, check_workbook
from camf_excel.workers import Failure, run_isolated

SECONDS, MEGABYTES = 2.0, 300
DANGEROUS, DAMAGED, PROTECTED = "FICHIER_DANGEREUX", "FICHIER_ENDOMMAGE", "FICHIER_PROTEGE"
REFUSED: dict[str, tuple[Callable[[], bytes], str]] = {
    "dtd-apres-4-ko.xlsx": (hostile.dtd_after_4kb, DANGEROUS),
    "dtd-a-cheval.xlsx": (hostile.dtd_across_chunks, DANGEROUS),
    **{f"loin-{variant}.xlsx": (partial(hostile.far_cell, variant),
                                DAMAGED if variant == "bracket_in_value" else DANGEROUS)
       for variant in hostile.FAR_CELLS},
    "textes-partages.xlsx": (hostile.shared_string_amplification, DANGEROUS),
    "hybride.xlsx": (hostile.hybrid_xlsx_ods, DANGEROUS),
    "repetitions.ods": (hostile.ods_repeat_bomb, DANGEROUS),
    "repetitions-nulles.ods": (hostile.ods_zero_repeat_bomb, DANGEROUS),
    "espaces.ods": (hostile.ods_text_bomb, DANGEROUS),
    "xls-et-zip.xls": (hostile.xls_with_zip, DANGEROUS),
    "xls-loin.xls": (hostile.xls_far_cell, DANGEROUS),
    "xls-dimensions.xls": (hostile.xls_dimensions_bomb, DANGEROUS),
    "xls-textes-partages.xls": (hostile.xls_shared_string_amplification, DANGEROUS),
    "xlsb-loin.xlsb": (hostile.xlsb_far_cell, DANGEROUS),
    "xlsb-textes-partages.xlsb": (hostile.xlsb_shared_string_amplification, DANGEROUS),
    "xlsb-relation-absente.xlsb": (hostile.xlsb_missing_relationship, DAMAGED),
    "chiffre.xlsx": (hostile.encrypted_ooxml, PROTECTED),
    **{f"chiffre-{kind}.xls": (partial(hostile.encrypted_xls, kind), PROTECTED)
       for kind in ("xor", "rc4", "cryptoapi", "biff5_xor")},
}
READ: dict[str, tuple[Callable[[], bytes], str]] = {
    "ods-nomme.xlsx": (hostile.ods, "ods"),
    "xlsx-nomme.ods": (hostile.xlsx, "xlsx"),
    "fin-libreoffice.ods": (hostile.ods_libreoffice_tail, "ods"),
    "sans-extension": (hostile.xlsx, "xlsx"),
    "binaire.xlsb": (partial(hostile.xlsb, hostile.xlsb_row(0), hostile.xlsb_number(0),
                             hostile.xlsb_shared(1, 0), shared=("Parc",)), "xlsb"),
    "ancien.xls": (partial(hostile.xls_workbook, hostile.xls_number(0, 0), hostile.xls_shared(1, 2, 0),
                           shared=("Parc",)), "xls"),
    os.fsdecode(hostile.NON_UTF8_NAME): (hostile.xlsx, "xlsx"),
}


def timed_check(path: str) -> tuple[float, float, WorkbookResult]:
    """Check one workbook in the worker; return the seconds it took, the worker's peak MB, the result."""
    import resource  # noqa: PLC0415 - POSIX only: the tests using it are skipped elsewhere

    start = time.perf_counter()
    result = check_workbook(path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    return time.perf_counter() - start, peak, result


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[float, float, WorkbookResult]]:
    folder = tmp_path_factory.mktemp("hostiles")
    names = [*REFUSED, *READ]
    for name in names:
        build = (REFUSED.get(name) or READ[name])[0]
        hostile.write(folder, os.fsencode(name), build())
    tasks = [(str(folder / name),) for name in names]
    found = dict(run_isolated(timed_check, tasks, jobs=2, timeout=20, budget=MEGABYTES * 1024 * 1024))
    assert not [names[i] for i, outcome in found.items() if isinstance(outcome, Failure)], found
    return {names[index]: outcome for index, outcome in found.items()}


@pytest.mark.skipif(os.name != "posix", reason="plafond mémoire des lecteurs : POSIX")
@pytest.mark.parametrize("name", list(REFUSED))
def test_hostile_file__refused_with_its_code_within_bounds(name: str, outcomes: dict) -> None:
    seconds, peak, result = outcomes[name]
    assert not result.readable
    assert [issue.code for issue in result.issues] == [REFUSED[name][1]], [i.message for i in result.issues]
    assert seconds < SECONDS and peak < MEGABYTES


@pytest.mark.skipif(os.name != "posix", reason="plafond mémoire des lecteurs : POSIX")
@pytest.mark.parametrize("name", list(READ))
def test_odd_but_honest_file__read_by_content_within_bounds(name: str, outcomes: dict) -> None:
    seconds, peak, result = outcomes[name]
    assert result.readable and result.kind == READ[name][1], [i.message for i in result.issues]
    assert seconds < SECONDS and peak < MEGABYTES


# --- real workbooks under a misleading name ---------------------------------------------------------

FILLED = SAMPLES / "classeurs-remplis"
FILLED_ODS = FILLED / "36033_shawinigan_suivi-mada_2025.ods"
FILLED_XLSX = FILLED / "51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx"


def test_format__decided_by_content__same_actions_whatever_the_name(tmp_path: Path) -> None:
    folder = tmp_path / "recus"
    folder.mkdir()
    shutil.copy(FILLED_ODS, folder / "shawinigan.xlsx")
    shutil.copy(FILLED_XLSX, folder / "saint-elie.ods")
    shutil.copy(FILLED_XLSX, folder / "saint-elie-sans-extension")
    renamed = {Path(r.file).name: r for r in check_files([folder]).results}
    truth = {Path(r.file).name: r for r in check_files([FILLED_ODS, FILLED_XLSX]).results}
    assert sorted(renamed) == ["saint-elie-sans-extension", "saint-elie.ods", "shawinigan.xlsx"]
    assert renamed["shawinigan.xlsx"].kind == "ods"
    assert _actions(renamed["shawinigan.xlsx"]) == _actions(truth[FILLED_ODS.name])
    for name in ("saint-elie.ods", "saint-elie-sans-extension"):
        assert renamed[name].kind == "xlsx"
        assert _actions(renamed[name]) == _actions(truth[FILLED_XLSX.name])


def _actions(result: WorkbookResult) -> list[dict[str, object]]:
    return [{key: value for key, value in row.items() if key != "source_file"} for row in result.actions]


def test_read_raw__describes_the_bytes_it_parsed(tmp_path: Path) -> None:
    data = FILLED_XLSX.read_bytes()
    path = hostile.write(tmp_path, hostile.NON_UTF8_NAME, data)
    raw = read_raw(path)
    assert (raw.sha256, raw.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert raw.rows


# --- arbitrary bytes ----------------------------------------------------------------------------

REFUSALS = {"FICHIER_VIDE", "FICHIER_TROP_GROS", "PAS_UN_CLASSEUR", "FICHIER_ENDOMMAGE", "FICHIER_PROTEGE",
            "FICHIER_ILLISIBLE", "FICHIER_DANGEREUX"}
REFERENCES = st.sampled_from([None, "A1", "B2", "c3", "Z9", "A200", "XFD1048576", "AAAA1", "0", "A0", "1"])
CELL_TYPES = st.sampled_from([None, "s", "e", "str", "inlineStr", "n", "b"])
CELL_CONTENTS = st.sampled_from(["", "<v>0</v>", "<v>1</v>", "<v>7</v>", "<v>#REF!</v>", "<v></v>",
                                 "<is><t>x</t></is>", "<f>1+1</f>", "<f>A1</f><v></v>", "<v>1e308</v>"])
CELLS = st.builds(lambda ref, kind, content: "<c{}{}>{}</c>".format(
    f' r="{ref}"' if ref is not None else "", f' t="{kind}"' if kind else "", content),
    REFERENCES, CELL_TYPES, CELL_CONTENTS)
ROWS = st.builds(lambda number, cells: "<row{}>{}</row>".format(
    f' r="{number}"' if number is not None else "", "".join(cells)),
    st.sampled_from([None, "1", "2", "300", "1048576"]), st.lists(CELLS, max_size=4))
SHARED = st.builds(lambda strings, count: "<sst{}>{}</sst>".format(
    f' uniqueCount="{count}"' if count is not None else "", "".join(f"<si><t>{t}</t></si>" for t in strings)),
    st.lists(st.text("ab &<>\u00e9", max_size=8).map(lambda t: t.replace("&", "&amp;").replace("<", "&lt;")),
             max_size=4), st.sampled_from([None, 2, 4_000_000_000]))


@st.composite
def workbooks(draw: st.DrawFn) -> bytes:
    """A one-sheet package of well-formed but odd cells and shared strings, some bytes flipped."""
    rows = "".join(draw(st.lists(ROWS, max_size=4)))
    parts = hostile.xlsx_parts(hostile.worksheet(rows), shared=draw(SHARED).encode())
    data = bytearray(hostile.zip_package(parts))
    for position, value in draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)),
                                         max_size=2)):
        data[position] = value
    return bytes(data)


XLS_CELLS = st.builds(lambda row, col, index: (hostile.xls_number(row, col) if index is None
                                              else hostile.xls_shared(row, col, index)),
                      st.sampled_from([0, 1, 300, 65_535]), st.sampled_from([0, 3, 255, 65_535]),
                      st.sampled_from([None, 0, 1, 7]))
XLS = st.builds(lambda cells, shared: hostile.xls_workbook(*cells, shared=tuple(shared)),
                st.lists(XLS_CELLS, max_size=4), st.lists(st.text("ab", max_size=5), max_size=3))
CONTENTS = st.one_of(
    st.binary(max_size=3_000),
    XLS,
    st.binary(max_size=600).map(lambda b: b"PK\x03\x04" + b),
    st.binary(max_size=600).map(lambda b: hostile.cfb({"Workbook": b})),
    st.binary(max_size=600).map(lambda b: bytes.fromhex("D0CF11E0A1B11AE1") + b),
    workbooks(),
)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=CONTENTS, suffix=st.sampled_from([".xlsx", ".ods", ".xls", ""]))
def test_check_workbook__arbitrary_bytes__a_result_never_an_exception(tmp_path: Path, data: bytes,
                                                                        suffix: str) -> None:
    path = tmp_path / f"recu{suffix}"
    path.write_bytes(data)
    result = check_workbook(path)
    if not result.readable:
        assert len(result.issues) == 1 and result.issues[0].code in REFUSALS, result.issues
        assert result.issues[0].message


PLAN_CONTENTS = st.one_of(
    CONTENTS,
    st.text(max_size=300).map(lambda t: ("No;Action\n" + t).encode("utf-8", "surrogatepass")),
    st.binary(max_size=300).map(lambda b: b"No;Action\n1;" + b),
)


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=PLAN_CONTENTS, suffix=st.sampled_from([".csv", ".xlsx", ""]))
def test_read_plan__arbitrary_bytes__plan_error_only(tmp_path: Path, data: bytes, suffix: str) -> None:
    path = tmp_path / f"plan{suffix}"
    path.write_bytes(data)
    try:
        read_plan(path, load_template("pfm"))
    except PlanError as error:
        assert error.problems


@pytest.mark.parametrize("data", [hostile.csv_long_field(200_000), hostile.csv_with_nul(),
                                  hostile.csv_undefined_bytes(), hostile.csv_long_field(1_100_000)],
                         ids=["200-000-caracteres", "nul", "octets-indefinis", "champ-trop-long"])
def test_read_plan__hostile_csv__plan_error_or_rows(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "plan.csv"
    path.write_bytes(data)
    try:
        rows = read_plan(path, load_template("pfm"))
    except PlanError as error:
        assert error.problems and "plan.csv" in str(error)
    else:
        assert len(data) < 1_000_000 and rows is not None


def test_read_plan__sample_plan_still_read() -> None:
    assert read_plan(PFM_PLAN, load_template("pfm"))


def _zip_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()


def test_hostile_builders__each_is_small() -> None:
    sizes = {name: len(build()) for name, (build, _) in {**REFUSED, **READ}.items()}
    assert max(sizes.values()) < 200_000, sizes
    assert "xl/donnees/feuille.xml" in _zip_names(hostile.far_cell())


def _with_hostile_sheet(tmp_path: Path, sheet_name: str) -> Path:
    """A clean generated workbook plus one more sheet holding a cell at XFD1048576."""
    clean = SAMPLES / "classeurs-remplis" / "51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx"
    target = tmp_path / f"{sheet_name}.xlsx"
    far = hostile.worksheet('<row r="1"><c r="A1"><v>1</v></c></row>'
                            '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
    with zipfile.ZipFile(clean) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for entry in source.infolist():
            data = source.read(entry)
            if entry.filename == "xl/workbook.xml":
                data = data.replace(b"</sheets>", f'<sheet name="{sheet_name}" sheetId="99" r:id="rId99"/>'
                                    "</sheets>".encode())
            elif entry.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rId99" Type="http://schemas.'
                                    b'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
                                    b'Target="worksheets/loin.xml"/></Relationships>')
            copy.writestr(entry, data)
        copy.writestr("xl/worksheets/loin.xml", far)
    return target


def test_guard__hostile_sheet_the_reader_reads_later__refused_before_calamine(tmp_path: Path) -> None:
    # Sheets other than Identification and Plan d'action are bounded when read: a sheet of the
    # person's own is read (it may hold a copy of the plan), so it is bounded first.
    _, _, result = timed_check(str(_with_hostile_sheet(tmp_path, "Notes")))
    assert [i.code for i in result.issues] == ["FICHIER_DANGEREUX"]


def test_guard__hostile_sheet_nobody_reads__costs_nothing(tmp_path: Path) -> None:
    # calamine reads a worksheet only when asked: the hidden Listes sheet, never read, is never expanded.
    clean = SAMPLES / "classeurs-remplis" / "51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx"
    target = tmp_path / "listes-piegees.xlsx"
    far = hostile.worksheet('<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')
    with zipfile.ZipFile(clean) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as copy:
        for entry in source.infolist():  # sheet6 is Listes, the generator's sixth sheet
            copy.writestr(entry, far if entry.filename == "xl/worksheets/sheet6.xml" else source.read(entry))
    _, _, result = timed_check(str(target))
    assert result.readable and len(result.actions) == 25
