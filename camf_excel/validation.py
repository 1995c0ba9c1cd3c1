"""Interpret what the reader found: normalise every cell, apply the template's rules, list every issue.

Pure functions over `reader.RawWorkbook`; `check_workbook` is the one entry point per file and
never raises for a bad file: a file that cannot be read becomes one issue.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from xlsxwriter.utility import xl_rowcol_to_cell

from camf_excel.indicators import late_flag
from camf_excel.issues import make_issue
from camf_excel.model import Column, Issue, Template
from camf_excel.normalise import (
    clean_text,
    fold,
    list_lookup,
    parse_date,
    parse_integer,
    parse_number,
    parse_percent,
)
from camf_excel.reader import IdentValue, PlanRow, RawWorkbook, RefusedFileError, read_raw

Values = dict[str, object]
EXTRA_KEY = "colonnes_supplementaires"
STATUSES_NEEDING_COMMENT = ("Abandonnée", "Reportée")
NOT_STARTED_STATUS = "Non débutée"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|[\ud800-\udfff]")


@dataclass
class WorkbookResult:
    """One file checked: its identification, its actions (canonical keys) and its issues."""

    file: str
    kind: str = ""
    template_id: str = ""
    template_version: str = ""
    identification: Values = field(default_factory=dict)
    actions: list[Values] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    blank_rows: int = 0
    # Where each Identification value is: sheet, cell, row, column, ready for make_issue.
    identification_where: dict[str, dict[str, object]] = field(default_factory=dict)

    @property
    def readable(self) -> bool:
        """Tell whether the file could be opened at all."""
        return bool(self.kind)

    @property
    def errors(self) -> int:
        """Number of issues of severity « erreur »."""
        return sum(1 for issue in self.issues if issue.severity == "erreur")


def check_workbook(path: str | Path, periode: int | None = None,
                   today: dt.date | None = None) -> WorkbookResult:
    """Read one workbook and validate it; a file that cannot be read gives one issue, never an exception."""
    try:
        raw = read_raw(Path(path))
    except RefusedFileError as error:
        return WorkbookResult(str(path), issues=[make_issue(error.code, str(path), detail=str(error))])
    return _Checker(raw, periode, today or dt.date.today()).run()


def clean_cell_text(value: object) -> tuple[str, bool]:
    """Return a cell's text with control characters and lone surrogates removed, and whether any was."""
    text = clean_text(value)
    cleaned = _CONTROL.sub("", text)
    return unicodedata.normalize("NFC", cleaned), cleaned != text


def cell_name(index: int, col: int) -> str:
    """Return the A1 reference of a 0-based cell position."""
    return xl_rowcol_to_cell(index, col)


