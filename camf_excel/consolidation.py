"""Many workbooks read back -> one set of tables: actions, organisations, completeness, sources.

`consolidate(paths, territories, periode)` reads every workbook (in capped worker processes,
through `batch.check_files`), matches each to the territories reference, resolves conflicts,
and returns a frozen `Consolidation` of DataFrames. Nothing is dropped silently: every file
found is a row of `sources`, with the rows it gave and the rows it lost, and why.

Conflict rule: two workbooks of one organisation (same territory, else same code géographique,
else same name and type) and one période are a conflict. The one kept is the one with the later
« Date de mise à jour du fichier » (else the latest date de mise à jour of its actions), then
the later template version, then the file name that comes last in alphabetical order (names
usually end with a date or a version number). The others are set aside: listed in Sources with
the reason, their rows counted as rejected, a CLASSEUR_MIS_DE_COTE issue on each.

Period rule (DOMAIN §6): with `periode`, that période's workbooks are reported; without, each
organisation's latest. The others are « autre période » in Sources and give the change since the
previous période. The période is chosen before conflicts are resolved: no file is set aside for
one that is not reported. Every table where rows of several périodes meet has a période column,
and the Summary says which périodes are reported (`periodes`, text, in the synthesis and
champs tables, whose rows gather several workbooks).

Completeness (DOMAIN §6): an expected organisation is non_recu, recu_illisible (a file that could
not be read, attributed to it by its file name), recu_non_rempli, recu_avec_erreurs or
recu_valide. MRC workbooks are counted apart from those of municipalities.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from camf_excel.batch import CheckRun, Progress, actions_frame, check_files, issues_frame
from camf_excel.errors import CamfError
from camf_excel.figures import Figures, compute_figures, has_action, period_year, share
from camf_excel.issues import make_issue, path_text
from camf_excel.model import ERROR, PLAUSIBLE_YEARS, Issue, Template
from camf_excel.normalise import clean_text, fold
from camf_excel.reader import IDENT_SHEET, version_key
from camf_excel.templates import DEFAULT_TEMPLATE, load_template
from camf_excel.territories import (
    Match,
    Territory,
    TerritoryIndex,
    load_territories,
    name_key,
    name_words,
    pad_code,
    region_label,
)
from camf_excel.validation import WorkbookResult
from camf_excel.walk import Skipped

# Sources statuses, as the Sources sheet and sources.csv show them.
CONSOLIDATED, SET_ASIDE, OTHER_PERIOD, REFUSED, IGNORED = (
    "consolidé", "mis de côté", "autre période", "refusé", "ignoré")
SOURCE_COLUMNS = ("source_file", "statut", "motif", "format", "octets", "sha256", "template_id",
                  "template_version", "organisation", "code_geo", "periode", "date_maj_fichier",
                  "lignes_lues", "lignes_consolidees", "lignes_rejetees", "erreurs", "avertissements")
# `type` (Municipalité | MRC) comes late: the older columns keep their places for positional readers.
COMPLETENESS_COLUMNS = ("code_geo", "organisation", "mrc", "region", "recu", "etat", "source_file",
                        "periode", "courriel", "type", "attendu", "remarque")
# Completeness states (DOMAIN §6): a workbook counts as a report only once filled.
NOT_RECEIVED, UNREADABLE, NOT_FILLED, WITH_ERRORS, VALID = (
    "non_recu", "recu_illisible", "recu_non_rempli", "recu_avec_erreurs", "recu_valide")
FILLED_STATES = (WITH_ERRORS, VALID)
OBSTACLE_COLUMNS = ("organisation", "mrc", "region", "periode", "action_id", "champ", "action", "statut",
                    "obstacles", "source_file", "source_row")
SUCCESS_COLUMNS = ("organisation", "mrc", "region", "periode", "action_id", "champ", "action", "statut",
                   "commentaires", "source_file", "source_row")
NO_STATUS = "sans_statut"
NO_PERIOD = "non indiquée"


@dataclass(frozen=True)
class Summary:
    """The accounting of one consolidation: files and rows in, out and set aside."""

    files_found: int
    files_consolidated: int
    files_refused: int
    files_set_aside: int
    files_other_period: int
    files_ignored: int
    rows_read: int
    rows_consolidated: int
    rows_rejected: int
    expected: int | None
    received: int | None
    filled: int | None = None
    unreadable: int | None = None  # expected organisations whose only file could not be read
    periods: tuple[int, ...] = ()  # the périodes reported (those of the consolidated workbooks)
    requested_period: int | None = None  # --periode, when given
    municipal_workbooks: int = 0  # consolidated workbooks of municipalities (every one not an MRC's)
    mrc_workbooks: int = 0  # consolidated workbooks of MRCs, counted apart

    @property
    def complete(self) -> bool:
        """Tell whether every file found was consolidated, with every row it holds."""
        return not (self.files_refused or self.files_set_aside)

    @property
    def periods_label(self) -> str:
        """The périodes reported, as a person reads them: « 2026 », « 2025, 2026 »."""
        return periods_text(self.periods)


TREND_COLUMNS = ("niveau", "region", "mrc", "organisation", "periode", "actions", "realisees",
                 "pct_realisees", "en_retard")
ORGANISATION_LEVEL, MRC_LEVEL, ALL_LEVEL = "organisation", "MRC", "ensemble"


@dataclass(frozen=True)
class Consolidation:
    """Every table of a consolidation (DOMAIN §6), as DataFrames with the canonical keys."""

    actions: pd.DataFrame
    organisations: pd.DataFrame
    champs: pd.DataFrame
    mrcs: pd.DataFrame
    regions: pd.DataFrame
    obstacles: pd.DataFrame
    successes: pd.DataFrame
    completeness: pd.DataFrame
    issues: pd.DataFrame
    sources: pd.DataFrame
    summary: Summary
    statuses: tuple[str, ...]
    realised_status: str
    periode: int | None = None
    with_territories: bool = False
    # Per period: each organisation's figures, each MRC's and all the inputs' (`niveau`).
    trends: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(TREND_COLUMNS)))


@dataclass
class _Source:
    """One workbook read, and what consolidation decides about it."""

    result: WorkbookResult
    status: str = CONSOLIDATED
    reason: str = ""
    match: Match | None = None
    key: tuple[str, ...] = ()
    identity: dict[str, object] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return len(self.result.actions)

    @property
    def rows_read(self) -> int:
        """Rows read, those typed below the table (counted by no one, reported) included."""
        return self.rows + self.result.rows_outside

    @property
    def periode(self) -> object:
        return self.result.identification.get("periode")


def consolidate(paths: Sequence[str | Path], territories: str | Path | Sequence[Territory] | None = None,
                periode: int | None = None, *, jobs: int | None = None, today: dt.date | None = None,
                progress: Progress | None = None) -> Consolidation:
    """Read, validate and consolidate the workbooks under paths (files and folders, recursively)."""
    reference = _reference(territories)  # a wrong territories file is refused before any reading
    run = check_files(paths, jobs=jobs, today=today, progress=progress)
    return consolidate_run(run, reference, periode).consolidation


@dataclass(frozen=True)
class Fates:
    """A consolidation and the records behind it: each file read, and what was decided about it."""

    sources: tuple[_Source, ...]
    previous: tuple[_Source, ...]  # workbooks of earlier periods given apart (a bilan's --precedent)
    consolidation: Consolidation

    @property
    def kept(self) -> list[_Source]:
        """The workbooks reported: one per organisation."""
        return [s for s in self.sources if s.status == CONSOLIDATED]


def consolidate_run(run: CheckRun, territories: str | Path | Sequence[Territory] | None = None,
                    periode: int | None = None, previous: CheckRun | None = None) -> Fates:
    """Consolidate workbooks already read: the one procedure behind `consolidate` and the bilans.

    `previous` workbooks join as « autre période »: they give the change, never a row of their own.
    """
    reference = _reference(territories)
    index = TerritoryIndex(reference) if reference is not None else None
    sources = [_Source(result) for result in run.results]
    earlier = [_Source(result) for result in (previous.results if previous else ())]
    extra_issues: list[Issue] = []
    for source in [*sources, *earlier]:
        _identify(source, index, extra_issues)
    readable = [s for s in sources if s.result.readable]
    _choose_periods(readable, periode)
    extra_issues += _resolve_conflicts([s for s in readable if s.status == CONSOLIDATED])
    for source in earlier:
        source.status, source.reason = OTHER_PERIOD, "période précédente (--precedent)"
    kept = [s for s in readable if s.status == CONSOLIDATED]
    compared = [*readable, *(s for s in earlier if s.result.readable)]
    tables = _tables(run.issues, extra_issues, sources, kept, compared, run.skipped, reference, periode)
    return Fates(tuple(sources), tuple(earlier), tables)


def _reference(territories: str | Path | Sequence[Territory] | None) -> tuple[Territory, ...] | None:
    if territories is None:
        return None
    if isinstance(territories, str | Path):
        return load_territories(territories)
    return tuple(territories)


# --- identity, territory and conflicts ---------------------------------------------------------

def _identify(source: _Source, index: TerritoryIndex | None, issues: list[Issue]) -> None:
    """Settle a file's identity: refused, else its organisation's key and reference names."""
    result = source.result
    if not result.readable:
        source.status = REFUSED
        source.reason = result.issues[0].message if result.issues else "fichier illisible"
        if index is not None:
            source.match = index.match_file_name(Path(result.file).name)
            if source.match.territory is not None:
                source.identity = {"type": _type_label(source.match.level), **_official(source.match)}
        return
    ident = result.identification
    identity = {key: ident.get(key) for key in ("organisation", "type", "code_geo", "mrc", "region",
                                                "demarche", "periode")}
    identity["region"] = region_label(identity["region"]) if identity["region"] else None
    if index is not None and (ident.get("organisation") or ident.get("code_geo")):
        source.match = index.match(ident.get("organisation"), ident.get("code_geo"), ident.get("mrc"),
                                   ident.get("type"))
        _report_match(source, issues)
        if source.match.territory is not None:
            identity.update(_official(source.match))
    source.identity = identity
    source.key = _organisation_key(source)


def _official(match: Match) -> dict[str, object]:
    """The reference's names of a matched territory: they replace the file's spellings everywhere."""
    territory = match.territory
    if territory is None:
        return {}
    names: dict[str, object] = {"mrc": territory.mrc}
    if territory.region:
        names["region"] = territory.region
    if match.level == "mrc":
        names["organisation"] = territory.mrc
    else:
        names.update(organisation=territory.organisation, code_geo=territory.code_geo)
    return names


@functools.lru_cache(maxsize=2)
def _type_label(level: str) -> str:
    """The type list's label (template data) of a territory matched at this level."""
    items = load_template(DEFAULT_TEMPLATE).lists["type"].items
    mrc = next(item for item in items if fold(item) == "mrc")
    return mrc if level == "mrc" else next(item for item in items if item != mrc)


