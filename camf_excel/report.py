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
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import quote_sheetname
from xlsxwriter.worksheet import Worksheet

from camf_excel.consolidation import Consolidation, Summary, status_key
from camf_excel.outputs import write_atomically, write_directory
from camf_excel.templates import DEFAULT_TEMPLATE, load_template
from camf_excel.writer import FORMULA_PREFIXES, NUMBER_FORMATS, STATUS_COLOURS, WORKBOOK_OPTIONS

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
        self.title = book.add_format({"bold": True, "font_size": 14, "font_color": "#1F4E78"})
        self.date = book.add_format({"num_format": NUMBER_FORMATS["date"]})
        self.percent = book.add_format({"num_format": '0.0\\ "%"'})
        self.money = book.add_format({"num_format": NUMBER_FORMATS["number"]})

    def number_format(self, key: str) -> Format | None:
        """Return the number format of a column: percent, dollars, or none."""
        if key in _PERCENT_KEYS:
            return self.percent
        return self.money if key in _MONEY_KEYS else None


def _write_issue_sheet(book: xlsxwriter.Workbook, formats: _ReportFormats, issues: pd.DataFrame,
                       name: str = "Problèmes") -> None:
    style = _TableStyle(REPORT_HEADERS, REPORT_WIDTHS, wrap=True, by_value={"severity": formats.severity})
    _write_frame(book.add_worksheet(name), formats, issues[list(REPORT_HEADERS)], style)


def _write_file_sheet(book: xlsxwriter.Workbook, formats: _ReportFormats, issues: pd.DataFrame) -> None:
    counts = pd.DataFrame(_counts_by_file(issues), columns=["file", "errors", "warnings"])
    style = _TableStyle({"file": "Fichier", "errors": "Erreurs", "warnings": "Avertissements"},
                        {"file": 60, "errors": 15, "warnings": 15})
    _write_frame(book.add_worksheet("Par fichier"), formats, counts, style)


def _counts_by_file(issues: pd.DataFrame) -> Sequence[tuple[str, int, int]]:
    if issues.empty:
        return []
    table = pd.crosstab(issues["file"], issues["severity"])
    return [(str(file), int(table.loc[file].get("erreur", 0)), int(table.loc[file].get("avertissement", 0)))
            for file in table.index]


# --- the consolidation's outputs ----------------------------------------------------------------

OUTPUT_WORKBOOK = "consolidation.xlsx"
TABLE_OUTPUTS = ("actions", "organisations", "validation", "completude")
LABELS = {
    "organisation": "Organisation", "type": "Type", "code_geo": "Code géographique", "mrc": "MRC",
    "region": "Région", "demarche": "Démarche", "periode": "Période", "annee_debut": "Début du plan",
    "annee_fin": "Fin du plan", "actions": "Actions", "sans_statut": "Sans statut",
    "pct_realisees": "% réalisées", "en_retard": "En retard", "avancement_moyen": "Avancement moyen (%)",
    "budget_prevu": "Budget prévu ($)", "budget_reel": "Budget utilisé ($)",
    "date_maj": "Dernière mise à jour", "erreurs": "Erreurs", "avertissements": "Avertissements",
    "periode_precedente": "Période précédente", "nouvellement_realisees": "Réalisées depuis",
    "nouvellement_en_retard": "En retard depuis", "template_version": "Version du modèle",
    "template_id": "Modèle", "source_file": "Fichier", "source_row": "Ligne",
    "organisations": "Organisations", "attendues": "Attendues", "recues": "Reçues", "remplies": "Remplies",
    "etat": "État", "rempli": "Suivi saisi",
    "taux_reponse": "Taux de réponse (%)", "champ": "Champ d'action", "recu": "Reçu",
    "courriel": "Courriel", "attendu": "Attendu", "remarque": "Remarque", "statut": "Statut",
    "motif": "Motif", "format": "Format", "octets": "Octets", "sha256": "SHA-256",
    "date_maj_fichier": "Date de mise à jour du fichier", "lignes_lues": "Lignes lues",
    "lignes_consolidees": "Lignes consolidées", "lignes_rejetees": "Lignes écartées",
    "colonnes_supplementaires": "Colonnes ajoutées",
}
_PERCENT_KEYS = frozenset({"pct_realisees", "avancement", "avancement_moyen", "taux_reponse"})
_MONEY_KEYS = frozenset({"budget_prevu", "budget_reel"})
_WIDE_KEYS = {"action": 60, "objectif": 40, "obstacles": 50, "commentaires": 50, "message": 90,
              "source_file": 45, "motif": 50, "remarque": 40, "indicateur": 35, "prochaines_etapes": 40,
              "sha256": 20, "organisation": 28, "mrc": 24, "region": 24, "champ": 32}


