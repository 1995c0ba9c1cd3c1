"""click in French: its own messages, help layout and French spacing, for every command of camf-excel.

click marks every message it prints with gettext (`_(...)`, `ngettext(...)`, imported by name
into each of its modules). gettext's own route — a compiled .mo catalogue chosen from
LANGUAGE/LANG — would switch the tool back to English on any machine whose locale is not
French; the product speaks French everywhere (DOMAIN §8). So the command installs these two
functions in click's modules for the time it runs, and restores them afterwards.
Keys are click's own message ids, exactly; tests/test_cli_french.py checks that every id of the
installed click is here, so a click upgrade that adds a message fails a test, not a user.
"""

from __future__ import annotations

import codecs
import re
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import click
import click._termui_impl
import click.core
import click.decorators
import click.exceptions
import click.formatting
import click.parser
import click.shell_completion
import click.termui
import click.types
import click.utils

CLICK_FRENCH: dict[str, str] = {
    # help pages
    "Usage:": "Utilisation :",
    "Options": "Options",
    "Positional arguments": "Arguments",
    "Commands": "Commandes",
    "Show this message and exit.": "Affiche cette aide et quitte.",
    "Show the version and exit.": "Affiche la version et quitte.",
    "%(prog)s, version %(version)s": "%(prog)s, version %(version)s",
    "required": "obligatoire",
    "default: {default}": "par défaut : {default}",
    "env var: {var}": "variable d'environnement : {var}",
    "(dynamic)": "(dynamique)",
    "deprecated": "obsolète",
    "Try '{command} {option}' for help.": "Pour l'aide : {command} {option}",
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}":
        "Avertissement : la commande {name!r} est obsolète.{extra_message}",
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}":
        "Avertissement : le paramètre {name!r} ({param_type}) est obsolète.{extra_message}",
    # errors on the command line
    "Error: {message}": "Erreur : {message}",
    "Aborted!": "Interrompu.",
    "Missing command.": "Commande manquante.",
    "Missing argument": "Argument manquant",
    "Missing option": "Option manquante",
    "Missing parameter": "Paramètre manquant",
    "Missing {param_type}": "Paramètre manquant ({param_type})",
    "Missing parameter: {param_name}": "Paramètre manquant : {param_name}",
    "No such option {name!r}.": "Option inconnue : {name!r}.",
    "No such command {name!r}.": "Commande inconnue : {name!r}.",
    "Invalid value: {message}": "Valeur invalide : {message}",
    "Invalid value for {param_hint}: {message}": "Valeur invalide pour {param_hint} : {message}",
    "Invalid start character for option ({option})": "Caractère initial invalide pour une option ({option})",
    "Option {name!r} does not take a value.": "L'option {name!r} ne prend pas de valeur.",
    "Argument {name!r} takes {nargs} values.": "L'argument {name!r} prend {nargs} valeurs.",
    "Value must be an iterable.": "La valeur doit être une suite de valeurs.",
    "unknown error": "erreur inconnue",
    "Could not open file {filename!r}: {message}": "Impossible d'ouvrir le fichier {filename!r} : {message}",
    # values
    "file": "fichier",
    "directory": "dossier",
    "path": "chemin",
    "{name} {filename!r} does not exist.": "{name} {filename!r} introuvable.",
    "{name} {filename!r} is a file.": "{name} {filename!r} : c'est un fichier.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} : c'est un dossier.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} : lecture non permise.",
    "{name} {filename!r} is not writable.": "{name} {filename!r} : écriture non permise.",
    "{name} {filename!r} is not executable.": "{name} {filename!r} : exécution non permise.",
    "{value!r} is not a valid {number_type}.": "{value!r} n'est pas un {number_type}.",
    "{value} is not in the range {range}.": "{value} n'est pas dans l'intervalle {range}.",
    "{value!r} is not a valid boolean. Recognized values: {states}":
        "{value!r} n'est pas une valeur oui/non reconnue. Valeurs reconnues : {states}",
    "{value!r} is not a valid UUID.": "{value!r} n'est pas un UUID valide.",
    "Choose from:\n\t{choices}": "Choisissez parmi :\n\t{choices}",
    "Choice({choices})": "Choix({choices})",
    # prompts, terminal, editor, shell completion
    "Do you want to continue?": "Voulez-vous continuer ?",
    "Confirm the action without prompting.": "Confirme l'action sans la demander.",
    "Repeat for confirmation": "Répétez pour confirmer",
    "Error: The two entered values do not match.": "Erreur : Les deux valeurs saisies diffèrent.",
    "Error: invalid input": "Erreur : Saisie invalide",
    "Press any key to continue...": "Appuyez sur une touche pour continuer…",
    "Unknown color {colour!r}": "Couleur inconnue : {colour!r}",
    "Unknown standard stream '{name}'": "Flux standard inconnu : '{name}'",
    "d": "j",  # days, in a progress bar's remaining time
    "{editor}: Editing failed": "{editor} : la modification a échoué",
    "{editor}: Editing failed: {e}": "{editor} : la modification a échoué : {e}",
    "Windows error: {error}": "Erreur Windows : {error}",
    "Couldn't detect Bash version, shell completion is not supported.":
        "Version de Bash inconnue : la complétion des commandes n'est pas offerte.",
    "Shell completion is not supported for Bash versions older than 4.4.":
        "La complétion des commandes demande Bash 4.4 ou plus récent.",
    # mistakes in a command's definition (a developer sees them, in French all the same)
    "Could not determine name for option with declarations {decls!r}":
        "Nom d'option introuvable dans les déclarations {decls!r}",
    "No options defined but a name was passed ({name}). Did you mean to declare an argument instead? "
    "Did you mean to pass '--{name}'?":
        "Aucune option déclarée, mais un nom est donné ({name}) : un argument était-il voulu, "
        "ou '--{name}' ?",
    "Arguments take exactly one parameter declaration, got {length}: {decls}.":
        "Un argument prend exactement une déclaration, pas {length} : {decls}.",
    "Name '{name}' defined twice": "Nom '{name}' déclaré deux fois",
    "Boolean option {decl!r} cannot use the same flag for true/false.":
        "L'option oui/non {decl!r} ne peut pas employer le même indicateur pour oui et pour non.",
}

