"""The `camf-excel bilan` command: a thin click layer over `bilan_run.write_bilans`.

Registered on the `camf-excel` group when `cli` imports this module, with the group's own
messages, progress bar and error guard (French message and exit code 2, Ctrl-C 130).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from camf_excel.bilan_run import BilanReport, parse_formats, write_bilans
from camf_excel.cli import (
    EXIT_OK,
    EXIT_PARTIAL,
    LISTED,
    inputs_argument,
    main,
    progress_bar,
    report_missing_inputs,
    reports_errors,
    say,
    say_error,
)
from camf_excel.clickfr import WHOLE_NUMBER
from camf_excel.errors import CamfError
from camf_excel.issues import path_text


def _formats(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    try:
        return parse_formats(value)
    except CamfError as error:
        raise click.BadParameter(str(error)) from None


@main.command("bilan")
@inputs_argument
@click.option("-o", "--output", "outdir", required=True, type=click.Path(path_type=Path), metavar="DOSSIER",
              help="Dossier où écrire les bilans (créé au besoin).")
@click.option("--periode", type=WHOLE_NUMBER, default=None, metavar="ANNÉE",
              help="Période de suivi à présenter (sinon la plus récente de chaque organisation).")
@click.option("--format", "formats", default="pdf,docx", show_default=True, callback=_formats,
              metavar="pdf,docx", help="Formats à écrire : pdf, docx ou les deux.")
@click.option("--par-mrc", is_flag=True,
              help="Ajouter un bilan par MRC et un bilan de l'ensemble des classeurs.")
@click.option("--precedent", multiple=True, type=click.Path(path_type=Path), metavar="CHEMIN",
              help="Classeurs (ou dossier) de la période précédente, pour dire ce qui a changé. "
                   "Peut être répété.")
@click.option("--gabarit", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="FICHIER.docx",
              help="Modèle Word à utiliser à la place de celui fourni (mêmes champs).")
@click.option("--force", is_flag=True, help="Remplacer les bilans déjà présents dans le dossier.")
@click.option("--quiet", "-q", is_flag=True, help="Sans barre de progression.")
@reports_errors
def bilan(paths: tuple[Path, ...], outdir: Path, periode: int | None, formats: tuple[str, ...], par_mrc: bool,
          precedent: tuple[Path, ...], gabarit: Path | None, force: bool, quiet: bool) -> None:
    """Écrit le bilan du suivi de chaque organisation, à présenter au conseil (PDF et Word).

    Les chiffres sont ceux du tableau de bord de chaque classeur. Un classeur illisible est
    nommé et laissé de côté ; un classeur qui contient des erreurs a quand même son bilan,
    avec un encadré « Données à vérifier ».

    \b
    Code de sortie :
      0  tous les bilans écrits ;
      1  bilans écrits, mais des entrées illisibles ou introuvables (nommées) ;
      2  aucun bilan écrit, ou arguments invalides.

    \b
    Exemples :
      camf-excel bilan recus/ -o bilans/
      camf-excel bilan recus/ -o bilans/ --par-mrc --precedent recus-2025/
      camf-excel bilan recus/ -o bilans/ --format docx --gabarit notre-modele.docx
    """
    missing = report_missing_inputs(paths)
    with progress_bar(quiet) as advance:
        report = write_bilans(paths, outdir, periode=periode, formats=formats, par_mrc=par_mrc,
                              precedent=precedent, gabarit=gabarit, force=force, progress=advance)
    _show(report, outdir)
    sys.exit(EXIT_OK if report.complete and not missing else EXIT_PARTIAL)


def _show(report: BilanReport, outdir: Path) -> None:
    bilans = report.bilans
    assert bilans is not None
    say(f"{len(report.written)} fichier(s) écrit(s) dans {path_text(outdir)} "
         f"({len(bilans.bilans)} bilan(s)).")
    to_check = [b for b in bilans.bilans if b.errors and b.kind == "organisation"]
    if to_check:
        say(f"{len(to_check)} bilan(s) portent l'encadré « Données à vérifier » (classeurs avec erreurs) :")
        for item in to_check[:LISTED]:
            say(f"  - {item.organisation} : {item.errors} erreur(s) — camf-excel validate "
                 f"\"{item.source_files[0]}\"")
    for line in bilans.not_reported[:LISTED]:
        say(f"Non présenté : {line}")
    for result in bilans.unreadable:
        reason = result.issues[0].message if result.issues else "fichier illisible"
        say_error(f"{path_text(result.file)} : {reason} — aucun bilan pour ce fichier.")
    for name, reason in report.failed:
        say_error(f"Bilan de {name} non écrit : {reason}.")
