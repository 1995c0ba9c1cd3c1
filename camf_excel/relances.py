"""Reminders: a ready-to-send French e-mail draft for each expected organisation still owing its follow-up.

From a consolidation's folder (made with --territories, so that who is expected is known): an
organisation that sent nothing, sent a file that could not be read, sent a workbook with no
follow-up, or one with errors gets a draft (.eml) that opens in Outlook (as a draft, X-Unsent)
or Thunderbird, to be reviewed and sent by a person; the tool sends nothing. The drafts carry
what fits: a fresh blank workbook to those who have none to fill, the annotated copy to those
who must correct theirs. A CSV lists them for a mail merge, with the attachments beside it
(each also inside its draft).
"""

from __future__ import annotations

import datetime as dt
import email.policy
import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pandas as pd

from camf_excel.annotate import annotate_files
from camf_excel.batch import check_files
from camf_excel.consolidation import NOT_FILLED, NOT_RECEIVED, UNREADABLE, WITH_ERRORS
from camf_excel.csvfiles import read_csv_rows_isolated
from camf_excel.errors import InputError
from camf_excel.generate import generate_workbook, safe_file_name
from camf_excel.issues import for_staff
from camf_excel.normalise import french_date
from camf_excel.outputs import write_directory
from camf_excel.report import csv_bytes
from camf_excel.templates import DEFAULT_TEMPLATE
from camf_excel.validation import WorkbookResult

COMPLETENESS_FILE = "completude.csv"
LIST_FILE = "relances.csv"
OWING = (NOT_RECEIVED, UNREADABLE, NOT_FILLED, WITH_ERRORS)
DEFAULT_DELAY = dt.timedelta(days=14)
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
LIST_COLUMNS = ("organisation", "code_geo", "mrc", "etat", "courriel", "objet", "echeance", "brouillon",
                "piece_jointe", "sha256_piece_jointe", "remarque")
_REQUIRED = ("organisation", "etat", "attendu", "courriel", "source_file", "periode")


@dataclass(frozen=True)
class Reminder:
    """One draft: to whom, about what, with which attachment (its name and bytes)."""

    organisation: str
    code_geo: str
    mrc: str
    state: str
    to: str
    subject: str
    body: str
    deadline: dt.date
    attachment_name: str = ""
    attachment: bytes = b""
    remark: str = ""

    @property
    def stem(self) -> str:
        """The file name of its draft and attachment, without extension: safe on every system."""
        return safe_file_name(self.organisation, self.code_geo, "relance").removesuffix(".xlsx")


def expected_rows(folder: Path) -> pd.DataFrame:
    """Return the consolidation's completeness rows of the expected organisations; refuse a folder without."""
    path = Path(folder) / COMPLETENESS_FILE
    if not path.is_file():
        raise InputError(f"{path} introuvable : indiquez le dossier d'une consolidation faite avec "
                         "--territories (c'est la liste des organisations attendues qui dit qui relancer).")
    rows = read_csv_rows_isolated(path)
    if not rows or any(column not in rows[0] for column in _REQUIRED):
        raise InputError(f"{path} n'est pas la table de complétude d'une consolidation (colonnes attendues : "
                         f"{', '.join(_REQUIRED)}).")
    frame = pd.DataFrame(rows[1:], columns=rows[0]).fillna("")
    expected = frame[frame["attendu"].str.lower() == "true"]
    if expected.empty:
        raise InputError(f"{path} ne nomme aucune organisation attendue : la consolidation a été faite "
                         "sans --territories ; refaites-la avec le fichier des territoires pour savoir qui "
                         "relancer.")
    return expected


def plan_reminders(folder: Path, deadline: dt.date | None = None, periode: int | None = None,
                   today: dt.date | None = None) -> list[Reminder]:
    """Return the drafts for the organisations that owe their follow-up, in the completeness order."""
    table = expected_rows(folder)
    owing = table[table["etat"].isin(OWING)]
    today = today or dt.date.today()
    deadline = deadline or today + DEFAULT_DELAY
    year = periode or _reported_period(table)
    received = _read_received([row.source_file for row in owing.itertuples() if row.source_file])
    copies = _annotated_copies([r for r in received.values() if _to_correct(r)])
    return [_reminder(row._asdict(), received.get(row.source_file), copies, deadline, year)
            for row in owing.itertuples(index=False)]


