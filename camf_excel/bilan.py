"""The bilan du suivi (DOMAIN §6): what a council receives, as plain records built from workbooks read back.

Figures come from `figures.compute_figures` only (an organisation's are its `WorkbookResult.figures`,
the very figures its Tableau de bord computes); which workbook is each organisation's bilan, and
which earlier one gives the change, is what `consolidation` decides for `consolidate` (latest
période unless one is asked, conflicts resolved by its rule). A territory's bilan (an MRC, or all
the inputs) gathers the consolidated workbooks of that territory, as the consolidation's
Synthèse par MRC does. Nothing here formats text: `bilan_text` does, for every output format.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from camf_excel import consolidation as consolidation_module
from camf_excel.batch import CheckRun
from camf_excel.consolidation import Consolidation
from camf_excel.errors import CamfError
from camf_excel.figures import Figures, compute_figures, has_action
from camf_excel.issues import path_text
from camf_excel.model import Template
from camf_excel.normalise import clean_text, fold
from camf_excel.templates import DEFAULT_TEMPLATE, load_template
from camf_excel.validation import WorkbookResult

Values = Mapping[str, object]
ORGANISATION, MRC, ALL = "organisation", "mrc", "ensemble"
UNKNOWN_MRC = "(MRC non précisée)"


@dataclass(frozen=True)
class ActionLine:
    """One action as a bilan lists it: its number, champ, text, and the detail the section is about."""

    no: str
    champ: str
    action: str
    detail: str = ""
    statut: str = ""
    fin: object = None
    organisation: str = ""  # in a territory's bilan, whose action it is


@dataclass(frozen=True)
class Meeting:
    """A meeting of the comité de suivi (date as read: a date, or the text typed)."""

    date: object
    sujets: str
    decisions: str
    organisation: str = ""


@dataclass(frozen=True)
class Change:
    """What changed since the previous période's workbook of the same organisation."""

    previous_periode: object
    previous_file: str
    newly_realised: tuple[ActionLine, ...]
    newly_late: tuple[ActionLine, ...]
    newly_postponed: tuple[ActionLine, ...]
    realised_before: int  # actions Réalisée in the previous workbook


@dataclass(frozen=True)
class MemberRow:
    """One organisation of a territory's bilan, with its figures (its Organisations row's)."""

    organisation: str
    type: str
    periode: object
    figures: Figures
    errors: int
    source_file: str


@dataclass(frozen=True)
class Sections:
    """The bilan's lists of actions: realisations, bons coups, late actions, obstacles, next steps."""

    realisations: tuple[ActionLine, ...] = ()
    bons_coups: tuple[ActionLine, ...] = ()
    late: tuple[ActionLine, ...] = ()
    obstacles: tuple[ActionLine, ...] = ()
    next_steps: tuple[ActionLine, ...] = ()


@dataclass(frozen=True)
class Bilan:
    """Everything one bilan shows; `kind` is organisation, mrc or ensemble (all the inputs)."""

    kind: str
    organisation: str
    identification: dict[str, object]
    periodes: tuple[object, ...]
    template: Template
    figures: Figures
    produced: dt.date
    lists: Sections = Sections()
    meetings: tuple[Meeting, ...] = ()
    change: Change | None = None
    members: tuple[MemberRow, ...] = ()
    errors: int = 0
    files_with_errors: tuple[str, ...] = ()
    source_files: tuple[str, ...] = ()

    @property
    def periode(self) -> object:
        """The one période reported, or None when several meet (a territory's bilan)."""
        return self.periodes[0] if len(self.periodes) == 1 else None


@dataclass(frozen=True)
class BilanSet:
    """The bilans of a run, and what was left aside: files that could not be read, and why."""

    bilans: tuple[Bilan, ...]
    consolidation: Consolidation
    unreadable: tuple[WorkbookResult, ...] = ()
    run: CheckRun | None = None
    previous_run: CheckRun | None = None
    not_reported: tuple[str, ...] = ()  # files of another période, or set aside, and why


# --- building ---------------------------------------------------------------------------------

# The consolidation's record of one workbook read (its identity, key, status), shared here so the
# bilan takes the consolidation's own decisions rather than restating them.
Source = consolidation_module._Source


