"""The validation rules, each registered once with its scope; templates name them, nothing else lists them.

A rule looks at rows of canonical values (the Plan d'action's rows, or the Identification form
as one row) and yields `Finding`s: a catalogued code, the row and the key it is about, and the
details of its message. `validation` (returned workbooks) and `plan` (adopted plans) run the
same rules and turn findings into the same `Issue` records; the template loader accepts exactly
the names of `REGISTRY`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from camf_excel.figures import is_number
from camf_excel.model import Template

Row = Mapping[str, object]
ROW, WORKBOOK = "ligne", "classeur"


@dataclass(frozen=True)
class Finding:
    """One breach of a rule: which row (index in the rows given), which key, the message's details."""

    code: str
    row: int
    key: str
    details: dict[str, object] = field(default_factory=dict)


@dataclass
class Context:
    """What rules may know besides the rows."""

    template: Template
    years: tuple[int, int] | None = None
    periode: object = None
    today: dt.date = field(default_factory=dt.date.today)
    plan_import: bool = False  # an adopted plan: follow-up columns are not expected yet
    flagged: set[tuple[int, str]] = field(default_factory=set)  # (row, key) already reported
    cell: Callable[[int, str], str] = lambda _row, _key: ""  # A1 reference of a row's cell

    def header(self, key: str) -> str:
        """The column header, or the Identification label, of a key."""
        for column in self.template.columns:
            if column.key == key:
                return column.header
        return next((f.label for f in self.template.identification if f.key == key), key)


Check = Callable[[Context, Sequence[Row], tuple[str, ...]], Iterator[Finding]]


@dataclass(frozen=True)
class RuleDef:
    """A registered rule: its name in templates, scope, column count, and whether plans obey it."""

    name: str
    scope: str
    columns: int | None  # how many columns it takes; None: any number (all applicable when none)
    plan_import: bool
    check: Check
    summary: str


REGISTRY: dict[str, RuleDef] = {}


def _rule(name: str, summary: str, scope: str = ROW, columns: int | None = None,
          plan_import: bool = True) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        REGISTRY[name] = RuleDef(name, scope, columns, plan_import, check, summary)
        return check
    return register


def _unflagged(context: Context, index: int, key: str) -> bool:
    return (index, key) not in context.flagged


@_rule("required", "les cellules obligatoires sont remplies")
def _required(context: Context, rows: Sequence[Row], keys: tuple[str, ...]) -> Iterator[Finding]:
    columns = keys or tuple(c.key for c in context.template.columns if c.required)
    if context.plan_import:
        columns = tuple(k for k in columns if _group(context, k) == "plan")
    for index, row in enumerate(rows):
        for key in columns:
            if row.get(key) in (None, "") and _unflagged(context, index, key):
                yield Finding("VALEUR_OBLIGATOIRE", index, key, {"header": context.header(key)})


def _group(context: Context, key: str) -> str:
    return next((c.group for c in context.template.columns if c.key == key), "")


@_rule("status_once_started", "une action commencée a un statut", columns=2, plan_import=False)
def _status_once_started(context: Context, rows: Sequence[Row], keys: tuple[str, ...]) -> Iterator[Finding]:
    status_key, start_key = keys
    periode = context.periode
    for index, row in enumerate(rows):
        start = row.get(start_key)
        if row.get(status_key) in (None, "") and _unflagged(context, index, status_key) \
                and isinstance(start, int) and isinstance(periode, int) and start <= periode:
            yield Finding("STATUT_MANQUANT", index, status_key, {"start": start, "periode": periode})


@_rule("in_list", "les valeurs des listes déroulantes sont dans leur liste")
def _in_list(context: Context, rows: Sequence[Row], keys: tuple[str, ...]) -> Iterator[Finding]:
    template = context.template
    columns = [(c, template.lists[c.list]) for c in template.columns
               if c.list and (not keys or c.key in keys)]
    for index, row in enumerate(rows):
        for column, spec in columns:
            value = row.get(column.key)
            if value in (None, "") or spec.editable or value in spec.items:
                continue
            code = "STATUT_INCONNU" if column.key == "statut" else "VALEUR_HORS_LISTE"
            yield Finding(code, index, column.key, {"value": value, "header": column.header,
                                                    "items": "; ".join(spec.items)})


@_rule("unique", "deux actions ne portent pas le même numéro", scope=WORKBOOK)
def _unique(context: Context, rows: Sequence[Row], keys: tuple[str, ...]) -> Iterator[Finding]:
    for key in keys:
        seen: dict[str, str] = {}
        for index, row in enumerate(rows):
            value = row.get(key)
            text = str(value).strip() if value not in (None, "") else ""
            if text in seen:
                yield Finding("NO_EN_DOUBLE", index, key, {"value": text, "first": seen[text]})
            elif text:
                seen[text] = context.cell(index, key)


@_rule("within_plan_years", "les années sont dans les années du plan")
def _within_plan_years(context: Context, rows: Sequence[Row], keys: tuple[str, ...]) -> Iterator[Finding]:
    if context.years is None:
        return
    start, end = context.years
    for index, row in enumerate(rows):
        for key in keys:
            year = row.get(key)
            if isinstance(year, int) and not start <= year <= end:
                yield Finding("ANNEE_HORS_PLAN", index, key, {"value": year, "header": context.header(key),
                                                              "start": start, "end": end})


@_rule("end_after_start", "la fin prévue ne précède pas le début", columns=2)
def _end_after_start(_context: Context, rows: Sequence[Row], keys: tuple[str, ...]) -> Iterator[Finding]:
    start_key, end_key = keys
    for index, row in enumerate(rows):
        start, end = row.get(start_key), row.get(end_key)
        if isinstance(start, int) and isinstance(end, int) and end < start:
            yield Finding("FIN_AVANT_DEBUT", index, end_key, {"value": end, "start": start, "end": end})


