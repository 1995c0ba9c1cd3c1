"""The command line speaks French only: click's own texts, help summaries, errors, missing inputs."""

from __future__ import annotations

import ast
import errno
import re
import string
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from conftest import SAMPLES

from camf_excel import cli
from camf_excel.cli import main
from camf_excel.clickfr import CLICK_FRENCH, CLICK_FRENCH_PLURALS

CLEAN = SAMPLES / "classeurs-remplis" / "51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx"
COMMANDS = sorted(main.commands)


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args), prog_name="camf-excel")
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


# --- click's English, read from the installed click itself ------------------------------------

def _click_sources() -> Iterator[ast.AST]:
    for source in sorted(Path(click.__file__).parent.glob("*.py")):
        yield ast.parse(source.read_text(encoding="utf-8"))


def _constant(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


@cache
def click_message_ids() -> tuple[frozenset[str], frozenset[tuple[str, str]]]:
    """Every message click passes to gettext: `_("…")`, `ngettext("…", "…", n)`, `_(extra["…"])`."""
    singular: set[str] = set()
    plural: set[tuple[str, str]] = set()
    extra_values: dict[str, set[str]] = {}
    extra_keys: set[str] = set()
    for tree in _click_sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) \
                        and target.value.id == "extra" and _constant(node.value) is not None:
                    key, value = _constant(target.slice) or "", _constant(node.value) or ""
                    extra_values.setdefault(key, set()).add(value)
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id == "_" and node.args:
                text = _constant(node.args[0])
                if text is not None:
                    singular.add(text)
                elif isinstance(node.args[0], ast.Subscript) and _constant(node.args[0].slice):
                    extra_keys.add(_constant(node.args[0].slice) or "")
            elif node.func.id == "ngettext" and len(node.args) >= 2:
                one, many = _constant(node.args[0]), _constant(node.args[1])
                assert one is not None and many is not None, "ngettext with a computed message id"
                plural.add((one, many))
    for key in extra_keys:  # `_(extra["required"])` translates the value stored under that key
        singular |= extra_values.get(key, set())
    return frozenset(singular), frozenset(plural)


def _literal_words(message: str) -> set[str]:
    braced = message.replace("%(", "{").replace(")s", "}")
    literal = "".join(text for text, *_ in string.Formatter().parse(braced))
    return {word.lower() for word in re.findall(r"[A-Za-zÀ-ÿ]{3,}", literal)}


@cache
def english_words() -> frozenset[str]:
    """Words of click's English that no French text of ours uses (« Options » is French too)."""
    singular, plural = click_message_ids()
    english = set().union(*(_literal_words(m) for m in singular),
                          *(_literal_words(m) for pair in plural for m in pair))
    # click's default metavars: type names (TEXT, INTEGER, PATH…) and the group's COMMAND [ARGS]...
    english |= {t.name.lower() for t in vars(click.types).values() if isinstance(t, click.ParamType)}
    for tree in _click_sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "subcommand_metavar"
                                                    for t in node.targets):
                english |= _literal_words(_constant(node.value) or "")
    french = set().union(*(_literal_words(m) for m in CLICK_FRENCH.values()),
                         *(_literal_words(m) for pair in CLICK_FRENCH_PLURALS.values() for m in pair))
    return frozenset(english - french)


def english_in(text: str, *paths: Path) -> list[str]:
    """English words of click in text; the paths (file names of the test) are not looked at."""
    for path in sorted({str(SAMPLES), *map(str, paths)}, key=len, reverse=True):
        text = text.replace(path, "")
    text = re.sub(r"(?<!\w)--?[\w-]+", "", text)  # option names (--help, --force) are not prose
    words = {word.lower() for word in re.findall(r"[A-Za-zÀ-ÿ]+", text)}
    return sorted(words & english_words())


def test_click_catalogue__every_message_of_the_installed_click__translated() -> None:
    singular, plural = click_message_ids()
    assert len(singular) > 50 and "Usage:" in singular and "required" in singular  # the reading works
    assert set(CLICK_FRENCH) == singular, "click changed: translate its new messages in clickfr.CLICK_FRENCH"
    assert set(CLICK_FRENCH_PLURALS) == plural


