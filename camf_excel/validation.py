"""Interpret what the reader found: read each cell as people type, apply the template's rules, list issues.

Pure functions over `reader.RawWorkbook`; `check_workbook` is the one entry point per file and
never raises for a bad file: a file that cannot be read becomes one issue. Cells are read by
`read_cell` (shared with the import of adopted plans); rules come from `rules.REGISTRY`,
named by the template; figures from `figures.compute_figures`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xlsxwriter.utility import xl_rowcol_to_cell

from camf_excel.figures import Figures, compute_figures, is_number, late_flag
from camf_excel.issues import make_issue, path_text
from camf_excel.lists import is_variant, recognise
from camf_excel.model import CELL_TEXT_LIMIT, PLAUSIBLE_YEARS, IdentField, Issue, Template
from camf_excel.normalise import (
    Parsed,
    clean_text,
    format_number_fr,
    parse_date,
    parse_integer,
    parse_number,
    parse_percent,
)
from camf_excel.reader import IdentValue, PlanRow, RawWorkbook, RefusedFileError, read_raw
from camf_excel.rules import Context, Finding, run_rules

Values = dict[str, object]
Note = tuple[str, dict[str, object]]  # a catalogued code and the details of its message
EXTRA_KEY = "colonnes_supplementaires"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|[\ud800-\udfff]")
_NUMBER_KINDS = frozenset({"integer", "number", "percent"})


@dataclass
class WorkbookResult:
    """One file checked: its identification, its actions (canonical keys), its issues and figures."""

    file: str
    kind: str = ""
    template_id: str = ""
    template_version: str = ""
    identification: Values = field(default_factory=dict)
    actions: list[Values] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    blank_rows: int = 0
    # Where each Identification value is: sheet, cell, row, column, ready for make_issue.
    identification_where: dict[str, dict[str, Any]] = field(default_factory=dict)
    figures: Figures | None = None
    rows_outside: int = 0  # rows typed below the table: reported, counted by no one
    sha256: str = ""  # of the bytes that were read (Sources describes those, not the file later)
    size: int | None = None
    # The Comité de suivi sheet: its meetings log (date, sujets, decisions, source_row) and members
    # (nom, organisation, role, courriel); dates read as `read_cell` reads them, else kept as typed.
    meetings: list[Values] = field(default_factory=list)
    members: list[Values] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        """Tell whether the file could be opened at all."""
        return bool(self.kind)

    @property
    def errors(self) -> int:
        """Number of issues of severity « erreur »."""
        return sum(1 for issue in self.issues if issue.severity == "erreur")

    @property
    def filled(self) -> bool:
        """Tell whether anyone entered follow-up values (figures.has_follow_up)."""
        return bool(self.figures and self.figures.filled)


def check_workbook(path: str | Path, periode: int | None = None, today: dt.date | None = None,
                   template: Template | None = None) -> WorkbookResult:
    """Read one workbook and validate it; a file that cannot be read gives one issue, never an exception.

    `template` forces the template (else the one the workbook declares, else its démarche's).
    """
    try:
        raw = read_raw(Path(path), template)
    except RefusedFileError as error:
        return WorkbookResult(str(path), issues=[make_issue(error.code, str(path), detail=str(error))],
                              sha256=error.sha256, size=error.size if error.sha256 else None)
    return _Checker(raw, periode, today or dt.date.today()).run()


def clean_cell_text(value: object) -> tuple[str, bool]:
    """Return a cell's text with control characters and lone surrogates removed, and whether any was."""
    text = clean_text(value)
    cleaned = _CONTROL.sub("", text)
    return unicodedata.normalize("NFC", cleaned), cleaned != text


def cell_name(index: int, col: int) -> str:
    """Return the A1 reference of a 0-based cell position."""
    return xl_rowcol_to_cell(index, col)


# --- reading one cell ---------------------------------------------------------------------

def read_cell(value: object, kind: str, template: Template, list_name: str | None = None,
              header: str = "", *, percent_format: bool = False,
              text_numbers: bool = False) -> tuple[object, list[Note]]:
    """Read one cell as people type it; return the value and what to report about it.

    `text_numbers`: a number written as text is a number (an adopted plan in CSV), rather than
    text that the workbook's formulas, hence the tool, do not count (a returned workbook).
    """
    if value is None or value == "" or kind == "formula":
        return None, []
    if kind in ("text", "email"):
        return _read_text(value, kind)
    if kind == "list" and list_name:
        return _read_list(value, template, list_name)
    if kind in _NUMBER_KINDS and isinstance(value, str) and not text_numbers:
        return _number_as_text(value, kind, header)
    parsed, problem = _PARSERS[kind](value, percent_format)
    if problem is not None:
        return None, [(problem.code, {"value": value, "header": header, "detail": problem.detail})]
    first, last = PLAUSIBLE_YEARS
    if kind == "integer" and isinstance(parsed, int) and not first <= parsed <= last:
        # Whole numbers here are years: 1e20 is a typing accident, not a year (nor a C long).
        return None, [("ANNEE_INVRAISEMBLABLE", {"value": value, "header": header, "first": first,
                                                  "last": last})]
    notes: list[Note] = []
    if kind == "percent" and percent_format and is_number(value) and is_number(parsed):
        percent = format_number_fr(float(parsed))
        notes.append(("POURCENTAGE_FORMAT", {"value": value, "header": header, "raw": f"{value:g}",
                                             "shown": f"{percent} %", "percent": percent}))
    return parsed, notes


def _read_text(value: object, kind: str) -> tuple[object, list[Note]]:
    text, cleaned = clean_cell_text(value)
    notes: list[Note] = [("TEXTE_NETTOYE", {"value": value})] if cleaned else []
    if len(text) > CELL_TEXT_LIMIT:  # more than Excel holds: the rest could never be written back
        notes.append(("TEXTE_TRONQUE", {"value": text[:80], "length": len(text), "limit": CELL_TEXT_LIMIT}))
        text = text[:CELL_TEXT_LIMIT]
    if kind == "email" and text and not _EMAIL.match(text):
        notes.append(("IDENTIFICATION_INVALIDE", {"value": text,
                                                  "detail": f"« {text} » n'est pas une adresse courriel"}))
        return None, notes
    return text or None, notes


def _read_list(value: object, template: Template, list_name: str) -> tuple[object, list[Note]]:
    text, cleaned = clean_cell_text(value)
    notes: list[Note] = [("TEXTE_NETTOYE", {"value": value})] if cleaned else []
    if not text:
        return None, notes
    canonical = recognise(text, template.lists[list_name])
    if canonical is None:
        return text, notes  # kept as typed; the in_list rule says whether that is allowed
    if is_variant(text, canonical):
        notes.append(("VALEUR_VARIANTE", {"value": text, "canonical": canonical}))
    return canonical, notes


def _number_as_text(value: str, kind: str, header: str) -> tuple[object, list[Note]]:
    parsed, problem = _PARSERS[kind](value, False)
    if problem is not None:
        return None, [(problem.code, {"value": value, "header": header, "detail": problem.detail})]
    if not is_number(parsed):
        return None, []
    shown = format_number_fr(float(parsed))
    return None, [("NOMBRE_EN_TEXTE", {"value": value, "header": header, "suggestion": shown})]


_PARSERS: dict[str, Callable[[object, bool], Parsed]] = {
    "integer": lambda value, _percent: parse_integer(value),
    "number": lambda value, _percent: parse_number(value),
    "percent": parse_percent,
    "date": lambda value, _percent: parse_date(value),
}


# --- one workbook --------------------------------------------------------------------------

class _Checker:
    """Validate one RawWorkbook; every finding goes to `self.issues`."""

    def __init__(self, raw: RawWorkbook, periode: int | None, today: dt.date) -> None:
        self.raw, self.template, self.today = raw, raw.template, today
        self.requested_periode = periode
        self.issues: list[Issue] = list(raw.issues)
        self.flagged: set[tuple[int | None, str]] = {(i.row, i.column) for i in raw.issues if i.row}
        # Helper columns (hidden formulas) are the workbook's business, not an action's values.
        self.columns = {column.key: column for column in self.template.columns if not column.hidden}
        self.letters = {col: cell_name(0, col)[:-1] for col in raw.columns.values()}
        self.ident_flagged: set[str] = set()
        self.cells: list[dict[str, str]] = []  # each action's cells by key, in the actions' order

    def run(self) -> WorkbookResult:
        identification = self._identification()
        years = _plan_years(identification)
        periode = self.requested_periode or identification.get("periode")
        actions = [self._action(row) for row in self.raw.rows]
        self._apply_rules(actions, identification, years, periode)
        for action in actions:
            action["en_retard"] = late_flag(action, periode, self.template) or None
        if self.raw.plan_sheet and self.raw.header_index >= 0 and not actions:
            self._issue("AUCUNE_ACTION", sheet=self.raw.plan_sheet)
        where = {f.key: self._ident_where(self.raw.identification.get(f.key), f.key)
                 for f in self.template.identification}
        return WorkbookResult(self.raw.file, self.raw.kind, self.raw.template_id,
                              self.raw.template_version, identification, actions, self._sorted_issues(),
                              self.raw.blank_rows, where, compute_figures(actions, periode, self.template),
                              len(self.raw.rows_outside), self.raw.sha256, self.raw.size,
                              meetings=[self._committee_row(row) for row in self.raw.meetings],
                              members=[self._committee_row(row) for row in self.raw.members])

    def _committee_row(self, row: PlanRow) -> Values:
        """A Comité de suivi row: texts cleaned, a date read as dates are (kept as typed if it is none)."""
        values: Values = {}
        for key, value in row.values.items():
            if key == "date":
                parsed, notes = read_cell(value, "date", self.template)
                typed = clean_cell_text(value)[0] or None
                values[key] = parsed if parsed is not None and not notes else typed
            else:
                values[key] = clean_cell_text(value)[0] or None
        values["source_row"] = row.number
        return values

    def _sorted_issues(self) -> list[Issue]:
        cells: list[Issue] = []
        others: list[Issue] = []
        for issue in self.issues:
            on_plan = issue.row is not None and issue.sheet == self.raw.plan_sheet
            (cells if on_plan else others).append(issue)
        order = self.raw.columns
        cells.sort(key=lambda i: (i.row, order.get(i.column, 10_000)))
        return others + cells

    def _issue(self, code: str, **details: Any) -> None:
        issue = make_issue(code, self.raw.file, **details)
        self.issues.append(issue)
        self.flagged.add((issue.row, issue.column))

    def _report(self, notes: list[Note], where: Mapping[str, object]) -> None:
        for code, details in notes:
            self._issue(code, **{**details, **where})

    # -- Identification ------------------------------------------------------------------
    def _identification(self) -> Values:
        values: Values = {}
        sheet = self.raw.ident_sheet
        for ident in self.template.identification:
            found = self.raw.identification.get(ident.key)
            where = self._ident_where(found, ident.key)
            if found is not None and found.error:
                self._issue("CELLULE_ERREUR", value=found.error, **where)
                self.ident_flagged.add(ident.key)
                continue
            value, notes = self._read_ident(found, ident)
            if notes:
                self._report(notes, where)
                self.ident_flagged.add(ident.key)
            elif value in (None, "") and ident.required and sheet:
                self._issue("IDENTIFICATION_MANQUANTE", label=ident.label, **where)
            values[ident.key] = value
        if sheet:
            self._identification_rules(values)
        return values

    def _read_ident(self, found: IdentValue | None, ident: IdentField) -> tuple[object, list[Note]]:
        if found is None:
            return None, []
        value, notes = read_cell(found.value, ident.kind, self.template, ident.list, ident.label,
                                 percent_format=found.percent)
        spec = self.template.lists[ident.list] if ident.kind == "list" and ident.list else None
        if spec is not None and value is not None and value not in spec.items and not spec.editable:
            items = "; ".join(spec.items)
            notes.append(("IDENTIFICATION_INVALIDE", {
                "value": found.value, "detail": f"« {value} » n'est pas dans la liste ({items})"}))
            value = None
        return value, [(code, {"label": ident.label, **details}) for code, details in notes]

    def _ident_where(self, found: IdentValue | None, key: str) -> dict[str, Any]:
        if found is None:
            return {"sheet": self.raw.ident_sheet, "column": key}
        return {"sheet": self.raw.ident_sheet, "cell": cell_name(found.row, found.col),
                "row": found.row + 1, "column": key}

    def _identification_rules(self, values: Values) -> None:
        start, end, periode = values.get("annee_debut"), values.get("annee_fin"), values.get("periode")
        where = self._ident_where(self.raw.identification.get("annee_fin"), "annee_fin")
        if isinstance(start, int) and isinstance(end, int) and end < start:
            self._issue("ANNEES_PLAN_INVERSEES", value=end, start=start, end=end, **where)
        elif isinstance(start, int) and isinstance(end, int) and isinstance(periode, int) \
                and not start <= periode <= end:
            where = self._ident_where(self.raw.identification.get("periode"), "periode")
            self._issue("PERIODE_HORS_PLAN", value=periode, periode=periode, start=start, end=end, **where)
        wanted = self.requested_periode
        if wanted is not None and isinstance(periode, int) and periode != wanted:
            where = self._ident_where(self.raw.identification.get("periode"), "periode")
            self._issue("PERIODE_DIFFERENTE", value=periode, found=periode, expected=wanted, **where)

    # -- one action ----------------------------------------------------------------------
    def _action(self, row: PlanRow) -> Values:
        number = row.number
        action: Values = dict.fromkeys(self.columns)
        action.update(source_file=path_text(self.raw.file), source_row=number)
        cells: dict[str, str] = {}
        for key, col in self.raw.columns.items():
            if key not in self.columns:
                continue
            cells[key] = f"{self.letters[col]}{number}"
            raw_value = row.values[key]
            if (raw_value == "" or raw_value is None) and key not in row.errors:
                continue  # most follow-up cells are empty: nothing to read
            column = self.columns[key]
            where = {"sheet": self.raw.plan_sheet, "cell": cells[key], "row": number, "column": key}
            if key in row.errors:
                code = "FORMULE_ERREUR" if column.kind == "formula" else "CELLULE_ERREUR"
                self._issue(code, value=row.errors[key], header=column.header, **where)
                continue
            value, notes = read_cell(raw_value, column.kind, self.template, column.list, column.header,
                                     percent_format=key in row.percent_keys)
            self._report(notes, where)
            action[key] = value
        action[EXTRA_KEY] = json.dumps(row.extras, ensure_ascii=False, default=str) if row.extras else None
        self.cells.append(cells)
        return action

    # -- rules ---------------------------------------------------------------------------
    def _apply_rules(self, actions: list[Values], identification: Values,
                     years: tuple[int, int] | None, periode: object) -> None:
        def plan_cell(index: int, key: str) -> str:
            return self.cells[index].get(key, "")

        flagged = {(i, key) for i, a in enumerate(actions) for key in self.columns
                   if (a["source_row"], key) in self.flagged}
        context = Context(self.template, years, periode, self.today, flagged=flagged, cell=plan_cell)
        ident_row = identification if self.raw.ident_sheet else None
        for where, finding in run_rules(context, actions, ident_row):
            if where == "identification":
                if finding.key not in self.ident_flagged:
                    self._issue(finding.code, **{**finding.details, **self._ident_where(
                        self.raw.identification.get(finding.key), finding.key)})
            else:
                self._plan_finding(actions, finding)

    def _plan_finding(self, actions: list[Values], finding: Finding) -> None:
        action, cells = actions[finding.row], self.cells[finding.row]
        if finding.key not in cells:
            return  # the column is missing from the sheet: reported once, as a column
        self._issue(finding.code, sheet=self.raw.plan_sheet, cell=cells[finding.key],
                    row=action["source_row"], column=finding.key, **finding.details)


def _plan_years(identification: Values) -> tuple[int, int] | None:
    start, end = identification.get("annee_debut"), identification.get("annee_fin")
    if isinstance(start, int) and isinstance(end, int) and start <= end:
        return start, end
    return None
