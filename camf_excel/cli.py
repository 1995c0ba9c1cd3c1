"""The `camf-excel` command: a thin click layer over the library; errors become French messages."""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

import click

from camf_excel import __version__, consolidation
from camf_excel.annotate import annotate_files
from camf_excel.batch import CheckRun, check_files, checklist_frame, issues_frame
from camf_excel.clickfr import WHOLE_NUMBER, FrenchGroup, fit_stream
from camf_excel.errors import CamfError, PlanError
from camf_excel.figures import Figures, share
from camf_excel.generate import generate_batch, generate_workbook
from camf_excel.issues import display_value, for_staff, path_text
from camf_excel.outputs import refuse_existing, refuse_existing_folder, refuse_input_as_output
from camf_excel.report import (
    OUTPUT_WORKBOOK,
    REPORT_FORMATS,
    output_files,
    qualified_cell,
    write_consolidation,
    write_issues_report,
)
from camf_excel.templates import list_templates
from camf_excel.validation import WorkbookResult

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 2, 130


def say(text: str = "", **style: Any) -> None:
    """Print a line (or lines) of text that may hold names and values from files, made harmless.

    Control characters, lone surrogates (undecodable file names) and line breaks inside a value
    could rewrite the terminal or forge a line: each line is shown through `display_value`.
    """
    shown = "\n".join(display_value(line) for line in str(text).split("\n"))
    click.secho(fit_stream(shown, sys.stderr if style.get("err") else sys.stdout), **style)


def say_error(message: str) -> None:
    """Print an error on stderr: every error the command prints begins with « Erreur : »."""
    say(f"Erreur : {message}", fg="red", err=True)


def _fail(message: str, code: int = EXIT_FAILED) -> None:
    say_error(message)
    sys.exit(code)


OS_REASONS = {
    errno.ENOENT: "introuvable",
    errno.EACCES: "accès refusé (droits insuffisants, ou fichier ouvert dans un autre programme)",
    errno.EPERM: "opération non permise",
    errno.ENOSPC: "disque plein",
    errno.EROFS: "support en lecture seule",
    errno.EISDIR: "c'est un dossier",
    errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
    errno.EEXIST: "existe déjà",
    errno.ENAMETOOLONG: "nom trop long",
    errno.EBUSY: "occupé par un autre programme",
}


def os_reason(error: OSError) -> str:
    """Say in French why the system refused (its own text follows the machine's language)."""
    if error.errno in OS_REASONS:
        return OS_REASONS[error.errno]
    return f"erreur du système ({errno.errorcode.get(error.errno or 0, error.__class__.__name__)})"


def reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the library's errors into a message on stderr and exit code 2, never a traceback."""
    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except click.ClickException:
            raise  # a bad argument: click shows it, with the usage line, and exits with 2
        except PlanError as error:
            _fail(f"{error}\nAucun classeur n'a été écrit.")
        except CamfError as error:
            _fail(str(error))
        except OSError as error:
            where = f"à {path_text(error.filename)}" if error.filename else "à un fichier"
            _fail(f"Accès impossible {where} : {os_reason(error)}.")
        except KeyboardInterrupt:
            # Asked for, not an error: no « Erreur : » (DOMAIN §8: exit code 130).
            say("\nInterrompu (Ctrl-C) : rien n'a été écrit à moitié ; relancez la commande.",
                fg="red", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except Exception as error:  # the last guard: a person never gets a Python traceback
            _fail(f"Problème inattendu ({error.__class__.__name__} : {str(error)[:200]}). Rien n'a été "
                  "écrit à moitié ; signalez-le avec la commande lancée.")
        return None
    return wrapper


@click.group(cls=FrenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="camf-excel", message="%(prog)s, version %(version)s",
                      help="Affiche la version et quitte.")
def main() -> None:
    """Classeurs de suivi des plans d'action PFM et MADA.

    \b
    Exemple :
      camf-excel generate --template mada -o suivi.xlsx --organisation "Saint-Tite"
    """


@main.command()
@reports_errors
def templates() -> None:
    """Liste les gabarits offerts : identifiant, version, démarche, langue.

    \b
    Exemple :
      camf-excel templates
    """
    say(f"{'gabarit':<10} {'version':<8} {'démarche':<9} {'langue':<6} titre")
    for template in list_templates():
        say(f"{template.id:<10} {template.version:<8} {template.demarche:<9} "
                   f"{template.language:<6} {template.title}")


IDENTIFICATION_OPTIONS = (
    ("--organisation", "organisation", "NOM", "Nom de la municipalité ou de la MRC."),
    ("--type", "type", "TYPE", "Municipalité ou MRC."),
    ("--code-geo", "code_geo", "CODE", "Code géographique à 5 chiffres (MAMH)."),
    ("--mrc", "mrc", "MRC", "MRC ou territoire équivalent."),
    ("--region", "region", "RÉGION", "Région administrative."),
    ("--demarche", "demarche", "DÉMARCHE", "PFM, MADA ou PFM-MADA."),
    ("--debut", "annee_debut", "ANNÉE", "Première année du plan."),
    ("--fin", "annee_fin", "ANNÉE", "Dernière année du plan."),
    ("--date-adoption", "date_adoption", "DATE", "Date d'adoption du plan (aaaa-mm-jj)."),
    ("--periode", "periode", "ANNÉE", "Année sur laquelle porte le suivi."),
    ("--responsable", "responsable_nom", "NOM", "Responsable du suivi : nom."),
    ("--courriel", "responsable_courriel", "COURRIEL", "Responsable du suivi : courriel."),
    ("--telephone", "responsable_telephone", "TÉLÉPHONE", "Responsable du suivi : téléphone."),
)


def identification_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add one option per Identification field (read as typed: the library checks each value)."""
    for flag, key, metavar, help_text in reversed(IDENTIFICATION_OPTIONS):
        command = click.option(flag, key, default=None, metavar=metavar, help=help_text)(command)
    return command


@main.command()
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path), metavar="CHEMIN",
              help="Classeur à écrire (.xlsx), ou dossier de sortie avec --batch.")
@click.option("--template", "template", default=None, metavar="GABARIT",
              help="Gabarit : pfm, mada ou pfm-mada (par défaut : selon la démarche).")
@click.option("--plan", "plan", type=click.Path(path_type=Path), default=None, metavar="FICHIER",
              help="Plan d'action adopté à importer (.csv, .xlsx ou .ods).")
@click.option("--batch", "batch", type=click.Path(path_type=Path), default=None, metavar="FICHIER",
              help="Fichier des organisations (CSV) : un classeur par ligne.")
@click.option("--plans", "plans_dir", type=click.Path(path_type=Path), default=None, metavar="DOSSIER",
              help="Dossier des plans nommés dans la colonne « plan » du fichier --batch.")
@click.option("--password", default=None, metavar="MOT-DE-PASSE",
              help="Mot de passe de protection des feuilles (aucun par défaut).")
@click.option("--force", is_flag=True, help="Remplacer un classeur existant.")
@identification_options
@reports_errors
def generate(output: Path, template: str | None, plan: Path | None, batch: Path | None,
             plans_dir: Path | None, password: str | None, force: bool,
             **identification: str | None) -> None:
    """Produit le classeur de suivi, vierge ou prérempli avec le plan adopté.

    \b
    Exemples :
      camf-excel generate -o suivi.xlsx --template pfm --plan plan.csv \\
          --organisation "Saint-Tite" --type Municipalité --mrc "Mékinac" \\
          --debut 2025 --fin 2029 --periode 2026
      camf-excel generate --batch organisations.csv --plans plans/ -o classeurs/
    """
    given = {k: v for k, v in identification.items() if v is not None}
    if batch:
        if plan or given:
            raise click.UsageError("Avec --batch, les renseignements viennent du fichier des organisations : "
                                   "retirez --plan et les options d'identification.")
        _run_batch(batch, output, plans_dir, template, password, force)
        return
    if plans_dir:
        raise click.UsageError("--plans s'utilise avec --batch ; pour un seul classeur, utilisez --plan.")
    warnings: list[str] = []
    path = generate_workbook(output, template, given, plan, password, force, warnings)
    for line in warnings:
        say(f"  avertissement (plan) : {display_value(line)}", fg="yellow", err=True)
    say(f"Classeur écrit : {path}")


def _run_batch(batch: Path, output: Path, plans_dir: Path | None, template: str | None,
               password: str | None, force: bool) -> None:
    if output.suffix.lower() == ".xlsx":
        raise click.BadParameter(f"avec --batch, -o désigne un dossier, pas un fichier : {path_text(output)}",
                                 param_hint="'-o' / '--output'")
    result = generate_batch(batch, output, plans_dir, template, password, force,
                            progress=lambda p: say(f"  écrit : {p}"))
    for line, message in result.failed:
        say_error(f"{batch.name}, ligne {line} refusée : {message}")
    say(f"{len(result.written)} classeur(s) écrit(s) dans {output}, "
               f"{len(result.failed)} ligne(s) refusée(s).")
    if result.failed:
        sys.exit(EXIT_PARTIAL if result.written else EXIT_FAILED)


def _report_format(ctx: click.Context, param: click.Parameter, report: Path | None) -> Path | None:
    """Refuse, as a bad argument, a report whose extension names no format the tool writes."""
    if report is not None and report.suffix.lower() not in REPORT_FORMATS:
        raise click.BadParameter(f"extension {report.suffix or '(aucune)'} non prise en charge ; "
                                 "utilisez .xlsx, .csv ou .json.", ctx, param)
    return report


INPUTS_HELP = "Classeurs reçus, ou dossiers à parcourir en entier."
# The received workbooks every reading command takes: files or folders, one or more.
inputs_argument = click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path),
                                 metavar="CHEMIN...", help=INPUTS_HELP)


@main.command()
@inputs_argument
@click.option("--periode", type=WHOLE_NUMBER, default=None, metavar="ANNÉE",
              help="Année de suivi attendue (sinon celle de chaque classeur) : sert au calcul des retards.")
@click.option("--report", "report", type=click.Path(path_type=Path), default=None, metavar="FICHIER",
              callback=_report_format, help="Rapport des problèmes à écrire : .xlsx, .csv ou .json.")
@click.option("--annoter", "annotate_dir", type=click.Path(path_type=Path), default=None, metavar="DOSSIER",
              help="Dossier où écrire une copie annotée de chaque classeur .xlsx à corriger.")
@click.option("--force", is_flag=True, help="Remplacer un rapport ou une copie existante.")
@reports_errors
def validate(paths: tuple[Path, ...], periode: int | None, report: Path | None,
             annotate_dir: Path | None, force: bool) -> None:
    """Vérifie les classeurs reçus et nomme chaque problème avec sa cellule.

    Les dossiers sont parcourus en entier ; les fichiers de verrouillage et les fichiers
    qui ne sont pas des classeurs sont signalés et laissés de côté.

    \b
    Code de sortie :
      0  aucune erreur (avertissements permis) ;
      1  au moins une erreur, ou une entrée introuvable ;
      2  aucun classeur lisible, ou arguments invalides.

    \b
    Exemples :
      camf-excel validate recus/
      camf-excel validate recus/ --periode 2025 --report problemes.xlsx \\
          --annoter a-corriger/
    """
    if report is not None:
        refuse_existing(report, force)
    missing = report_missing_inputs(paths)
    run = check_files(paths, periode)
    show_check_run(run, missing)
    if report is not None:
        refuse_input_as_output(report, [Path(r.file) for r in run.results])
        write_issues_report(issues_frame(run.issues), report, force, files=checklist_frame(run))
        say(f"Rapport écrit : {report}")
    if annotate_dir is not None:
        _annotate(run, annotate_dir, force)
    readable = [r for r in run.results if r.readable]
    if not readable:
        _fail("Aucun classeur lisible.")
    sys.exit(EXIT_PARTIAL if missing or any(r.errors for r in run.results) else EXIT_OK)


def report_missing_inputs(paths: Sequence[Path]) -> list[str]:
    """Name, as an error, each input given on the command line that does not exist.

    The others are still read (DOMAIN §8: the exit code then says that an input was refused).
    Returns the missing ones as the library names them in its notices and Sources.
    """
    missing = [path for path in paths if not _exists(path)]
    others = "les autres entrées sont lues" if len(missing) < len(paths) else "rien d'autre à lire"
    for path in missing:
        say_error(f"Introuvable : {path_text(path)} — vérifiez le chemin ; {others}.")
    return [path_text(path) for path in missing]


def _exists(path: Path) -> bool:
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False  # a broken link included
    except (OSError, RuntimeError):
        return True  # there, but unreadable (rights, link loop): the walk says why
    return True


def _annotate(run: CheckRun, folder: Path, force: bool) -> None:
    """Write the annotated copies of the files staff must correct, each in a capped worker.

    Never onto an input, never two on one name. A file whose only issues come from the
    coordinator's own --periode gets no copy; one that cannot be annotated (.ods, .xls…) is
    named with the reason, and the summary names every file left without its copy.
    """
    jobs = [(Path(result.file), cells) for result in run.results
            if (cells := [issue for issue in result.issues if issue.cell and for_staff(issue)])]
    if not jobs:
        say("Copies annotées : aucun classeur n'a de cellule à corriger.")
        return
    inputs = [Path(result.file) for result in run.results]
    outcomes = annotate_files(jobs, folder, inputs, force)
    for outcome in outcomes:
        if outcome.target is None:
            say(f"  copie annotée non écrite pour {path_text(outcome.source)} : {outcome.reason}",
                fg="yellow", err=True)
        else:
            say(f"Copie annotée : {path_text(outcome.target)}")
    left = [path_text(outcome.source) for outcome in outcomes if outcome.target is None]
    written = f"Copies annotées : {len(outcomes) - len(left)} écrite(s) dans {path_text(folder)}"
    if left:
        written += f" ; {len(left)} non écrite(s), à corriger d'après le rapport : {', '.join(left)}"
    say(written, bold=True)


@main.command()
@inputs_argument
@click.option("-o", "--output", "outdir", required=True, type=click.Path(path_type=Path), metavar="DOSSIER",
              help="Dossier où écrire consolidation.xlsx et les tables CSV et Parquet.")
@click.option("--territories", "territories", type=click.Path(path_type=Path), default=None,
              metavar="FICHIER", help="Fichier des territoires attendus : CSV simple (code, municipalite, "
                                      "mrc, region) ou MUN.csv du répertoire du MAMH.")
@click.option("--periode", type=WHOLE_NUMBER, default=None, metavar="ANNÉE",
              help="Ne consolider que cette année de suivi.")
@click.option("--force", is_flag=True, help="Écrire dans un dossier de sortie qui n'est pas vide.")
@click.option("-q", "--quiet", is_flag=True, help="Pas de barre de progression.")
@reports_errors
def consolidate(paths: tuple[Path, ...], outdir: Path, territories: Path | None, periode: int | None,
                force: bool, quiet: bool) -> None:
    """Consolide les classeurs reçus en un rapport : statuts, retards, obstacles, complétude.

    Les dossiers sont parcourus en entier ; les fichiers de verrouillage, les fichiers cachés
    et ceux qui ne sont pas des classeurs sont signalés et laissés de côté. Deux classeurs
    d'une même organisation pour une même période : le plus récent est retenu (date de mise
    à jour, puis version du modèle, puis nom de fichier), l'autre est mis de côté.

    \b
    Code de sortie :
      0  tout consolidé ;
      1  consolidé, mais des fichiers refusés ou mis de côté, ou une entrée
         introuvable (tous nommés) ;
      2  rien de consolidé, ou arguments invalides.

    \b
    Exemples :
      camf-excel consolidate recus/ -o rapport/
      camf-excel consolidate recus/ -o rapport/ --territories MUN.csv \\
          --periode 2026 --force
    """
    _refuse_output_folder(outdir, paths, force)
    missing = report_missing_inputs(paths)
    with progress_bar(quiet) as progress:
        result = consolidation.consolidate(list(paths), territories, periode, progress=progress)
    summary = result.summary
    if not summary.files_consolidated:
        show_consolidation(result, missing)
        _fail("Aucun classeur consolidé : rien n'a été écrit.")
    write_consolidation(result, outdir, force)
    show_consolidation(result, missing)
    say(f"\nRapport écrit : {outdir / OUTPUT_WORKBOOK} (tables CSV et Parquet dans {outdir})")
    sys.exit(EXIT_OK if summary.complete and not missing else EXIT_PARTIAL)


def _refuse_output_folder(outdir: Path, inputs: tuple[Path, ...], force: bool) -> None:
    """Refuse, before reading anything, an output folder that would clobber or be read back."""
    refuse_existing_folder(outdir, force)
    for given in inputs:
        if given.is_dir() and outdir.resolve().is_relative_to(given.resolve()):
            _fail(f"Le dossier de sortie {outdir} est dans le dossier lu {given} : le rapport "
                  "serait relu comme un classeur reçu ; choisissez un dossier de sortie ailleurs.")
        if given.is_file() and any(given.resolve() == path.resolve() for path in output_files(outdir)):
            _fail(f"{given} est à la fois une entrée et une sortie ; l'entrée n'est jamais écrasée.")


@contextmanager
def progress_bar(quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """Yield a progress callback drawing a bar on stderr when it is a terminal, else None."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    bars: list[Any] = []

    def advance(done: int, total: int) -> None:
        if not bars:
            bars.append(click.progressbar(length=total, label="Lecture des classeurs", file=sys.stderr))
            bars[0].__enter__()
        bars[0].update(done - bars[0].pos)

    try:
        yield advance
    finally:
        if bars:
            bars[0].__exit__(None, None, None)


