"""Figures of the Tableau de bord, computed in Python exactly as the workbook's formulas do.

The generator stores them as the formulas' cached values; the tests compare them with what a
spreadsheet program computes; validation and consolidation reuse them on rows read back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from camf_excel.model import Template

Row = Mapping[str, object]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def has_action(row: Row) -> bool:
    """Tell whether a row holds an action: a non-empty text, as the workbook's COUNTIF(…,"?*")."""
    value = row.get("action")
    return isinstance(value, str) and value != ""


def late_flag(row: Row, periode: object, template: Template) -> str:
    """Return the En retard cell: "" without action, else "Oui" or "Non"."""
    if not has_action(row):
        return ""
    fin = row.get("annee_fin")
    late = (_is_number(fin) and _is_number(periode) and fin < periode  # type: ignore[operator]
            and row.get("statut") not in template.not_late_statuses)
    return "Oui" if late else "Non"


@dataclass(frozen=True)
class Dashboard:
    """The figures the Tableau de bord shows."""

    actions: int
    by_status: dict[str, int]
    without_status: int
    realised_share: float
    late: int
    budget_planned: float
    budget_used: float
    budget_used_share: float
    mean_progress: float
    by_champ_status: dict[tuple[str, str], int]
    by_champ: dict[str, int]

    def status_share(self, status: str) -> float:
        """Share of actions with this status (0 when there is no action)."""
        return self.by_status[status] / self.actions if self.actions else 0.0

    @property
    def without_status_share(self) -> float:
        """Share of actions with no recognised status."""
        return self.without_status / self.actions if self.actions else 0.0


def _total(rows: list[Row], key: str) -> float:
    return float(sum(r[key] for r in rows if _is_number(r.get(key))))  # type: ignore[misc]


def compute_dashboard(rows: Iterable[Row], periode: object, template: Template) -> Dashboard:
    """Compute the dashboard of a workbook's Plan d'action rows."""
    rows = list(rows)
    actions = [r for r in rows if has_action(r)]
    statuses = template.lists["statut"].items
    champs = template.lists["champ"].items
    by_status = {s: sum(1 for r in actions if r.get("statut") == s) for s in statuses}
    by_champ_status = {(c, s): sum(1 for r in actions if r.get("champ") == c and r.get("statut") == s)
                       for c in champs for s in statuses}
    planned, used = _total(rows, "budget_prevu"), _total(rows, "budget_reel")
    progress = [r["avancement"] for r in rows if _is_number(r.get("avancement"))]
    n = len(actions)
    return Dashboard(
        actions=n,
        by_status=by_status,
        without_status=n - sum(by_status.values()),
        realised_share=by_status[template.realised_status] / n if n else 0.0,
        late=sum(1 for r in actions if late_flag(r, periode, template) == "Oui"),
        budget_planned=planned,
        budget_used=used,
        budget_used_share=used / planned if planned > 0 else 0.0,
        mean_progress=sum(progress) / len(progress) / 100 if progress else 0.0,  # type: ignore[arg-type]
        by_champ_status=by_champ_status,
        by_champ={c: sum(1 for r in actions if r.get("champ") == c) for c in champs},
    )
