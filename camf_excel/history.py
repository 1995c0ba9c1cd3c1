"""The Historique sheet of a rolled-forward workbook: earlier periods' values, read back.

The sheet is written by the generator (writer.HISTORY_HEADERS) from what `reconduire` carries;
read here from the same guarded bytes as any workbook, its columns found by their headers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from camf_excel.figures import HISTORY_KEYS, period_year
from camf_excel.files import load_input
from camf_excel.normalise import clean_text, fold
from camf_excel.reader import READ_KINDS, guard_workbook, open_workbook, sheet_rows
from camf_excel.writer import HISTORY_HEADERS, HISTORY_SHEET

_HEADERS = {fold(header): key for header, key in zip(HISTORY_HEADERS, HISTORY_KEYS, strict=True)}
_HEADER_SCAN = 10
_TEXTS = frozenset({"action_id", "action", "statut", "en_retard"})


def read_history(path: Path) -> list[dict[str, object]]:
    """Return the history rows of a workbook (empty when it has no Historique sheet or an empty one).

    Call it in a capped worker, as every read of a file from outside.
    """
    loaded = load_input(Path(path))
    if loaded.sniffed.kind not in READ_KINDS:
        return []
    wanted = fold(HISTORY_SHEET)
    guard_workbook(Path(path), loaded.sniffed.kind, loaded.data, lambda name: fold(name) == wanted)
    book = open_workbook(loaded.data)
    name = next((n for n in book.sheet_names if fold(n) == fold(HISTORY_SHEET)), None)
    return _history_rows(sheet_rows(book, name)) if name else []


def _history_rows(rows: list[list[object]]) -> list[dict[str, object]]:
    for index, row in enumerate(rows[:_HEADER_SCAN]):
        columns = {col: _HEADERS[fold(clean_text(cell))] for col, cell in enumerate(row)
                   if fold(clean_text(cell)) in _HEADERS}
        if "periode" in columns.values() and "statut" in columns.values():
            return [kept for values in rows[index + 1:] if (kept := _row(values, columns))]
    return []


def _row(values: list[object], columns: dict[int, str]) -> dict[str, object] | None:
    found = {key: _value(key, values[col]) for col, key in columns.items() if col < len(values)}
    return found if found.get("periode") is not None else None


def _value(key: str, value: object) -> object:
    if key in _TEXTS:
        return clean_text(value) or None
    if key == "date_maj" and isinstance(value, dt.datetime):
        return value.date()
    if key == "periode":
        return period_year(value)
    return value if value != "" else None
