"""Write tables for people and programs: issue reports as .xlsx, .csv (UTF-8 with BOM) or .json.

Free text read from workbooks is never written as a live formula (R10): in .xlsx every text
goes through `write_string` (a formula-looking text gets Excel's quote prefix, its value
unchanged); in CSV a text starting with = + - @ TAB CR LF gets a leading apostrophe — the only
change made — and every field is quoted so an embedded line break stays in its cell.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xlsxwriter
from xlsxwriter.chart import Chart
from xlsxwriter.format import Format
from xlsxwriter.utility import quote_sheetname
from xlsxwriter.worksheet import Worksheet

from camf_excel.batch import CHECKLIST_COLUMNS, CONFORMING, TO_CORRECT, UNREADABLE
from camf_excel.consolidation import ALL_LEVEL, NO_STATUS, Consolidation, Summary, status_key
from camf_excel.normalise import french_date
from camf_excel.outputs import write_atomically, write_directory
from camf_excel.templates import DEFAULT_TEMPLATE, load_template
from camf_excel.writer import FORMULA_PREFIXES, NUMBER_FORMATS, STATUS_COLOURS, WORKBOOK_OPTIONS

REPORT_HEADERS = {"severity": "Gravité", "code": "Code", "file": "Fichier", "sheet": "Feuille",
                  "cell": "Cellule", "row": "Ligne", "column": "Colonne", "value": "Valeur lue",
                  "message": "Message : quoi faire"}
# The widest each column may grow; narrower when its content is (a path or a message wraps).
REPORT_WIDTHS = {"severity": 13, "code": 30, "file": 32, "sheet": 16, "cell": 9, "row": 7,
                 "column": 22, "value": 24, "message": 60}
REPORT_FORMATS = (".xlsx", ".csv", ".json")
SEVERITY_COLOURS = {"erreur": "#FFC7CE", "avertissement": "#FFEB9C"}
VERDICT_COLOURS = {UNREADABLE: "#FFC7CE", TO_CORRECT: "#FFEB9C", CONFORMING: "#C6EFCE"}  # checklist order
CHECKLIST_LABELS = {"file": "Fichier", "organisation": "Organisation", "periode": "Période (année de suivi)",
                    "responsable_nom": "Responsable du suivi",
                    "responsable_courriel": "Courriel à qui écrire",
                    "verdict": "Verdict", "erreurs": "Erreurs", "avertissements": "Avertissements",
                    "suivi": "Suivi (relance, correction reçue)"}
CHECKLIST_WIDTHS = {"file": 40, "organisation": 28, "responsable_nom": 22, "responsable_courriel": 30,
                    "verdict": 12, "suivi": 28}
# Codes of a file that could not be read at all (only used when the run's results are not given).
UNREADABLE_CODES = ("FICHIER_VIDE", "FICHIER_TROP_GROS", "PAS_UN_CLASSEUR", "FICHIER_ENDOMMAGE",
                    "FICHIER_PROTEGE", "FICHIER_DANGEREUX", "FICHIER_ILLISIBLE")


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


def write_issues_report(issues: pd.DataFrame, path: Path, force: bool = False,
                        files: pd.DataFrame | None = None, today: dt.date | None = None) -> Path:
    """Write the issues report; the format follows the extension (.xlsx, .csv or .json).

    `files` (batch.checklist_frame) lists every file validated for the .xlsx checklist; without it,
    the checklist lists the files that issues name.
    """
    suffix = path.suffix.lower()
    ordered = sort_issues(issues)
    if suffix == ".csv":
        data = csv_bytes(ordered)
    elif suffix == ".json":
        data = json_bytes(ordered)
    else:
        checklist = files if files is not None else _checklist_from_issues(ordered)
        data = _issues_workbook(ordered, checklist, today or dt.date.today())
    return write_atomically(path, data, force)


def neutralise(value: object) -> object:
    """Prefix a text that a spreadsheet would take for a formula with an apostrophe (CSV only)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """Return a frame as CSV: UTF-8 with BOM, comma, every field quoted, formulas neutralised."""
    text_columns = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c].dtype)
                    or pd.api.types.is_bool_dtype(frame[c].dtype)]
    shown = frame.copy()
    for column in text_columns:
        values = frame[column]
        if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
            shown[column] = values.mask(values.str.startswith(FORMULA_PREFIXES, na=False), "'" + values)
        else:
            shown[column] = values.map(_csv_text, na_action="ignore")
    buffer = io.StringIO(newline="")
    shown.to_csv(buffer, index=False, quoting=csv.QUOTE_ALL, lineterminator="\r\n", na_rep="")
    return buffer.getvalue().encode("utf-8-sig")


