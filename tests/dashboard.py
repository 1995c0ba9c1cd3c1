"""Read a workbook's Tableau de bord and Plan d'action back with python-calamine (no recalculation)."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from python_calamine import CalamineWorkbook

from camf_excel.indicators import Dashboard
from camf_excel.model import Template
from camf_excel.writer import FIRST_DATA_ROW, HEADER_ROW, PLAN_SHEET

Figures = dict[str, object]


def read_dashboard(path: Path, template: Template) -> Figures:
    """Return the dashboard's figures by label, as the workbook stores them."""
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Tableau de bord").to_python()
    by_label = {row[0]: row for row in rows if row and isinstance(row[0], str) and row[0]}
    statuses = template.lists["statut"].items
    header = by_label["Champ d'action"]
    columns = {status: header.index(status) for status in statuses}
    return {
        "indicators": [round(float(by_label[label][1]), 6) for label in INDICATORS],
        "statuses": {s: (by_label[s][1], round(by_label[s][2], 6)) for s in statuses},
        "without_status": by_label["Statut non renseigné ou hors liste"][1],
        "matrix": {c: [by_label[c][columns[s]] for s in statuses] + [by_label[c][-1]]
                   for c in template.lists["champ"].items},
    }


INDICATORS = ("Nombre d'actions", "Actions réalisées (%)", "Actions en retard",
              "Budget prévu ($)", "Budget utilisé ($)", "Budget utilisé (% du prévu)",
              "Avancement moyen (%)")


def expected_figures(d: Dashboard, template: Template) -> Figures:
    """Return what read_dashboard must find for these computed figures."""
    statuses = template.lists["statut"].items
    values = (d.actions, d.realised_share, d.late, d.budget_planned, d.budget_used,
              d.budget_used_share, d.mean_progress)
    return {
        "indicators": [round(float(v), 6) for v in values],
        "statuses": {s: (d.by_status[s], round(d.status_share(s), 6)) for s in statuses},
        "without_status": d.without_status,
        "matrix": {c: [d.by_champ_status[c, s] for s in statuses] + [d.by_champ[c]]
                   for c in template.lists["champ"].items},
    }


def read_plan_rows(path: Path, template: Template) -> list[dict[str, object]]:
    """Return the Plan d'action's rows keyed by canonical key (empty cells as None)."""
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(PLAN_SHEET)
    rows = sheet.to_python(skip_empty_area=False)
    headers = rows[HEADER_ROW]
    assert list(headers[: len(template.columns)]) == [c.header for c in template.columns]
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