def output_files(outdir: Path) -> list[Path]:
    """Return the paths that write_consolidation writes into outdir."""
    names = [OUTPUT_WORKBOOK, *(f"{t}.{ext}" for t in TABLE_OUTPUTS for ext in ("csv", "parquet")),
             "sources.csv"]
    return [outdir / name for name in names]


def consolidation_outputs(consolidation: Consolidation) -> dict[str, bytes]:
    """Return every output of a consolidation by file name: the workbook, CSV and Parquet tables."""
    tables = {"actions": consolidation.actions, "organisations": consolidation.organisations,
              "validation": sort_issues(consolidation.issues), "completude": consolidation.completeness}
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


def consolidated_workbook(consolidation: Consolidation) -> bytes:
    """Return consolidation.xlsx: synthesis with charts, then one filterable sheet per table."""
    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, WORKBOOK_OPTIONS)
    formats = _ReportFormats(book)
    style = _TableStyle(_labels(consolidation.statuses))
    _write_synthesis(book, formats, consolidation, style)
    c = consolidation
    for name, frame in (("Organisations", c.organisations), ("Champs d'action", c.champs),
                        ("Actions", c.actions), ("Obstacles", c.obstacles), ("Bons coups", c.successes),
                        ("Complétude", c.completeness)):
        _write_frame(book.add_worksheet(name), formats, frame, style)
    _write_issue_sheet(book, formats, sort_issues(c.issues), "Validation")
    _write_frame(book.add_worksheet("Sources"), formats, c.sources, style)
    book.set_properties({"title": "Consolidation camf-excel", "author": "camf-excel"})
    book.set_custom_property("camf_output", "consolidation")
    book.close()
    return output.getvalue()


def _labels(statuses: Sequence[str]) -> dict[str, str]:
    labels = {c.key: c.header for c in load_template(DEFAULT_TEMPLATE).columns}
    labels.update(LABELS)
    labels.update({status_key(s): s for s in statuses})
    return labels


@dataclass(frozen=True)
class _TableStyle:
    """How a sheet shows a table: header labels, column widths, text wrapping, per-value fills."""

    labels: Mapping[str, str]
    widths: Mapping[str, float] = field(default_factory=lambda: _WIDE_KEYS)
    wrap: bool = False
    by_value: Mapping[str, Mapping[str, Format]] = field(default_factory=dict)


def _write_column(sheet: Worksheet, formats: _ReportFormats, style: _TableStyle, key: str, series: pd.Series,
                  first: int, col: int) -> None:
    """Write one column's cells by type, never a formula; check each of xlsxwriter's return codes."""
    number_format = formats.number_format(key)
    text_format = formats.text if style.wrap else None
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
            fmt = formats.quoted if text.startswith(FORMULA_PREFIXES) else by_value.get(text, text_format)
            result = sheet.write_string(row, col, text, fmt)
        if result not in (0, -2):  # -2: text cut to 32,767 characters, the full text stays in CSV
            _ok(result, f"la cellule ({row}, {col})")


def _write_frame(sheet: Worksheet, formats: _ReportFormats, frame: pd.DataFrame, style: _TableStyle,
                 first_row: int = 0) -> None:
    """Write a table: French headers, typed cells, frozen header row, filters, widths."""
    columns = list(frame.columns)
    for col, key in enumerate(columns):
        sheet.write_string(first_row, col, style.labels.get(key, key), formats.header)
        sheet.set_column(col, col, style.widths.get(key, 14))
        _write_column(sheet, formats, style, key, frame[key], first_row + 1, col)
    sheet.freeze_panes(first_row + 1, 0)
    sheet.autofilter(first_row, 0, first_row + max(len(frame), 1), max(len(columns) - 1, 0))