LISTED = 15  # names shown on the terminal before "and N more"


def show_consolidation(result: consolidation.Consolidation, missing: Collection[str] = ()) -> None:
    """Print the one-screen summary: accounting, figures, who is missing, what was refused.

    `missing` are inputs already named as errors: not listed again among the entries ignored.
    """
    s = result.summary
    say(f"Consolidation : {s.files_found} fichier(s) trouvé(s) — {s.files_consolidated} "
                f"consolidé(s), {s.files_refused} refusé(s), {s.files_set_aside} mis de côté, "
                f"{s.files_other_period} d'une autre période, {s.files_ignored} ignoré(s)", bold=True)
    say(f"Lignes : {s.rows_read} lues = {s.rows_consolidated} consolidées + "
               f"{s.rows_rejected} écartées")
    organisations = result.organisations
    actions = int(organisations["actions"].sum())
    realised = int(organisations[consolidation.status_key(result.realised_status)].sum()) if actions else 0
    realised_share = share(realised, actions)
    shown = "—" if realised_share is None else f"{100 * realised_share:.1f}".replace(".", ",")
    say(f"Organisations : {len(organisations)} ({s.municipal_workbooks} classeur(s) de municipalité, "
        f"{s.mrc_workbooks} de MRC) ; {_periods_said(s)}")
    say(f"Actions : {actions} ; réalisées : {shown} % ; en retard : {int(organisations['en_retard'].sum())}")
    issues = result.issues
    errors = int((issues["severity"] == "erreur").sum())
    say(f"Validation : {errors} erreur(s), {len(issues) - errors} avertissement(s) "
               "(détail : feuille Validation)")
    _show_completeness(result)
    _show_sources(result.sources, missing)
    if missing:
        say_error(f"{len(missing)} entrée(s) introuvable(s), nommée(s) plus haut.")


