"""The annotated copy: noted, highlighted cells in a workbook otherwise kept whole."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import posixpath
import tempfile
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
import pytest
from conftest import IDENTIFICATION, PFM_PLAN
from hypothesis import given, settings
from hypothesis import strategies as st
from libreoffice import convert, needs_libreoffice
from openpyxl.cell.cell import Cell

from camf_excel.annotate import AUTHOR, FILL_COLOURS, annotate_workbook, legend_lines
from camf_excel.errors import InputError, OutputExistsError
from camf_excel.generate import generate_workbook
from camf_excel.issues import make_issue
from camf_excel.model import ERROR, WARNING, Issue, Severity
from camf_excel.writer import PLAN_SHEET

IDENT = "Identification"
RED, YELLOW = FILL_COLOURS[ERROR], FILL_COLOURS[WARNING]  # the copy's violet and turquoise
LEGEND = frozenset(legend_lines(dt.date.today()))  # the note at A1 of each annotated sheet


def issue_text(text: str | None) -> str | None:
    """A note's text without the copy's legend (None when only the legend is there)."""
    lines = [line for line in (text or "").split("\n") if line not in LEGEND]
    return "\n".join(lines) or None
MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _issue(severity: Severity, sheet: str, cell: str, message: str) -> Issue:
    return Issue(severity, "TEST", "suivi.xlsx", sheet, cell, message=message)


ISSUES = [
    make_issue("STATUT_INCONNU", "suivi.xlsx", sheet=PLAN_SHEET, cell="L4", row=4, column="statut",
               value="Terminé", items="Non débutée, En cours"),
    _issue(WARNING, PLAN_SHEET, "L4", "deuxième problème sur la même cellule"),
    _issue(WARNING, PLAN_SHEET, "J4", "budget à vérifier"),
    _issue(WARNING, PLAN_SHEET, "G4", "partenaire à préciser"),  # text kept with its quote prefix
    _issue(WARNING, PLAN_SHEET, "Z5", "cellule absente, loin à droite"),
    _issue(ERROR, PLAN_SHEET, "D250", "ligne absente, sous le tableau"),
    _issue(WARNING, IDENT, "B12", "date d'adoption vide"),
    _issue(ERROR, IDENT, "B2", "ligne absente entre deux lignes"),
    _issue(ERROR, PLAN_SHEET, "", "problème de feuille, sans cellule"),
    _issue(ERROR, "Feuille absente", "A1", "feuille que le classeur n'a pas"),
]
NOTED = {(PLAN_SHEET, "L4"), (PLAN_SHEET, "J4"), (PLAN_SHEET, "G4"), (PLAN_SHEET, "Z5"), (PLAN_SHEET, "D250"),
         (IDENT, "B12"), (IDENT, "B2")}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PFM workbook pre-filled from the sample plan (never written by the tests)."""
    return generate_workbook(tmp_path_factory.mktemp("source") / "suivi.xlsx", "pfm", IDENTIFICATION,
                             PFM_PLAN)