def _csv_text(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    return neutralise(_plain(value))


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
        value = value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _issues_workbook(issues: pd.DataFrame, files: pd.DataFrame, today: dt.date) -> bytes:
    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, WORKBOOK_OPTIONS)
    formats = _ReportFormats(book)
    page = _Page("Rapport de validation des classeurs de suivi", period_label(files.get("periode")), today)
    _write_issue_sheet(book, formats, issues, page)
    _write_checklist(book, formats, files, issues, page)
    book.set_properties({"title": "Rapport de validation camf-excel", "author": "camf-excel"})
    book.close()
    return output.getvalue()


class _ReportFormats:
    def __init__(self, book: xlsxwriter.Workbook) -> None:
        def add(properties: dict[str, object]) -> Format:
            return book.add_format({"valign": "top", **properties})

        self.header = add({"bold": True, "bg_color": "#1F4E78", "font_color": "#FFFFFF", "text_wrap": True,
                           "border": 1})
        self.text = add({"text_wrap": True})
        self.plain = add({})
        self.quoted = {True: add({"text_wrap": True, "quote_prefix": True}),
                       False: add({"quote_prefix": True})}
        self.severity = {name: add({"bg_color": colour}) for name, colour in SEVERITY_COLOURS.items()}
        self.verdict = {name: add({"bg_color": colour}) for name, colour in VERDICT_COLOURS.items()}
        self.title = book.add_format({"bold": True, "font_size": 14, "font_color": "#1F4E78"})
        self.link = book.add_format({"font_color": "#0563C1", "underline": 1})
        self.date = add({"num_format": NUMBER_FORMATS["date"]})
        self.percent = add({"num_format": '0.0\\ "%"'})
        self.money = add({"num_format": NUMBER_FORMATS["number"]})

    def number_format(self, key: str) -> Format:
        """Return the number format of a column: percent, dollars, or plain."""
        if key in _PERCENT_KEYS:
            return self.percent
        return self.money if key in _MONEY_KEYS else self.plain


def _write_issue_sheet(book: xlsxwriter.Workbook, formats: _ReportFormats, issues: pd.DataFrame, page: _Page,
                       name: str = "Problèmes") -> None:
    style = _TableStyle(REPORT_HEADERS, REPORT_WIDTHS, wrap=True, by_value={"severity": formats.severity})
    sheet = book.add_worksheet(name)
    width = _write_frame(sheet, formats, issues[list(REPORT_HEADERS)], style)
    _print_setup(sheet, page, width, header_rows=(0, 0))


def _write_checklist(book: xlsxwriter.Workbook, formats: _ReportFormats, files: pd.DataFrame,
                     issues: pd.DataFrame, page: _Page) -> None:
    """Every file validated, whom to write to and the verdict; the counts above the table."""
    sheet = book.add_worksheet("Par fichier")
    rank = files["verdict"].map({v: i for i, v in enumerate(VERDICT_COLOURS)}).fillna(len(VERDICT_COLOURS))
    ordered = files.assign(_rank=rank).sort_values(["_rank", "file"], kind="stable").drop(columns="_rank")
    ordered = ordered.assign(suivi=None)
    sheet.write_string(0, 0, f"{page.title} — {page.period}", formats.title)
    sheet.write_string(1, 0, _checklist_counts(files, issues))
    style = _TableStyle(CHECKLIST_LABELS, CHECKLIST_WIDTHS, wrap=True, by_value={"verdict": formats.verdict})
    width = _write_frame(sheet, formats, ordered, style, first_row=3)
    _print_setup(sheet, page, width, header_rows=(3, 3))


def _checklist_counts(files: pd.DataFrame, issues: pd.DataFrame) -> str:
    counts = files["verdict"].value_counts()
    parts = [f"{verdict} : {int(counts.get(verdict, 0))}" for verdict in VERDICT_COLOURS]
    line = f"{len(files)} classeur(s) validé(s) — {' ; '.join(parts)}."
    ignored = int((issues["code"] == "FICHIER_IGNORE").sum()) if "code" in issues else 0
    if ignored:
        line += f" {ignored} fichier(s) laissé(s) de côté (voir Problèmes)."
    return line


def _checklist_from_issues(issues: pd.DataFrame) -> pd.DataFrame:
    """Without the validate run's results: one row per file named by an issue, verdict from its errors."""
    rows = []
    for file, group in issues.groupby("file", sort=False) if not issues.empty else ():
        if (group["code"] == "FICHIER_IGNORE").all():
            continue
        errors = int((group["severity"] == "erreur").sum())
        unreadable = group["code"].isin(UNREADABLE_CODES).any()
        verdict = UNREADABLE if unreadable else (TO_CORRECT if errors else CONFORMING)
        rows.append({"file": file, "verdict": verdict, "erreurs": errors,
                     "avertissements": len(group) - errors})
    return pd.DataFrame(rows, columns=list(CHECKLIST_COLUMNS))


# --- the consolidation's outputs ----------------------------------------------------------------