def _is_mrc(source: _Source) -> bool:
    matched_mrc = source.match is not None and source.match.level == "mrc"
    return matched_mrc or fold(source.identity.get("type")) == "mrc"


def _report_match(source: _Source, issues: list[Issue]) -> None:
    match, ident = source.match, source.result.identification
    if match is None or not match.note:
        return
    code = "TERRITOIRE_INTROUVABLE" if match.territory is None else "CODE_GEO_DISCORDANT"
    column = "organisation" if match.territory is None else "code_geo"
    where = source.result.identification_where.get(column) or {"sheet": IDENT_SHEET, "column": column}
    issues.append(make_issue(code, source.result.file, value=ident.get(column) or "",
                             organisation=clean_text(ident.get("organisation")), detail=match.note,
                             **where))


def _organisation_key(source: _Source) -> tuple[str, ...]:
    match, identity = source.match, source.identity
    if match is not None and match.territory is not None:
        if match.level == "mrc":
            return ("mrc", name_key(match.territory.mrc))
        return ("code", match.territory.code_geo)
    code = pad_code(identity.get("code_geo"))
    if code:
        return ("code", code)
    name = name_key(identity.get("organisation"))
    if name:
        return ("nom", fold(identity.get("type")), name)
    return ("fichier", source.result.file)


