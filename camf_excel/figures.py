"""Every figure of a follow-up, defined once: in Python for the tool, as formulas for the workbook.

The workbook's Tableau de bord, `validate`'s summary of each file, the consolidation's tables
and every later report take their figures from `compute_figures`; the generator writes the
formulas of `INDICATORS` (and stores `compute_figures`' values as their cached values). A test
has LibreOffice compute the formulas on workbooks filled as staff fill them and compares.

Definitions (the README states them):
- an **action** is a row of the Plan d'action whose Action cell holds something other than
  spaces; every figure counts action rows only;
- a **status** counts when the list recognises it (`lists.recognise`: item or variant, case,
  spaces and accents aside); any other status, or none, is « non renseigné ou hors liste »;
- **% réalisées** = actions whose status is Réalisée / actions;
- an action is **late** when its Fin prévue is a number smaller than the période de suivi and
  its status is none of Réalisée, Abandonnée, En continu;
- **budgets** are the sums of the amounts entered as numbers;
- **mean progress** averages the Avancement of the actions holding a number from 0 to 100;
- a workbook is **filled** when at least one action has a follow-up value (a « suivi » column).
A value typed as text in a number cell is a number for no one: not for the workbook's
formulas, so not for the tool either (the reader reports it at its cell).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeGuard

from camf_excel.model import Template

Row = Mapping[str, object]
MIN_PROGRESS, MAX_PROGRESS = 0.0, 100.0
ACTION_ROW = '"?*"'  # criterion: a non-empty text (En retard is Oui or Non on action rows only)


def period_year(value: object) -> int | None:
    """A période as a year: a whole number (2026, 2026.0, a numpy integer), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    return int(value) if isinstance(value, float) and value.is_integer() else None


def is_number(value: object) -> TypeGuard[int | float]:
    """Tell whether a value is a number as a spreadsheet counts one (booleans are not)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def has_action(row: Row) -> bool:
    """Tell whether a row holds an action: its Action cell holds more than spaces."""
    value = row.get("action")
    if is_number(value):
        return True
    return isinstance(value, str) and value.strip(" ") != ""


def late_flag(row: Row, periode: object, template: Template) -> str:
    """Return the En retard cell: "" without action, else "Oui" or "Non".

    `periode` is the période de suivi; None takes each row's own `periode` (rows of several workbooks).
    """
    if not has_action(row):
        return ""
    if periode is None:
        periode = row.get("periode")
    fin = row.get("annee_fin")
    late = (is_number(fin) and is_number(periode) and fin < periode
            and row.get("statut") not in template.not_late_statuses)
    return "Oui" if late else "Non"


def counted_progress(row: Row) -> float | None:
    """Return the row's Avancement when it enters the mean progress, else None."""
    value = row.get("avancement")
    if is_number(value) and MIN_PROGRESS <= float(value) <= MAX_PROGRESS:
        return float(value)
    return None


def has_follow_up(row: Row, template: Template) -> bool:
    """Tell whether a staff member entered anything in the row's follow-up columns."""
    return any(row.get(c.key) not in (None, "") for c in template.columns if c.group == "suivi")


def share(part: float, whole: float) -> float | None:
    """A part as a fraction of a whole (None when the whole is nothing): every share, one rule."""
    return part / whole if whole > 0 else None


@dataclass(frozen=True)
class Figures:
    """The figures of one workbook, or of any set of actions (shares are fractions, None if undefined)."""

    actions: int
    by_status: dict[str, int]
    without_status: int
    realised: int
    late: int
    budget_planned: float
    budget_used: float
    mean_progress: float | None  # on the 0–100 scale
    by_champ_status: dict[tuple[str, str], int]
    by_champ: dict[str, int]
    filled: bool
    added: int = 0  # actions added while the plan runs (Origine), counted apart

    @property
    def realised_share(self) -> float | None:
        """Share of actions realised."""
        return share(self.realised, self.actions)

    @property
    def budget_used_share(self) -> float | None:
        """Budget used as a share of the budget planned."""
        return share(self.budget_used, self.budget_planned)

    def status_share(self, status: str) -> float | None:
        """Share of actions with this status."""
        return share(self.by_status[status], self.actions)

    @property
    def without_status_share(self) -> float | None:
        """Share of actions with no recognised status."""
        return share(self.without_status, self.actions)


def compute_figures(rows: Iterable[Row], periode: object, template: Template) -> Figures:
    """Compute the figures of some Plan d'action rows (canonical keys, values as the reader reads them)."""
    actions = [r for r in rows if has_action(r)]
    statuses = template.lists["statut"].items
    champs = template.lists["champ"].items
    by_status = dict.fromkeys(statuses, 0)
    by_champ_status = {(c, s): 0 for c in champs for s in statuses}
    by_champ = dict.fromkeys(champs, 0)
    for row in actions:
        statut, champ = row.get("statut"), row.get("champ")
        if statut in by_status:
            by_status[str(statut)] += 1
        if champ in by_champ:
            by_champ[str(champ)] += 1
            if statut in by_status:
                by_champ_status[str(champ), str(statut)] += 1
    progress = [p for p in map(counted_progress, actions) if p is not None]
    return Figures(
        actions=len(actions),
        by_status=by_status,
        without_status=len(actions) - sum(by_status.values()),
        realised=by_status[template.realised_status],
        late=sum(1 for r in actions if late_flag(r, periode, template) == "Oui"),
        budget_planned=_total(actions, "budget_prevu"),
        budget_used=_total(actions, "budget_reel"),
        mean_progress=sum(progress) / len(progress) if progress else None,
        by_champ_status=by_champ_status,
        by_champ=by_champ,
        filled=any(has_follow_up(r, template) for r in actions),
        added=sum(1 for r in actions if template.added_origin and r.get("origine") == template.added_origin),
    )