def test_click_catalogue__translations__keep_every_placeholder() -> None:
    def fields(message: str) -> set[str]:
        return {name for _, name, *_ in string.Formatter().parse(message) if name} | \
            set(re.findall(r"%\((\w+)\)s", message))

    pairs = [*CLICK_FRENCH.items(), *((e, f) for english, french in CLICK_FRENCH_PLURALS.items()
                                      for e, f in zip(english, french, strict=True))]
    assert [(e, f) for e, f in pairs if fields(e) != fields(f)] == []


def test_click_catalogue__english_words_to_hunt__found() -> None:
    assert {"usage", "error", "missing", "invalid", "show", "such", "mean", "required", "text",
            "integer", "path", "file", "directory", "command", "args", "aborted", "exist"} <= english_words()


# --- help pages ---------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=["camf-excel", *COMMANDS])
def test_cli_french__help__no_english_from_click(command: list[str]) -> None:
    result = invoke(*command, "--help")
    assert result.exit_code == 0
    assert result.output.startswith("Utilisation : camf-excel")
    assert "Options :" in result.output
    assert english_in(result.output) == [], result.output


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=["camf-excel", *COMMANDS])
def test_cli_french__help__no_line_starts_with_french_punctuation(command: list[str]) -> None:
    lines = invoke(*command, "--help").output.splitlines()
    assert [line for line in lines if line.strip()[:1] in set(":;!?»")] == []


def test_cli_french__help__option_text_glued_to_its_colon() -> None:
    output = invoke("validate", "--help").output
    assert "(sinon celle de chaque classeur)\u00a0:" in output
    assert "[obligatoire]" in invoke("consolidate", "--help").output


def test_cli_french__command_list__whole_first_sentences_never_cut() -> None:
    output = invoke("--help").output
    listing = " ".join(output.split("Commandes :", 1)[1].replace("\u00a0", " ").split())
    assert "..." not in listing
    for name in COMMANDS:
        first_sentence = " ".join((main.commands[name].help or "").split("\n\n")[0].split())
        assert f"{name} {first_sentence}" in listing


def test_cli_french__version__french() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("camf-excel, version ")


# --- errors -------------------------------------------------------------------------------------

USAGE_ERRORS = {
    "unknown command, close to one": (["valdate"],
                                      "Commande inconnue : 'valdate'. Vouliez-vous dire 'validate'"),
    "no command": ([], "Utilisation : camf-excel"),
    "missing option": (["generate"], "Option manquante '-o' / '--output'."),
    "missing argument": (["validate"], "Argument manquant 'CHEMIN...'."),
    "not a number": (["validate", "--periode", "deux", "x"], "'deux' n'est pas un nombre entier."),
    "unknown option, close to one": (["validate", "--perode", "2025", "x"],
                                     "Option inconnue : '--perode'. Vouliez-vous dire '--periode'"),
    "option without its value": (["consolidate", "x", "-o"], "L'option '-o' demande une valeur."),
    "extra argument": (["templates", "pfm"], "Argument en trop (pfm)"),
    "report extension": (["validate", str(CLEAN), "--report", "x.pdf"],
                         "Valeur invalide pour '--report' : extension .pdf non prise en charge"),
    "report without extension": (["validate", str(CLEAN), "--report", "rapport"], "extension (aucune)"),
    "batch with plan": (["generate", "--batch", "o.csv", "--plan", "p.csv", "-o", "x"], "retirez --plan"),
    "plans without batch": (["generate", "--plans", "plans", "-o", "x.xlsx"],
                            "--plans s'utilise avec --batch"),
    "batch into a file": (["generate", "--batch", str(SAMPLES / "organisations.csv"), "-o", "x.xlsx"],
                          "avec --batch, -o désigne un dossier"),
}