def write_reminders(reminders: Sequence[Reminder], outdir: Path, force: bool = False) -> list[Path]:
    """Write the drafts, their attachments and the list as one set; return the files written."""
    files: dict[str, bytes] = {}
    rows = []
    for reminder in reminders:
        draft = f"{reminder.stem}.eml"
        files[draft] = to_eml(reminder)
        attached = f"{reminder.stem}.xlsx" if reminder.attachment else ""  # beside its draft, same name
        if attached:
            files[attached] = reminder.attachment
        digest = hashlib.sha256(reminder.attachment).hexdigest() if attached else ""
        rows.append({"organisation": reminder.organisation, "code_geo": reminder.code_geo,
                     "mrc": reminder.mrc, "etat": reminder.state, "courriel": reminder.to,
                     "objet": reminder.subject, "echeance": reminder.deadline.isoformat(), "brouillon": draft,
                     "piece_jointe": attached, "sha256_piece_jointe": digest, "remarque": reminder.remark})
    files[LIST_FILE] = csv_bytes(pd.DataFrame(rows, columns=list(LIST_COLUMNS)))
    write_directory(Path(outdir), files, force)
    return [Path(outdir) / name for name in files]


def to_eml(reminder: Reminder) -> bytes:
    """Return the draft as an e-mail message: no sender (the mail program adds the person's own)."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["To"] = reminder.to
    message["Subject"] = reminder.subject
    message["X-Unsent"] = "1"  # Outlook opens it as a draft, ready to be reviewed and sent
    message.set_content(reminder.body, charset="utf-8")
    if reminder.attachment:
        message.add_attachment(reminder.attachment, *XLSX_TYPE, filename=reminder.attachment_name)
    return message.as_bytes()


# --- what each organisation is sent -------------------------------------------------------------

def _reminder(row: Mapping[str, str], result: WorkbookResult | None, copies: Mapping[str, bytes],
              deadline: dt.date, year: int | None) -> Reminder:
    state, organisation = row["etat"], row["organisation"]
    written = str((result.identification if result else {}).get("responsable_courriel") or "").strip()
    to = written if "@" in written else row["courriel"]
    remark = "" if to else "aucune adresse : ni dans le classeur ni dans le fichier des territoires"
    period = f" {year}" if year else ""
    subject = f"Suivi du plan d'action{period} : {_SUBJECTS[state]} — {organisation}"
    name, attachment = _attachment(state, row, result, copies, year)
    body = _body(state, organisation, row, result, deadline, period, bool(attachment))
    return Reminder(organisation, row.get("code_geo", ""), row.get("mrc", ""), state, to, subject, body,
                    deadline, name, attachment, remark)


_SUBJECTS = {NOT_RECEIVED: "classeur attendu", UNREADABLE: "classeur illisible, à renvoyer",
             NOT_FILLED: "classeur à remplir", WITH_ERRORS: "corrections demandées"}


# What happened, what is asked, and what is attached, for each state owing its follow-up.
_WHAT = {
    NOT_RECEIVED: "nous n'avons pas encore reçu le classeur de suivi du plan d'action de {organisation} "
                  "pour la période{period}.",
    UNREADABLE: "le classeur reçu pour {organisation} ({received}) n'a pas pu être lu : il est peut-être "
                "endommagé ou enregistré dans un format que l'outil ne lit pas.",
    NOT_FILLED: "le classeur reçu pour {organisation} ({received}) ne contient encore aucun suivi : ni "
                "statut, ni avancement, ni date de mise à jour.",
    WITH_ERRORS: "le classeur reçu pour {organisation} ({received}) contient {errors} erreur(s) à corriger.",
}
_ASK = {
    NOT_RECEIVED: "Pourriez-vous remplir le classeur de suivi et nous le retourner",
    UNREADABLE: "Pourriez-vous l'ouvrir dans Excel ou LibreOffice, l'enregistrer au format .xlsx et nous le "
                "renvoyer",
    NOT_FILLED: "Pourriez-vous inscrire, pour chaque action, son statut, son avancement et la date de mise à "
                "jour, puis nous le retourner",
    WITH_ERRORS: "Pourriez-vous corriger ces cellules et nous renvoyer le classeur",
}
_JOINED = {
    NOT_RECEIVED: "Vous trouverez ci-joint un classeur de suivi vierge, au cas où vous n'auriez plus le "
                  "vôtre.",
    UNREADABLE: "Un classeur vierge est joint, au cas où le vôtre ne pourrait pas être réparé.",
    WITH_ERRORS: "La copie annotée ci-jointe montre chaque cellule à corriger : en violet les erreurs, en "
                 "turquoise les avertissements ; chaque cellule colorée porte une note qui dit quoi faire.",
}


def _body(state: str, organisation: str, row: Mapping[str, str], result: WorkbookResult | None,
          deadline: dt.date, period: str, attached: bool) -> str:
    received = Path(row["source_file"]).name
    what = _WHAT[state].format(organisation=organisation, period=period, received=received,
                               errors=result.errors if result else "des")
    joined = _JOINED.get(state, "") if attached else ""
    paragraphs = ["Bonjour,", f"Dans le cadre du suivi du plan d'action, {what}",
                  f"{_ASK[state]} d'ici le {french_date(deadline)} ?", joined,
                  "Merci de votre collaboration, et n'hésitez pas à nous écrire pour toute question.",
                  "Bonne journée,"]
    return "\n\n".join(p for p in paragraphs if p) + "\n"


def _attachment(state: str, row: Mapping[str, str], result: WorkbookResult | None,
                copies: Mapping[str, bytes], year: int | None) -> tuple[str, bytes]:
    if state == WITH_ERRORS and result is not None and result.file in copies:
        return f"{Path(result.file).stem}-annote.xlsx", copies[result.file]
    if state in (NOT_RECEIVED, UNREADABLE):
        name = safe_file_name(row["organisation"], row.get("code_geo", ""), DEFAULT_TEMPLATE)
        return name, _blank_workbook(row, year)
    return "", b""


def _blank_workbook(row: Mapping[str, str], year: int | None) -> bytes:
    """A fresh workbook for the organisation, its Identification filled from the territories file."""
    known = {key: row.get(key, "") for key in ("organisation", "type", "code_geo", "mrc", "region")}
    values: dict[str, object] = {key: value for key, value in known.items() if value}
    if year:
        values["periode"] = year
    with tempfile.TemporaryDirectory(prefix="camf-relance-") as folder:
        return generate_workbook(Path(folder) / "classeur.xlsx", DEFAULT_TEMPLATE, values).read_bytes()


def _read_received(files: Sequence[str]) -> dict[str, WorkbookResult]:
    """Read again the files received (their e-mail, their issues), each in a capped worker."""
    present = [file for file in dict.fromkeys(files) if Path(file).is_file()]
    return {result.file: result for result in check_files(present).results} if present else {}


def _to_correct(result: WorkbookResult) -> bool:
    return result.readable and any(issue.cell and for_staff(issue) for issue in result.issues)


def _annotated_copies(results: Sequence[WorkbookResult]) -> dict[str, bytes]:
    """Make the annotated copy of each workbook to correct; a file that cannot be annotated gets none."""
    if not results:
        return {}
    jobs = [(Path(r.file), [i for i in r.issues if i.cell and for_staff(i)]) for r in results]
    with tempfile.TemporaryDirectory(prefix="camf-relance-") as folder:
        outcomes = annotate_files(jobs, Path(folder), [Path(r.file) for r in results])
        return {str(outcome.source): outcome.target.read_bytes() for outcome in outcomes
                if outcome.target is not None}


def _reported_period(table: pd.DataFrame) -> int | None:
    years = [int(value) for value in table["periode"] if str(value).strip().isdigit()]
    return max(years) if years else None
