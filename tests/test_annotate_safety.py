"""The annotated copy facing hostile or odd workbooks and folders: never onto an input, never two
copies on one name, each copy made in a capped worker and in time, edits not fooled by markup
that is only text, and a clear refusal for any odd part — never a traceback."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest
from conftest import IDENTIFICATION, PFM_PLAN
from openpyxl.worksheet.worksheet import Worksheet
from test_annotate import MAIN, _parts, _sheet_part, issue_text

from camf_excel import annotate
from camf_excel.annotate import FILL_COLOURS, annotate_files, annotate_workbook, annotation_targets
from camf_excel.errors import CamfError, InputError
from camf_excel.generate import generate_workbook
from camf_excel.model import ERROR, Issue
from camf_excel.package import PackageFacts, check_zip_workbook
from camf_excel.writer import PLAN_SHEET

IDENT = "Identification"
RED = FILL_COLOURS[ERROR]
IN_TIME = 2.0  # seconds a hostile copy may take, done or refused
INPUT_KEPT = "jamais modifié ni remplacé"
EXISTS = "existe déjà : utilisez --force pour la remplacer"


def _issue(sheet: str, cell: str, message: str = "à corriger") -> Issue:
    return Issue(ERROR, "TEST", "suivi.xlsx", sheet, cell, message=message)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rewrite(source: Path, target: Path, changes: dict[str, tuple[bytes, bytes]],
             stored: bool = False) -> Path:
    """Copy a package, replacing in each named part the first `old` by `new`."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(
            target, "w", zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED) as copy:
        for entry in original.infolist():
            data = original.read(entry)
            if entry.filename in changes:
                old, new = changes[entry.filename]
                assert old in data, (entry.filename, old)
                data = data.replace(old, new, 1)
            copy.writestr(entry.filename, data)
    return target


def _copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def _note_texts(copy: Path) -> list[str]:
    """Every note of a copy about an issue, as openpyxl reads it (the legend apart)."""
    book = openpyxl.load_workbook(copy)
    texts = [issue_text(cell.comment.text) for sheet in book.worksheets for row in sheet.iter_rows()
             for cell in row if cell.comment]
    return [text for text in texts if text]


def _values(sheet: Worksheet) -> dict[str, object]:
    """Every value of a sheet by cell, as openpyxl reads it."""
    return {cell.coordinate: cell.value for row in sheet.iter_rows() for cell in row
            if cell.value is not None}


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PFM workbook pre-filled from the sample plan (never written by the tests)."""
    return generate_workbook(tmp_path_factory.mktemp("source") / "suivi.xlsx", "pfm", IDENTIFICATION,
                             PFM_PLAN)


@pytest.fixture(scope="module")
def ident_part(workbook: Path) -> str:
    return _sheet_part(_parts(workbook), IDENT)


@pytest.fixture(scope="module")
def noted(workbook: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An annotated copy: it has a comments part and a VML drawing to make odd."""
    return annotate_workbook(workbook, tmp_path_factory.mktemp("noted") / "suivi-annote.xlsx",
                             [_issue(IDENT, "B4")])


# --- 1. never onto an input ----------------------------------------------------------------------

def test_annotate_files__copies_folder_is_the_inputs_folder__no_input_written(workbook: Path,
                                                                             tmp_path: Path) -> None:
    folder = tmp_path / "recus"
    suivi = _copy(workbook, folder / "suivi.xlsx")
    last_week = annotate_workbook(workbook, folder / "suivi-annote.xlsx", [_issue(IDENT, "B4")])
    other = _copy(workbook, folder / "autre.xlsx")
    os.link(suivi, folder / "autre-annote.xlsx")  # named as autre's copy, the same file as suivi.xlsx
    inputs = [suivi, last_week, other]
    before = {path.name: _sha256(path) for path in folder.iterdir()}
    for force in (False, True):
        outcomes = annotate_files([(path, [_issue(IDENT, "B5")]) for path in inputs], folder, inputs,
                                  force=force)
        assert [o.source for o in outcomes] == inputs
        assert outcomes[0].target is None and INPUT_KEPT in outcomes[0].reason
        assert outcomes[1].target == folder / "suivi-annote-annote.xlsx"  # last week's copy, validated
        assert outcomes[2].target is None and INPUT_KEPT in outcomes[2].reason  # same file by identity
        assert "suivi.xlsx" in outcomes[2].reason
    assert {name: _sha256(folder / name) for name in before} == before


def test_annotation_targets__target_is_an_input_through_a_link__refused(workbook: Path,
                                                                       tmp_path: Path) -> None:
    first, second = _copy(workbook, tmp_path / "a.xlsx"), _copy(workbook, tmp_path / "b.xlsx")
    (tmp_path / "b-annote.xlsx").symlink_to(first)
    targets = annotation_targets([second], tmp_path, [first, second])
    assert isinstance(targets[second], str) and INPUT_KEPT in targets[second]
    assert annotation_targets([first], tmp_path, [first, second]) == {first: tmp_path / "a-annote.xlsx"}


