"""Reminders: a French e-mail draft for each expected organisation still owing its follow-up."""

from __future__ import annotations

import csv
import datetime as dt
import email
import email.policy
import hashlib
import io
from pathlib import Path

import openpyxl
import pytest

from camf_excel.consolidation import consolidate
from camf_excel.errors import InputError
from camf_excel.relances import plan_reminders, write_reminders
from camf_excel.report import write_consolidation

SAMPLES = Path(__file__).parent.parent / "samples"
DEADLINE = dt.date(2027, 1, 15)


@pytest.fixture(scope="module")
def drafts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("relances")
    result = consolidate([SAMPLES / "classeurs-remplis"], SAMPLES / "territoires.csv")
    write_consolidation(result, folder / "consolidation")
    write_reminders(plan_reminders(folder / "consolidation", DEADLINE), folder / "relances")
    return folder / "relances"


def _listed(drafts: Path) -> list[dict[str, str]]:
    text = (drafts / "relances.csv").read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _message(path: Path) -> email.message.EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_relances__samples__one_draft_per_organisation_owing_its_follow_up(drafts: Path) -> None:
    states = {row["organisation"]: row["etat"] for row in _listed(drafts)}
    assert states == {"Hérouxville": "recu_illisible", "Saint-Roch-de-Mékinac": "recu_non_rempli",
                      "Sainte-Thècle": "recu_avec_erreurs", "Trois-Rives": "non_recu"}


def test_relances__each_draft__parses_french_addressed_unsent(drafts: Path) -> None:
    for row in _listed(drafts):
        message = _message(drafts / row["brouillon"])
        assert message["To"] == row["courriel"] and "@" in message["To"]
        assert message["Subject"] == row["objet"] and row["organisation"] in message["Subject"]
        assert message["X-Unsent"] == "1" and message["From"] is None  # the person's mail program sends it
        body = message.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert text.startswith("Bonjour,") and "d'ici le 15 janvier 2027 ?" in text


def test_relances__workbook_e_mail_first__else_the_territories_file(drafts: Path) -> None:
    to = {row["organisation"]: row["courriel"] for row in _listed(drafts)}
    assert to["Sainte-Thècle"] == "loisirs@ste-thecle.qc.ca"  # the responsable's, in the workbook
    assert to["Trois-Rives"] == "trois-rives@regionmekinac.com"  # nothing received: the territories file


def test_relances__attachments__intact_and_as_fits(drafts: Path) -> None:
    rows = {row["organisation"]: row for row in _listed(drafts)}
    assert rows["Saint-Roch-de-Mékinac"]["piece_jointe"] == ""  # their own workbook, to fill
    for organisation in ("Hérouxville", "Sainte-Thècle", "Trois-Rives"):
        row = rows[organisation]
        attached = list(_message(drafts / row["brouillon"]).iter_attachments())
        assert len(attached) == 1
        data = attached[0].get_content()
        beside = (drafts / row["piece_jointe"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == hashlib.sha256(beside).hexdigest() \
            == row["sha256_piece_jointe"]
    copy = openpyxl.load_workbook(drafts / rows["Sainte-Thècle"]["piece_jointe"])
    assert copy["Plan d'action"]["A1"].comment.text.startswith("Copie annotée par camf-excel")
    blank = openpyxl.load_workbook(drafts / rows["Trois-Rives"]["piece_jointe"])
    assert blank["Identification"].max_row > 5
    assert "Trois-Rives" in [cell.value for row in blank["Identification"].iter_rows() for cell in row]


def test_relances__consolidation_without_territories__refused_saying_why(tmp_path: Path) -> None:
    write_consolidation(consolidate([SAMPLES / "classeurs-remplis"]), tmp_path / "consolidation")
    with pytest.raises(InputError, match="--territories"):
        plan_reminders(tmp_path / "consolidation", DEADLINE)


def test_cli_relances_and_reconduire__registered_in_french(tmp_path: Path) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from camf_excel.cli import main  # noqa: PLC0415

    runner = CliRunner()
    consolidation = tmp_path / "consolidation"
    assert runner.invoke(main, ["consolidate", str(SAMPLES / "classeurs-remplis"), "--territories",
                                str(SAMPLES / "territoires.csv"), "-o", str(consolidation)]).exit_code == 1
    result = runner.invoke(main, ["relances", str(consolidation), "-o", str(tmp_path / "relances"),
                                  "--echeance", "2027-01-15"])
    assert result.exit_code == 0, result.output
    assert "4 brouillon(s) écrit(s)" in result.output and "15 janvier 2027" in result.output
    rolled = runner.invoke(main, ["reconduire", str(SAMPLES / "classeurs-remplis" / "mrc-mekinac"), "-o",
                                  str(tmp_path / "2027")])
    assert rolled.exit_code == 1, rolled.output  # Hérouxville's damaged file is named, the others rolled
    assert "non reporté" in rolled.output and "action(s) reportée(s)" in rolled.output
