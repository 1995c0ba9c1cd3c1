"""CSV inputs (plans, organisations, territories): read once, bounded, decoded as Excel writes them."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from pathlib import Path

from camf_excel.errors import InputError
from camf_excel.files import RefusedInputError, read_regular
from camf_excel.limits import MAX_CSV_FIELD_CHARS, MAX_INPUT_BYTES, french_number
from camf_excel.workers import Failure, run_isolated

# --- CSV (plans, organisations, territories) --------------------------------------------------

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CSV_REFUSALS = {"empty": "fichier vide (0 octet)", "not_spreadsheet": "pas un fichier ordinaire",
                 "too_big": f"fichier de plus de {MAX_INPUT_BYTES // 2**20} Mo : ce n'est pas le bon fichier"}
_SAVE_AS_CSV = "enregistrez-le de nouveau au format « CSV UTF-8 »"


def read_csv_rows(path: Path) -> list[list[str]]:
    """Return a CSV file's rows: UTF-8 (with or without BOM), UTF-16 with BOM or Windows-1252;
    comma, semicolon or tab.

    Excel in French writes « CSV (séparateur : point-virgule) » in Windows-1252; the delimiter
    is the one the first line uses most. A field may hold up to MAX_CSV_FIELD_CHARS characters;
    anything the csv module refuses becomes an InputError naming the file and the line.
    """
    path = Path(path)
    text = _csv_text(path)
    first_line = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[list[str]] = []
    start = 1  # the line the record being read begins on: where a person looks for the problem
    try:
        with _csv_field_limit(MAX_CSV_FIELD_CHARS):
            for row in reader:
                rows.append(list(row))
                start = reader.line_num + 1
    except csv.Error as error:
        raise InputError(f"{path.name}, ligne {start} : {_csv_problem(error)}") from error
    return rows


def read_csv_rows_isolated(path: Path) -> list[list[str]]:
    """`read_csv_rows` in a child process with the memory and time caps of every file from outside.

    For the run's own CSV inputs (organisations, territories), read in the main process; a
    plan's CSV is already read inside its worker.
    """
    path = Path(path)
    for _, outcome in run_isolated(_read_csv_task, [(path,)], jobs=1):
        if isinstance(outcome, Failure):
            raise InputError(f"{path.name} : {outcome.reason}")
        if isinstance(outcome, str):
            raise InputError(outcome)
        return list(outcome)
    raise InputError(f"{path.name} : lecture impossible")


def _read_csv_task(path: Path) -> list[list[str]] | str:
    """Return the rows, or the refusal's message (an InputError does not cross back whole)."""
    try:
        return read_csv_rows(path)
    except InputError as error:
        return str(error)


def _csv_text(path: Path) -> str:
    """Return a CSV file's text; raise InputError when it is too big, binary or in no known encoding."""
    try:
        data = read_regular(path)
    except RefusedInputError as refused:
        raise InputError(f"{path.name} : {_CSV_REFUSALS.get(refused.sniffed.kind, 'illisible')}") from None
    except OSError as error:
        raise InputError(f"{path.name} : lecture impossible ({error.__class__.__name__})") from error
    try:
        text = data.decode("utf-16") if data.startswith(_UTF16_BOMS) else _decode_8bit(data)
    except UnicodeDecodeError as error:
        raise InputError(f"{path.name} : encodage non reconnu (octet {error.start + 1}) : "
                         f"{_SAVE_AS_CSV}") from error
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InputError(f"{path.name}, ligne {line} : caractère nul, ce n'est pas un fichier CSV ni un "
                         f"classeur : {_SAVE_AS_CSV}")
    return text


def _decode_8bit(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")  # strict: bytes Windows-1252 leaves undefined are refused


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """Raise the csv module's field limit for one read, then put it back (it is process-wide)."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _csv_problem(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return (f"champ de plus de {french_number(MAX_CSV_FIELD_CHARS)} caractères (guillemet non fermé ?) : "
                "corrigez cette ligne et réessayez")
    return f"ligne CSV illisible ({error}) : {_SAVE_AS_CSV}"

