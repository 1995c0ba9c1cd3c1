"""A real spreadsheet program computes the same dashboard as Python (LibreOffice headless)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
from conftest import IDENTIFICATION, PFM_PLAN
from dashboard import expected_dashboard, follow_up_values, read_dashboard, read_plan_rows
from libreoffice import convert, needs_libreoffice
from test_generate import filled_actions

from camf_excel.figures import compute_figures
from camf_excel.generate import generate_workbook
from camf_excel.templates import load_template
from camf_excel.writer import FIRST_DATA_ROW, PLAN_SHEET, build_workbook

PFM = load_template("pfm")
COLUMN = {c.key: i + 1 for i, c in enumerate(PFM.columns)}


def _fill_as_staff(path: Path) -> None:
    """Type follow-up values into the table, add one action, then save (no cached values left)."""
    book = openpyxl.load_workbook(path)
    sheet = book[PLAN_SHEET]
    for offset, values in enumerate(follow_up_values(25, PFM, seed=11)):
        for key, value in values.items():
            sheet.cell(FIRST_DATA_ROW + 1 + offset, COLUMN[key], value)
    new_row = FIRST_DATA_ROW + 1 + 25
    for key, value in {"action_id": "12.1", "champ": "Habitation", "responsable": "Urbanisme",
                       "action": "Créer un répertoire des logements abordables",
                       "annee_fin": 2024, "statut": "En cours", "budget_prevu": 3000}.items():
        sheet.cell(new_row, COLUMN[key], value)
    sheet.cell(new_row + 1, COLUMN["budget_prevu"], 99.5)  # a budget without an action
    book.save(path)


@needs_libreoffice
def test_libreoffice__recalculated_after_staff_fill__same_figures_as_python(tmp_path: Path) -> None:
    source = generate_workbook(tmp_path / "suivi.xlsx", "pfm", IDENTIFICATION, PFM_PLAN)
    _fill_as_staff(source)
    resaved = convert(source, tmp_path / "lo", recalc=True)
    rows = read_plan_rows(resaved, PFM)
    late_column = [r["en_retard"] for r in rows[:27]]
    expected = compute_figures(rows, 2025, PFM)
    assert expected.actions == 26
    assert expected.late > 0 and "Oui" in late_column
    assert read_dashboard(resaved, PFM) == expected_dashboard(expected, PFM)


@needs_libreoffice
def test_libreoffice__default_profile__shows_cached_figures(tmp_path: Path) -> None:
    actions = filled_actions()
    source = tmp_path / "prerempli.xlsx"
    source.write_bytes(build_workbook(PFM, {"periode": 2025}, actions))
    resaved = convert(source, tmp_path / "lo", recalc=False)
    assert read_dashboard(resaved, PFM) == expected_dashboard(compute_figures(actions, 2025, PFM), PFM)


@needs_libreoffice
def test_libreoffice__keeps_structure_and_text(tmp_path: Path) -> None:
    actions = [{"action_id": "1", "champ": "Habitation", "responsable": "Greffe",
                "action": '=HYPERLINK("http://x","y")', "date_maj": dt.date(2025, 3, 10)}]
    source = tmp_path / "t.xlsx"
    source.write_bytes(build_workbook(PFM, {"periode": 2025}, actions))
    resaved = convert(source, tmp_path / "lo", recalc=True)
    book = openpyxl.load_workbook(resaved)
    sheet = book[PLAN_SHEET]
    assert sheet.cell(FIRST_DATA_ROW + 1, COLUMN["action"]).value == '=HYPERLINK("http://x","y")'
    assert sheet.cell(FIRST_DATA_ROW + 1, COLUMN["action"]).data_type == "s"
    assert "liste_statut" in book.defined_names
    assert any(dv.formula1 == "liste_statut" for dv in sheet.data_validations.dataValidation)
