"""Read a workbook's Tableau de bord and Plan d'action back as stored (no recalculation here).

Indicators are found by their defined names (`tdb_…`), the status table and the matrix by
their labels: what a person reads, not cell addresses.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import openpyxl
from python_calamine import CalamineWorkbook

from camf_excel.figures import Figures, indicators
from camf_excel.model import Template
from camf_excel.writer import DASHBOARD_SHEET, FIRST_DATA_ROW, HEADER_ROW, PLAN_SHEET, header_text

Snapshot = dict[str, object]
NOT_SET = "(vide)"


def _number(value: object) -> object:
    """A cell value as compared: numbers rounded, an empty result as NOT_SET."""
    if value in ("", None):
        return NOT_SET
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(float(value), 6)
    return value


def read_dashboard(path: Path, template: Template) -> Snapshot:
    """Return the dashboard's figures as the workbook stores them (cached or recalculated values)."""
    book = openpyxl.load_workbook(path, data_only=True)
    sheet = book[DASHBOARD_SHEET]
    named = {}
    for indicator in indicators(template):
        (sheet_name, ref), = book.defined_names[indicator.cell_name].destinations
        named[indicator.name] = _number(book[sheet_name][ref.replace("$", "")].value)
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    by_label = {row[0]: row for row in rows if row and isinstance(row[0], str) and row[0]}
    statuses = template.lists["statut"].items
    header = by_label["Champ d'action"]
    columns = {status: header.index(status) for status in statuses}
    total = header.index("Total")
    status_rows = [row for row in rows if row and row[0] in statuses and isinstance(row[1], int | float)]
    status_table = {row[0]: (_number(row[1]), _number(row[2])) for row in status_rows}
    missing = by_label["Statut non renseigné ou hors liste"]
    return {
        "indicators": named,
        "statuses": status_table,
        "without_status": (_number(missing[1]), _number(missing[2])),
        "matrix": {c: [_number(by_label[c][columns[s]]) for s in statuses] + [_number(by_label[c][total])]
                   for c in template.lists["champ"].items},
    }


def expected_dashboard(figures: Figures, template: Template) -> Snapshot:
    """Return what read_dashboard must find for these figures."""
    statuses = template.lists["statut"].items
    return {
        "indicators": {i.name: _number(i.value(figures)) for i in indicators(template)},
        "statuses": {s: (_number(figures.by_status[s]), _number(figures.status_share(s))) for s in statuses},
        "without_status": (_number(figures.without_status), _number(figures.without_status_share)),
        "matrix": {c: [*(_number(figures.by_champ_status[c, s]) for s in statuses),
                       _number(figures.by_champ[c])] for c in template.lists["champ"].items},
    }


def read_plan_rows(path: Path, template: Template) -> list[dict[str, object]]:
    """Return the Plan d'action's rows keyed by canonical key (empty cells as None)."""
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(PLAN_SHEET)
    rows = sheet.to_python(skip_empty_area=False)
    headers = rows[HEADER_ROW]
    assert list(headers[: len(template.columns)]) == [header_text(c) for c in template.columns]
    return [{c.key: (row[i] if row[i] != "" else None) for i, c in enumerate(template.columns)}
            for row in rows[FIRST_DATA_ROW:]]


def follow_up_values(count: int, template: Template, seed: int = 7) -> list[dict[str, object]]:
    """Return plausible follow-up values (statut, avancement, date, budget) for count actions."""
    rng = random.Random(seed)
    statuses = [*template.lists["statut"].items, None]
    values = []
    for _ in range(count):
        statut = rng.choice(statuses)
        values.append({
            "statut": statut,
            "avancement": {"Réalisée": 100, "Non débutée": 0}.get(statut, rng.randrange(0, 101, 5)),
            "date_maj": dt.date(2025, rng.randint(1, 12), rng.randint(1, 28)),
            "budget_reel": rng.choice([None, 0, 250.5, 1200, 18_000]),
        })
    return values
