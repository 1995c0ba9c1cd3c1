"""A bilan in French words: numbers, dates, sentences and typography, once for every output format.

`view(bilan)` returns the fields both documents are made from (the PDF's typst template and
the Word template read the same names; the README lists them). Every text goes through
`typography`: a no-break space before « : », « % », « $ », « ; », « ! », « ? » and inside
guillemets, so no line ever starts with a colon or a lone percent sign. Numbers are written
as Quebec writes them (« 1 500,50 $ », « 76,2 % »), from the figures the bilan holds.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from camf_excel.bilan import ALL, MRC, ActionLine, Bilan, Meeting, MemberRow
from camf_excel.figures import Figures, indicators, is_number
from camf_excel.normalise import clean_text, fold, format_number_fr, french_date

NBSP = "\u00a0"
ESPACE_MUNI = "Espace MUNI (anciennement le CAMF)"
NO_STATUS_LABEL = "Statut non renseigné ou hors liste"
# How each status reads in a sentence (singular, plural), by the status's folded stem; a status a
# template adds reads « est « X » ».
STATUS_WORDS = {
    "non debut": ("n'a pas débuté", "n'ont pas débuté"),
    "en cours": ("est en cours", "sont en cours"),
    "realis": ("a été réalisée", "ont été réalisées"),
    "en continu": ("se poursuit en continu", "se poursuivent en continu"),
    "report": ("a été reportée", "ont été reportées"),
    "abandon": ("a été abandonnée", "ont été abandonnées"),
}
# The chart's colours, by the status's folded stem (legible bars, unlike the workbook's pale fills).
STATUS_COLOURS = {"non debut": "#A6A6A6", "en cours": "#F2B134", "realis": "#3A8D4F", "en continu": "#2E75B6",
                  "report": "#8E6BB5", "abandon": "#C0504D"}
OTHER_COLOUR, NO_STATUS_COLOUR = "#7F6000", "#E3E3E3"
_SPACE_BEFORE = re.compile(r"[ \t\u202f]+(?=[:;!?%$»])")
_SPACE_AFTER = re.compile(r"«[ \t\u202f]*")
_GLUED_BEFORE = re.compile(r"(?<=[^\s«])»")


def typography(text: str) -> str:
    """Put no-break spaces where French typography wants them (before : ; ! ? % $ », after «)."""
    text = _SPACE_BEFORE.sub(NBSP, text)
    text = _SPACE_AFTER.sub("«" + NBSP, text)
    return _GLUED_BEFORE.sub(NBSP + "»", text)


def number(value: float) -> str:
    """A count or amount as Quebec writes it: « 1 500 », « 2,5 »."""
    return format_number_fr(float(value))


def percent(share: float | None) -> str:
    """A share (0–1) as a percentage to one decimal: « 76,2 % »; « — » when undefined."""
    if share is None:
        return "—"
    return f"{format_number_fr(round(100 * share, 1))}{NBSP}%"


def money(amount: float) -> str:
    """An amount in dollars: « 18 000 $ », « 250,50 $ »."""
    rounded = round(float(amount), 2)
    if rounded.is_integer():
        return f"{format_number_fr(rounded)}{NBSP}$"
    whole, cents = f"{abs(rounded):.2f}".split(".")
    sign = "-" if rounded < 0 else ""
    return f"{sign}{format_number_fr(float(whole))},{cents}{NBSP}$"


def date_text(value: object) -> str:
    """A date in words (« 12 mars 2025 »); anything else as typed."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return french_date(value)
    return clean_text(value)


def plural(count: int, singular: str, several: str) -> str:
    """« 1 action », « 3 actions » (French: 0 and 1 take the singular)."""
    return f"{number(count)} {singular if count < 2 else several}"


def status_words(status: str, count: int) -> str:
    """« 32 ont été réalisées », « 1 est en cours »."""
    folded = fold(status)
    singular, several = next((words for stem, words in STATUS_WORDS.items() if folded.startswith(stem)),
                             (f"est « {status} »", f"sont « {status} »"))
    return f"{number(count)} {singular if count < 2 else several}"


def _join(parts: Sequence[str]) -> str:
    if len(parts) < 2:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " et " + parts[-1]


