"""Adopted plans are read from CSV, .xlsx and .ods, headers matched leniently."""

from __future__ import annotations

from pathlib import Path

import xlsxwriter
from conftest import MADA_PLAN, PFM_PLAN
from libreoffice import convert, needs_libreoffice

from camf_excel.generate import generate_workbook
from camf_excel.plan import read_plan
from camf_excel.templates import load_template

MADA = load_template("mada")


def _xlsx_plan(path: Path, rows: list[list[object]], blank_rows_above: int = 0) -> Path:
    book = xlsxwriter.Workbook(path, {"strings_to_formulas": False})
    sheet = book.add_worksheet("Plan adopté")
    for offset, row in enumerate(rows):
        for col, value in enumerate(row):
            sheet.write(blank_rows_above + offset, col, value)
    book.close()
    return path


def test_read_plan__xlsx_header_moved_down_and_reordered__read(tmp_path: Path) -> None:
    path = _xlsx_plan(tmp_path / "plan.xlsx", [
        ["ACTION ", "numéro", "Champ d’action", "Responsable", "Échéance", "Budget"],
        ["Publier un bottin des ressources", 1.1, "respect et inclusion sociale", "Greffe",
         2026, "1 500,50 $"],
        [None, None, None, None, None, None],
        ["Café-rencontre des aînés", "A-07", "Loisir", "Comité MADA", 2027, 300],
    ], blank_rows_above=3)
    actions = read_plan(path, MADA)
    assert actions == [
        {"action": "Publier un bottin des ressources", "action_id": "1.1",
         "champ": "Respect et inclusion", "responsable": "Greffe", "annee_fin": 2026,
         "budget_prevu": 1500.5},
        {"action": "Café-rencontre des aînés", "action_id": "A-07", "champ": "Loisirs",
         "responsable": "Comité MADA", "annee_fin": 2027, "budget_prevu": 300.0},
    ]


def test_read_plan__a_generated_workbook__gives_back_its_actions(tmp_path: Path) -> None:
    workbook = generate_workbook(tmp_path / "suivi.xlsx", MADA, {"periode": 2025}, MADA_PLAN)
    assert read_plan(workbook, MADA) == read_plan(MADA_PLAN, MADA)


@needs_libreoffice
def test_read_plan__workbook_resaved_as_ods__same_actions(tmp_path: Path) -> None:
    pfm = load_template("pfm")
    workbook = generate_workbook(tmp_path / "suivi.xlsx", pfm, {"periode": 2025}, PFM_PLAN)
    ods = convert(workbook, tmp_path / "lo", extension="ods", recalc=False)
    assert read_plan(ods, pfm) == read_plan(PFM_PLAN, pfm)