OUTPUT_WORKBOOK = "consolidation.xlsx"
TABLE_OUTPUTS = ("actions", "organisations", "validation", "completude")
# Column headers: what each column holds, in words. A key without a label here is shown as words
# (readable_label), so a column added to a table upstream is never a bare key.
LABELS = {
    "organisation": "Organisation", "type": "Type", "code_geo": "Code géographique", "mrc": "MRC",
    "region": "Région", "demarche": "Démarche", "periode": "Période (année de suivi)",
    "annee_debut": "Début du plan (année)", "annee_fin": "Fin du plan (année)", "actions": "Nombre d'actions",
    "sans_statut": "Sans statut", "pct_realisees": "Actions réalisées (%)", "en_retard": "Actions en retard",
    "avancement_moyen": "Avancement moyen (%)", "budget_prevu": "Budget prévu ($)",
    "budget_reel": "Budget utilisé ($)", "date_maj": "Dernière mise à jour", "erreurs": "Erreurs",
    "avertissements": "Avertissements", "periode_precedente": "Période précédente lue",
    "nouvellement_realisees": "Réalisées depuis la période précédente",
    "nouvellement_en_retard": "En retard depuis la période précédente",
    "template_version": "Version du modèle",
    "template_id": "Modèle", "source_file": "Fichier source", "source_row": "Ligne dans le fichier",
    "organisations": "Organisations ayant un classeur", "attendues": "Organisations attendues",
    "recues": "Classeurs reçus", "remplies": "Classeurs remplis", "etat": "État du classeur",
    "rempli": "Suivi saisi", "taux_reponse": "Taux de réponse (%)", "champ": "Champ d'action",
    "recu": "Classeur reçu", "courriel": "Courriel de contact", "attendu": "Attendu (territoires)",
    "remarque": "Remarque", "statut": "Statut", "motif": "Motif", "format": "Format lu",
    "octets": "Taille (octets)", "sha256": "Empreinte SHA-256",
    "date_maj_fichier": "Mise à jour du fichier (Identification)", "lignes_lues": "Lignes lues",
    "lignes_consolidees": "Lignes consolidées", "lignes_rejetees": "Lignes écartées",
    "colonnes_supplementaires": "Colonnes ajoutées au classeur",
    "classeurs_mrc": "Classeurs de MRC", "periodes": "Périodes reçues",
    "illisibles": "Classeurs reçus illisibles", "niveau": "Niveau", "realisees": "Actions réalisées",
    "ajoutees": "Actions ajoutées en cours de plan",
}
# Where one key holds something else in one sheet: an action's own years, a file's fate.
_ACTION_LABELS = {"annee_debut": "Début de l'action (année)", "annee_fin": "Fin prévue de l'action (année)",
                  "date_maj": "Mise à jour de l'action", "statut": "Statut de l'action"}
SHEET_LABELS: dict[str, dict[str, str]] = {
    "Actions": _ACTION_LABELS, "Obstacles": _ACTION_LABELS, "Bons coups": _ACTION_LABELS,
    "Sources": {"statut": "Traitement du fichier", "erreurs": "Erreurs", "periode": "Période lue"},
}
# Codes shown in words in the workbook (CSV and Parquet keep the codes).
VALUE_LABELS = {"etat": {"non_recu": "non reçu", "recu_illisible": "reçu, illisible",
                         "recu_non_rempli": "reçu, non rempli", "recu_avec_erreurs": "reçu, avec erreurs",
                         "recu_valide": "reçu, valide"}}
_PERCENT_KEYS = frozenset({"pct_realisees", "avancement", "avancement_moyen", "taux_reponse"})
_MONEY_KEYS = frozenset({"budget_prevu", "budget_reel"})
# The widest each column may grow (characters); the others stop at 30 (text) or 14 (numbers).
_WIDE_KEYS = {"action": 50, "objectif": 36, "obstacles": 45, "commentaires": 45, "message": 60,
              "source_file": 40, "motif": 45, "remarque": 36, "indicateur": 32, "prochaines_etapes": 36,
              "sha256": 16, "organisation": 30, "mrc": 28, "region": 24, "champ": 30, "partenaires": 30}


def output_files(outdir: Path) -> list[Path]:
    """Return the paths that write_consolidation writes into outdir."""
    names = [OUTPUT_WORKBOOK, *(f"{t}.{ext}" for t in TABLE_OUTPUTS for ext in ("csv", "parquet")),
             "sources.csv"]
    return [outdir / name for name in names]