def _update_date(result: WorkbookResult) -> dt.date | None:
    """The workbook's date of update: Identification's, else the latest of its actions."""
    declared = result.identification.get("date_maj_fichier")
    if isinstance(declared, dt.date):
        return declared
    dates = [d for a in result.actions if isinstance(d := a.get("date_maj"), dt.date)]
    return max(dates) if dates else None


def _precedence(source: _Source) -> tuple[object, ...]:
    result = source.result
    return (_update_date(result) or dt.date.min, version_key(result.template_version),
            Path(result.file).name, result.file)


def _period_rank(periode: object) -> tuple[int, int]:
    """Order périodes: a year above no year (a file without période is never the latest over one)."""
    year = period_year(periode)
    return (0, 0) if year is None else (1, year)


def _period_name(periode: object) -> str:
    year = period_year(periode)
    return NO_PERIOD if year is None else str(year)


def periods_text(periods: Iterable[object]) -> str:
    """Return the périodes of some rows as a person reads them: « 2025, 2026 », « non indiquée »."""
    years = [period_year(v) for v in periods]
    texts = [str(year) for year in sorted({year for year in years if year is not None})]
    if None in years:
        texts.append(NO_PERIOD)
    return ", ".join(texts)


def _choose_periods(sources: Sequence[_Source], periode: int | None) -> None:
    """Mark « autre période » the files not reported: not of the période asked, else not their latest."""
    if periode is not None:
        for source in sources:
            if source.periode != periode:
                source.status = OTHER_PERIOD
                source.reason = f"période {_period_name(source.periode)}, autre que {periode}"
        return
    latest: dict[tuple[str, ...], tuple[int, int]] = {}
    for source in sources:
        latest[source.key] = max(latest.get(source.key, (0, 0)), _period_rank(source.periode))
    for source in sources:
        newest = latest[source.key]
        if _period_rank(source.periode) < newest:
            source.status = OTHER_PERIOD
            source.reason = (f"période {_period_name(source.periode)} : la période la plus récente de "
                             f"l'organisation, {newest[1]}, est celle consolidée")