@pytest.fixture(scope="module")
def annotated(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return annotate_workbook(source, tmp_path_factory.mktemp("annotated") / "suivi-annote.xlsx", ISSUES)


def _parts(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _sheet_part(parts: dict[str, bytes], name: str) -> str:
    """Return the worksheet part of a sheet, through workbook.xml and its relationships."""
    workbook = ElementTree.fromstring(parts["xl/workbook.xml"])
    rels = ElementTree.fromstring(parts["xl/_rels/workbook.xml.rels"])
    rid = next(s.get(f"{{{_R}}}id") for s in workbook.iter(f"{MAIN}sheet") if s.get("name") == name)
    target = next(r.get("Target") for r in rels if r.get("Id") == rid)
    return posixpath.normpath(posixpath.join("xl", target or ""))


def _cells(xml: bytes) -> list[tuple[int, str, str | None]]:
    """Return (row, reference, style) of every cell, in document order."""
    root = ElementTree.fromstring(xml)
    return [(int(row.get("r", "0")), cell.get("r", ""), cell.get("s"))
            for row in root.iter(f"{MAIN}row") for cell in row.iter(f"{MAIN}c")]


def _column(reference: str) -> int:
    letters = reference.rstrip("0123456789")
    return sum((ord(letter) - 64) * 26 ** i for i, letter in enumerate(reversed(letters)))


def _look(cell: Cell) -> list[str]:
    """Everything a cell's format shows but its fill (style proxies of two books never compare equal)."""
    return [repr(getattr(cell, name)) for name in ("number_format", "font", "border", "alignment",
                                                   "protection", "quotePrefix")]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- what the named cells get ------------------------------------------------------------------

def test_annotate__named_cells__get_note_and_fill_by_severity(annotated: Path) -> None:
    book = openpyxl.load_workbook(annotated)
    plan, ident = book[PLAN_SHEET], book[IDENT]
    status = plan["L4"]
    assert status.comment.text == ("Erreur : statut « Terminé » inconnu : choisissez dans la liste "
                                   "(Non débutée, En cours)\nAvertissement : deuxième problème sur la "
                                   "même cellule")
    assert status.comment.author == AUTHOR
    assert status.fill.fgColor.rgb == RED  # the worst severity decides
    assert ident["B12"].comment.text == "Avertissement : date d'adoption vide"
    assert ident["B12"].fill.fgColor.rgb == YELLOW
    noted = {(sheet.title, cell.coordinate) for sheet in book.worksheets for row in sheet.iter_rows()
             for cell in row if cell.comment and issue_text(cell.comment.text)}
    assert noted == NOTED
    for sheet in {PLAN_SHEET, IDENT}:  # the legend, on each annotated sheet, with no fill
        assert book[sheet]["A1"].comment.text.split("\n")[:3] == legend_lines(dt.date.today())
        assert book[sheet]["A1"].fill.fgColor.rgb not in (RED, YELLOW)


def test_annotate__named_cells__keep_format_and_protection(source: Path, annotated: Path) -> None:
    before, after = openpyxl.load_workbook(source), openpyxl.load_workbook(annotated)
    for sheet, ref in [(IDENT, "B12"), (PLAN_SHEET, "J4"), (PLAN_SHEET, "G4")]:
        old, new = before[sheet][ref], after[sheet][ref]
        assert _look(new) == _look(old)
        assert new.value == old.value
    assert after[IDENT]["B12"].number_format == "yyyy-mm-dd"
    assert after[PLAN_SHEET]["J4"].number_format == '#,##0.00\\ "$"'
    assert after[PLAN_SHEET]["G4"].quotePrefix
    assert after[PLAN_SHEET]["G4"].fill.fgColor.rgb == YELLOW
    assert after[IDENT]["B12"].protection.locked is False  # staff can still type on the protected sheet


def test_annotate__missing_cells__created_in_order_with_their_column_format(annotated: Path) -> None:
    parts = _parts(annotated)
    for sheet in (PLAN_SHEET, IDENT):
        cells = _cells(parts[_sheet_part(parts, sheet)])
        rows = [row for row, _, _ in cells]
        assert rows == sorted(rows), f"{sheet}: rows out of order"
        for number in set(rows):
            columns = [_column(ref) for row, ref, _ in cells if row == number]
            assert columns == sorted(columns), f"{sheet} row {number}: cells out of order"
    book = openpyxl.load_workbook(annotated)
    # A new cell takes the format it showed empty: its row's, else its column's (input, unlocked).
    assert book[PLAN_SHEET]["L4"].protection.locked is False
    assert book[PLAN_SHEET]["L4"].alignment.wrapText
    assert book[PLAN_SHEET]["D250"].protection.locked is True
    assert book[PLAN_SHEET]["D250"].fill.fgColor.rgb == RED
    assert book[PLAN_SHEET]["Z5"].comment.text == "Avertissement : cellule absente, loin à droite"
    assert book[IDENT]["B2"].comment.text == "Erreur : ligne absente entre deux lignes"
    assert b'<dimension ref="A1:Z1203"/>' in parts[_sheet_part(parts, PLAN_SHEET)]  # rows locked below


def test_annotate__cells_not_named__keep_their_style_index(source: Path, annotated: Path) -> None:
    before, after = _parts(source), _parts(annotated)
    for sheet in (PLAN_SHEET, IDENT):
        part = _sheet_part(before, sheet)
        old = {ref: style for _, ref, style in _cells(before[part])}
        new = {ref: style for _, ref, style in _cells(after[part])}
        named = {ref for name, ref in NOTED if name == sheet}
        assert set(new) == set(old) | named
        assert {ref: style for ref, style in new.items() if ref not in named} == {
            ref: style for ref, style in old.items() if ref not in named}


# --- the copy is whole -------------------------------------------------------------------------

def test_annotate__copy__keeps_every_part_and_adds_comments(source: Path, annotated: Path) -> None:
    before, after = _parts(source), _parts(annotated)
    added = set(after) - set(before)
    assert set(before) <= set(after)
    assert sorted(added) == ["xl/comments1.xml", "xl/comments2.xml", "xl/drawings/vmlDrawing1.vml",
                             "xl/drawings/vmlDrawing2.vml", "xl/worksheets/_rels/sheet2.xml.rels"]
    edited = {"xl/styles.xml", "[Content_Types].xml", _sheet_part(before, PLAN_SHEET),
              _sheet_part(before, IDENT), "xl/worksheets/_rels/sheet3.xml.rels"}
    assert {name for name in before if before[name] != after[name]} == edited
    for name in after:
        if name.endswith((".xml", ".rels", ".vml")):
            ElementTree.fromstring(after[name])  # every part is well-formed XML


def test_annotate__copy__keeps_chart_validations_tables_and_protection(source: Path, annotated: Path) -> None:
    before, after = _parts(source), _parts(annotated)
    plan = after[_sheet_part(after, PLAN_SHEET)]
    assert plan.count(b"<dataValidation ") == before[_sheet_part(before, PLAN_SHEET)].count(
        b"<dataValidation ") == 21
    assert b"<sheetProtection " in plan and b"<sheetProtection " in after[_sheet_part(after, IDENT)]
    # CT_Worksheet order: legacyDrawing before tableParts, or Excel repairs the file.
    assert plan.index(b"<legacyDrawing ") < plan.index(b"<tableParts ")
    dashboard = _sheet_part(after, "Tableau de bord")
    dashboard_rels = after[dashboard.replace("sheets/", "sheets/_rels/") + ".rels"]
    assert b"../drawings/drawing1.xml" in dashboard_rels
    assert b"../charts/chart1.xml" in after["xl/drawings/_rels/drawing1.xml.rels"]
    assert after["xl/charts/chart1.xml"] == before["xl/charts/chart1.xml"]
    book = openpyxl.load_workbook(annotated)
    assert "tbl_plan" in book[PLAN_SHEET].tables
    assert "liste_statut" in book.defined_names
    assert book["Listes"].sheet_state == "hidden"
    assert book[PLAN_SHEET].protection.sheet
    assert book.properties.creator == "camf-excel"


def test_annotate__source__left_untouched(pfm_workbook: Path, tmp_path: Path) -> None:
    fingerprint = _sha256(pfm_workbook)
    annotate_workbook(pfm_workbook, tmp_path / "copie.xlsx", ISSUES)
    assert _sha256(pfm_workbook) == fingerprint


def test_annotate__no_issue_with_a_cell__copy_has_the_same_parts(pfm_workbook: Path, tmp_path: Path) -> None:
    copy = annotate_workbook(pfm_workbook, tmp_path / "copie.xlsx", ISSUES[-2:])
    assert _parts(copy) == _parts(pfm_workbook)


# --- notes already in the workbook ---------------------------------------------------------------

def test_annotate__annotated_again__notes_appended_to_the_existing_comments(annotated: Path,
                                                                            tmp_path: Path) -> None:
    again = annotate_workbook(annotated, tmp_path / "encore.xlsx",
                              [_issue(WARNING, PLAN_SHEET, "L4", "troisième"),
                               _issue(ERROR, PLAN_SHEET, "C6", "nouvelle")])
    parts = _parts(again)
    assert sorted(name for name in parts if "comments" in name) == ["xl/comments1.xml", "xl/comments2.xml"]
    plan = openpyxl.load_workbook(again)[PLAN_SHEET]
    assert plan["L4"].comment.text.endswith("même cellule\nAvertissement : troisième")
    assert plan["C6"].comment.text == "Erreur : nouvelle"
    vml = parts["xl/drawings/vmlDrawing1.vml"]
    assert vml.count(b"<x:Row>3</x:Row><x:Column>11</x:Column>") == 1  # one shape per noted cell
    assert vml.count(b'ObjectType="Note"') == 7  # 5 and the legend from the first pass, C6 from this one


def test_annotate__annotated_again_with_the_same_issues__no_line_repeated(annotated: Path,
                                                                        tmp_path: Path) -> None:
    again = annotate_workbook(annotated, tmp_path / "encore.xlsx", ISSUES)  # last week's copy, validated
    before, after = openpyxl.load_workbook(annotated), openpyxl.load_workbook(again)
    for sheet, ref in NOTED:
        assert after[sheet][ref].comment.text == before[sheet][ref].comment.text
        assert after[sheet][ref].fill.fgColor.rgb == before[sheet][ref].fill.fgColor.rgb


def test_annotate__comment_written_by_openpyxl__kept_and_completed(pfm_workbook: Path,
                                                                   tmp_path: Path) -> None:
    book = openpyxl.load_workbook(pfm_workbook)
    book[IDENT]["B4"].comment = openpyxl.comments.Comment("note de la municipalité", "Julie")
    book.save(tmp_path / "avec-note.xlsx")
    copy = annotate_workbook(tmp_path / "avec-note.xlsx", tmp_path / "copie.xlsx",
                             [_issue(ERROR, IDENT, "B4", "organisation inconnue"),
                              _issue(WARNING, IDENT, "B5", "type à vérifier")])
    ident = openpyxl.load_workbook(copy)[IDENT]
    assert ident["B4"].comment.text == "note de la municipalité\nErreur : organisation inconnue"
    assert ident["B5"].comment.text == "Avertissement : type à vérifier"


# --- escaping and unusual packages ---------------------------------------------------------------

def test_annotate__message_with_markup_and_control_character__valid_copy(pfm_workbook: Path,
                                                                         tmp_path: Path) -> None:
    message = 'valeur « <b>&nbsp;" » \x07sonnerie\r\nfin'
    copy = annotate_workbook(pfm_workbook, tmp_path / "copie.xlsx", [_issue(ERROR, IDENT, "B4", message)])
    for name, data in _parts(copy).items():
        if name.endswith((".xml", ".rels", ".vml")):
            ElementTree.fromstring(data)
    comment = openpyxl.load_workbook(copy)[IDENT]["B4"].comment
    assert comment.text == 'Erreur : valeur « <b>&nbsp;" » sonnerie\nfin'


def _minimal_package(path: Path, sheet_data: str, after: str = "") -> Path:
    """Write a bare package: prefixed namespace, no styles part, a sheet named with &apos;.

    `after` is written after the sheet's data.
    """
    main, package = MAIN[1:-1], "http://schemas.openxmlformats.org/package/2006"
    parts = {
        "[Content_Types].xml": f'<Types xmlns="{package}/content-types"><Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
        'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
        'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
        'worksheet+xml"/></Types>',
        "_rels/.rels": f'<Relationships xmlns="{package}/relationships"><Relationship Id="rId1" '
        f'Type="{_R}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<x:workbook xmlns:x="{main}" xmlns:r="{_R}"><x:sheets><x:sheet '
        'name="Plan d&apos;action" sheetId="1" r:id="rId1"/></x:sheets></x:workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{package}/relationships"><Relationship '
        f'Id="rId1" Type="{_R}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<x:worksheet xmlns:x="{main}"><x:sheetData>{sheet_data}</x:sheetData>'
        f"{after}</x:worksheet>",
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, '<?xml version="1.0" encoding="UTF-8"?>' + text)
    return path


# Rows and cells without r (some writers rely on order), and gaps, in the x: prefix.
SPARSE_ROWS = ('<x:row><x:c t="inlineStr"><x:is><x:t>No</x:t></x:is></x:c><x:c t="inlineStr"><x:is><x:t>'
               "Action</x:t></x:is></x:c></x:row><x:row><x:c><x:v>1</x:v></x:c><x:c><x:v>2</x:v></x:c>"
               '<x:c><x:v>3</x:v></x:c></x:row><x:row r="5"><x:c r="D5"><x:v>5</x:v></x:c></x:row>')


def test_annotate__prefixed_sparse_sheet_without_styles__annotated(tmp_path: Path) -> None:
    source = _minimal_package(tmp_path / "minimal.xlsx", SPARSE_ROWS)
    named = {"B2": ERROR, "C1": WARNING, "A3": WARNING, "A4": ERROR, "A5": WARNING, "B5": ERROR, "D5": ERROR}
    issues = [_issue(severity, PLAN_SHEET, ref, f"note {ref}") for ref, severity in named.items()]
    copy = annotate_workbook(source, tmp_path / "copie.xlsx", issues)
    sheet = openpyxl.load_workbook(copy)[PLAN_SHEET]
    assert [[cell.value for cell in row] for row in sheet.iter_rows(max_col=4)] == [
        ["No", "Action", None, None], [1, 2, 3, None], [None] * 4, [None] * 4, [None, None, None, 5]]
    for ref, severity in named.items():
        assert sheet[ref].comment.text == f"{'Erreur' if severity == ERROR else 'Avertissement'} : note {ref}"
        assert sheet[ref].fill.fgColor.rgb == (RED if severity == ERROR else YELLOW)
    assert sheet["C2"].comment is None


def test_annotate__controls_in_alternate_content__legacy_drawing_placed_before(tmp_path: Path) -> None:
    # Excel 2010 and later wrap <controls> in mc:AlternateContent, which must follow legacyDrawing.
    wrapped = ('<mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
               "<mc:Fallback/></mc:AlternateContent>")
    source = _minimal_package(tmp_path / "minimal.xlsx", SPARSE_ROWS, wrapped)
    copy = annotate_workbook(source, tmp_path / "copie.xlsx", [_issue(ERROR, PLAN_SHEET, "B2", "note")])
    sheet = _parts(copy)["xl/worksheets/sheet1.xml"]
    tags = (b"</x:sheetData>", b"<x:legacyDrawing ", b"<mc:AlternateContent")
    positions = [sheet.index(tag) for tag in tags]
    assert positions == sorted(positions)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.tuples(st.integers(1, 7), st.integers(1, 6)), st.sampled_from([ERROR, WARNING]),
                       min_size=1, max_size=12))