def consolidation_outputs(consolidation: Consolidation) -> dict[str, bytes]:
    """Return every output of a consolidation by file name: the workbook, CSV and Parquet tables."""
    tables = {"actions": consolidation.actions, "organisations": consolidation.organisations,
              "validation": sort_issues(consolidation.issues), "completude": consolidation.completeness,
              "tendances": consolidation.trends}
    outputs = {OUTPUT_WORKBOOK: consolidated_workbook(consolidation)}
    for name, frame in tables.items():
        outputs[f"{name}.csv"] = csv_bytes(frame)
        outputs[f"{name}.parquet"] = parquet_bytes(frame)
    outputs["sources.csv"] = csv_bytes(consolidation.sources)
    return outputs


def write_consolidation(consolidation: Consolidation, outdir: str | Path, force: bool = False) -> list[Path]:
    """Write the consolidation's outputs into outdir, all at once; return the paths written."""
    return write_directory(Path(outdir), consolidation_outputs(consolidation), force)


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Return a frame as Parquet: raw text kept as read (no neutralisation), types kept."""
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer, engine="pyarrow", index=False, compression="zstd")
    return buffer.getvalue()


# --- layout: what a person sees on opening the file, and on paper -------------------------------

LINE_POINTS = 15.0  # one line of Calibri 11, Excel's default font
ROW_PIXELS = 20  # a row of that height on screen
CHAR_PIXELS = 7  # Excel's column width unit: a digit of Calibri 11
# Neither Excel nor LibreOffice fits a row written by a library to its wrapped text: the heights are
# computed here from the text's length and the column's width, generously (bold is wider, and
# LibreOffice may substitute a wider font for Calibri).
BOLD_FACTOR, TEXT_FACTOR = 1.3, 0.92
MAX_ROW_LINES = 15
PORTRAIT_WIDTH = 100  # characters across a Letter page in portrait, margins taken off
TEXT_WIDTH_CAP, NUMBER_WIDTH_CAP = 30, 14


def wrapped_lines(text: str, width: float, factor: float = TEXT_FACTOR) -> int:
    """Return how many lines a text takes in a wrapped cell `width` characters wide (word by word)."""
    capacity = max(1, int((width - 1) / factor))
    total = 0
    for paragraph in str(text).split("\n"):
        lines, used = 1, 0
        for word in paragraph.split():
            size = len(word)
            if used and used + 1 + size > capacity:
                lines, used = lines + 1, 0
            if used:
                used += 1 + size
            else:  # a word longer than the line is broken wherever it reaches the edge
                lines += (size - 1) // capacity
                used = (size - 1) % capacity + 1
        total += lines
    return max(total, 1)


def row_points(lines: int) -> float:
    """Return the height of a row showing `lines` lines of text, in points."""
    return LINE_POINTS * min(max(lines, 1), MAX_ROW_LINES) + (3 if lines > 1 else 0)


def period_label(periods: object) -> str:
    """Say which période(s) a report covers, from a value or a column of them."""
    values = periods.dropna().tolist() if isinstance(periods, pd.Series) else [periods]
    years = sorted({int(v) for v in values if isinstance(v, int | float) and not _missing(v)})
    if not years:
        return "période non précisée"
    if len(years) == 1:
        return f"période {years[0]}"
    if len(years) > 3:
        return f"périodes {years[0]} à {years[-1]}"
    return f"périodes {', '.join(map(str, years[:-1]))} et {years[-1]}"


def readable_label(key: str) -> str:
    """Label a column nobody named yet with its key as words: « recu_illisible » -> « Recu illisible »."""
    words = str(key).replace("_", " ").strip()
    return words[:1].upper() + words[1:] if words else "(sans nom)"


@dataclass(frozen=True)
class _Page:
    """What every printed page says: the document, the period it covers, the day it was produced."""

    title: str
    period: str
    produced: dt.date


def _header_text(text: str) -> str:
    return text.replace("&", "&&")[:100]


def _print_setup(sheet: Worksheet, page: _Page, width: float, header_rows: tuple[int, int] | None) -> None:
    """Letter paper, landscape when wide, one page wide, header rows repeated, title and page numbers."""
    sheet.set_paper(1)  # Letter, as printed in Quebec
    if width > PORTRAIT_WIDTH:
        sheet.set_landscape()
    sheet.set_margins(left=0.4, right=0.4, top=0.75, bottom=0.6)
    sheet.fit_to_pages(1, 0)
    if header_rows is not None:
        sheet.repeat_rows(*header_rows)
    sheet.set_header(f"&L&B{_header_text(page.title)}&B — &A&R{_header_text(page.period)}", {"margin": 0.3})
    sheet.set_footer(f"&LProduit le {french_date(page.produced)}&Rpage &P de &N", {"margin": 0.3})


@dataclass(frozen=True)
class _TableStyle:
    """How a sheet shows a table: header labels, widest column widths, text wrapping, per-value fills."""

    labels: Mapping[str, str]
    widths: Mapping[str, float] = field(default_factory=lambda: _WIDE_KEYS)
    wrap: bool = False
    by_value: Mapping[str, Mapping[str, Format]] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: VALUE_LABELS)
    freeze_columns: int = 0
    file_names: bool = False  # show a source file by its name (Sources and Validation give the path)

    def label(self, key: str) -> str:
        """Return a column's French header, or its key as words when it has none yet."""
        return self.labels.get(key) or readable_label(key)

    def shown(self, key: str, series: pd.Series) -> pd.Series:
        """Return a column as shown: codes (e.g. completeness states) in words."""
        if key == "source_file" and self.file_names:
            return series.map(lambda v: re.split(r"[\\/]", v)[-1] if isinstance(v, str) else v)
        names = self.values.get(key)
        return series.map(lambda v: names.get(v, v) if isinstance(v, str) else v) if names else series