def _show_completeness(result: consolidation.Consolidation) -> None:
    s = result.summary
    if s.expected is None:
        say("Complétude : sans --territories, la liste des organisations attendues est inconnue")
        return
    unreadable = s.unreadable or 0
    not_filled = (s.received or 0) - (s.filled or 0) - unreadable
    say(f"Complétude : {s.filled} remplie(s) sur {s.expected} attendue(s) ({s.received} reçue(s), dont "
        f"{unreadable} illisible(s) et {not_filled} non remplie(s))")
    table = result.completeness
    expected = table[table["attendu"] == True]  # noqa: E712
    for label, state in (("sans classeur", consolidation.NOT_RECEIVED),
                         ("reçu, illisible", consolidation.UNREADABLE),
                         ("reçu, non rempli", consolidation.NOT_FILLED)):
        for row in expected[expected["etat"] == state].head(LISTED).itertuples(index=False):
            contact = f" — {row.courriel}" if isinstance(row.courriel, str) and row.courriel else ""
            say(f"  {label} : {display_value(row.organisation)} ({display_value(row.mrc)}){contact}")
    missing = expected[expected["etat"].isin([consolidation.NOT_RECEIVED, consolidation.UNREADABLE,
                                              consolidation.NOT_FILLED])]
    if len(missing) > LISTED:
        say(f"  … et {len(missing) - LISTED} autre(s) : voir completude.csv")


