"""Write tables for people and programs: issue reports as .xlsx, .csv (UTF-8 with BOM) or .json.

Free text read from workbooks is never written as a live formula (R10): in .xlsx every text
goes through `write_string` (a formula-looking text gets Excel's quote prefix, its value
unchanged); in CSV a text starting with = + - @ TAB CR LF gets a leading apostrophe — the only
change made — and every field is quoted so an embedded line break stays in its cell.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import xlsxwriter
from xlsxwriter.utility import quote_sheetname

from camf_excel.files import write_atomically
from camf_excel.writer import FORMULA_PREFIXES, WORKBOOK_OPTIONS

REPORT_HEADERS = {"severity": "Gravité", "code": "Code", "file": "Fichier", "sheet": "Feuille",
                  "cell": "Cellule", "row": "Ligne", "column": "Colonne", "value": "Valeur lue",
                  "message": "Message : quoi faire"}
REPORT_WIDTHS = {"severity": 13, "code": 26, "file": 40, "sheet": 16, "cell": 9, "row": 7,
                 "column": 16, "value": 28, "message": 90}
REPORT_FORMATS = (".xlsx", ".csv", ".json")
SEVERITY_COLOURS = {"erreur": "#FFC7CE", "avertissement": "#FFEB9C"}


def sort_issues(issues: pd.DataFrame) -> pd.DataFrame:
    """Order issues by file, sheet, then cell position (row, then column), file-level ones first."""
    if issues.empty:
        return issues
    keys = issues.assign(_row=issues["row"].fillna(0), _col=issues["cell"].map(_column_number))
    return keys.sort_values(["file", "sheet", "_row", "_col"], kind="stable").drop(columns=["_row", "_col"])


def _column_number(cell: object) -> int:
    letters = str(cell or "").rstrip("0123456789")
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter.upper()) - 64
    return number


def qualified_cell(sheet: str, cell: str) -> str:
    """Return a reference as Excel writes it: `'Plan d''action'!H12`."""
    if not cell:
        return quote_sheetname(sheet) if sheet else ""
    return f"{quote_sheetname(sheet)}!{cell}" if sheet else cell


def write_issues_report(issues: pd.DataFrame, path: Path, force: bool = False) -> Path:
    """Write the issues report; the format follows the extension (.xlsx, .csv or .json)."""
    suffix = path.suffix.lower()
    ordered = sort_issues(issues)
    if suffix == ".csv":
        data = csv_bytes(ordered)
    elif suffix == ".json":
        data = json_bytes(ordered)
    else:
        data = _issues_workbook(ordered)
    return write_atomically(path, data, force)


def neutralise(value: object) -> object:
    """Prefix a text that a spreadsheet would take for a formula with an apostrophe (CSV only)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """Return a frame as CSV: UTF-8 with BOM, comma, every field quoted, formulas neutralised."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(frame.columns)
    for row in frame.itertuples(index=False, name=None):
        writer.writerow(["" if _missing(v) else neutralise(_plain(v)) for v in row])
    return buffer.getvalue().encode("utf-8-sig")


def json_bytes(frame: pd.DataFrame) -> bytes:
    """Return a frame as a JSON list of objects (UTF-8, accents kept, missing values as null)."""
    records = [{k: (None if _missing(v) else _plain(v)) for k, v in zip(frame.columns, row, strict=True)}
               for row in frame.itertuples(index=False, name=None)]
    return (json.dumps(records, ensure_ascii=False, indent=1, default=str) + "\n").encode("utf-8")


def _missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _plain(value: object) -> object:
    """Turn numpy scalars into Python ones, dates into ISO text."""
    if hasattr(value, "item"):
        value = value.item()  # type: ignore[union-attr]
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[union-attr]
    return value


def _issues_workbook(issues: pd.DataFrame) -> bytes:
    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, WORKBOOK_OPTIONS)
    formats = _ReportFormats(book)
    _write_issue_sheet(book, formats, issues)
    _write_file_sheet(book, formats, issues)
    book.set_properties({"title": "Rapport de validation camf-excel", "author": "camf-excel"})
    book.close()
    return output.getvalue()


class _ReportFormats:
    def __init__(self, book: xlsxwriter.Workbook) -> None:
        self.header = book.add_format({"bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF",
                                       "text_wrap": True, "valign": "top", "border": 1})
        self.text = book.add_format({"text_wrap": True, "valign": "top"})
        self.quoted = book.add_format({"text_wrap": True, "valign": "top", "quote_prefix": True})
        self.severity = {name: book.add_format({"bg_color": colour, "valign": "top"})
                         for name, colour in SEVERITY_COLOURS.items()}


def write_text(sheet: object, row: int, col: int, value: object, formats: _ReportFormats) -> None:
    """Write any value as text or number, never as a formula; check xlsxwriter's return code."""
    if _missing(value):
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = str(_plain(value))
        fmt = formats.quoted if text.startswith(FORMULA_PREFIXES) else formats.text
        result = sheet.write_string(row, col, text, fmt)  # type: ignore[attr-defined]
    else:
        result = sheet.write_number(row, col, value, formats.text)  # type: ignore[attr-defined]
    if result not in (0, -2):  # -2: truncated to 32,767 characters, the full text stays in CSV
        raise ValueError(f"xlsxwriter refused cell ({row}, {col}): {result}")


def _write_issue_sheet(book: xlsxwriter.Workbook, formats: _ReportFormats, issues: pd.DataFrame) -> None:
    sheet = book.add_worksheet("Problèmes")
    columns = list(REPORT_HEADERS)
    for col, key in enumerate(columns):
        sheet.write_string(0, col, REPORT_HEADERS[key], formats.header)
        sheet.set_column(col, col, REPORT_WIDTHS[key])
    for row, values in enumerate(issues[columns].itertuples(index=False, name=None), start=1):
        for col, value in enumerate(values):
            if columns[col] == "severity":
                sheet.write_string(row, col, str(value), formats.severity.get(str(value), formats.text))
            else:
                write_text(sheet, row, col, value, formats)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(issues), 1), len(columns) - 1)


def _write_file_sheet(book: xlsxwriter.Workbook, formats: _ReportFormats, issues: pd.DataFrame) -> None:
    sheet = book.add_worksheet("Par fichier")
    headers = ("Fichier", "Erreurs", "Avertissements")
    for col, header in enumerate(headers):
        sheet.write_string(0, col, header, formats.header)
    sheet.set_column(0, 0, 60)
    sheet.set_column(1, 2, 15)
    counts = _counts_by_file(issues)
    for row, (file, errors, warnings) in enumerate(counts, start=1):
        write_text(sheet, row, 0, file, formats)
        sheet.write_number(row, 1, errors)
        sheet.write_number(row, 2, warnings)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(counts), 1), len(headers) - 1)


def _counts_by_file(issues: pd.DataFrame) -> Sequence[tuple[str, int, int]]:
    if issues.empty:
        return []
    table = pd.crosstab(issues["file"], issues["severity"])
    return [(str(file), int(table.loc[file].get("erreur", 0)), int(table.loc[file].get("avertissement", 0)))
            for file in table.index]