def build_bilans(run: CheckRun, previous: CheckRun | None = None, periode: int | None = None,
                 par_mrc: bool = False, today: dt.date | None = None) -> BilanSet:
    """Build one bilan per organisation reported, plus, with par_mrc, one per MRC and one for all."""
    today = today or dt.date.today()
    done = consolidation_module.consolidate_run(run, periode=periode, previous=previous)
    kept = done.kept
    by_key: dict[tuple[str, ...], list[Source]] = {}
    for source in [*done.sources, *done.previous]:
        if source.result.readable:
            by_key.setdefault(source.key, []).append(source)
    bilans = [organisation_bilan(s.result, s.identity, _previous(s, by_key[s.key]), today) for s in kept]
    if par_mrc and kept:
        for (region, mrc), group in _by_mrc(kept).items():
            bilans.append(territory_bilan(MRC, mrc, {"mrc": mrc, "region": region}, group, today))
        bilans.append(territory_bilan(ALL, "Ensemble des classeurs reçus", {}, kept, today))
    not_reported = tuple(f"{path_text(s.result.file)} : {s.status} ({s.reason})" for s in done.sources
                         if s.result.readable and s.status != consolidation_module.CONSOLIDATED)
    unreadable = tuple(r for r in run.results if not r.readable)
    return BilanSet(tuple(bilans), done.consolidation, unreadable, run, previous, not_reported)


def _previous(source: Source, same_organisation: Sequence[Source]) -> Source | None:
    """The earlier workbook the consolidation compares with (`consolidation._change`'s choice)."""
    cons = consolidation_module
    current = cons._period_rank(source.periode)
    earlier = [s for s in same_organisation if (1, 0) <= cons._period_rank(s.periode) < current]
    if not earlier:
        return None
    return max(earlier, key=lambda s: (cons._period_rank(s.periode), cons._precedence(s)))


def template_of(result: WorkbookResult) -> Template:
    """The template a workbook was read with (its own, else the default)."""
    try:
        return load_template(result.template_id or DEFAULT_TEMPLATE)
    except CamfError:
        return load_template(DEFAULT_TEMPLATE)


def organisation_bilan(result: WorkbookResult, identity: Mapping[str, object], previous: Source | None,
                       today: dt.date) -> Bilan:
    """Build the bilan of one organisation's workbook (figures: the workbook's own)."""
    template = template_of(result)
    periode = result.identification.get("periode")
    figures = result.figures or compute_figures(result.actions, periode, template)
    actions = [a for a in result.actions if has_action(a)]
    identification = {**result.identification, **{k: v for k, v in identity.items() if v not in (None, "")}}
    change = _change(result, previous.result, template) if previous is not None else None
    return Bilan(
        kind=ORGANISATION,
        organisation=clean_text(identification.get("organisation")) or path_text(result.file),
        identification=identification,
        periodes=(periode,),
        template=template,
        figures=figures,
        produced=today,
        lists=sections(actions, template),
        meetings=_meetings(result, periode),
        change=change,
        errors=result.errors,
        files_with_errors=(path_text(result.file),) if result.errors else (),
        source_files=(path_text(result.file),),
    )


def territory_bilan(kind: str, name: str, identification: dict[str, object], kept: Sequence[Source],
                    today: dt.date) -> Bilan:
    """Build a territory's bilan: its organisations' consolidated workbooks, figures by the one definition.

    Each action is late as its own workbook's période says (as the consolidation's tables count).
    """
    template = load_template(DEFAULT_TEMPLATE)
    rows: list[dict[str, object]] = []
    members: list[MemberRow] = []
    meetings: list[Meeting] = []
    for source in sorted(kept, key=_member_order):
        result, identity, periode = source.result, source.identity, source.periode
        org = clean_text(identity.get("organisation")) or path_text(result.file)
        rows.extend({**a, "periode": periode, "_organisation": org} for a in result.actions if has_action(a))
        figures = result.figures or compute_figures(result.actions, periode, template_of(result))
        members.append(MemberRow(org, clean_text(identity.get("type")), periode, figures, result.errors,
                                 path_text(result.file)))
        meetings.extend(Meeting(m.date, m.sujets, m.decisions, org) for m in _meetings(result, periode))
    periodes = tuple(sorted({m.periode for m in members if m.periode is not None}, key=str))
    errors = [m for m in members if m.errors]
    return Bilan(
        kind=kind, organisation=name, identification=identification, periodes=periodes or (None,),
        template=template, figures=compute_figures(rows, None, template), produced=today,
        lists=sections(rows, template), meetings=tuple(meetings), members=tuple(members),
        errors=sum(m.errors for m in errors), files_with_errors=tuple(m.source_file for m in errors),
        source_files=tuple(m.source_file for m in members),
    )