CLICK_FRENCH_PLURALS: dict[tuple[str, str], tuple[str, str]] = {
    ("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)"):
        ("Vouliez-vous dire {possibility} ?", "(Vouliez-vous dire l'une de ces valeurs : {possibilities} ?)"),
    ("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})"):
        ("Argument en trop ({args})", "Arguments en trop ({args})"),
    ("Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given."):
        ("Prend {nargs} valeurs, mais 1 a été donnée.", "Prend {nargs} valeurs, mais {len} ont été données."),
    ("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments."):
        ("L'option {name!r} demande une valeur.", "L'option {name!r} demande {nargs} valeurs."),
    ("{value!r} is not {choice}.", "{value!r} is not one of {choices}."):
        ("{value!r} n'est pas {choice}.", "{value!r} n'est pas l'une des valeurs {choices}."),
    ("{value!r} does not match the format {format}.", "{value!r} does not match the formats {formats}."):
        ("{value!r} ne correspond pas au format {format}.",
         "{value!r} ne correspond à aucun des formats {formats}."),
    ("{len_type} values are required, but {len_value} was given.",
     "{len_type} values are required, but {len_value} were given."):
        ("{len_type} valeurs sont demandées, mais {len_value} a été donnée.",
         "{len_type} valeurs sont demandées, mais {len_value} ont été données."),
}

CLICK_MODULES: tuple[ModuleType, ...] = (
    click.core, click.decorators, click.exceptions, click.formatting, click.parser, click.types,
    click.termui, click.utils, click.shell_completion, click._termui_impl,
)


def click_gettext(message: str) -> str:
    """Return click's message in French (unknown ids pass through: a test keeps the list whole)."""
    return CLICK_FRENCH.get(message, message)


def click_ngettext(singular: str, plural: str, count: int) -> str:
    """Return click's message in French, singular or plural as click's English chose it."""
    french = CLICK_FRENCH_PLURALS.get((singular, plural), (singular, plural))
    # click's singular ids may spell the number out ("but 1 was given"): same choice as English.
    return french[0] if count == 1 else french[1]


@contextmanager
def french_click() -> Iterator[None]:
    """Make click speak French while the block runs, then give it back its own functions."""
    saved = [(module, name, getattr(module, name)) for module in CLICK_MODULES
             for name in ("_", "ngettext") if hasattr(module, name)]
    for module, name, _original in saved:
        setattr(module, name, click_gettext if name == "_" else click_ngettext)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


NBSP = "\u00a0"
_FRENCH_SPACES = ((re.compile(r" ([:;!?»])"), NBSP + r"\1"), (re.compile(r"« "), "«" + NBSP))