# --- 2. never two copies on one target -----------------------------------------------------------

def test_annotate_files__same_name_in_two_folders__two_copies(workbook: Path, tmp_path: Path) -> None:
    first = _copy(workbook, tmp_path / "recus" / "mrc-a" / "suivi.xlsx")
    second = _copy(workbook, tmp_path / "recus" / "mrc-b" / "suivi.xlsx")
    folder = tmp_path / "annotes"
    jobs = [(first, [_issue(IDENT, "B4", "note de A")]), (second, [_issue(IDENT, "B4", "note de B")])]
    outcomes = annotate_files(jobs, folder, [first, second])
    assert [o.target for o in outcomes] == [folder / "mrc-a" / "suivi-annote.xlsx",
                                            folder / "mrc-b" / "suivi-annote.xlsx"]
    assert _note_texts(folder / "mrc-a" / "suivi-annote.xlsx") == ["Erreur : note de A"]
    assert _note_texts(folder / "mrc-b" / "suivi-annote.xlsx") == ["Erreur : note de B"]
    again = annotate_files(jobs, folder, [first, second])
    assert [o.target for o in again] == [None, None]
    assert all(EXISTS in o.reason for o in again)
    forced = annotate_files(jobs, folder, [first, second], force=True)
    assert [o.target for o in forced] == [o.target for o in outcomes]


def test_annotation_targets__names_that_still_meet__numbered(tmp_path: Path) -> None:
    upper, lower = tmp_path / "recus" / "Suivi.xlsx", tmp_path / "recus" / "suivi.xlsx"
    folder = tmp_path / "annotes"
    # Two names that one file system keeps apart and another does not; one source given twice.
    targets = annotation_targets([upper, lower, upper], folder, [upper, lower])
    assert targets == {upper: folder / "Suivi-annote.xlsx", lower: folder / "suivi-annote-2.xlsx"}


# --- 3. each copy in a capped worker, in time ----------------------------------------------------

def test_annotate_files__zero_default_row_height__copy_done_in_time(workbook: Path, ident_part: str,
                                                                    tmp_path: Path) -> None:
    flat = _rewrite(workbook, tmp_path / "plat.xlsx",
                    {ident_part: (b'defaultRowHeight="15"', b'defaultRowHeight="0"')})
    issues = [_issue(IDENT, f"{column}{row}") for row in range(30, 230) for column in "ABCDEFGHIJ"]
    start = time.monotonic()
    (outcome,) = annotate_files([(flat, issues)], tmp_path / "annotes", [flat])
    assert time.monotonic() - start < IN_TIME
    assert outcome.target is not None, outcome.reason
    assert _parts(outcome.target)["xl/comments1.xml"].count(b"<comment ") == 2_000 + 1  # and the legend


def test_annotate_files__copy_over_its_time__abandoned_the_others_written(workbook: Path, ident_part: str,
                                                                          tmp_path: Path) -> None:
    # 100,000 rows of styled empty cells (10 MB, stored): seconds of parsing, well over 1 s.
    row = b'<row r="%d"><c r="A%d" s="1"/><c r="B%d" s="1"/><c r="C%d" s="1"/><c r="D%d" s="1"/></row>'
    rows = b"".join(row % ((number,) * 5) for number in range(30, 100_000))
    heavy = _rewrite(workbook, tmp_path / "lourd.xlsx",
                     {ident_part: (b"</sheetData>", rows + b"</sheetData>")}, stored=True)
    good = _copy(workbook, tmp_path / "bon.xlsx")
    jobs = [(heavy, [_issue(IDENT, "B4")]), (good, [_issue(IDENT, "B4")])]
    late, done = annotate_files(jobs, tmp_path / "annotes", [heavy, good], timeout=1.0)
    assert late.target is None and "interrompue" in late.reason
    assert done.target == tmp_path / "annotes" / "bon-annote.xlsx" and done.target.exists()
    assert not (tmp_path / "annotes" / "lourd-annote.xlsx").exists()


# --- 4. edits never fooled by what only looks like markup ----------------------------------------

FAKE_CELL = b'<![CDATA[</c><c r="Z9">]]>'
FAKE_ROW = b'<!-- <row r="5"><c r="C5" s="99"/></row> --><?note <c r="C5" s="98"/>?>'