def summary_sentence(figures: Figures, statuses: Sequence[str]) -> str:
    """The figures in words: « Sur 42 actions, 32 ont été réalisées, 4 sont en cours et 6 … »."""
    if figures.actions == 0:
        return "Le plan d'action ne compte encore aucune action inscrite."
    parts = [status_words(s, figures.by_status[s]) for s in statuses if figures.by_status[s]]
    text = f"Sur {plural(figures.actions, 'action', 'actions')} du plan d'action"
    text += f", {_join(parts)}." if parts else ", aucune n'a encore de statut renseigné."
    if figures.without_status and parts:
        several = figures.without_status > 1
        counted = "elles ne sont comptées" if several else "elle n’est comptée"
        text += (f" {plural(figures.without_status, 'action n’a', 'actions n’ont')} pas de statut renseigné"
                 f" (ou un statut hors liste) : {counted} ni parmi les actions réalisées, ni parmi les"
                 " actions non réalisées.")
    if figures.late:
        text += f" {plural(figures.late, 'action est', 'actions sont')} en retard sur l'échéancier prévu."
    return typography(text)


# --- the view: the fields of both documents ---------------------------------------------------

# Every field of `view`, as the templates name them (the README documents each one).
FIELDS = ("genre", "titre", "organisation", "type_organisation", "code_geo", "mrc", "region", "demarche",
          "periode", "plan", "date_adoption", "date_production", "responsable", "phrase_bilan", "chiffres",
          "indicateurs", "nb_actions", "nb_realisees", "pct_realisees", "nb_en_retard", "nb_sans_statut",
          "budget_prevu", "budget_reel", "pct_budget", "champs", "graphique_donnees", "realisations",
          "bons_coups", "retards", "obstacles", "prochaines_etapes", "rencontres", "changements",
          "changement", "a_verifier", "commande_verification", "municipalites", "resolution", "pied",
          "sources", "nb_classeurs")

def view(bilan: Bilan) -> dict[str, Any]:
    """Return the bilan's fields as display texts and lists of rows (the templates' documented fields)."""
    figures, template = bilan.figures, bilan.template
    statuses = template.lists["statut"].items
    ident = bilan.identification
    fields: dict[str, Any] = {
        "genre": bilan.kind,
        "titre": _title(bilan),
        "organisation": bilan.organisation,
        "type_organisation": clean_text(ident.get("type")),
        "code_geo": clean_text(ident.get("code_geo")),
        "mrc": clean_text(ident.get("mrc")),
        "region": clean_text(ident.get("region")),
        "demarche": clean_text(ident.get("demarche")),
        "periode": _periods(bilan.periodes),
        "plan": _plan_years(ident),
        "date_adoption": date_text(ident.get("date_adoption")),
        "date_production": date_text(bilan.produced),
        "responsable": ", ".join(t for t in (clean_text(ident.get(k)) for k in (
            "responsable_nom", "responsable_courriel", "responsable_telephone")) if t),
        "phrase_bilan": summary_sentence(figures, statuses),
        "chiffres": _status_rows(figures, statuses),
        "indicateurs": [{"libelle": i.label, "valeur": _indicator_text(i.style, i.value(figures))}
                        for i in indicators(template)],
        "nb_actions": number(figures.actions),
        "nb_realisees": number(figures.realised),
        "pct_realisees": percent(figures.realised_share),
        "nb_en_retard": number(figures.late),
        "nb_sans_statut": number(figures.without_status),
        "budget_prevu": money(figures.budget_planned),
        "budget_reel": money(figures.budget_used),
        "pct_budget": percent(figures.budget_used_share),
        "champs": _champ_rows(figures, template.lists["champ"].items, statuses, template.realised_status),
        "graphique_donnees": chart_data(figures, template.lists["champ"].items, statuses),
        "realisations": _lines(bilan.lists.realisations),
        "bons_coups": _lines(bilan.lists.bons_coups),
        "retards": _lines(bilan.lists.late),
        "obstacles": _lines(bilan.lists.obstacles),
        "prochaines_etapes": _lines(bilan.lists.next_steps),
        "rencontres": [_meeting(m) for m in bilan.meetings],
        "changements": _change_rows(bilan),
        "changement": _change_text(bilan),
        "a_verifier": _check_text(bilan),
        "commande_verification": _check_command(bilan),
        "municipalites": [_member(m) for m in bilan.members],
        "resolution": _resolution(bilan),
        "pied": (f"Bilan produit le {date_text(bilan.produced)} avec camf-excel, l'outil de suivi des plans "
                 f"d'action PFM et MADA d'{ESPACE_MUNI}, à partir des classeurs de suivi."),
        "sources": ", ".join(bilan.source_files),
        "nb_classeurs": number(len(bilan.source_files)),
    }
    return {key: _typeset(value) for key, value in fields.items()}