def column_width(label: str, series: pd.Series, cap: float) -> float:
    """Return a width (characters) that fits a column's content within cap, its header in ≤ 3 lines.

    A number's width is its own, whatever the cap; a header's longest word is never cut.
    """
    longest_word = max((len(word) for word in label.split()), default=1) * BOLD_FACTOR + 1.5
    header = max(longest_word, len(label) * BOLD_FACTOR / 3 + 1.5)
    content = _content_width(series) * TEXT_FACTOR + 1.5
    if _is_number(series):  # a number is never cut (it would show as ###)
        return round(max(min(header, cap), longest_word, content, 6.0), 1)
    return round(min(max(header, content, 6.0), max(cap, longest_word)), 1)


def _content_width(series: pd.Series) -> float:
    """Characters of a column's longer values (the 90th percentile: one long note does not widen all)."""
    sample = series.dropna()
    if sample.empty:
        return 0.0
    if pd.api.types.is_bool_dtype(sample.dtype):
        return 3.0
    if pd.api.types.is_numeric_dtype(sample.dtype):
        largest = float(sample.abs().max())
        return len(f"{largest:,.2f}") + 3 if largest != int(largest) else len(f"{int(largest):,}") + 1
    lengths = sample.head(5000).map(lambda v: 10 if isinstance(v, dt.date) else len(str(v)))
    return float(lengths.quantile(0.9))


def _write_column(sheet: Worksheet, formats: _ReportFormats, style: _TableStyle, key: str, series: pd.Series,
                  first: int, col: int) -> None:
    """Write one column's cells by type, never a formula; check each of xlsxwriter's return codes."""
    number_format = formats.number_format(key)
    text_format = formats.text if style.wrap else formats.plain
    by_value = style.by_value.get(key, {})
    values = series.tolist()
    if pd.api.types.is_bool_dtype(series.dtype):
        values = ["Oui" if v else "Non" for v in values]
    elif pd.api.types.is_numeric_dtype(series.dtype):
        for row, value in enumerate(values, start=first):
            if not pd.isna(value):
                _ok(sheet.write_number(row, col, value, number_format), f"la cellule ({row}, {col})")
        return
    for row, value in enumerate(values, start=first):
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value == "":
            continue
        if isinstance(value, bool):
            result = sheet.write_string(row, col, "Oui" if value else "Non", text_format)
        elif isinstance(value, dt.date):
            result = sheet.write_datetime(row, col, value, formats.date)
        elif isinstance(value, int | float):
            result = sheet.write_number(row, col, value, number_format)
        else:
            text = str(value)
            quoted = formats.quoted[style.wrap] if text.startswith(FORMULA_PREFIXES) else None
            result = sheet.write_string(row, col, text, quoted or by_value.get(text, text_format))
        if result not in (0, -2):  # -2: text cut to 32,767 characters, the full text stays in CSV
            _ok(result, f"la cellule ({row}, {col})")


def _write_frame(sheet: Worksheet, formats: _ReportFormats, frame: pd.DataFrame, style: _TableStyle,
                 first_row: int = 0, freeze: bool = True, widths: Sequence[float] | None = None,
                 filters: bool = True) -> float:
    """Write a table: French headers tall enough, typed cells, fitted widths, filters; return its width.

    `widths` imposes the columns' widths (two tables on one sheet share its columns).
    """
    columns = list(frame.columns)
    shown = {key: style.shown(key, frame[key]) for key in columns}
    fitted = dict(zip(columns, widths or table_widths(frame, style), strict=False))
    for col, key in enumerate(columns):
        label = style.label(key)
        _ok(sheet.write_string(first_row, col, label, formats.header), f"l'en-tête {label}")
        sheet.set_column(col, col, fitted[key])
        _write_column(sheet, formats, style, key, shown[key], first_row + 1, col)
    header_lines = max((wrapped_lines(style.label(k), fitted[k], BOLD_FACTOR) for k in columns), default=1)
    sheet.set_row(first_row, row_points(header_lines))
    if style.wrap:
        for offset, lines in enumerate(_row_lines(shown, fitted)):
            if lines > 1:
                sheet.set_row(first_row + 1 + offset, row_points(lines))
    if freeze:
        sheet.freeze_panes(first_row + 1, style.freeze_columns)
    if filters:
        sheet.autofilter(first_row, 0, first_row + max(len(frame), 1), max(len(columns) - 1, 0))
    return sum(fitted.values())