def _resolve_conflicts(sources: Sequence[_Source]) -> list[Issue]:
    """Keep one workbook per organisation and période; set the others aside, each with an issue."""
    groups: dict[tuple[object, ...], list[_Source]] = collections.defaultdict(list)
    for source in sources:
        groups[(*source.key, source.periode)].append(source)
    issues = []
    for group in groups.values():
        if len(group) < 2:
            continue
        ranked = sorted(group, key=_precedence, reverse=True)
        kept = ranked[0]
        for loser in ranked[1:]:
            loser.status, loser.reason = SET_ASIDE, f"doublon de {Path(kept.result.file).name}"
            issues.append(make_issue("CLASSEUR_MIS_DE_COTE", loser.result.file, periode=loser.periode,
                                     kept=kept.result.file, reason=_why_kept(kept, loser), rows=loser.rows))
    return issues


def _why_kept(kept: _Source, loser: _Source) -> str:
    kept_date, loser_date = _update_date(kept.result), _update_date(loser.result)
    if kept_date != loser_date:
        shown = loser_date.isoformat() if loser_date else "aucune"
        return f"l'autre porte une date de mise à jour plus récente : {kept_date} contre {shown}"
    if version_key(kept.result.template_version) != version_key(loser.result.template_version):
        return (f"même date ; l'autre suit une version plus récente du modèle : "
                f"{kept.result.template_version} contre {loser.result.template_version or 'aucune'}")
    return "même date et même version du modèle ; le nom de l'autre vient après dans l'ordre alphabétique"


# --- tables -------------------------------------------------------------------------------------

def _tables(read_issues: list[Issue], extra_issues: list[Issue], sources: list[_Source],
            kept: list[_Source], readable: list[_Source], skipped: Sequence[Skipped],
            reference: tuple[Territory, ...] | None, periode: int | None) -> Consolidation:
    """Build every table from the files' fates (`readable` gives the previous périodes)."""
    template = load_template(DEFAULT_TEMPLATE)
    statuses = template.lists["statut"].items
    actions = _actions(kept)
    organisations = _organisations(kept, readable, statuses, template.realised_status)
    completeness = _completeness(sources, reference, periode)
    issues = issues_frame([*read_issues, *extra_issues])
    source_table = _sources(sources, skipped, issues)
    summary = _summary(sources, skipped, completeness, reference is not None, periode)
    integers = {c.key for c in template.columns if c.kind == "integer"} | _INTEGER_KEYS
    actions, organisations, completeness = (_nullable_integers(f, integers)
                                            for f in (actions, organisations, completeness))
    return Consolidation(
        actions=actions,
        organisations=organisations,
        champs=_champs(kept, statuses, template),
        mrcs=_synthesis(organisations, completeness, ["region", "mrc"], statuses, template.realised_status),
        regions=_synthesis(organisations, completeness, ["region"], statuses, template.realised_status),
        obstacles=_with_text(actions, "obstacles", OBSTACLE_COLUMNS),
        successes=_with_text(actions[actions["bon_coup"] == "Oui"], "action", SUCCESS_COLUMNS),
        completeness=completeness,
        issues=issues,
        sources=_nullable_integers(source_table, integers),
        summary=summary,
        statuses=statuses,
        realised_status=template.realised_status,
        periode=periode,
        with_territories=reference is not None,
        trends=_trends(readable, template.realised_status),
    )


