"""Roll a plan forward: next period's workbook from this period's, nothing lost.

Each filled workbook is read as `validate` reads it (in a capped worker) and written again with
the current template version: every action with all its values, the Identification with the
new période and the file's update date emptied, the Comité de suivi, and the history — the
earlier periods' rows plus this period's, one row per action — that the new dashboard compares
with. The new workbook is read back before it is kept: the same actions, the same values.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from camf_excel.figures import has_action, is_number, late_flag, period_year
from camf_excel.generate import safe_file_name
from camf_excel.history import read_history
from camf_excel.model import Template
from camf_excel.outputs import write_directory
from camf_excel.templates import list_templates, resolve_template
from camf_excel.validation import WorkbookResult, check_workbook
from camf_excel.walk import walk_inputs
from camf_excel.workers import Failure, run_isolated
from camf_excel.writer import Carried, build_workbook

PARALLEL_FROM = 4
# What is carried as it is, and what a new period starts without.
RESET_IDENTIFICATION = ("date_maj_fichier",)
NEWER_TEMPLATE = "MODELE_VERSION_RECENTE"
# Values compared when the new workbook is read back: what staff typed, as the tool reads it.
CHECKED_KEYS = ("action_id", "champ", "action", "statut", "avancement", "date_maj", "budget_prevu",
                "budget_reel", "commentaires", "obstacles", "prochaines_etapes", "bon_coup")


@dataclass(frozen=True)
class Rolled:
    """One workbook rolled forward, or why it was not (`refusal`)."""

    source: str
    name: str = ""  # the new workbook's file name
    data: bytes = field(default=b"", repr=False)
    periode: int | None = None
    actions_in: int = 0
    actions_out: int = 0
    errors: int = 0  # errors the source still had: carried with a warning
    refusal: str = ""


def roll_forward(paths: Sequence[str | Path], periode: int | None = None, refuse_errors: bool = False,
                 jobs: int | None = None) -> tuple[list[Rolled], list[str]]:
    """Roll every workbook found under paths; return them in input order, and the entries skipped."""
    files, skipped = walk_inputs([Path(p) for p in paths])
    tasks = [(str(path), periode, refuse_errors) for path in files]
    rolled: dict[int, Rolled] = {}
    workers = jobs if jobs is not None else (1 if len(tasks) < PARALLEL_FROM else None)
    for index, outcome in run_isolated(roll_one, tasks, jobs=workers):
        rolled[index] = (Rolled(tasks[index][0], refusal=outcome.reason) if isinstance(outcome, Failure)
                         else outcome)
    return [rolled[i] for i in range(len(tasks))], [f"{entry.path} : {entry.reason}" for entry in skipped]


def write_rolled(rolled: Sequence[Rolled], outdir: Path, force: bool = False) -> list[Path]:
    """Write the rolled workbooks as one set (two of one name get a number); return their paths."""
    files: dict[str, bytes] = {}
    for item in rolled:
        if item.refusal or not item.data:
            continue
        name, number = item.name, 2
        while name.casefold() in (known.casefold() for known in files):
            name = item.name.replace(".xlsx", f"-{number}.xlsx")
            number += 1
        files[name] = item.data
    if files:
        write_directory(Path(outdir), files, force)
    return [Path(outdir) / name for name in files]


def roll_one(path: str, periode: int | None, refuse_errors: bool) -> Rolled:
    """Read one workbook and build next period's; read the new one back to check nothing was lost."""
    result = check_workbook(path)
    if not result.readable:
        return Rolled(path, refusal=_first_message(result) or "classeur illisible")
    newer = next((issue.message for issue in result.issues if issue.code == NEWER_TEMPLATE), "")
    if newer:
        return Rolled(path, errors=result.errors, refusal=newer)  # rolled back, it would lose what is new
    if refuse_errors and result.errors:
        return Rolled(path, errors=result.errors, refusal=f"{result.errors} erreur(s) à corriger d'abord "
                      "(camf-excel validate les nomme) ; sans --refuser-erreurs, il serait reporté tel quel")
    old = period_year(result.identification.get("periode"))
    new = periode if periode is not None else old + 1 if old is not None else None
    if new is None:
        return Rolled(path, refusal="période de suivi absente de l'Identification : indiquez --periode")
    template = _current_template(result)
    actions = [_carried_action(row, template) for row in result.actions]
    history = [*read_history(Path(path)), *_history_rows(actions, old, template)]
    identification = {k: v for k, v in result.identification.items()
                      if k not in RESET_IDENTIFICATION and v not in (None, "")}
    identification["periode"] = new
    data = build_workbook(template, identification, actions,
                          carried=Carried(history, result.members, result.meetings))
    out = _read_back(data, actions)
    counted_in = sum(1 for a in actions if has_action(a))
    if out != counted_in:
        return Rolled(path, refusal=f"{counted_in} action(s) lues, {out} relues dans le nouveau classeur : "
                      "rien n'a été écrit pour ce classeur")
    organisation = str(identification.get("organisation") or Path(path).stem)
    stem = safe_file_name(organisation, identification.get("code_geo"), template.id).removesuffix(".xlsx")
    return Rolled(path, f"{stem}_{new}.xlsx", data, new, counted_in, out, result.errors)


def _current_template(result: WorkbookResult) -> Template:
    """The current version of the workbook's own template, else the one of its démarche."""
    known = {t.id: t for t in list_templates()}
    return known.get(result.template_id) or resolve_template(None, result.identification.get("demarche"))


def _carried_action(row: Mapping[str, object], template: Template) -> dict[str, object]:
    return {c.key: row.get(c.key) for c in template.columns if c.kind != "formula" and c.key in row}


def _history_rows(actions: Sequence[Mapping[str, object]], periode: object,
                  template: Template) -> list[dict[str, object]]:
    """This period's values, one row per action, as the history keeps them."""
    year = period_year(periode)
    if year is None:
        return []
    return [{"periode": year, "action_id": a.get("action_id"), "action": a.get("action"),
             "statut": a.get("statut"), "avancement": a.get("avancement"), "date_maj": a.get("date_maj"),
             "en_retard": late_flag(a, periode, template)} for a in actions if has_action(a)]


def _read_back(data: bytes, actions: Sequence[Mapping[str, object]]) -> int:
    """Return how many actions the new workbook holds with exactly the values carried (-1 if it differs)."""
    with tempfile.TemporaryDirectory(prefix="camf-reconduire-") as folder:
        path = Path(folder) / "nouveau.xlsx"
        path.write_bytes(data)
        back = check_workbook(path, today=dt.date.today())
    carried = [a for a in actions if has_action(a)]
    if len(back.actions) != len(carried):
        return len(back.actions)
    for before, after in zip(carried, back.actions, strict=True):
        if any(_same(before.get(key), after.get(key)) is False for key in CHECKED_KEYS if key in before):
            return -1
    return len(back.actions)


def _same(before: object, after: object) -> bool:
    if before in (None, "") and after in (None, ""):
        return True
    if is_number(before) and is_number(after):
        return abs(float(before) - float(after)) < 1e-9
    return before == after


def _first_message(result: WorkbookResult) -> str:
    return next((issue.message for issue in result.issues if issue.severity == "erreur"), "")