def _typeset(value: Any) -> Any:
    if isinstance(value, str):
        return typography(value)
    if isinstance(value, list):
        return [_typeset(v) for v in value]
    if isinstance(value, dict):
        return {k: _typeset(v) for k, v in value.items()}
    return value


def _title(bilan: Bilan) -> str:
    demarche = clean_text(bilan.identification.get("demarche"))
    if bilan.kind == MRC:
        return f"Bilan du suivi des plans d'action — {bilan.organisation}"
    if bilan.kind == ALL:
        return "Bilan du suivi des plans d'action — ensemble des classeurs reçus"
    plan = f"du plan d'action {demarche}" if demarche else "du plan d'action"
    return f"Bilan du suivi {plan} — {bilan.organisation}"


def _periods(periodes: Iterable[object]) -> str:
    years = [str(p) for p in periodes if p is not None]
    return ", ".join(years) if years else "non indiquée"


def _plan_years(ident: Mapping[str, object]) -> str:
    start, end = ident.get("annee_debut"), ident.get("annee_fin")
    if is_number(start) and is_number(end):
        return f"{start}–{end}"
    return ""


def _status_rows(figures: Figures, statuses: Sequence[str]) -> list[dict[str, str]]:
    rows = [{"libelle": s, "nombre": number(figures.by_status[s]), "part": percent(figures.status_share(s))}
            for s in statuses]
    rows.append({"libelle": NO_STATUS_LABEL, "nombre": number(figures.without_status),
                 "part": percent(figures.without_status_share)})
    rows.append({"libelle": "Total des actions", "nombre": number(figures.actions),
                 "part": percent(1.0 if figures.actions else None)})
    return rows


def _indicator_text(style: str, value: object) -> str:
    if not is_number(value):
        return "—"
    if style == "share":
        return percent(float(value))
    if style == "money":
        return money(float(value))
    return number(value)


def _champ_rows(figures: Figures, champs: Sequence[str], statuses: Sequence[str],
                realised: str) -> list[dict[str, str]]:
    rows = []
    for champ in champs:
        total = figures.by_champ[champ]
        if not total:
            continue
        done = figures.by_champ_status[champ, realised]
        rows.append({"champ": champ, "actions": number(total), "realisees": number(done),
                     "pct_realisees": percent(done / total),
                     "en_cours": number(sum(figures.by_champ_status[champ, s] for s in statuses
                                            if s != realised))})
    outside = figures.actions - sum(figures.by_champ.values())
    if outside:
        rows.append({"champ": "Champ non renseigné ou hors liste", "actions": number(outside),
                     "realisees": "—", "pct_realisees": "—", "en_cours": "—"})
    return rows


def chart_data(figures: Figures, champs: Sequence[str], statuses: Sequence[str]) -> dict[str, Any]:
    """The chart's numbers: for each champ holding actions, its count by status (raw numbers, for drawing)."""
    bars: list[dict[str, Any]] = []
    for champ in champs:
        if not figures.by_champ[champ]:
            continue
        counts = [figures.by_champ_status[champ, s] for s in statuses]
        bars.append({"champ": typography(champ), "total": figures.by_champ[champ],
                     "total_texte": number(figures.by_champ[champ]),
                     "segments": [*counts, figures.by_champ[champ] - sum(counts)]})
    return {"statuts": [*statuses, NO_STATUS_LABEL], "barres": bars,
            "couleurs": [*map(status_colour, statuses), NO_STATUS_COLOUR],
            "maximum": max((b["total"] for b in bars), default=0)}