def french_spacing(text: str) -> str:
    """Glue « : ; ! ? » to the word before (and « to the word after) so no line starts with them.

    Paragraphs marked « \\b » (examples, kept as typed) are left alone: they may be copied.
    """
    return "\n\n".join(paragraph if paragraph.lstrip(" ").startswith("\b") else _glue(paragraph)
                       for paragraph in text.split("\n\n"))


def _glue(text: str) -> str:
    for pattern, replacement in _FRENCH_SPACES:
        text = pattern.sub(replacement, text)
    return text


class FrenchHelpFormatter(click.HelpFormatter):
    """click's help layout with French headings (« Options : ») and French spacing."""

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{heading} :\n")

    def write_text(self, text: str) -> None:
        super().write_text(french_spacing(text))

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        super().write_dl([(term, french_spacing(text)) for term, text in rows], col_max, col_spacing)


class FrenchContext(click.Context):
    """A context whose help pages are laid out by the French formatter."""

    formatter_class = FrenchHelpFormatter


class FrenchCommand(click.Command):
    """A command whose help is French and whose summary in the command list is never cut."""

    context_class = FrenchContext

    def get_short_help_str(self, limit: int = 45) -> str:
        # click cuts the first sentence at the width left on the line (« ... »); the list wraps it instead.
        return super().get_short_help_str(limit=sys.maxsize)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        # click builds --help once and keeps it: run outside the group (a test invoking the command
        # itself), it would keep click's English text for good.
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = CLICK_FRENCH["Show this message and exit."]
        return option


class FrenchGroup(click.Group):
    """The `camf-excel` group: French commands, French click while it runs."""

    context_class = FrenchContext
    command_class = FrenchCommand

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("subcommand_metavar", "COMMANDE [ARGUMENTS]...")
        super().__init__(*args, **kwargs)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        readable_streams()
        with french_click():
            return super().main(*args, **kwargs)


class WholeNumber(click.types.IntParamType):
    """click's integer, named in French in its messages (« 'deux mille' n'est pas un nombre entier. »)."""

    name = "nombre entier"


WHOLE_NUMBER = WholeNumber()


# --- text that survives any console or log ------------------------------------------------------
# Windows gives a redirected stdout its ANSI code page (cp1252 here), which lacks ✔ and ✖; a
# strict stream would end the command in a UnicodeEncodeError. What a stream cannot encode is
# written as its nearest ASCII (« é » stays é in cp1252, becomes e in ASCII), never as mojibake.

FALLBACKS = {"✔": "OK", "✓": "OK", "✖": "X", "✗": "X", "→": "->", "←": "<-", "≥": ">=", "≤": "<=", "×": "x",
             "«": '"', "»": '"', "“": '"', "”": '"', "‘": "'", "’": "'",
             "—": "-", "–": "-", "…": "...", "\u00a0": " ", "\u202f": " ", "œ": "oe", "Œ": "OE",
             "æ": "ae", "Æ": "AE", "€": "EUR", "•": "-", "·": "."}
FALLBACK_ERRORS = "camf-lisible"


def nearest_ascii(text: str) -> str:
    """Return text in ASCII, each character replaced by its nearest form (é → e, ✔ → OK, ? when none)."""
    out = []
    for char in text:
        if char.isascii():
            out.append(char)
        elif char in FALLBACKS:
            out.append(FALLBACKS[char])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if c.isascii())
            out.append(base or "?")
    return "".join(out)


def _fallback(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return nearest_ascii(error.object[error.start:error.end]), error.end


codecs.register_error(FALLBACK_ERRORS, _fallback)


def readable_streams() -> None:
    """Make stdout and stderr write what their encoding lacks as nearest ASCII, never raise on it.

    The encoding is kept (UTF-8 stays UTF-8; a log in cp1252 stays readable in Notepad); only
    the policy for characters the encoding lacks changes. A missing stream (pythonw, a
    scheduled task without console) or one that cannot be reconfigured is left alone.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors=FALLBACK_ERRORS)
            except (ValueError, OSError, AttributeError):
                continue


def fit_stream(text: str, stream: object) -> str:
    """Return text as the stream can encode it, each missing character as its nearest ASCII.

    click writes to a stream declared ASCII in UTF-8 (it takes ASCII for a misconfigured
    locale): text fitted here stays plain ASCII whatever click then does.
    """
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        return text.encode(encoding, FALLBACK_ERRORS).decode(encoding, "replace")
    except LookupError:
        return nearest_ascii(text)