def test_annotate__any_cells__each_noted_once_values_unchanged(named: dict[tuple[int, int], str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = _minimal_package(Path(folder) / "minimal.xlsx", SPARSE_ROWS)
        issues = [_issue(severity, PLAN_SHEET, f"{'ABCDEF'[column - 1]}{row}", f"r{row}c{column}")
                  for (row, column), severity in named.items()]
        copy = annotate_workbook(source, Path(folder) / "copie.xlsx", issues)
        sheet = openpyxl.load_workbook(copy)[PLAN_SHEET]
        values = [[cell.value for cell in row] for row in sheet.iter_rows(max_row=5, max_col=4)]
        noted = {(cell.row, cell.column): issue_text(cell.comment.text) for row in sheet.iter_rows()
                 for cell in row if cell.comment and issue_text(cell.comment.text)}
    assert values[:2] == [["No", "Action", None, None], [1, 2, 3, None]] and values[4][3] == 5
    assert noted == {(row, column): f"{'Erreur' if severity == ERROR else 'Avertissement'} : r{row}c{column}"
                     for (row, column), severity in named.items()}


# --- refusals ------------------------------------------------------------------------------------

def test_annotate__target_exists_without_force__refused(pfm_workbook: Path, tmp_path: Path) -> None:
    target = tmp_path / "copie.xlsx"
    target.write_bytes(b"autre")
    with pytest.raises(OutputExistsError):
        annotate_workbook(pfm_workbook, target, ISSUES)
    assert target.read_bytes() == b"autre"
    annotate_workbook(pfm_workbook, target, ISSUES, force=True)
    assert openpyxl.load_workbook(target)[IDENT]["B12"].comment is not None


def test_annotate__target_is_the_source__refused(pfm_workbook: Path) -> None:
    fingerprint = _sha256(pfm_workbook)
    for target in (pfm_workbook, pfm_workbook.parent / "." / pfm_workbook.name):
        with pytest.raises(InputError, match="jamais modifié"):
            annotate_workbook(pfm_workbook, target, ISSUES, force=True)
    link = pfm_workbook.parent / "lien.xlsx"
    os.link(pfm_workbook, link)
    with pytest.raises(InputError, match="jamais modifié"):
        annotate_workbook(pfm_workbook, link, ISSUES, force=True)
    assert _sha256(pfm_workbook) == fingerprint


def test_annotate__ods_source__refused(tmp_path: Path) -> None:
    source = tmp_path / "suivi.xlsx"  # the name lies: the bytes decide
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<office:document-content/>")
    with pytest.raises(InputError, match=r"n'est offerte que pour les classeurs \.xlsx"):
        annotate_workbook(source, tmp_path / "copie.xlsx", ISSUES)
    assert not (tmp_path / "copie.xlsx").exists()


# --- a real spreadsheet program ------------------------------------------------------------------

@needs_libreoffice
def test_libreoffice__annotated_copy__resaved_with_its_notes(annotated: Path, tmp_path: Path) -> None:
    resaved = convert(annotated, tmp_path / "lo", recalc=False)
    book = openpyxl.load_workbook(resaved)
    noted = {(sheet.title, cell.coordinate): cell.comment.text for sheet in book.worksheets
             for row in sheet.iter_rows() for cell in row if cell.comment and issue_text(cell.comment.text)}
    assert set(noted) == NOTED
    assert noted[IDENT, "B12"] == "Avertissement : date d'adoption vide"
    assert book[PLAN_SHEET]["L4"].fill.fgColor.rgb == RED
    assert "tbl_plan" in book[PLAN_SHEET].tables