def _member_order(source: Source) -> tuple[object, ...]:
    identity = source.identity
    # Natural order: « Saint-Exemple-2 » before « Saint-Exemple-10 »; the MRC's own workbook first.
    name = fold(identity.get("organisation"))
    return (fold(identity.get("type")) != "mrc",
            [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)])


def _by_mrc(kept: Iterable[Source]) -> dict[tuple[str, str], list[Source]]:
    """Group the consolidated workbooks as the Synthèse par MRC does: by région and MRC."""
    groups: dict[tuple[str, str], list[Source]] = {}
    for source in kept:
        identity = source.identity
        key = (clean_text(identity.get("region")), clean_text(identity.get("mrc")) or UNKNOWN_MRC)
        groups.setdefault(key, []).append(source)
    return dict(sorted(groups.items(), key=lambda item: (fold(item[0][1]), fold(item[0][0]))))


# --- sections ---------------------------------------------------------------------------------

def _line(action: Values, detail_key: str = "") -> ActionLine:
    return ActionLine(
        no=clean_text(action.get("action_id")),
        champ=clean_text(action.get("champ")),
        action=clean_text(action.get("action")),
        detail=clean_text(action.get(detail_key)) if detail_key else "",
        statut=clean_text(action.get("statut")),
        fin=action.get("annee_fin"),
        organisation=clean_text(action.get("_organisation")),
    )


def _texted(actions: Iterable[Values], key: str) -> tuple[ActionLine, ...]:
    return tuple(_line(a, key) for a in actions if clean_text(a.get(key)))


def sections(actions: Sequence[Values], template: Template) -> Sections:
    """The bilan's lists of these actions (a realisation shows its comment, else its indicator)."""
    realised = template.realised_status
    done = [a for a in actions if a.get("statut") == realised]
    return Sections(
        realisations=tuple(_realisation(a) for a in done),
        bons_coups=tuple(_line(a, "commentaires") for a in actions if a.get("bon_coup") == "Oui"),
        late=tuple(_line(a, "obstacles") for a in actions if a.get("en_retard") == "Oui"),
        obstacles=_texted(actions, "obstacles"),
        next_steps=_texted(actions, "prochaines_etapes"),
    )


def _realisation(action: Values) -> ActionLine:
    """A realised action with its result: the comment when one was written, else the planned indicator."""
    line = _line(action, "commentaires")
    if line.detail:
        return line
    return _line(action, "indicateur")


def _meetings(result: WorkbookResult, periode: object) -> tuple[Meeting, ...]:
    """The comité de suivi's meetings of the période (dated in its year; undated ones kept, as typed)."""
    found = []
    for row in result.meetings:
        date = row.get("date")
        if isinstance(date, dt.date) and isinstance(periode, int) and date.year != periode:
            continue
        found.append(Meeting(date, clean_text(row.get("sujets")), clean_text(row.get("decisions"))))
    return tuple(sorted(found, key=lambda m: (not isinstance(m.date, dt.date), str(m.date))))


def _change(result: WorkbookResult, before: WorkbookResult, template: Template) -> Change:
    """Newly realised, late or postponed: true now, false in the previous workbook (actions matched by No).

    The rule of the consolidation's `nouvellement_realisees` / `nouvellement_en_retard` columns.
    """
    earlier = {clean_text(a.get("action_id")): a for a in before.actions if a.get("action_id")}

    def newly(test: Callable[[Values], bool], detail: str = "") -> tuple[ActionLine, ...]:
        return tuple(_line(a, detail) for a in result.actions if has_action(a) and test(a)
                     and not test(earlier.get(clean_text(a.get("action_id")), {})))

    postponed = _postponed_status(template)
    return Change(
        previous_periode=before.identification.get("periode"),
        previous_file=path_text(before.file),
        newly_realised=newly(lambda a: a.get("statut") == template.realised_status, "commentaires"),
        newly_late=newly(lambda a: a.get("en_retard") == "Oui", "obstacles"),
        newly_postponed=newly(lambda a: postponed is not None and a.get("statut") == postponed,
                              "commentaires"),
        realised_before=sum(1 for a in before.actions
                            if has_action(a) and a.get("statut") == template.realised_status),
    )


def _postponed_status(template: Template) -> str | None:
    """The status list's item for a postponed action (« Reportée »), found by its folded stem."""
    return next((s for s in template.lists["statut"].items if fold(s).startswith("report")), None)