def _trends(readable: Sequence[_Source], realised: str) -> pd.DataFrame:
    """% realised and late actions per period: each organisation's chosen workbook of each period,
    then each MRC's and all the inputs' sums (shares from the sums, as every share)."""
    rows = []
    for source in readable:
        if source.status not in (CONSOLIDATED, OTHER_PERIOD) or period_year(source.periode) is None:
            continue
        result = source.result
        figures = result.figures or compute_figures(result.actions, source.periode, _template(result))
        rows.append({"niveau": ORGANISATION_LEVEL, "region": source.identity.get("region"),
                     "mrc": source.identity.get("mrc"), "organisation": source.identity.get("organisation"),
                     "periode": period_year(source.periode), "actions": figures.actions,
                     "realisees": figures.by_status.get(realised, 0), "en_retard": figures.late})
    frame = pd.DataFrame(rows, columns=[c for c in TREND_COLUMNS if c != "pct_realisees"])
    if frame.empty:
        return pd.DataFrame(columns=list(TREND_COLUMNS))
    sums = ["actions", "realisees", "en_retard"]
    by_mrc = frame.groupby(["region", "mrc", "periode"], dropna=False, as_index=False)[sums].sum()
    by_mrc["niveau"] = MRC_LEVEL
    overall = frame.groupby("periode", as_index=False)[sums].sum()
    overall["niveau"] = ALL_LEVEL
    trends = pd.concat([frame, by_mrc, overall], ignore_index=True)
    trends["pct_realisees"] = [None if (value := share(r, a)) is None else round(100 * value, 1)
                               for r, a in zip(trends["realisees"], trends["actions"], strict=True)]
    order = {ORGANISATION_LEVEL: 2, MRC_LEVEL: 1, ALL_LEVEL: 0}
    trends = trends.sort_values(["niveau", "region", "mrc", "organisation", "periode"],
                                key=lambda c: c.map(order) if c.name == "niveau" else c, na_position="first")
    return trends.reset_index(drop=True)[list(TREND_COLUMNS)]


_INTEGER_KEYS = frozenset({"periode", "annee_debut", "annee_fin", "periode_precedente",
                           "nouvellement_realisees", "nouvellement_en_retard", "octets", "source_row"})


def _nullable_integers(frame: pd.DataFrame, keys: set[str] | frozenset[str]) -> pd.DataFrame:
    """Give integer columns pandas' nullable Int64, so a missing year is not turned into 2025.0."""
    wanted = {key: "Int64" for key in keys if key in frame.columns}
    try:
        return frame.astype(wanted)
    except (TypeError, ValueError, OverflowError):
        return frame.astype({k: v for k, v in wanted.items() if _all_integers(frame[k])})


def _all_integers(column: pd.Series) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**63 for v in column.dropna())


def _actions(kept: Sequence[_Source]) -> pd.DataFrame:
    """Every consolidated action, with its organisation's identity (reference names when matched)."""
    return actions_frame([s.result for s in kept], [s.identity for s in kept])


def status_key(status: str) -> str:
    """Return a status as a column name: « Non débutée » -> non_debutee."""
    return re.sub(r"[^0-9a-z]+", "_", fold(status)).strip("_")


def figure_columns(figures: Figures, statuses: Sequence[str]) -> dict[str, object]:
    """The figures as the consolidation's columns (shares and progress on the 0–100 scale, rounded)."""
    columns: dict[str, object] = {"actions": figures.actions}
    columns.update({status_key(s): figures.by_status.get(s, 0) for s in statuses})
    columns[NO_STATUS] = figures.without_status
    share = figures.realised_share
    columns["pct_realisees"] = None if share is None else round(100 * share, 1)
    columns["en_retard"] = figures.late
    columns["ajoutees"] = figures.added
    progress = figures.mean_progress
    columns["avancement_moyen"] = None if progress is None else round(progress, 1)
    return columns


def _organisations(kept: Sequence[_Source], readable: Sequence[_Source], statuses: Sequence[str],
                   realised: str) -> pd.DataFrame:
    """One row per consolidated workbook: counts, shares, budget, last update, issues, change."""
    by_key: dict[tuple[str, ...], list[_Source]] = collections.defaultdict(list)
    for source in readable:
        by_key[source.key].append(source)
    rows = []
    for source in kept:
        result = source.result
        row: dict[str, object] = dict(source.identity)
        row.update(annee_debut=result.identification.get("annee_debut"),
                   annee_fin=result.identification.get("annee_fin"))
        figures = result.figures or compute_figures(result.actions, source.periode, _template(result))
        row.update(figure_columns(figures, statuses))
        row.update(budget_prevu=figures.budget_planned, budget_reel=figures.budget_used,
                   rempli=figures.filled, date_maj=_update_date(result), erreurs=result.errors,
                   avertissements=len(result.issues) - result.errors)
        row.update(_change(source, by_key[source.key], realised))
        row.update(template_version=result.template_version, source_file=path_text(result.file))
        rows.append(row)
    return pd.DataFrame(rows, columns=_organisation_columns(statuses))