def test_annotate__markup_in_cdata_comments_and_instructions__the_named_cells_edited(
        workbook: Path, ident_part: str, tmp_path: Path) -> None:
    with zipfile.ZipFile(workbook) as archive:
        b4 = re.search(rb'<c r="B4" s="15" t="s"><v>\d+</v></c>', archive.read(ident_part))
    assert b4 is not None
    hostile = _rewrite(workbook, tmp_path / "cdata.xlsx", {
        ident_part: (b4.group(0), b'<c r="B4" s="15" t="inlineStr"><is><t>' + FAKE_CELL + b"</t></is></c>"),
        "xl/sharedStrings.xml": (b"<si><t>", b"<si><t>" + FAKE_CELL),
    })
    hostile = _rewrite(hostile, tmp_path / "cdata2.xlsx",
                       {ident_part: (b'<row r="5"', FAKE_ROW + b'<row r="5"')})
    start = time.monotonic()
    copy = annotate_workbook(hostile, tmp_path / "copie.xlsx", [_issue(IDENT, "C4"), _issue(IDENT, "C5")])
    assert time.monotonic() - start < IN_TIME
    before, after = _parts(hostile), _parts(copy)
    assert after["xl/sharedStrings.xml"] == before["xl/sharedStrings.xml"]
    sheet = after[ident_part]
    assert FAKE_CELL in sheet and FAKE_ROW in sheet  # text, comment and instruction kept as they were
    refs = [cell.get("r") for cell in ElementTree.fromstring(sheet).iter(f"{MAIN}c")]
    assert "Z9" not in refs and len(refs) == len(set(refs))
    old, new = openpyxl.load_workbook(hostile)[IDENT], openpyxl.load_workbook(copy)[IDENT]
    assert _values(new) == _values(old)
    assert new["B4"].value == '</c><c r="Z9">'
    assert (new["C4"].fill.fgColor.rgb, new["C5"].fill.fgColor.rgb) == (RED, RED)
    assert new["B4"].fill.fgColor.rgb != RED and new["B4"].comment is None
    assert {new["C4"].comment.text, new["C5"].comment.text} == {"Erreur : à corriger"}


def test_annotate__markup_in_an_existing_note__completed_in_place(noted: Path, tmp_path: Path) -> None:
    hostile = _rewrite(noted, tmp_path / "note.xlsx", {
        "xl/comments1.xml": (b'xml:space="preserve">', b'xml:space="preserve"><![CDATA[</text></comment>'
                             b'<comment ref="A1" authorId="0"><text>]]>')})
    copy = annotate_workbook(hostile, tmp_path / "copie.xlsx", [_issue(IDENT, "B4", "encore")])
    ident = openpyxl.load_workbook(copy)[IDENT]
    assert ident["B4"].comment.text.endswith("Erreur : encore")
    assert ident["A1"].comment.text.startswith("</text></comment>")  # the CDATA stays text of its note
    comments = ElementTree.fromstring(_parts(copy)["xl/comments1.xml"])
    assert [c.get("ref") for c in comments.iter(f"{MAIN}comment")] == ["A1", "B4"]


# --- 5. an odd part: a clear refusal, never a traceback ------------------------------------------

VML = "xl/drawings/vmlDrawing1.vml"
HUGE = b"9" * 5_000
DONE = ""
ODD_PARTS: dict[str, tuple[str, bytes, bytes, str]] = {
    # case: (part, old, new, what the copy gives: DONE or a piece of the refusal)
    "VML shape id of 5,000 digits": (VML, b"_x0000_s", b"_x0000_s" + HUGE, "invraisemblable"),
    "VML idmap of 5,000 digits": (VML, b'data="', b'data="' + HUGE + b",", "invraisemblable"),
    "VML with a DTD": (VML, b"<xml", b'<!DOCTYPE xml [<!ENTITY a "b">]><xml', "DTD"),
    "row number of 5,000 digits": (IDENT, b'<row r="4"', b'<row r="' + HUGE + b'"', "ligne"),
    "row number in superscript digits": (IDENT, b'<row r="4"', '<row r="²"'.encode(), "ligne"),
    "rows out of order": (IDENT, b'<row r="4"', b'<row r="2"', "hors d'ordre"),
    "cells out of order": (IDENT, b'<c r="A4"', b'<c r="D4"', "hors d'ordre"),
    "cell style of 5,000 digits": (IDENT, b'<c r="C4" s="16"', b'<c r="C4" s="' + HUGE + b'"', DONE),
    "row height not a number": (IDENT, b'<row r="4"', b'<row r="4" ht="nan" customHeight="1"', DONE),
    "row height negative": (IDENT, b'<row r="4"', b'<row r="4" ht="-5" customHeight="1"', DONE),
    "row height of 1e308": (IDENT, b'<row r="4"', b'<row r="4" ht="1e308" customHeight="1"', DONE),
    "column width infinite": (IDENT, b'width="38.7109375"', b'width="inf"', DONE),
    "default row height negative": (IDENT, b'defaultRowHeight="15"', b'defaultRowHeight="-1"', DONE),
    "column range of 5,000 digits": (IDENT, b'<col min="1" max="1"', b'<col min="1" max="' + HUGE + b'"',
                                     DONE),
    # The package guard (package.py) reads the first 4 KB of a part; the parser reads it all.
    "DTD after the first 4 KB": (IDENT, b"?>\n", b"?>\n<!--" + b" " * 5_000 + b"--><!DOCTYPE w>", "DTD"),
    "part declared in Latin-1": (IDENT, b'encoding="UTF-8"', b'encoding="ISO-8859-1"', "encodage"),
    "entity never declared": (IDENT, b"<sheetData>", b"<sheetData>&a;", "mal formé"),
}