def _periods_said(summary: consolidation.Summary) -> str:
    if summary.requested_period is not None:
        return f"période {summary.requested_period} (--periode)"
    if len(summary.periods) > 1:
        return (f"périodes {summary.periods_label} (pour chaque organisation, la plus récente ; "
                "choisir avec --periode)")
    return f"période {summary.periods_label or '—'}"


def _show_sources(sources: Any, missing: Collection[str] = ()) -> None:
    styles = {consolidation.REFUSED: ("refusé", "red"), consolidation.SET_ASIDE: ("mis de côté", "yellow"),
              consolidation.OTHER_PERIOD: ("autre période", "bright_black"),
              consolidation.IGNORED: ("ignoré", "bright_black")}
    for status, (label, colour) in styles.items():
        rows = sources[(sources["statut"] == status) & ~sources["source_file"].isin(list(missing))]
        for row in rows.head(LISTED).itertuples(index=False):
            say(f"  {label} : {display_value(row.source_file)} — {display_value(row.motif)}",
                        fg=colour)
        if len(rows) > LISTED:
            say(f"  … et {len(rows) - LISTED} autre(s) « {label} » : voir sources.csv", fg=colour)


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.0f} %"


def figures_summary(figures: Figures) -> str:
    """One line of a workbook's figures, as its Tableau de bord shows them."""
    if not figures.actions:
        return "aucune action"
    progress = "—" if figures.mean_progress is None else f"{figures.mean_progress:.0f} %"
    unfilled = "" if figures.filled else ", aucun suivi saisi"
    return (f"{figures.actions} action(s) : {figures.realised} réalisée(s) "
            f"({_percent(figures.realised_share)}), {figures.late} en retard, "
            f"avancement moyen {progress}{unfilled}")