def _organisation_columns(statuses: Sequence[str]) -> list[str]:
    return ["organisation", "type", "code_geo", "mrc", "region", "demarche", "periode", "annee_debut",
            "annee_fin", "actions", *(status_key(s) for s in statuses), NO_STATUS, "pct_realisees",
            "en_retard", "ajoutees", "avancement_moyen", "budget_prevu", "budget_reel", "rempli", "date_maj",
            "erreurs",
            "avertissements", "periode_precedente", "nouvellement_realisees", "nouvellement_en_retard",
            "template_version", "source_file"]


def _template(result: WorkbookResult) -> Template:
    """The template a workbook was read with (its own, else the default)."""
    try:
        return load_template(result.template_id or DEFAULT_TEMPLATE)
    except CamfError:
        return load_template(DEFAULT_TEMPLATE)


def _change(source: _Source, same_organisation: Sequence[_Source], realised: str) -> dict[str, object]:
    """Compare with the organisation's previous période, when a workbook of it was read too.

    Of two workbooks of that période, the one the conflict rule would keep is compared.
    """
    current = _period_rank(source.periode)
    earlier = [s for s in same_organisation if (1, 0) <= _period_rank(s.periode) < current]
    if not earlier:
        return {"periode_precedente": None, "nouvellement_realisees": None, "nouvellement_en_retard": None}
    previous = max(earlier, key=lambda s: (_period_rank(s.periode), _precedence(s)))
    before = {clean_text(a.get("action_id")): a for a in previous.result.actions if a.get("action_id")}

    def newly(test: Callable[[Mapping[str, object]], bool]) -> int:
        return sum(1 for a in source.result.actions if has_action(a) and test(a)
                   and not test(before.get(clean_text(a.get("action_id")), {})))

    return {"periode_precedente": previous.periode,
            "nouvellement_realisees": newly(lambda a: a.get("statut") == realised),
            "nouvellement_en_retard": newly(lambda a: a.get("en_retard") == "Oui")}


def _champs(kept: Sequence[_Source], statuses: Sequence[str], template: Template) -> pd.DataFrame:
    """Champ d'action × statut over every consolidated action (each late as its own période says)."""
    by_champ: dict[object, list[Mapping[str, object]]] = collections.defaultdict(list)
    for source in kept:
        for action in source.result.actions:
            by_champ[action.get("champ") or "(sans champ)"].append({**action, "periode": source.periode})
    rows = [{"champ": champ, "periodes": periods_text({a["periode"] for a in group}),
             **figure_columns(compute_figures(group, None, template), statuses)}
            for champ, group in by_champ.items()]
    frame = pd.DataFrame(rows, columns=["champ", "periodes", "actions", *(status_key(s) for s in statuses),
                                        NO_STATUS, "pct_realisees", "en_retard", "avancement_moyen"])
    return frame.sort_values(["actions", "champ"], ascending=[False, True], kind="stable", ignore_index=True)