@_rule("non_negative", "les montants sont positifs ou nuls")
def _non_negative(context: Context, rows: Sequence[Row], keys: tuple[str, ...]) -> Iterator[Finding]:
    for index, row in enumerate(rows):
        for key in keys:
            value = row.get(key)
            if is_number(value) and value < 0:
                yield Finding("MONTANT_NEGATIF", index, key, {"value": value, "header": context.header(key)})


@_rule("percent_range", "l'avancement est entre 0 et 100 %", plan_import=False)
def _percent_range(context: Context, rows: Sequence[Row], keys: tuple[str, ...]) -> Iterator[Finding]:
    for index, row in enumerate(rows):
        for key in keys:
            value = row.get(key)
            if is_number(value) and not 0 <= value <= 100:
                shown = f"{value:g}"
                yield Finding("POURCENTAGE_INVALIDE", index, key, {
                    "value": value, "header": context.header(key),
                    "detail": f"{shown} % n'est pas un pourcentage entre 0 et 100"})


@_rule("not_in_future", "une date n'est pas dans le futur", plan_import=False)
def _not_in_future(context: Context, rows: Sequence[Row], keys: tuple[str, ...]) -> Iterator[Finding]:
    for index, row in enumerate(rows):
        for key in keys:
            value = row.get(key)
            if isinstance(value, dt.date) and value > context.today:
                yield Finding("DATE_FUTURE", index, key, {
                    "value": value.isoformat(), "header": context.header(key),
                    "today": context.today.isoformat()})


@_rule("not_before_plan", "une date de suivi ne précède pas le début du plan", plan_import=False)
def _not_before_plan(context: Context, rows: Sequence[Row], keys: tuple[str, ...]) -> Iterator[Finding]:
    if context.years is None:
        return
    first_day = dt.date(context.years[0], 1, 1)
    for index, row in enumerate(rows):
        for key in keys:
            value = row.get(key)
            if isinstance(value, dt.date) and value < first_day:
                yield Finding("DATE_INVRAISEMBLABLE", index, key, {
                    "value": value.isoformat(), "header": context.header(key), "start": context.years[0]})


NOT_STARTED_STATUS = "Non débutée"


@_rule("status_progress_consistent", "le statut et l'avancement concordent", columns=2, plan_import=False)
def _status_progress(context: Context, rows: Sequence[Row], keys: tuple[str, ...]) -> Iterator[Finding]:
    status_key, progress_key = keys
    for index, row in enumerate(rows):
        statut, progress = row.get(status_key), row.get(progress_key)
        if not is_number(progress):
            continue
        if statut == context.template.realised_status and progress < 100:
            remedy = "une action réalisée est à 100 % ; corrigez l'avancement ou le statut"
        elif statut == NOT_STARTED_STATUS and progress > 0:
            remedy = ("une action non débutée est à 0 % ; passez le statut à « En cours » ou corrigez "
                      "l'avancement")
        else:
            continue
        yield Finding("STATUT_AVANCEMENT_INCOHERENT", index, progress_key, {
            "value": progress, "statut": statut, "avancement": f"{progress:g}", "remedy": remedy})


STATUSES_NEEDING_COMMENT = ("Abandonnée", "Reportée")


@_rule("comment_when_abandoned", "une action abandonnée ou reportée est expliquée", columns=2,
       plan_import=False)
def _comment_when_abandoned(_context: Context, rows: Sequence[Row],
                            keys: tuple[str, ...]) -> Iterator[Finding]:
    status_key, comment_key = keys
    for index, row in enumerate(rows):
        if row.get(status_key) in STATUSES_NEEDING_COMMENT and not row.get(comment_key):
            yield Finding("COMMENTAIRE_MANQUANT", index, comment_key, {"statut": row.get(status_key)})


def on_identification(columns: tuple[str, ...], template: Template) -> bool:
    """Tell whether a rule's columns are Identification keys (a Plan d'action key wins: annee_debut…)."""
    plan_keys = {c.key for c in template.columns}
    return bool(columns) and not set(columns) <= plan_keys


def run_rules(context: Context, plan_rows: Sequence[Row], identification: Row | None = None) -> list[
        tuple[str, Finding]]:
    """Apply every rule the template names; return ("plan" | "identification", finding) pairs, in order.

    A rule's columns are Plan d'action keys (checked on every row) or Identification keys
    (checked on the form, as one row). Each finding's cell is flagged, so a later rule does not
    report the same cell twice.
    """
    found: list[tuple[str, Finding]] = []
    for rule in context.template.rules:
        definition = REGISTRY[rule.check]
        if context.plan_import and not definition.plan_import:
            continue
        on_form = on_identification(rule.columns, context.template)
        rows: Sequence[Row] = plan_rows
        if on_form:
            if identification is None:
                continue
            rows = [identification]
        flagged = context.flagged
        if on_form:
            context.flagged = set()  # the form's "row 0" is not the plan's row 0
        for finding in definition.check(context, rows, rule.columns):
            found.append(("identification" if on_form else "plan", finding))
            context.flagged.add((finding.row, finding.key))
        context.flagged = flagged
    return found


def rules_markdown() -> str:
    """Return the registered rules as a Markdown table (name, scope, what it checks, plan import)."""
    lines = ["| règle | porte sur | ce qui est vérifié | aussi à l'import d'un plan |",
             "| --- | --- | --- | --- |"]
    lines += [f"| `{r.name}` | {r.scope} | {r.summary} | {'oui' if r.plan_import else 'non'} |"
              for r in REGISTRY.values()]
    return "\n".join(lines)