class _Checker:
    """Validate one RawWorkbook; every finding goes to `self.issues`."""

    def __init__(self, raw: RawWorkbook, periode: int | None, today: dt.date) -> None:
        self.raw, self.template, self.today = raw, raw.template, today
        self.requested_periode = periode
        self.issues: list[Issue] = list(raw.issues)
        self.flagged: set[tuple[int | None, str]] = set()  # cells (row, key) that have an issue
        self.lookups = _list_lookups(self.template)
        self.columns = {column.key: column for column in self.template.columns}
        self.letters = {col: cell_name(0, col)[:-1] for col in raw.columns.values()}

    def run(self) -> WorkbookResult:
        identification = self._identification()
        years = _plan_years(identification)
        periode = self.requested_periode or identification.get("periode")
        actions = [self._action(row, years, periode) for row in self.raw.rows]
        self._workbook_rules(actions)
        if self.raw.plan_sheet and self.raw.header_index >= 0 and not actions:
            self._issue("AUCUNE_ACTION", sheet=self.raw.plan_sheet)
        cells, others = [], []
        for issue in self.issues:
            on_plan = issue.row is not None and issue.sheet == self.raw.plan_sheet
            (cells if on_plan else others).append(issue)
        order = self.raw.columns
        cells.sort(key=lambda i: (i.row, order.get(i.column, 10_000)))
        for action in actions:
            action.pop("_cells", None)
        return WorkbookResult(self.raw.file, self.raw.kind, self.raw.template_id,
                              self.raw.template_version, identification, actions, others + cells,
                              self.raw.blank_rows,
                              {f.key: self._ident_where(self.raw.identification.get(f.key), f.key)
                               for f in self.template.identification})

    def _issue(self, code: str, **details: object) -> None:
        issue = make_issue(code, self.raw.file, **details)  # type: ignore[arg-type]
        self.issues.append(issue)
        self.flagged.add((issue.row, issue.column))

    # -- Identification ------------------------------------------------------------------
    def _identification(self) -> Values:
        values: Values = {}
        sheet = self.raw.ident_sheet
        for ident in self.template.identification:
            found = self.raw.identification.get(ident.key)
            where = self._ident_where(found, ident.key)
            if found is not None and found.error:
                self._issue("CELLULE_ERREUR", value=found.error, **where)
                continue
            value, note = self._parse(found.value if found else None, ident.kind, ident.list)
            if note:
                self._issue("IDENTIFICATION_INVALIDE", value=found.value if found else "",
                            label=ident.label, detail=note, **where)
            elif value in (None, "") and ident.required and sheet:
                self._issue("IDENTIFICATION_MANQUANTE", label=ident.label, **where)
            values[ident.key] = value
        if sheet:
            self._identification_rules(values)
        return values

    def _ident_where(self, found: IdentValue | None, key: str) -> dict[str, object]:
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
    def _action(self, row: PlanRow, years: tuple[int, int] | None, periode: object) -> Values:
        number = row.number
        action: Values = dict.fromkeys(self.columns)
        action.update(source_file=self.raw.file, source_row=number)
        cells: dict[str, str] = {}
        for key, col in self.raw.columns.items():
            cells[key] = f"{self.letters[col]}{number}"
            raw_value = row.values[key]
            if (raw_value == "" or raw_value is None) and key not in row.errors:
                continue  # most follow-up cells are empty: nothing to read
            where = {"sheet": self.raw.plan_sheet, "cell": cells[key], "row": number, "column": key}
            action[key] = self._cell_value(row, self.columns[key], where)
        action[EXTRA_KEY] = json.dumps(row.extras, ensure_ascii=False, default=str) if row.extras else None
        action["en_retard"] = late_flag(action, periode, self.template) or None
        action["_cells"] = cells
        self._row_rules(action, cells, row.number, years, periode)
        return action

    def _cell_value(self, row: PlanRow, column: Column, where: dict[str, object]) -> object:
        raw_value = row.values[column.key]
        if column.key in row.errors:
            code = "FORMULE_ERREUR" if column.kind == "formula" else "CELLULE_ERREUR"
            self._issue(code, value=row.errors[column.key], header=column.header, **where)
            return None
        if column.kind == "formula" or raw_value is None or raw_value == "":
            return None
        if column.kind == "text":
            text, cleaned = clean_cell_text(raw_value)
            if cleaned:
                self._issue("TEXTE_NETTOYE", value=raw_value, **where)
            return text or None
        if column.kind == "list":
            return self._list_value(raw_value, column, where)
        value, note = self._parse(raw_value, column.kind, column.list)
        if note:
            code = _NOTE_CODES.get(column.kind, "NOMBRE_INVALIDE")
            if column.kind == "percent" and parse_number(str(raw_value).rstrip(" %"))[0] is not None:
                code = "POURCENTAGE_INVALIDE"
            self._issue(code, value=raw_value, header=column.header, detail=note, **where)
            return None
        return value

    def _list_value(self, raw_value: object, column: Column, where: dict[str, object]) -> object:
        value, ok = self._match_list(raw_value, column.list)  # type: ignore[arg-type]
        if not ok:
            code = "STATUT_INCONNU" if column.key == "statut" else "VALEUR_HORS_LISTE"
            items = "; ".join(self.template.lists[column.list].items)  # type: ignore[index]
            self._issue(code, value=raw_value, header=column.header, items=items, **where)
        return value

    def _match_list(self, raw_value: object, list_name: str) -> tuple[object, bool]:
        """Return the canonical item (or the text, for an editable list) and whether it is accepted."""
        text, _ = clean_cell_text(raw_value)
        if not text:
            return None, True
        canonical = self.lookups[list_name].get(fold(text))
        if canonical is not None:
            return canonical, True
        if self.template.lists[list_name].editable:
            return text, True
        return None, False

    def _parse(self, value: object, kind: str, list_name: str | None) -> tuple[object, str | None]:
        if kind == "list" and list_name:
            parsed, ok = self._match_list(value, list_name)
            items = "; ".join(self.template.lists[list_name].items)
            return parsed, None if ok else f"« {clean_text(value)} » n'est pas dans la liste ({items})"
        parser = _PARSERS.get(kind)
        if parser:
            return parser(value)
        text, _ = clean_cell_text(value)
        if kind == "email" and text and not _EMAIL.match(text):
            return None, f"« {text} » n'est pas une adresse courriel"
        return text or None, None

    # -- rules -----------------------------------------------------------------------------
    def _row_rules(self, action: Values, cells: Mapping[str, str], number: int,
                   years: tuple[int, int] | None, periode: object) -> None:
        def issue(code: str, key: str, **details: object) -> None:
            if key in cells:
                self._issue(code, sheet=self.raw.plan_sheet, cell=cells[key], row=number, column=key,
                            **details)

        for rule in self.template.rules:
            check = _ROW_CHECKS.get(rule.check)
            if check:
                check(self, action, rule.columns, issue, years, periode)

    def _workbook_rules(self, actions: list[Values]) -> None:
        for rule in self.template.rules:
            if rule.check != "unique":
                continue
            for key in rule.columns:
                seen: dict[str, str] = {}
                for action in actions:
                    value = clean_text(action.get(key))
                    cell = action["_cells"].get(key, "")  # type: ignore[attr-defined]
                    if value and value in seen:
                        self._issue("NO_EN_DOUBLE", sheet=self.raw.plan_sheet, cell=cell,
                                    row=action["source_row"], column=key, value=value, first=seen[value])
                    elif value:
                        seen[value] = cell