def _write_synthesis(book: xlsxwriter.Workbook, formats: _ReportFormats, consolidation: Consolidation,
                     style: _TableStyle) -> None:
    """The first sheet: the accounting, the table by MRC and by région, and two native charts."""
    sheet = book.add_worksheet("Synthèse par MRC")
    summary = consolidation.summary
    sheet.write_string(0, 0, "Consolidation des classeurs de suivi", formats.title)
    sheet.write_string(1, 0, _summary_line(summary))
    mrcs = _with_received_first(consolidation.mrcs)
    top = 3
    _write_frame(sheet, formats, mrcs, style, first_row=top)
    regions = _with_received_first(consolidation.regions)
    region_top = top + len(mrcs) + 3
    sheet.write_string(region_top - 1, 0, "Par région", formats.title)
    _write_frame(sheet, formats, regions, style, first_row=region_top)
    sheet.freeze_panes(top + 1, 2)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)  # printed one page wide, charts included
    # Both charts to the right of the tables, one above the other.
    anchor = (top, len(mrcs.columns) + 1)
    received = int((mrcs["organisations"] > 0).sum()) if "organisations" in mrcs else 0
    height = 0
    if received:
        height = _status_chart(book, sheet, mrcs, top, received, consolidation.statuses, anchor)
    with_actions = int((regions["organisations"] > 0).sum()) if "organisations" in regions else 0
    if with_actions:
        _realised_chart(book, sheet, regions, region_top, with_actions, anchor, height + 20)


def _summary_line(summary: Summary) -> str:
    line = (f"{summary.files_found} fichier(s) trouvé(s) : {summary.files_consolidated} consolidé(s), "
            f"{summary.files_refused} refusé(s), {summary.files_set_aside} mis de côté, "
            f"{summary.files_other_period} d'une autre période, {summary.files_ignored} ignoré(s). "
            f"Lignes : {summary.rows_read} lues = {summary.rows_consolidated} consolidées + "
            f"{summary.rows_rejected} écartées.")
    if summary.expected is not None:
        line += f" Complétude : {summary.received} reçue(s) sur {summary.expected} attendue(s)."
    return line


def _with_received_first(mrcs: pd.DataFrame) -> pd.DataFrame:
    """Rows with a workbook first (the charts cover them), then those expected but silent."""
    if mrcs.empty:
        return mrcs
    received = mrcs["organisations"].fillna(0) > 0
    return pd.concat([mrcs[received], mrcs[~received]], ignore_index=True)


def _status_chart(book: xlsxwriter.Workbook, sheet: Worksheet, mrcs: pd.DataFrame, top: int, count: int,
                  statuses: Sequence[str], anchor: tuple[int, int]) -> int:
    """Stacked columns of the status counts of each MRC with a workbook; return the chart's height."""
    chart = book.add_chart({"type": "column", "subtype": "stacked"})
    name = sheet.get_name()
    category = list(mrcs.columns).index("mrc")
    for status in statuses:
        col = list(mrcs.columns).index(status_key(status))
        chart.add_series({"name": [name, top, col],
                          "categories": [name, top + 1, category, top + count, category],
                          "values": [name, top + 1, col, top + count, col],
                          "fill": {"color": STATUS_COLOURS.get(status, "#BFBFBF")},
                          "border": {"color": "#7F7F7F"}})
    chart.set_title({"name": "Actions par statut et par MRC"})
    chart.set_y_axis({"name": "Actions"})
    chart.set_size({"width": max(720, 40 * count), "height": 420})
    _ok(sheet.insert_chart(*anchor, chart), "graphique par MRC")
    return 420


def _realised_chart(book: xlsxwriter.Workbook, sheet: Worksheet, regions: pd.DataFrame, top: int,
                    count: int, anchor: tuple[int, int], y_offset: int) -> None:
    """Bars of the percent of actions realised in each région with a workbook."""
    chart = book.add_chart({"type": "bar"})
    name = sheet.get_name()
    columns = list(regions.columns)
    category, col = columns.index("region"), columns.index("pct_realisees")
    chart.add_series({"name": "% réalisées", "categories": [name, top + 1, category, top + count, category],
                      "values": [name, top + 1, col, top + count, col],
                      "fill": {"color": STATUS_COLOURS.get("Réalisée", "#C6EFCE")},
                      "border": {"color": "#548235"},
                      "data_labels": {"value": True, "num_format": '0.0" %"'}})
    chart.set_title({"name": "Actions réalisées par région (%)"})
    chart.set_x_axis({"min": 0, "max": 100})
    chart.set_legend({"none": True})
    chart.set_size({"width": 720, "height": max(300, 28 * count + 80)})
    _ok(sheet.insert_chart(*anchor, chart, {"y_offset": y_offset}), "graphique par région")


def _ok(result: int | None, what: str) -> None:
    if result not in (0, None):
        raise ValueError(f"xlsxwriter a refusé {what} ({result})")