def _total(rows: list[Row], key: str) -> float:
    return float(sum(value for r in rows if is_number(value := r.get(key))))


# --- the same definitions as workbook formulas ---------------------------------------------

@dataclass(frozen=True)
class Indicator:
    """One line of the Tableau de bord: its cell's name, label, formula, format and Python value."""

    name: str
    label: str
    formula: str
    style: str  # "count", "share" or "money"

    @property
    def cell_name(self) -> str:
        """The workbook's defined name of the indicator's cell."""
        return f"tdb_{self.name}"

    def value(self, figures: Figures) -> object:
        """The value the formula computes, as the workbook's cached value ("" when undefined)."""
        value = _INDICATOR_VALUES[self.name](figures)
        return "" if value is None else value


def indicators(template: Template) -> tuple[Indicator, ...]:
    """Return the Tableau de bord's indicators, in order, as formulas over the workbook's named ranges.

    `plan_en_retard` (Oui or Non on action rows, empty elsewhere) marks the action rows and
    `plan_statut_lu`, `plan_champ_lu` hold the recognised status and champ (see `row_formulas`).
    """
    realised = text_literal(template.realised_status)
    progress = f'plan_avancement,">={MIN_PROGRESS:g}",plan_avancement,"<={MAX_PROGRESS:g}"'
    return (
        Indicator("actions", "Nombre d'actions", f"COUNTIFS(plan_en_retard,{ACTION_ROW})", "count"),
        Indicator("realisees", "Actions réalisées (%)",
                  f'IF(tdb_actions>0,COUNTIFS(plan_statut_lu,{realised})/tdb_actions,"")',
                  "share"),
        Indicator("en_retard", "Actions en retard", 'COUNTIFS(plan_en_retard,"Oui")', "count"),
        Indicator("budget_prevu", "Budget prévu ($)",
                  f"SUMIFS(plan_budget_prevu,plan_en_retard,{ACTION_ROW})", "money"),
        Indicator("budget_reel", "Budget utilisé ($)",
                  f"SUMIFS(plan_budget_reel,plan_en_retard,{ACTION_ROW})", "money"),
        Indicator("budget_utilise", "Budget utilisé (% du prévu)",
                  'IF(tdb_budget_prevu>0,tdb_budget_reel/tdb_budget_prevu,"")', "share"),
        Indicator("avancement_moyen", "Avancement moyen (%)",
                  f'IFERROR(AVERAGEIFS(plan_avancement,plan_en_retard,{ACTION_ROW},{progress})/100,"")',
                  "share"),
        Indicator("ajoutees", "Actions ajoutées en cours de plan",
                  f"COUNTIFS(plan_origine_lu,{text_literal(template.added_origin)})", "count"),
    )


_INDICATOR_VALUES = {
    "actions": lambda f: f.actions,
    "realisees": lambda f: f.realised_share,
    "en_retard": lambda f: f.late,
    "budget_prevu": lambda f: f.budget_planned,
    "budget_reel": lambda f: f.budget_used,
    "budget_utilise": lambda f: f.budget_used_share,
    "avancement_moyen": lambda f: None if f.mean_progress is None else f.mean_progress / 100,
    "ajoutees": lambda f: f.added,
}


# --- the change since the previous period (the Historique sheet) ---------------------------

HISTORY_KEYS = ("periode", "action_id", "action", "statut", "avancement", "date_maj", "en_retard")


@dataclass(frozen=True)
class Previous:
    """The previous period's figures, from the history a rolled-forward workbook keeps."""

    periode: int | None  # the latest period before the workbook's own, None without history
    realised: int
    late: int


def previous_figures(history: Iterable[Row], periode: object, template: Template) -> Previous:
    """Return the figures of the latest period before `periode` in the history rows (as the dashboard)."""
    rows = list(history)
    years = {period_year(r.get("periode")) for r in rows} - {None}
    before = [y for y in years if y is not None and (not is_number(periode) or y < periode)]
    if not before:
        return Previous(None, 0, 0)
    last = max(before)
    kept = [r for r in rows if period_year(r.get("periode")) == last]
    return Previous(last, sum(1 for r in kept if r.get("statut") == template.realised_status),
                    sum(1 for r in kept if r.get("en_retard") == "Oui"))