Report = Callable[..., None]


def _required(checker: _Checker, action: Values, _keys: tuple[str, ...], issue: Report,
              years: object, periode: object) -> None:
    for column in checker.template.columns:
        if column.required and action.get(column.key) in (None, "") \
                and (action["source_row"], column.key) not in checker.flagged:
            issue("VALEUR_OBLIGATOIRE", column.key, header=column.header)
    start = action.get("annee_debut")
    if action.get("statut") is None and (action["source_row"], "statut") not in checker.flagged \
            and isinstance(start, int) and isinstance(periode, int) and start <= periode:
        issue("STATUT_MANQUANT", "statut", start=start, periode=periode)


def _within_plan_years(_checker: _Checker, action: Values, keys: tuple[str, ...], issue: Report,
                       years: tuple[int, int] | None, _periode: object) -> None:
    if years is None:
        return
    for key in keys:
        year = action.get(key)
        if isinstance(year, int) and not years[0] <= year <= years[1]:
            issue("ANNEE_HORS_PLAN", key, value=year, header=_header(_checker, key),
                  start=years[0], end=years[1])


def _end_after_start(_checker: _Checker, action: Values, keys: tuple[str, ...], issue: Report,
                     _years: object, _periode: object) -> None:
    start, end = (action.get(key) for key in keys)
    if isinstance(start, int) and isinstance(end, int) and end < start:
        issue("FIN_AVANT_DEBUT", keys[1], value=end, start=start, end=end)


def _non_negative(checker: _Checker, action: Values, keys: tuple[str, ...], issue: Report,
                  _years: object, _periode: object) -> None:
    for key in keys:
        value = action.get(key)
        if isinstance(value, float) and value < 0:
            issue("MONTANT_NEGATIF", key, value=value, header=_header(checker, key))


def _not_in_future(checker: _Checker, action: Values, keys: tuple[str, ...], issue: Report,
                   _years: object, _periode: object) -> None:
    for key in keys:
        value = action.get(key)
        if isinstance(value, dt.date) and value > checker.today:
            issue("DATE_FUTURE", key, value=value.isoformat(), header=_header(checker, key),
                  today=checker.today.isoformat())


def _status_progress_consistent(checker: _Checker, action: Values, keys: tuple[str, ...],
                                issue: Report, _years: object, _periode: object) -> None:
    statut_key, progress_key = keys
    statut, progress = action.get(statut_key), action.get(progress_key)
    if not isinstance(progress, float):
        return
    if statut == checker.template.realised_status and progress < 100:
        remedy = "une action réalisée est à 100 % ; corrigez l'avancement ou le statut"
    elif statut == NOT_STARTED_STATUS and progress > 0:
        remedy = "une action non débutée est à 0 % ; passez le statut à « En cours » ou corrigez l'avancement"
    else:
        return
    issue("STATUT_AVANCEMENT_INCOHERENT", progress_key, value=progress, statut=statut,
          avancement=f"{progress:g}", remedy=remedy)


def _comment_when_abandoned(_checker: _Checker, action: Values, keys: tuple[str, ...], issue: Report,
                            _years: object, _periode: object) -> None:
    statut_key, comment_key = keys
    if action.get(statut_key) in STATUSES_NEEDING_COMMENT and not action.get(comment_key):
        issue("COMMENTAIRE_MANQUANT", comment_key, statut=action.get(statut_key))


def _header(checker: _Checker, key: str) -> str:
    return checker.template.column(key).header


_ROW_CHECKS: dict[str, Callable[..., None]] = {
    "required": _required,
    "within_plan_years": _within_plan_years,
    "end_after_start": _end_after_start,
    "non_negative": _non_negative,
    "not_in_future": _not_in_future,
    "status_progress_consistent": _status_progress_consistent,
    "comment_when_abandoned": _comment_when_abandoned,
}
# "in_list" and "percent_range" are checked while each cell is read; "unique" across the rows.
_PARSERS: dict[str, Callable[[object], tuple[object, str | None]]] = {
    "integer": parse_integer, "number": parse_number, "percent": parse_percent, "date": parse_date,
}
_NOTE_CODES = {"integer": "NOMBRE_INVALIDE", "number": "NOMBRE_INVALIDE", "percent": "NOMBRE_INVALIDE",
               "date": "DATE_INVALIDE"}


_LIST_LOOKUPS: dict[tuple[str, str, str], dict[str, Mapping[str, str]]] = {}


def _list_lookups(template: Template) -> dict[str, Mapping[str, str]]:
    """Return every list's lookup of the template, built once per template."""
    key = (template.id, template.version, template.source)
    if key not in _LIST_LOOKUPS:
        _LIST_LOOKUPS[key] = {name: list_lookup(spec) for name, spec in template.lists.items()}
    return _LIST_LOOKUPS[key]


def _plan_years(identification: Values) -> tuple[int, int] | None:
    start, end = identification.get("annee_debut"), identification.get("annee_fin")
    if isinstance(start, int) and isinstance(end, int) and start <= end:
        return start, end
    return None