def table_widths(frame: pd.DataFrame, style: _TableStyle) -> list[float]:
    """Return the width of each column of a table as shown: its content's, within its cap."""
    widths = []
    for key in frame.columns:
        cap = style.widths.get(key, NUMBER_WIDTH_CAP if _is_number(frame[key]) else TEXT_WIDTH_CAP)
        widths.append(column_width(style.label(key), style.shown(key, frame[key]), cap))
    return widths


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def _row_lines(shown: Mapping[str, pd.Series], widths: Mapping[str, float]) -> list[int]:
    """Lines each row needs: its tallest wrapped text."""
    size = len(next(iter(shown.values()))) if shown else 0
    lines = [1] * size
    for key, series in shown.items():
        if _is_number(series):
            continue
        width = widths[key]
        for index, value in enumerate(series.tolist()):
            if isinstance(value, str) and (len(value) * TEXT_FACTOR > width - 1 or "\n" in value):
                lines[index] = max(lines[index], wrapped_lines(value, width))
    return lines


def consolidated_workbook(consolidation: Consolidation, today: dt.date | None = None) -> bytes:
    """Return consolidation.xlsx: synthesis with charts, then one filterable, printable sheet per table."""
    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, WORKBOOK_OPTIONS)
    formats = _ReportFormats(book)
    c = consolidation
    page = _Page("Consolidation des classeurs de suivi",
                 period_label(c.periode if c.periode is not None else c.organisations.get("periode")),
                 today or dt.date.today())
    labels = _labels(c.statuses)
    _write_synthesis(book, formats, c, _TableStyle(labels, wrap=True), page)
    for name, frame in (("Organisations", c.organisations), ("Champs d'action", c.champs),
                        ("Actions", c.actions), ("Obstacles", c.obstacles), ("Bons coups", c.successes),
                        ("Complétude", c.completeness)):
        style = _TableStyle({**labels, **SHEET_LABELS.get(name, {})}, wrap=name != "Actions",
                            freeze_columns=1 if name == "Organisations" else 0, file_names=True)
        sheet = book.add_worksheet(name)
        _print_setup(sheet, page, _write_frame(sheet, formats, frame, style), header_rows=(0, 0))
    _write_trends(book, formats, c.trends, _TableStyle(labels, wrap=True), page)
    _write_issue_sheet(book, formats, sort_issues(c.issues), page, "Validation")
    sheet = book.add_worksheet("Sources")
    style = _TableStyle({**labels, **SHEET_LABELS["Sources"]}, wrap=True)
    _print_setup(sheet, page, _write_frame(sheet, formats, c.sources, style), header_rows=(0, 0))
    book.set_properties({"title": f"Consolidation camf-excel — {page.period}", "author": "camf-excel"})
    book.set_custom_property("camf_output", "consolidation")
    book.close()
    return output.getvalue()


TRENDS = "Tendances"


def _write_trends(book: xlsxwriter.Workbook, formats: _ReportFormats, trends: pd.DataFrame,
                  style: _TableStyle, page: _Page) -> None:
    """The trend across periods: all the inputs, each MRC, each organisation; a chart of the whole."""
    sheet = book.add_worksheet(TRENDS)
    width = _write_frame(sheet, formats, trends, style)
    _print_setup(sheet, page, width, header_rows=(0, 0))
    overall = trends.index[trends["niveau"] == ALL_LEVEL].tolist()
    if len(overall) < 2:
        return  # one period: no trend to draw
    first, last = overall[0] + 1, overall[-1] + 1  # the rows under the header
    period, share = (list(trends.columns).index(key) for key in ("periode", "pct_realisees"))
    chart = book.add_chart({"type": "line"})
    chart.add_series({"name": "Actions réalisées (%), ensemble des classeurs",
                      "categories": [TRENDS, first, period, last, period],
                      "values": [TRENDS, first, share, last, share], "marker": {"type": "circle"}})
    chart.set_title({"name": "Actions réalisées (%) par période"})
    chart.set_y_axis({"min": 0, "max": 100, "num_format": "0"})
    chart.set_legend({"none": True})
    chart.set_size({"width": 520, "height": 300})
    _ok(sheet.insert_chart(1, len(trends.columns) + 1, chart), "graphique des tendances")


def _labels(statuses: Sequence[str]) -> dict[str, str]:
    """Headers of the consolidation: the workbook's own for an action's fields, then LABELS, then statuses."""
    labels = {c.key: c.header for c in load_template(DEFAULT_TEMPLATE).columns}
    labels.update(LABELS)
    labels.update({status_key(s): s for s in statuses})
    return labels