def evolution_indicators(template: Template) -> tuple[Indicator, ...]:
    """The dashboard's « since the previous period » lines, over the Historique sheet's named ranges.

    The previous period is the latest one the history holds before the workbook's période (all
    of it when no période is entered); every line is empty while the history is.
    """
    realised = text_literal(template.realised_status)
    # SUMPRODUCT makes MAX read its argument as an array without Ctrl+Maj+Entrée (Excel 2007 on).
    previous = ("IF(ISNUMBER(ident_periode),SUMPRODUCT(MAX((hist_periode<ident_periode)*hist_periode)),"
                "MAX(hist_periode))")
    known = "ISNUMBER(tdb_periode_precedente)"
    return (
        Indicator("periode_precedente", "Période précédente", f'IFERROR(IF({previous}>0,{previous},""),"")',
                  "year"),
        Indicator("realisees_precedente", "Actions réalisées à la période précédente",
                  f'IF({known},COUNTIFS(hist_periode,tdb_periode_precedente,hist_statut,{realised}),"")',
                  "count"),
        Indicator("realisees_evolution", "Actions réalisées depuis (écart)",
                  f'IF({known},COUNTIFS(plan_statut_lu,{realised})-tdb_realisees_precedente,"")', "count"),
        Indicator("en_retard_precedente", "Actions en retard à la période précédente",
                  f'IF({known},COUNTIFS(hist_periode,tdb_periode_precedente,hist_en_retard,"Oui"),"")',
                  "count"),
    )


def evolution_values(figures: Figures, previous: Previous) -> dict[str, object]:
    """The values the evolution lines compute, as the workbook's cached values ("" when undefined)."""
    if previous.periode is None:
        return dict.fromkeys(("periode_precedente", "realisees_precedente", "realisees_evolution",
                              "en_retard_precedente"), "")
    return {"periode_precedente": previous.periode, "realisees_precedente": previous.realised,
            "realisees_evolution": figures.realised - previous.realised,
            "en_retard_precedente": previous.late}


def status_count_formula(status_cell: str) -> str:
    """The count of actions whose recognised status is the one in status_cell."""
    return f"COUNTIFS(plan_statut_lu,{status_cell})"


def champ_status_formula(champ_cell: str, status_cell: str) -> str:
    """The count of actions of one champ and one status."""
    return f"COUNTIFS(plan_champ_lu,{champ_cell},plan_statut_lu,{status_cell})"


def champ_formula(champ_cell: str) -> str:
    """The count of actions of one champ."""
    return f"COUNTIFS(plan_champ_lu,{champ_cell})"


def share_formula(count_cell: str) -> str:
    """A count as a share of the actions ("" when there is none)."""
    return f'IF(tdb_actions>0,{count_cell}/tdb_actions,"")'


def row_formulas(template: Template, cells: Mapping[str, str]) -> dict[str, str]:
    """The calculated columns of one Plan d'action row, `cells` naming that row's cells by key.

    On a row without action all are empty; on an action row `statut_lu` and `champ_lu` hold the
    recognised item (list spellings on the hidden Listes sheet, else empty) and `en_retard` Oui
    or Non — so a non-empty En retard marks an action row for the dashboard.
    """
    no_action = f"LEN(TRIM({cells['action']}))=0"
    not_late = ",".join(f"{cells['statut_lu']}<>{text_literal(s)}" for s in template.not_late_statuses)
    return {
        "statut_lu": _recognised(cells, "statut", no_action),
        "champ_lu": _recognised(cells, "champ", no_action),
        "origine_lu": _recognised(cells, "origine", no_action),
        "en_retard": (f'=IF({no_action},"",IF(AND(ISNUMBER({cells["annee_fin"]}),'
                      f'ISNUMBER(ident_periode),{cells["annee_fin"]}<ident_periode,{not_late}),'
                      '"Oui","Non"))'),
    }


def _recognised(cells: Mapping[str, str], key: str, no_action: str) -> str:
    # MATCH(…, 0) treats * ? ~ as wildcards: escape them, so "R*" is no status.
    typed = f'SUBSTITUTE(SUBSTITUTE(SUBSTITUTE(TRIM({cells[key]}),"~","~~"),"*","~*"),"?","~?")'
    return (f'=IF({no_action},"",IFERROR(INDEX(liste_{key}_canon,'
            f'MATCH({typed},liste_{key}_formes,0)),""))')


def text_literal(text: str) -> str:
    """A text as a formula's string literal (quotes doubled)."""
    return '"' + text.replace('"', '""') + '"'


# Columns and lists the code relies on: a template lacking one is refused at load.
REQUIRED_COLUMNS = {"action_id": "text", "champ": "list", "action": "text", "annee_debut": "integer",
                    "annee_fin": "integer", "budget_prevu": "number", "statut": "list",
                    "avancement": "percent", "date_maj": "date", "budget_reel": "number",
                    "commentaires": "text", "obstacles": "text", "bon_coup": "list",
                    "en_retard": "formula", "statut_lu": "formula", "champ_lu": "formula",
                    "origine": "list", "origine_lu": "formula"}
REQUIRED_LISTS = ("statut", "champ", "oui_non", "origine")
REQUIRED_IDENTIFICATION = ("organisation", "type", "code_geo", "mrc", "region", "demarche",
                           "annee_debut", "annee_fin", "periode", "date_maj_fichier")