def _synthesis(organisations: pd.DataFrame, completeness: pd.DataFrame, by: list[str],
               statuses: Sequence[str], realised: str) -> pd.DataFrame:
    """Workbooks grouped by MRC (or région): counts summed, shares recomputed, expected vs received.

    `organisations` counts the municipalities' workbooks, `classeurs_mrc` the MRCs' own, apart;
    `periodes` names the périodes that meet in the row (« 2025, 2026 »).
    """
    count_columns = ["actions", *(status_key(s) for s in statuses), NO_STATUS, "en_retard", "ajoutees",
                     "erreurs"]
    frame = organisations.assign(**{key: organisations[key].fillna("(non précisée)") for key in by},
                                 _mrc=organisations["type"].map(fold) == "mrc")
    frame = frame.assign(_municipal=~frame["_mrc"])
    grouped = frame.groupby(by, sort=True, dropna=False)
    table = grouped[count_columns].sum()
    table.insert(0, "classeurs_mrc", grouped["_mrc"].sum())
    table.insert(0, "organisations", grouped["_municipal"].sum())
    table.insert(0, "periodes", grouped["periode"].agg(periods_text).astype(object))
    shares = 100 * table[status_key(realised)] / table["actions"].where(table["actions"] > 0)
    table["pct_realisees"] = shares.round(1)
    if not completeness.empty and completeness["attendu"].notna().any():
        expected = completeness[completeness["attendu"] == True]  # noqa: E712 - nullable booleans
        expected = expected.assign(**{key: expected[key].replace("", "(non précisée)") for key in by})
        expected = expected.assign(remplie=expected["etat"].isin(FILLED_STATES),
                                   illisible=expected["etat"] == UNREADABLE)
        counts = expected.groupby(by, dropna=False).agg(attendues=("recu", "size"), recues=("recu", "sum"),
                                                        illisibles=("illisible", "sum"),
                                                        remplies=("remplie", "sum"))
        table = table.join(counts, how="outer")
        table["periodes"] = table["periodes"].astype(object).fillna("")
        # The response rate counts filled workbooks only: an untouched one is no report.
        table["taux_reponse"] = (100 * table["remplies"] / table["attendues"].where(table["attendues"] > 0))
        table["taux_reponse"] = table["taux_reponse"].round(1)
    counts_now = [c for c in ("organisations", "classeurs_mrc", *count_columns, "attendues", "recues",
                              "illisibles", "remplies") if c in table]
    table[counts_now] = table[counts_now].fillna(0).astype(int)
    return table.reset_index()


def _with_text(actions: pd.DataFrame, key: str, columns: Sequence[str]) -> pd.DataFrame:
    present = actions[actions[key].notna() & (actions[key].astype(str).str.strip() != "")]
    return present[list(columns)].reset_index(drop=True)


def _completeness(sources: Sequence[_Source], reference: tuple[Territory, ...] | None,
                  periode: int | None) -> pd.DataFrame:
    """Expected vs received: one row per expected organisation, then each received file not matched.

    A file that could not be read counts for the organisation its name designates (recu_illisible)
    when nothing of it was consolidated, unless its name gives a year other than the période asked.
    """
    kept = [s for s in sources if s.status == CONSOLIDATED]
    if reference is None:
        rows = [_received_row(s, None, "sans fichier des territoires") for s in kept]
        return pd.DataFrame(rows, columns=list(COMPLETENESS_COLUMNS))
    by_code: dict[tuple[str, str], list[_Source]] = collections.defaultdict(list)
    for source in sources:
        match = source.match
        if match and match.territory and match.level == "municipalite":
            by_code[(match.territory.code_geo, source.status)].append(source)
    rows = [_expected_row(t, by_code[(t.code_geo, CONSOLIDATED)],
                          [s for s in by_code[(t.code_geo, REFUSED)] if _may_be_of(s, periode)],
                          by_code[(t.code_geo, OTHER_PERIOD)]) for t in reference]
    for source in [*kept, *(s for s in sources if s.status == REFUSED)]:
        match = source.match
        if match is None or match.territory is None:
            rows.append(_received_row(source, False, match.note if match else "Identification vide"))
        elif match.level == "mrc":
            rows.append(_received_row(source, False, "classeur de la MRC, compté à part des municipalités"))
    return pd.DataFrame(rows, columns=list(COMPLETENESS_COLUMNS))


def _may_be_of(source: _Source, periode: int | None) -> bool:
    """Tell whether an unreadable file may be of the période asked, by the years its name gives."""
    low, high = PLAUSIBLE_YEARS
    years = {int(w) for w in name_words(Path(source.result.file).stem) if len(w) == 4 and w.isdigit()
             and low <= int(w) <= high}
    return periode is None or not years or periode in years


def _expected_row(territory: Territory, kept: Sequence[_Source], unreadable: Sequence[_Source],
                  other_periods: Sequence[_Source]) -> dict[str, object]:
    """An expected organisation: its consolidated workbook, else its unreadable file, else nothing."""
    latest = max(kept, key=lambda s: _period_rank(s.periode), default=None)
    others = periods_text(s.periode for s in other_periods)
    remarks = [f"autre(s) période(s) reçue(s) : {others}"] if others else []
    row: dict[str, object] = {
        "code_geo": territory.code_geo, "organisation": territory.organisation, "type": _type_label(""),
        "mrc": territory.mrc, "region": territory.region, "recu": False, "etat": NOT_RECEIVED,
        "source_file": None, "periode": None, "courriel": territory.courriel or None, "attendu": True}
    if latest is not None:
        row.update(recu=True, etat=_state(latest), source_file=path_text(latest.result.file),
                   periode=latest.periode)
        remarks += [f"fichier illisible aussi reçu : {Path(s.result.file).name}" for s in unreadable]
    elif unreadable:
        row.update(recu=True, etat=UNREADABLE, source_file=path_text(unreadable[0].result.file))
        remarks.insert(0, f"fichier illisible, rattaché par son nom : {unreadable[0].reason}")
    return {**row, "remarque": " ; ".join(remarks)}