SYNTHESIS = "Synthèse par MRC"
CHART_ROW = 5
MRC_BAR_PIXELS, REGION_BAR_PIXELS = 15, 22  # per category: the names stay readable
MRC_CHART_WIDTH, REGION_CHART_WIDTH, CHART_GAP = 760, 560, 20
MRCS_PER_CHART = 40  # a chart of 40 bars fits a printed page at the sheet's scale


def _write_synthesis(book: xlsxwriter.Workbook, formats: _ReportFormats, consolidation: Consolidation,
                     style: _TableStyle, page: _Page) -> None:
    """The first sheet: the accounting, the charts at the top, then the tables by MRC and by région.

    The MRCs are charted by groups of MRCS_PER_CHART, one chart under the other, each on its own
    printed page: one chart of a hundred MRCs would be either unreadable or cut by a page break.
    """
    sheet = book.add_worksheet(SYNTHESIS)
    sheet.write_string(0, 0, f"{page.title} — {page.period}", formats.title)
    produced = f"Produit le {french_date(page.produced)}."
    sheet.write_string(1, 0, f"{produced} {_summary_line(consolidation.summary)}")
    mrcs, regions = _ranked(consolidation.mrcs), _aligned(_ranked(consolidation.regions), consolidation.mrcs)
    with_mrc, with_region = _received(mrcs), _received(regions)
    groups = [(start, min(MRCS_PER_CHART, with_mrc - start)) for start in range(0, with_mrc, MRCS_PER_CHART)]
    chart_rows, row = [], CHART_ROW
    for _start, count in groups:
        chart_rows.append(row)
        row += math.ceil(_bar_chart_height(count, MRC_BAR_PIXELS) / ROW_PIXELS) + 1
    region_height = _bar_chart_height(with_region, REGION_BAR_PIXELS) if with_region else 0
    mrc_top = max(row, CHART_ROW + math.ceil(region_height / ROW_PIXELS) + 1) + 2
    region_top = mrc_top + len(mrcs) + 3
    both = itertools.zip_longest(table_widths(mrcs, style), table_widths(regions, style), fillvalue=0.0)
    widths = [max(pair) for pair in both]
    sheet.write_string(mrc_top - 1, 0, "Par MRC (les MRC ayant des classeurs d'abord, triées par part "
                       "d'actions réalisées)", formats.title)
    _write_frame(sheet, formats, mrcs, style, first_row=mrc_top, freeze=False, widths=widths)
    sheet.write_string(region_top - 1, 0, "Par région", formats.title)
    _write_frame(sheet, formats, regions, style, first_row=region_top, freeze=False,
                 widths=widths[:len(regions.columns)], filters=False)
    _links(sheet, formats, {"Tableau par MRC ↓": mrc_top, "Tableau par région ↓": region_top})
    for (start, count), chart_row in zip(groups, chart_rows, strict=True):
        part = f" ({start + 1} à {start + count} sur {with_mrc})" if len(groups) > 1 else ""
        chart = _status_chart(book, mrcs, (mrc_top + start, count), consolidation, f"{page.period}{part}")
        if chart is not None:
            _ok(sheet.insert_chart(chart_row, 0, chart), "graphique par MRC")
    if with_region:
        chart = _realised_chart(book, regions, (region_top, with_region), page.period, region_height)
        x_offset = MRC_CHART_WIDTH + CHART_GAP if with_mrc else 0
        _ok(sheet.insert_chart(CHART_ROW, 0, chart, {"x_offset": x_offset}), "graphique par région")
    sheet.set_h_pagebreaks([*chart_rows[1:], mrc_top - 1, region_top - 1])
    chart_width = (MRC_CHART_WIDTH + CHART_GAP + REGION_CHART_WIDTH) / CHAR_PIXELS
    _print_setup(sheet, page, max(sum(widths), chart_width), header_rows=None)


def _links(sheet: Worksheet, formats: _ReportFormats, targets: Mapping[str, int]) -> None:
    """Links under the title to the tables below the charts, one a line from the third row."""
    for line, (text, row) in enumerate(targets.items(), start=2):
        target = f"internal:{quote_sheetname(sheet.get_name())}!A{row + 1}"
        _ok(sheet.write_url(line, 0, target, formats.link, text), "lien vers un tableau")


def _summary_line(summary: Summary) -> str:
    line = (f"{summary.files_found} fichier(s) trouvé(s) : {summary.files_consolidated} consolidé(s), "
            f"{summary.files_refused} refusé(s), {summary.files_set_aside} mis de côté, "
            f"{summary.files_other_period} d'une autre période, {summary.files_ignored} ignoré(s). "
            f"Lignes : {summary.rows_read} lues = {summary.rows_consolidated} consolidées + "
            f"{summary.rows_rejected} écartées.")
    if summary.expected is not None:
        line += f" Complétude : {summary.received} reçue(s) sur {summary.expected} attendue(s)."
    return line