def _unguarded(sound: Path, odd: Path) -> PackageFacts:
    """Return the sound workbook's facts holding the odd workbook's parts, as no guard would let them."""
    facts = check_zip_workbook(sound, sound.read_bytes(), keep_all=True)
    with zipfile.ZipFile(odd) as archive:
        facts.entries = archive.infolist()
        facts.contents = {entry.filename: archive.read(entry) for entry in facts.entries}
    return facts


def _attempt(source: Path, target: Path) -> str:
    """Annotate source in time: DONE, or the refusal; any other exception fails the test."""
    start = time.monotonic()
    try:
        annotate_workbook(source, target, [_issue(IDENT, "C4"), _issue(IDENT, "B40")])
        outcome = DONE
    except InputError as error:
        outcome = str(error)
    assert time.monotonic() - start < IN_TIME
    return outcome


@pytest.mark.parametrize("case", ODD_PARTS)
def test_annotate__odd_part__copy_done_or_refused_clearly_in_time(case: str, noted: Path, ident_part: str,
                                                                  tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    part, old, new, expected = ODD_PARTS[case]
    odd = _rewrite(noted, tmp_path / "odd.xlsx", {ident_part if part == IDENT else part: (old, new)})
    _attempt(odd, tmp_path / "gardee.xlsx")  # the package guard (package.py) may refuse it first
    # The copy's own reading must hold even past that guard: give it the odd parts, unchecked,
    # with the sheets the guard found in the sound workbook.
    monkeypatch.setattr(annotate, "check_zip_workbook", lambda *_args, **_kwargs: _unguarded(noted, odd))
    outcome = _attempt(odd, tmp_path / "copie.xlsx")
    if expected == DONE:
        assert outcome == DONE
        assert b'<comment ref="C4"' in _parts(tmp_path / "copie.xlsx")["xl/comments1.xml"]
    else:
        assert expected in outcome and not (tmp_path / "copie.xlsx").exists()


def test_annotate_files__odd_drawing__that_copy_refused_with_its_reason(noted: Path, workbook: Path,
                                                                        tmp_path: Path) -> None:
    odd = _rewrite(noted, tmp_path / "odd.xlsx", {VML: (b"_x0000_s", b"_x0000_s" + HUGE)})
    good = _copy(workbook, tmp_path / "bon.xlsx")
    refused, done = annotate_files([(odd, [_issue(IDENT, "C4")]), (good, [_issue(IDENT, "C4")])],
                                   tmp_path / "annotes", [odd, good])
    assert refused.target is None and "dessin des notes (VML) invraisemblable" in refused.reason
    assert "9999…" in refused.reason and len(refused.reason) < 300
    assert done.target is not None and done.target.exists()


# --- never live content --------------------------------------------------------------------------

FORMULA = re.compile(rb"<(?:\w+:)?f[\s/>]")


def test_annotate__formula_like_text__copy_holds_no_formula(workbook: Path, tmp_path: Path) -> None:
    payloads = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://exemple.test","clic")', "+1+1", "@SUM(A1)"]
    cells = ["B4", "D40", "C6", "Z5"]
    issues = [_issue(IDENT, cell, text) for cell, text in zip(cells, payloads, strict=True)]
    issues.append(_issue(PLAN_SHEET, "G4", payloads[0]))
    copy = annotate_workbook(workbook, tmp_path / "copie.xlsx", issues)
    before, after = _parts(workbook), _parts(copy)
    for name, data in after.items():
        assert len(FORMULA.findall(data)) == len(FORMULA.findall(before.get(name, b""))), name
    old, new = openpyxl.load_workbook(workbook), openpyxl.load_workbook(copy)
    for sheet in (IDENT, PLAN_SHEET):
        assert _values(new[sheet]) == _values(old[sheet])
    assert new[IDENT]["D40"].value is None and new[IDENT]["D40"].data_type == "n"
    assert new[IDENT]["B4"].comment.text == f"Erreur : {payloads[0]}"


def test_annotate__never_a_traceback__only_camf_errors(workbook: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "tronque.xlsx"
    truncated.write_bytes(workbook.read_bytes()[:3_000])
    with pytest.raises(CamfError):
        annotate_workbook(truncated, tmp_path / "copie.xlsx", [_issue(IDENT, "B4")])