SEVERITY_STYLES: dict[str, dict[str, Any]] = {"erreur": {"fg": "red", "bold": True},
                                              "avertissement": {"fg": "yellow"}}


def show_check_run(run: CheckRun, missing: Collection[str] = ()) -> None:
    """Print one block per file: its verdict, then every issue with its cell and what to do.

    `missing` are inputs already named as errors: not listed again among the entries ignored.
    """
    for notice in run.notices:
        if notice.file not in missing:
            say(f"ignoré : {display_value(notice.file)} ({notice.message})", fg="bright_black")
    for result in run.results:
        _show_result(result)
    errors = sum(r.errors for r in run.results)
    warnings = sum(len(r.issues) - r.errors for r in run.results)
    refused = sum(1 for r in run.results if not r.readable)
    not_found = f", {len(missing)} entrée(s) introuvable(s)" if missing else ""
    say(f"\n{len(run.results)} fichier(s) examiné(s), {refused} illisible(s){not_found} ; "
               f"{errors} erreur(s), {warnings} avertissement(s).")


def _show_result(result: WorkbookResult) -> None:
    warnings = len(result.issues) - result.errors
    name = display_value(result.file)
    actions = figures_summary(result.figures) if result.figures else "aucune action lue"
    if not result.readable:
        say(f"\n✖ {name} : refusé", fg="red", bold=True)
    elif result.errors:
        say(f"\n✖ {name} : {actions}, {result.errors} erreur(s), {warnings} avertissement(s)",
                    fg="red", bold=True)
    else:
        verdict = f"{warnings} avertissement(s)" if warnings else "aucun problème"
        say(f"\n✔ {name} : {actions}, {verdict}", fg="green", bold=True)
    for issue in result.issues:
        where = qualified_cell(issue.sheet, issue.cell)
        say(f"  {issue.severity:<13}", nl=False, **SEVERITY_STYLES[issue.severity])
        say(f" {where + '  ' if where else ''}{issue.code} : {issue.message}")


# The other commands, each in its own module, register themselves on `main` when imported.
from camf_excel import cli_bilan, cli_cycle  # noqa: E402, F401