def _state(source: _Source) -> str:
    """Completeness state of a received workbook."""
    result = source.result
    if not result.readable:
        return UNREADABLE
    if not result.filled:
        return NOT_FILLED
    return WITH_ERRORS if result.errors else VALID


def _received_row(source: _Source, expected: bool | None, remark: str) -> dict[str, object]:
    identity = source.identity
    if not source.result.readable:
        remark = f"fichier illisible, {remark} : {source.reason}"
    return {"code_geo": identity.get("code_geo"), "organisation": identity.get("organisation"),
            "type": identity.get("type"), "mrc": identity.get("mrc"), "region": identity.get("region"),
            "recu": True, "etat": _state(source), "source_file": path_text(source.result.file),
            "periode": source.periode, "courriel": None, "attendu": expected, "remarque": remark}


def _sources(sources: Sequence[_Source], skipped: Sequence[Skipped], issues: pd.DataFrame) -> pd.DataFrame:
    """Each file found: its fate, checksum, template, identity and row accounting."""
    rows = [_source_row(s) for s in sources]
    rows += [{"source_file": path_text(s.path), "statut": REFUSED if s.missing else IGNORED,
              "motif": path_text(s.reason), "lignes_lues": 0, "lignes_consolidees": 0, "lignes_rejetees": 0}
             for s in skipped]
    frame = pd.DataFrame(rows, columns=list(SOURCE_COLUMNS))
    by_file = issues.groupby(["file", "severity"]).size().unstack(fill_value=0) if not issues.empty else None
    for column, severity in (("erreurs", ERROR), ("avertissements", "avertissement")):
        counts = by_file[severity] if by_file is not None and severity in by_file else pd.Series(dtype=int)
        frame[column] = frame["source_file"].map(counts).fillna(0).astype(int)
    return frame


def _source_row(source: _Source) -> dict[str, object]:
    result = source.result
    consolidated = source.rows if source.status == CONSOLIDATED else 0
    return {"source_file": path_text(result.file), "statut": source.status,
            "motif": path_text(source.reason),
            "format": result.kind or None, "octets": result.size, "sha256": result.sha256 or None,
            "template_id": result.template_id or None, "template_version": result.template_version or None,
            "organisation": source.identity.get("organisation"), "code_geo": source.identity.get("code_geo"),
            "periode": source.periode, "date_maj_fichier": result.identification.get("date_maj_fichier"),
            "lignes_lues": source.rows_read, "lignes_consolidees": consolidated,
            "lignes_rejetees": source.rows_read - consolidated}


def _summary(sources: Sequence[_Source], skipped: Sequence[Skipped], completeness: pd.DataFrame,
             with_territories: bool, periode: int | None) -> Summary:
    statuses = collections.Counter(s.status for s in sources)
    missing = sum(1 for entry in skipped if entry.missing)  # named, absent: refused, not ignored
    kept = [s for s in sources if s.status == CONSOLIDATED]
    mrc_workbooks = sum(1 for s in kept if _is_mrc(s))
    rows_read = sum(s.rows_read for s in sources)
    consolidated = sum(s.rows for s in sources if s.status == CONSOLIDATED)
    expected = completeness[completeness["attendu"] == True] if with_territories else None  # noqa: E712
    return Summary(
        files_found=len(sources) + len(skipped), files_consolidated=statuses[CONSOLIDATED],
        files_refused=statuses[REFUSED] + missing, files_set_aside=statuses[SET_ASIDE],
        files_other_period=statuses[OTHER_PERIOD], files_ignored=len(skipped) - missing,
        rows_read=rows_read, rows_consolidated=consolidated, rows_rejected=rows_read - consolidated,
        expected=len(expected) if expected is not None else None,
        received=int(expected["recu"].sum()) if expected is not None else None,
        filled=int(expected["etat"].isin(FILLED_STATES).sum()) if expected is not None else None,
        unreadable=int((expected["etat"] == UNREADABLE).sum()) if expected is not None else None,
        periods=tuple(sorted({year for s in kept if (year := period_year(s.periode)) is not None})),
        requested_period=periode, municipal_workbooks=len(kept) - mrc_workbooks, mrc_workbooks=mrc_workbooks,
    )