def _error_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not the usage reminder (usage line, help hint, blank)."""
    return [line for line in stderr.splitlines()
            if line.strip() and not line.startswith(("Utilisation :", "Pour l'aide : "))]


@pytest.mark.parametrize("case", sorted(USAGE_ERRORS))
def test_cli_french__bad_arguments__exit_2_french_error_first(case: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    args, expected = USAGE_ERRORS[case]
    result = invoke(*args)
    assert result.exit_code == 2
    assert expected in result.stderr, result.stderr
    assert english_in(result.output, tmp_path) == [], result.output
    if args:  # `camf-excel` alone shows the help page, as click does, and no error
        assert _error_lines(result.stderr)[0].startswith("Erreur : "), result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [
    ["generate", "-o", "{tmp}/deja.xlsx"],  # existing output (OutputExistsError)
    ["generate", "-o", "{tmp}/o.xlsx", "--plan", "{tmp}/absent.csv"],  # unreadable plan
    ["consolidate", "{tmp}", "-o", "{tmp}/rapport"],  # output inside the input folder
])
def test_cli_french__refusals__begin_with_erreur(args: list[str], tmp_path: Path) -> None:
    (tmp_path / "deja.xlsx").write_bytes(b"x")
    result = invoke(*(arg.format(tmp=tmp_path) for arg in args))
    assert result.exit_code == 2
    assert _error_lines(result.stderr)[0].startswith("Erreur : "), result.stderr
    assert english_in(result.stderr, tmp_path) == [], result.stderr


def test_cli_french__system_refusal__named_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    @cli.reports_errors
    def write() -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "suivi.xlsx")

    with pytest.raises(SystemExit) as exited:
        write()
    assert exited.value.code == 2
    assert capsys.readouterr().err.startswith("Erreur : Accès impossible à suivi.xlsx : accès refusé")


def test_cli_french__unknown_system_error__named_by_its_code() -> None:
    assert cli.os_reason(OSError(errno.EIO, "Input/output error")) == "erreur du système (EIO)"


def test_cli_french__after_a_run__click_keeps_its_own_functions() -> None:
    invoke("valdate")
    assert click.exceptions._("Missing option") == "Missing option"
    assert click.core.ngettext("a", "b", 2) == "b"


# --- inputs that do not exist -------------------------------------------------------------------

def test_validate__missing_input_with_others__error_named_others_read_exit_1(tmp_path: Path) -> None:
    absent = tmp_path / "absent.xlsx"
    result = invoke("validate", str(absent), str(CLEAN))
    assert result.exit_code == 1
    assert f"Erreur : Introuvable : {absent} — vérifiez le chemin ; les autres entrées sont lues." \
        in result.stderr
    assert "aucun problème" in result.stdout and "1 entrée(s) introuvable(s)" in result.stdout
    assert f"ignoré : {absent}" not in result.output  # named once, as an error


def test_validate__only_missing_inputs__exit_2(tmp_path: Path) -> None:
    result = invoke("validate", str(tmp_path / "a.xlsx"), str(tmp_path / "recus"))
    assert result.exit_code == 2
    assert _error_lines(result.stderr) == [
        f"Erreur : Introuvable : {tmp_path / 'a.xlsx'} — vérifiez le chemin ; rien d'autre à lire.",
        f"Erreur : Introuvable : {tmp_path / 'recus'} — vérifiez le chemin ; rien d'autre à lire.",
        "Erreur : Aucun classeur lisible.",
    ]


def test_validate__broken_link__named_missing(tmp_path: Path) -> None:
    (tmp_path / "lien.xlsx").symlink_to(tmp_path / "parti.xlsx")
    result = invoke("validate", str(tmp_path / "lien.xlsx"), str(CLEAN))
    assert result.exit_code == 1 and f"Introuvable : {tmp_path / 'lien.xlsx'}" in result.stderr


def test_consolidate__missing_input_with_others__consolidated_exit_1(tmp_path: Path) -> None:
    absent, out = tmp_path / "absent", tmp_path / "rapport"
    result = invoke("consolidate", str(absent), str(CLEAN), "-o", str(out))
    assert result.exit_code == 1
    assert f"Erreur : Introuvable : {absent}" in result.stderr
    assert "Erreur : 1 entrée(s) introuvable(s)" in result.stderr
    assert (out / "consolidation.xlsx").exists()
    assert f"ignoré : {absent}" not in result.output  # named once, as an error


def test_consolidate__only_missing_input__exit_2_nothing_written(tmp_path: Path) -> None:
    result = invoke("consolidate", str(tmp_path / "absent"), "-o", str(tmp_path / "rapport"))
    assert result.exit_code == 2
    assert f"Erreur : Introuvable : {tmp_path / 'absent'}" in result.stderr
    assert not (tmp_path / "rapport").exists()
