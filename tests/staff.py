"""Fill a generated workbook as municipal staff do, seeded: picks, typed variants, text numbers, gaps.

Edits go through openpyxl, as typing does: nothing computes the formulas (a spreadsheet program
does, later). What a data validation would refuse at the keyboard can still arrive by paste, so
some of it is typed here too.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import openpyxl

from camf_excel.model import Template
from camf_excel.writer import FIRST_DATA_ROW, MIN_ROWS, PLAN_SHEET

STATUS_TYPED = ["Non débutée", "En cours", "Réalisée", "En continu", "Reportée", "Abandonnée",
                "en cours", "RÉALISÉE", "terminé", "Realisee", "En continue", "Reporté", "annulée",
                "  Réalisée ", "Fini", "peut-être", "R*", None, None]
PROGRESS_TYPED: list[object] = [0, 5, 10, 25, 50, 75, 90, 100, None, None, "50 %", "100%", "environ 30",
                                150, -5]
AMOUNT_TYPED: list[object] = [None, 0, 250.5, 1200, 18_000, "1 500 $", "2 000,50", "1,500", -100]
YEAR_TYPED: list[object] = [2023, 2024, 2025, 2026, 2027, "2025", None]
ACTION_TYPED = ["Nouvelle action ajoutée en cours d'année", "   ", "Action de la MRC", 123]


def fill_as_staff(path: Path, template: Template, periode: int, seed: int) -> None:
    """Type a season of follow-up into the Plan d'action of the workbook at path, and save it."""
    rng = random.Random(seed)
    book = openpyxl.load_workbook(path)
    sheet = book[PLAN_SHEET]
    column = {c.key: i + 1 for i, c in enumerate(template.columns)}
    first = FIRST_DATA_ROW + 1
    planned = _count_actions(sheet, column, first)
    last_table_row = first + max(planned + 100, MIN_ROWS) - 1

    def put(row: int, key: str, value: object) -> None:
        sheet.cell(row, column[key], value)

    for row in range(first, first + planned):
        if rng.random() < 0.08:  # an action deleted by hand: the whole row emptied
            for key in column:
                if template.column(key).kind != "formula":
                    put(row, key, None)
            continue
        put(row, "statut", rng.choice(STATUS_TYPED))
        put(row, "avancement", rng.choice(PROGRESS_TYPED))
        put(row, "budget_reel", rng.choice(AMOUNT_TYPED))
        put(row, "date_maj", dt.datetime(periode, rng.randint(1, 12), rng.randint(1, 28)))
        if rng.random() < 0.3:
            put(row, "annee_fin", rng.choice(YEAR_TYPED))
        if rng.random() < 0.2:
            put(row, "budget_prevu", rng.choice(AMOUNT_TYPED))
        if rng.random() < 0.3:
            put(row, "champ", rng.choice([*template.lists["champ"].items, *template.lists["champ"].synonyms,
                                          "Sports d'hiver"]))
        put(row, "bon_coup", rng.choice(["Oui", "Non", None, "X"]))
    for row in (last_table_row - 2, last_table_row):  # actions added in the last rows of the table
        put(row, "action", rng.choice(ACTION_TYPED))
        put(row, "statut", rng.choice(STATUS_TYPED))
        put(row, "avancement", rng.choice(PROGRESS_TYPED))
        put(row, "annee_fin", rng.choice(YEAR_TYPED))
        put(row, "champ", rng.choice(template.lists["champ"].items))
        put(row, "budget_prevu", rng.choice(AMOUNT_TYPED))
    book.save(path)


def _count_actions(sheet: object, column: dict[str, int], first: int) -> int:
    count = 0
    while sheet.cell(first + count, column["action_id"]).value not in (None, ""):  # type: ignore[attr-defined]
        count += 1
    return count
