"""Nothing read wrong or as empty without a word: percent formats, formulas without value, rows below
the table, copies of the plan sheet — in the file as saved by openpyxl, and re-saved by LibreOffice."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from filling import IDENT, PLAN, filled_workbook
from libreoffice import convert_many, needs_libreoffice

from camf_excel.validation import check_workbook
from camf_excel.writer import FIRST_DATA_ROW, MIN_ROWS

TODAY = dt.date(2025, 12, 15)
LAST_TABLE_ROW = FIRST_DATA_ROW + max(25 + 100, MIN_ROWS)  # 1-based: the sample plan has 25 actions
CODES = ("POURCENTAGE_FORMAT", "FORMULE_SANS_VALEUR", "LIGNE_HORS_TABLEAU", "FEUILLE_PLAN_SUPPLEMENTAIRE")


def _typed_as_people_do(path: Path) -> Path:
    """« 100 % » and « 50 % » typed in Avancement, a link pasted as a formula, an action below the
    table, and the plan sheet duplicated."""
    book = openpyxl.load_workbook(path)
    plan = book[PLAN]
    plan["L5"], plan["M5"] = "Réalisée", 1
    plan["M5"].number_format = "0%"
    plan["L6"], plan["M6"] = "En cours", 0.5
    plan["M6"].number_format = "0.0 %"
    plan["C7"] = '=HYPERLINK("https://exemple.qc.ca","site")'
    plan[f"D{LAST_TABLE_ROW + 2}"] = "Action inscrite sous le tableau"
    book[IDENT]["B8"] = '=UPPER("mauricie")'
    copy = book.copy_worksheet(plan)
    copy.title = "Plan d'action (2)"
    book.save(path)
    return path


@pytest.fixture(scope="module")
def typed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("faits")
    return _typed_as_people_do(filled_workbook(folder / "tape.xlsx"))


def _found(path: Path) -> list[tuple[str, str, str]]:
    return [(i.code, i.sheet, i.cell) for i in check_workbook(path, today=TODAY).issues if i.code in CODES]


def test_reader__percent_format__read_as_percent_and_reported(typed: Path) -> None:
    result = check_workbook(typed, today=TODAY)
    by_row = {a["source_row"]: a for a in result.actions}
    assert by_row[5]["avancement"] == 100.0 and by_row[6]["avancement"] == 50.0
    found = [(i.code, i.cell, i.message) for i in result.issues if i.code == "POURCENTAGE_FORMAT"]
    assert [cell for _, cell, _ in found] == ["M5", "M6"]
    assert "lu 100 %" in found[0][2] and "comme 1 %" in found[0][2]
    assert not any(i.code == "STATUT_AVANCEMENT_INCOHERENT" for i in result.issues)


def test_reader__formula_without_value__named_not_read_as_empty_silently(typed: Path) -> None:
    found = _found(typed)
    assert ("FORMULE_SANS_VALEUR", PLAN, "C7") in found
    assert ("FORMULE_SANS_VALEUR", IDENT, "B8") in found


def test_reader__action_below_the_table__reported_and_counted_by_no_one(typed: Path) -> None:
    result = check_workbook(typed, today=TODAY)
    assert ("LIGNE_HORS_TABLEAU", PLAN, f"D{LAST_TABLE_ROW + 2}") in _found(typed)
    assert len(result.actions) == 25 and result.rows_outside == 1
    assert result.figures is not None and result.figures.actions == 25
    message = next(i.message for i in result.issues if i.code == "LIGNE_HORS_TABLEAU")
    assert f"ligne {LAST_TABLE_ROW + 2}" in message and f"ligne {LAST_TABLE_ROW})" in message


def test_reader__copy_of_the_plan_sheet__reported_with_its_rows(typed: Path) -> None:
    issues = check_workbook(typed, today=TODAY).issues
    issue = next(i for i in issues if i.code == "FEUILLE_PLAN_SUPPLEMENTAIRE")
    assert issue.sheet == "Plan d'action (2)" and "26 ligne(s)" in issue.message


@needs_libreoffice
def test_reader__resaved_by_libreoffice__same_facts(typed: Path, tmp_path: Path) -> None:
    saved = convert_many([typed], tmp_path / "xlsx", "xlsx")[typed]
    ods = convert_many([typed], tmp_path / "ods", "ods")[typed]
    expected = [c for c in _found(typed) if c[0] != "FORMULE_SANS_VALEUR"]  # LibreOffice computes them
    assert _found(saved) == expected
    assert _found(ods) == expected
    assert [a["avancement"] for a in check_workbook(ods, today=TODAY).actions[1:3]] == [100.0, 50.0]


def _broken_and_merged(path: Path) -> Path:
    """An error typed into Avancement by a formula, and Champ merged over three actions."""
    book = openpyxl.load_workbook(path)
    plan = book[PLAN]
    plan["M8"] = "=1/0"
    plan.merge_cells("B10:B12")
    book.save(path)
    return path


@needs_libreoffice
def test_reader__ods_errors_and_merged_cells__found_where_the_xlsx_has_them(tmp_path: Path) -> None:
    source = _broken_and_merged(filled_workbook(tmp_path / "casse.xlsx"))
    saved = convert_many([source], tmp_path / "xlsx", "xlsx")[source]
    ods = convert_many([source], tmp_path / "ods", "ods")[source]
    wanted = ("CELLULE_ERREUR", "CELLULES_FUSIONNEES")

    def found(path: Path) -> list[tuple[str, str]]:
        return sorted((i.code, i.cell) for i in check_workbook(path, today=TODAY).issues if i.code in wanted)

    assert found(saved) == found(ods) == [("CELLULES_FUSIONNEES", "B10"), ("CELLULE_ERREUR", "M8")]