def status_colour(status: str) -> str:
    """The chart colour of a status."""
    folded = fold(status)
    return next((colour for stem, colour in STATUS_COLOURS.items() if folded.startswith(stem)), OTHER_COLOUR)


def _lines(lines: Sequence[ActionLine]) -> list[dict[str, str]]:
    return [{"no": line.no, "champ": line.champ, "action": line.action, "detail": line.detail,
             "statut": line.statut, "fin": clean_text(line.fin), "organisation": line.organisation}
            for line in lines]


def _meeting(meeting: Meeting) -> dict[str, str]:
    return {"date": date_text(meeting.date), "sujets": meeting.sujets, "decisions": meeting.decisions,
            "organisation": meeting.organisation}


def _member(member: MemberRow) -> dict[str, str]:
    f = member.figures
    return {"organisation": member.organisation, "type": member.type, "periode": clean_text(member.periode),
            "actions": number(f.actions), "realisees": number(f.realised),
            "pct_realisees": percent(f.realised_share),
            "en_retard": number(f.late), "sans_statut": number(f.without_status),
            "erreurs": number(member.errors)}


def _change_rows(bilan: Bilan) -> list[dict[str, str]]:
    change = bilan.change
    if change is None:
        return []
    rows: list[dict[str, str]] = []
    for label, lines in (("Nouvellement réalisée", change.newly_realised),
                         ("Nouvellement en retard", change.newly_late),
                         ("Nouvellement reportée", change.newly_postponed)):
        rows.extend({"changement": label, "no": line.no, "action": line.action} for line in lines)
    return rows


def _change_text(bilan: Bilan) -> str:
    change = bilan.change
    if change is None:
        return ("Aucun classeur d'une période précédente n'a été fourni : l'évolution depuis le dernier "
                "bilan n'est pas calculée (option --precedent).")
    return (f"Depuis la période {clean_text(change.previous_periode)}, "
            f"{plural(len(change.newly_realised), 'action a', 'actions ont')} été nouvellement réalisée"
            f"{'s' if len(change.newly_realised) > 1 else ''}, "
            f"{plural(len(change.newly_late), 'action est', 'actions sont')} devenue"
            f"{'s' if len(change.newly_late) > 1 else ''} en retard et "
            f"{plural(len(change.newly_postponed), 'action a', 'actions ont')} été reportée"
            f"{'s' if len(change.newly_postponed) > 1 else ''}. Actions réalisées : "
            f"{number(change.realised_before)} à la période précédente, {number(bilan.figures.realised)} "
            "à celle-ci.")


def _check_command(bilan: Bilan) -> str:
    if not bilan.files_with_errors:
        return ""
    quoted = " ".join(f'"{name}"' for name in bilan.files_with_errors[:3])
    more = " …" if len(bilan.files_with_errors) > 3 else ""
    return f"camf-excel validate {quoted}{more}"


def _check_text(bilan: Bilan) -> str:
    if not bilan.errors:
        return ""
    where = ("ce classeur" if bilan.kind not in (MRC, ALL)
             else plural(len(bilan.files_with_errors), "classeur", "classeurs"))
    verb = "contient" if bilan.kind not in (MRC, ALL) or len(bilan.files_with_errors) < 2 else "contiennent"
    return (f"Données à vérifier : {where} {verb} {plural(bilan.errors, 'erreur', 'erreurs')} de saisie. "
            "Les chiffres de ce bilan sont ceux du tableau de bord du classeur tel qu'il a été reçu ; "
            "corrigez les erreurs puis produisez le bilan de nouveau. Pour les voir :")


def _resolution(bilan: Bilan) -> str:
    council = "le conseil de la MRC" if bilan.kind == MRC else "le conseil"
    demarche = clean_text(bilan.identification.get("demarche"))
    plan = " ".join(t for t in ("du plan d'action", demarche, _plan_years(bilan.identification)) if t)
    if bilan.kind == ALL:
        plan = "des plans d'action"
    return (f"Il est proposé que {council} prenne acte du dépôt du bilan du suivi {plan} pour la période "
            f"{_periods(bilan.periodes)}, tel que présenté, et remercie le comité de suivi ainsi que les "
            "responsables des actions pour leur contribution.")
