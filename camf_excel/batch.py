"""Read back many workbooks: walk the inputs, check each file in isolation, return DataFrames.

A notebook user calls `read_workbook(path)` or `validate(paths)`; the CLI and the consolidation
call `check_files`, which keeps every file's result and every file left aside.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from camf_excel.issues import make_issue, path_text
from camf_excel.model import ISSUE_FIELDS, Issue
from camf_excel.templates import load_template
from camf_excel.validation import EXTRA_KEY, WorkbookResult, check_workbook
from camf_excel.walk import Skipped, walk_inputs
from camf_excel.workers import Failure, run_isolated

IDENTITY_KEYS = ("organisation", "code_geo", "mrc", "region", "demarche", "periode")
# The verdict on each file validated, as the validation report's checklist shows it.
CONFORMING, TO_CORRECT, UNREADABLE = "conforme", "à corriger", "illisible"
CHECKLIST_COLUMNS = ("file", "organisation", "periode", "responsable_nom", "responsable_courriel", "verdict",
                     "erreurs", "avertissements")
SOURCE_KEYS = ("source_file", "source_row")
PARALLEL_FROM = 4  # below this, one worker process does the job
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CheckRun:
    """The results of a set of inputs: one per file, in input order, and the entries left aside."""

    results: tuple[WorkbookResult, ...]
    skipped: tuple[Skipped, ...] = ()
    notices: tuple[Issue, ...] = field(default=())

    @property
    def issues(self) -> list[Issue]:
        """Every issue: notices about skipped entries first, then each file's, in input order."""
        return [*self.notices, *(issue for result in self.results for issue in result.issues)]


@dataclass(frozen=True)
class ReadWorkbook:
    """One workbook read back: identification, actions and issues as the library returns them."""

    file: str
    kind: str
    template_id: str
    template_version: str
    identification: dict[str, object]
    actions: pd.DataFrame
    issues: pd.DataFrame


def check_files(paths: Sequence[str | Path], periode: int | None = None, jobs: int | None = None,
                today: dt.date | None = None, progress: Progress | None = None) -> CheckRun:
    """Walk the inputs and check every workbook found, each in a capped child process.

    `progress(done, total)` is called as each file is finished (in any order).
    """
    files, skipped = walk_inputs([Path(p) for p in paths])
    notices = tuple(make_issue("ENTREE_INTROUVABLE" if entry.missing else "FICHIER_IGNORE", str(entry.path),
                               detail=entry.reason) for entry in skipped if not entry.silent)
    tasks = [(str(path), periode, today) for path in files]
    results: list[WorkbookResult | None] = [None] * len(tasks)
    workers = jobs if jobs is not None else (1 if len(tasks) < PARALLEL_FROM else None)
    for done, (index, outcome) in enumerate(run_isolated(check_workbook, tasks, jobs=workers), start=1):
        results[index] = _as_result(tasks[index][0], outcome)
        if progress is not None:
            progress(done, len(tasks))
    return CheckRun(tuple(r for r in results if r is not None), tuple(skipped), notices)


def verdict(result: WorkbookResult) -> str:
    """Say what a validated file needs: nothing (conforme), corrections, or to be sent again (illisible)."""
    if not result.readable:
        return UNREADABLE
    return TO_CORRECT if result.errors else CONFORMING


def checklist_frame(run: CheckRun) -> pd.DataFrame:
    """One row per file validated, in input order: who it is from, whom to write to, the verdict."""
    rows = []
    for result in run.results:
        ident = result.identification
        who = {key: ident.get(key) for key in CHECKLIST_COLUMNS[1:5]}
        rows.append({"file": path_text(result.file), **who, "verdict": verdict(result),
                     "erreurs": result.errors, "avertissements": len(result.issues) - result.errors})
    return pd.DataFrame(rows, columns=list(CHECKLIST_COLUMNS))


def _as_result(file: str, outcome: object) -> WorkbookResult:
    if isinstance(outcome, WorkbookResult):
        return outcome
    reason = outcome.reason if isinstance(outcome, Failure) else str(outcome)
    return WorkbookResult(file, issues=[make_issue("FICHIER_ILLISIBLE", file, detail=reason)])


def read_workbook(path: str | Path, periode: int | None = None) -> ReadWorkbook:
    """Read and validate one workbook; its actions come back with canonical keys and their source row."""
    run = check_files([path], periode)
    if not run.results:
        raise FileNotFoundError(path)
    result = run.results[0]
    return ReadWorkbook(result.file, result.kind, result.template_id, result.template_version,
                        dict(result.identification), actions_frame([result]), issues_frame(result.issues))


def validate(paths: Sequence[str | Path], periode: int | None = None) -> pd.DataFrame:
    """Return every issue of the given files and folders, one row per issue (DOMAIN §8 fields)."""
    return issues_frame(check_files(paths, periode).issues)


def issues_frame(issues: Iterable[Issue]) -> pd.DataFrame:
    """Return issues as a DataFrame with the fields of DOMAIN §8, in order."""
    rows = [[getattr(issue, name) for name in ISSUE_FIELDS] for issue in issues]
    frame = pd.DataFrame(rows, columns=list(ISSUE_FIELDS))
    return frame.astype({"row": "Int64"})


def action_columns() -> list[str]:
    """Columns of the actions table: identity of the organisation, canonical keys, extras, source."""
    keys = [c.key for c in load_template("pfm-mada").columns if not c.hidden]
    return [*IDENTITY_KEYS, *keys, EXTRA_KEY, *SOURCE_KEYS]


def actions_frame(results: Iterable[WorkbookResult],
                  identities: Iterable[Mapping[str, object]] | None = None) -> pd.DataFrame:
    """Return the actions of the given results, each with its organisation's identity.

    The identity is the workbook's Identification, or the matching item of `identities`
    (consolidation passes the reference names of each workbook's territory).
    """
    results = list(results)
    given = list(identities) if identities is not None else [r.identification for r in results]
    rows: list[dict[str, object]] = []
    for result, known in zip(results, given, strict=True):
        identity = {key: known.get(key) for key in IDENTITY_KEYS}
        rows.extend({**identity, **action} for action in result.actions)
    return pd.DataFrame(rows, columns=action_columns())
