"""The yearly cycle's last steps on the command line: `relances` (reminders) and `reconduire` (roll forward).

Registered on the `camf-excel` group when `cli` imports this module; thin layers over
`camf_excel.relances` and `camf_excel.reconduire`, with the group's own messages and error guard.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from camf_excel.cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    LISTED,
    inputs_argument,
    main,
    reports_errors,
    say,
    say_error,
)
from camf_excel.clickfr import WHOLE_NUMBER
from camf_excel.issues import path_text
from camf_excel.normalise import french_date
from camf_excel.outputs import refuse_existing_folder
from camf_excel.reconduire import roll_forward, write_rolled
from camf_excel.relances import LIST_FILE, plan_reminders, write_reminders


def _date(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"« {value} » n'est pas une date aaaa-mm-jj.") from None


@main.command()
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False), metavar="DOSSIER_CONSOLIDATION")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(path_type=Path), metavar="DOSSIER",
              help="Dossier où écrire les brouillons (.eml), leurs pièces jointes et relances.csv.")
@click.option("--echeance", callback=_date, default=None, metavar="AAAA-MM-JJ",
              help="Date de retour demandée (par défaut : dans 14 jours).")
@click.option("--periode", type=WHOLE_NUMBER, default=None, metavar="ANNÉE",
              help="Période de suivi nommée dans les courriels (par défaut : celle de la consolidation).")
@click.option("--force", is_flag=True, help="Écrire dans un dossier de sortie qui n'est pas vide.")
@reports_errors
def relances(folder: Path, outdir: Path, echeance: dt.date | None, periode: int | None, force: bool) -> None:
    """Prépare un brouillon de courriel pour chaque organisation attendue qui doit encore son suivi.

    DOSSIER_CONSOLIDATION est la sortie de `consolidate --territories`. Sans envoi : chaque .eml
    s'ouvre dans Outlook ou Thunderbird pour être relu, puis envoyé. Y sont joints un classeur
    vierge (rien reçu, fichier illisible) ou la copie annotée (erreurs à corriger).

    Codes de sortie : 0 fait (ou personne à relancer) ; 2 dossier ou arguments fautifs.
    """
    refuse_existing_folder(outdir, force)
    reminders = plan_reminders(folder, echeance, periode)
    if not reminders:
        say("Relances : toutes les organisations attendues ont remis un classeur valide ; aucune relance.")
        sys.exit(EXIT_OK)
    write_reminders(reminders, outdir, force)
    for reminder in reminders[:LISTED]:
        attached = f" (pièce jointe : {reminder.attachment_name})" if reminder.attachment else ""
        to = reminder.to or "ADRESSE À TROUVER"
        say(f"  {reminder.organisation} — {to} : {reminder.subject}{attached}")
    if len(reminders) > LISTED:
        say(f"  … et {len(reminders) - LISTED} autre(s) : voir {LIST_FILE}")
    deadline = french_date(reminders[0].deadline)
    say(f"Relances : {len(reminders)} brouillon(s) écrit(s) dans {path_text(outdir)}, retour demandé "
        f"d'ici le {deadline} ; rien n'a été envoyé.", bold=True)
    if any(not reminder.to for reminder in reminders):
        say_error("des brouillons n'ont pas d'adresse (ni dans le classeur, ni dans les territoires) : "
                  f"voir la colonne remarque de {LIST_FILE}.")


@main.command()
@inputs_argument
@click.option("-o", "--output", "outdir", required=True, type=click.Path(path_type=Path), metavar="DOSSIER",
              help="Dossier où écrire les classeurs de la période suivante.")
@click.option("--periode", type=WHOLE_NUMBER, default=None, metavar="ANNÉE",
              help="Nouvelle période de suivi (par défaut : celle du classeur plus un).")
@click.option("--refuser-erreurs", "refuse_errors", is_flag=True,
              help="Ne pas reporter un classeur qui a encore des erreurs (par défaut : reporté, signalé).")
@click.option("--force", is_flag=True, help="Écrire dans un dossier de sortie qui n'est pas vide.")
@reports_errors
def reconduire(paths: tuple[Path, ...], outdir: Path, periode: int | None, refuse_errors: bool,
               force: bool) -> None:
    """Prépare le classeur de la période suivante à partir de celui de cette période.

    Chaque action est reportée avec toutes ses valeurs ; l'Identification et le comité de suivi
    aussi (nouvelle période, date de mise à jour du fichier vidée) ; les valeurs de la période
    s'ajoutent à la feuille Historique, que le tableau de bord compare. Le nouveau classeur est
    relu avant d'être gardé : autant d'actions reportées que d'actions lues.

    Codes de sortie : 0 tout reporté ; 1 fait, mais des classeurs refusés (nommés) ; 2 rien de fait.
    """
    refuse_existing_folder(outdir, force)
    rolled, skipped = roll_forward(paths, periode, refuse_errors)
    for entry in skipped:
        say(f"  ignoré : {entry}", fg="bright_black")
    written = write_rolled(rolled, outdir, force)
    for item in rolled:
        if item.refusal:
            say_error(f"{path_text(item.source)} non reporté : {item.refusal}")
        else:
            carried = f"{item.actions_out} action(s) reportée(s) sur {item.actions_in} lue(s)"
            warning = f" ; {item.errors} erreur(s) reportée(s) telles quelles" if item.errors else ""
            say(f"✔ {path_text(item.source)} → {item.name} (période {item.periode}) : {carried}{warning}",
                fg="yellow" if item.errors else "green")
    refused = [item for item in rolled if item.refusal]
    actions = sum(item.actions_out for item in rolled if not item.refusal)
    say(f"Reconduction : {len(written)} classeur(s) écrit(s) dans {path_text(outdir)}, {actions} action(s) "
        f"reportée(s) ; {len(refused)} refusé(s).", bold=True)
    if not written:
        sys.exit(EXIT_FAILED)
    sys.exit(EXIT_PARTIAL if refused else EXIT_OK)