def _ranked(table: pd.DataFrame) -> pd.DataFrame:
    """Rows with a workbook first, the best share of realised actions first (the charts show them so)."""
    if table.empty or "organisations" not in table:
        return table
    keys = table.assign(_silent=~(table["organisations"].fillna(0) > 0))
    if "pct_realisees" in table:
        keys["_share"] = -table["pct_realisees"].astype(float).fillna(-1.0)
    else:
        keys["_share"] = 0.0
    ordered = keys.sort_values(["_silent", "_share"], kind="stable")
    return ordered.drop(columns=["_silent", "_share"]).reset_index(drop=True)


def _aligned(regions: pd.DataFrame, mrcs: pd.DataFrame) -> pd.DataFrame:
    """Give the table by région an MRC column, so both tables share the sheet's columns."""
    if "mrc" in regions or "mrc" not in mrcs or "region" not in regions:
        return regions
    position = min(list(mrcs.columns).index("mrc"), len(regions.columns))
    return regions.assign(mrc="(toutes)")[[*regions.columns[:position], "mrc", *regions.columns[position:]]]


def _received(table: pd.DataFrame) -> int:
    return int((table["organisations"].fillna(0) > 0).sum()) if "organisations" in table else 0


def _bar_chart_height(count: int, per_bar: int) -> int:
    return max(320, 110 + per_bar * count)


def _status_chart(book: xlsxwriter.Workbook, mrcs: pd.DataFrame, rows: tuple[int, int],
                  consolidation: Consolidation, period: str) -> Chart | None:
    """Bars of 100 %: the share of each status in the actions of `count` MRCs under table row `top`.

    None when those MRCs have no action at all (workbooks received empty): nothing to draw.
    """
    top, count = rows
    columns = list(mrcs.columns)
    category = columns.index("mrc")
    realised = consolidation.realised_status
    statuses = [realised, *(s for s in consolidation.statuses if s != realised)]
    series = [(s, status_key(s), STATUS_COLOURS.get(s, "#BFBFBF")) for s in statuses]
    series.append(("Sans statut", NO_STATUS, "#FFFFFF"))
    series = [(name, key, colour) for name, key, colour in series
              if key in columns and mrcs[key].fillna(0).any()]
    if not series:
        return None  # xlsxwriter would refuse a chart without a series
    chart = book.add_chart({"type": "bar", "subtype": "percent_stacked"})
    for name, key, colour in series:
        col = columns.index(key)
        chart.add_series({"name": name, "categories": [SYNTHESIS, top + 1, category, top + count, category],
                          "values": [SYNTHESIS, top + 1, col, top + count, col], "gap": 40,
                          "fill": {"color": colour}, "border": {"color": "#595959", "width": 0.5}})
    chart.set_title({"name": f"Part des actions par statut, par MRC — {period}", "name_font": {"size": 12}})
    chart.set_y_axis({"reverse": True, "num_font": {"size": 8}})  # the first MRC at the top
    chart.set_x_axis({"num_format": "0 %", "num_font": {"size": 8}})
    chart.set_legend({"position": "top"})
    chart.set_size({"width": MRC_CHART_WIDTH, "height": _bar_chart_height(count, MRC_BAR_PIXELS)})
    return chart


def _realised_chart(book: xlsxwriter.Workbook, regions: pd.DataFrame, rows: tuple[int, int], period: str,
                    height: int) -> Chart:
    """Bars of the percent of actions realised in the `count` régions under table row `top`."""
    top, count = rows
    chart = book.add_chart({"type": "bar"})
    columns = list(regions.columns)
    category, col = columns.index("region"), columns.index("pct_realisees")
    chart.add_series({"name": "% réalisées",
                      "categories": [SYNTHESIS, top + 1, category, top + count, category],
                      "values": [SYNTHESIS, top + 1, col, top + count, col], "gap": 50,
                      "fill": {"color": STATUS_COLOURS.get("Réalisée", "#C6EFCE")},
                      "border": {"color": "#548235"},
                      "data_labels": {"value": True, "num_format": '0.0" %"'}})
    chart.set_title({"name": f"Actions réalisées par région (%) — {period}", "name_font": {"size": 12}})
    chart.set_x_axis({"min": 0, "max": 100, "num_font": {"size": 8}})
    chart.set_y_axis({"reverse": True, "num_font": {"size": 8}})
    chart.set_legend({"none": True})
    chart.set_size({"width": REGION_CHART_WIDTH, "height": height})
    return chart


def _ok(result: int | None, what: str) -> None:
    if result not in (0, None):
        raise ValueError(f"xlsxwriter a refusé {what} ({result})")
