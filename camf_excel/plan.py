"""Read an adopted action plan (CSV, .xlsx or .ods) into canonical action rows, or refuse it.

A plan is read as returned workbooks are: headers found by `reader.find_header`, cells read by
`validation.read_cell` (numbers written as text are numbers here: a CSV holds nothing else),
and the template's rules run by `rules.run_rules` in their plan-import scope. Every problem is
an `Issue`, as `validate` reports them; a plan with any error is refused as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_calamine import CalamineError
from xlsxwriter.utility import xl_rowcol_to_cell

from camf_excel.csvfiles import read_csv_rows
from camf_excel.errors import InputError, PlanError
from camf_excel.files import load_input
from camf_excel.issues import make_issue
from camf_excel.model import CELL_TEXT_LIMIT, ERROR, Issue, Template
from camf_excel.normalise import clean_text, fold
from camf_excel.reader import (
    HEADER_SCAN_ROWS,
    MIN_HEADER_MATCHES,
    find_header,
    guard_workbook,
    header_score,
    open_workbook,
    sheet_rows,
)
from camf_excel.rules import Context, run_rules
from camf_excel.validation import read_cell
from camf_excel.workers import Failure, run_isolated

PLAN_SHEET_NAMES = ("plan d'action", "plan", "actions")
# A plan holds no macros we would run and no formulas we would trust: any format calamine
# reads its values from will do.
SPREADSHEET_KINDS = frozenset({"xlsx", "ods", "xlsm", "xltx", "xlsb"})

Action = dict[str, object]


def read_plan(path: Path, template: Template, years: tuple[int, int] | None = None,
              warnings: list[str] | None = None) -> list[Action]:
    """Return the plan's actions with canonical keys and values; raise PlanError listing every error.

    Warnings (a year outside the plan, a champ written in an older wording…) do not refuse the
    plan: each is appended, as a line naming its cell, to `warnings` when given.
    """
    path = Path(path)
    rows, sheet = _read_rows(path)
    reader = _PlanReader(path, sheet, template)
    header_index, mapping = find_header(rows, template)
    if header_score(mapping, template) < MIN_HEADER_MATCHES:
        reader.add("ENTETE_INTROUVABLE", rows=HEADER_SCAN_ROWS)
        reader.refuse()
    missing = [c for c in template.columns
               if c.required and c.group == "plan" and c.key not in mapping.values()]
    for column in missing:
        reader.add("COLONNE_OBLIGATOIRE_MANQUANTE", column=column.key, header=column.header)
    reader.refuse_if_errors()
    inputs = [col for col, key in mapping.items() if template.column(key).kind != "formula"]
    actions = [reader.action(index, rows[index], mapping) for index in range(header_index + 1, len(rows))
               if any(clean_text(rows[index][col]) for col in inputs if col < len(rows[index]))]
    if not actions:
        reader.add("AUCUNE_ACTION")
        reader.refuse()
    reader.apply_rules(actions, years)
    reader.refuse_if_errors()
    if warnings is not None:
        warnings.extend(reader.line(issue) for issue in reader.issues)
    return [{k: v for k, v in a.items() if v not in (None, "")} for a in actions]


def read_plan_isolated(path: Path, template: Template, years: tuple[int, int] | None = None,
                       warnings: list[str] | None = None) -> list[Action]:
    """`read_plan` in a child process with the memory and time caps of every untrusted file.

    A plan is a file from outside like any returned workbook: a hostile one that makes the
    reader abort or swell costs its own worker, and the caller gets a PlanError naming it.
    """
    for _, outcome in run_isolated(_read_plan_task, [(Path(path), template, years)], jobs=1):
        if isinstance(outcome, Failure):
            raise PlanError(str(path), [outcome.reason])
        if isinstance(outcome, _Refusal):
            raise PlanError(outcome.path, outcome.problems, outcome.issues)
        actions, found = outcome
        if warnings is not None:
            warnings.extend(found)
        return list(actions)
    raise PlanError(str(path), ["le plan n'a pas pu être lu"])


@dataclass(frozen=True)
class _Refusal:
    """A PlanError as it crosses back from the worker (exceptions with extra fields do not pickle)."""

    path: str
    problems: list[str]
    issues: list[Issue]


def _read_plan_task(path: Path, template: Template,
                    years: tuple[int, int] | None) -> tuple[list[Action], list[str]] | _Refusal:
    warnings: list[str] = []
    try:
        return read_plan(path, template, years, warnings), warnings
    except PlanError as error:
        return _Refusal(error.path, error.problems, [i for i in error.issues if isinstance(i, Issue)])


class _PlanReader:
    """Collect the issues of one plan while its rows are read."""

    def __init__(self, path: Path, sheet: str | None, template: Template) -> None:
        self.path, self.sheet, self.template = path, sheet or "", template
        self.issues: list[Issue] = []
        self.rows: list[int] = []  # each action's 0-based row, in the actions' order
        self.cells: list[dict[str, str]] = []  # each action's cells by key

    def add(self, code: str, **details: Any) -> None:
        self.issues.append(make_issue(code, str(self.path), sheet=self.sheet, **details))

    def action(self, index: int, row: list[object], mapping: dict[int, str]) -> Action:
        action: Action = {}
        self.rows.append(index)
        self.cells.append({key: xl_rowcol_to_cell(index, col) for col, key in mapping.items()})
        for col, key in mapping.items():
            column = self.template.column(key)
            value = row[col] if col < len(row) else None
            where = {"cell": xl_rowcol_to_cell(index, col), "row": index + 1, "column": key}
            if column.kind == "text" and len(clean_text(value)) > CELL_TEXT_LIMIT:
                self.add("TEXTE_TROP_LONG", header=column.header, limit=CELL_TEXT_LIMIT, **where)
                continue
            parsed, notes = read_cell(value, column.kind, self.template, column.list, column.header,
                                      text_numbers=True)
            for code, details in notes:
                self.add(code, **{**details, **where})
            action[key] = parsed
        return action

    def apply_rules(self, actions: list[Action], years: tuple[int, int] | None) -> None:
        def cell(index: int, key: str) -> str:
            return self.cells[index].get(key, "")

        flagged = {(i, issue.column) for i, row in enumerate(self.rows) for issue in self.issues
                   if issue.row == row + 1}
        context = Context(self.template, years, plan_import=True, flagged=flagged, cell=cell)
        for _, finding in run_rules(context, actions):
            self.add(finding.code, cell=cell(finding.row, finding.key), row=self.rows[finding.row] + 1,
                     column=finding.key, **finding.details)

    def refuse_if_errors(self) -> None:
        if any(issue.severity == ERROR for issue in self.issues):
            self.refuse()

    def refuse(self) -> None:
        errors = [issue for issue in self.issues if issue.severity == ERROR] or self.issues
        raise PlanError(str(self.path), [self.line(issue) for issue in errors], errors)

    def line(self, issue: Issue) -> str:
        """One issue as a line naming its place in the plan."""
        where = f"feuille « {issue.sheet} », " if issue.sheet else ""
        if issue.cell:
            where += f"ligne {issue.row} ({issue.cell}) : "  # the message names the column
        return f"{where}{issue.message}"


def _read_rows(path: Path) -> tuple[list[list[object]], str | None]:
    """Return the plan's rows: a workbook by calamine (from the bytes sniffed), else CSV text."""
    if not path.is_file():
        raise PlanError(str(path), ["fichier introuvable"])
    loaded = load_input(path)
    sniffed = loaded.sniffed
    if sniffed.kind in SPREADSHEET_KINDS:
        return _read_spreadsheet(path, sniffed.kind, loaded.data)
    if sniffed.text:
        try:
            rows: list[list[object]] = [list(row) for row in read_csv_rows(path)]
            return rows, None
        except InputError as error:
            raise PlanError(str(path), [str(error)]) from error
    raise PlanError(str(path), [sniffed.message or sniffed.kind])


def _read_spreadsheet(path: Path, kind: str, data: bytes) -> tuple[list[list[object]], str]:
    try:
        guard_workbook(path, kind, data)
    except InputError as error:
        raise PlanError(str(path), [f"classeur refusé : {error}"]) from error
    try:
        book = open_workbook(data)
        names = book.sheet_names
        chosen = next((n for n in names if fold(n) in PLAN_SHEET_NAMES), names[0])
        rows = sheet_rows(book, chosen)
    except (CalamineError, InputError, ValueError, IndexError, OSError) as error:
        raise PlanError(str(path), [f"classeur illisible ou endommagé ({str(error)[:160]}) : ouvrez-le et "
                                    "enregistrez-le de nouveau en .xlsx"]) from error
    return rows, chosen
