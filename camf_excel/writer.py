"""The only module that drives xlsxwriter: builds the follow-up workbook in memory."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import xlsxwriter
from xlsxwriter.utility import quote_sheetname, xl_col_to_name, xl_rowcol_to_cell
from xlsxwriter.workbook import Format, Workbook
from xlsxwriter.worksheet import Worksheet

from camf_excel import __version__
from camf_excel.errors import CamfError
from camf_excel.figures import (
    HISTORY_KEYS,
    Figures,
    champ_formula,
    champ_status_formula,
    compute_figures,
    evolution_indicators,
    evolution_values,
    has_action,
    indicators,
    is_number,
    late_flag,
    previous_figures,
    row_formulas,
    share_formula,
    status_count_formula,
    text_literal,
)
from camf_excel.lists import list_forms
from camf_excel.model import ENTRY_YEARS, Column, Template

SHEETS = ("Lisez-moi", "Identification", "Plan d'action", "Comité de suivi", "Tableau de bord",
          "Historique", "Listes")
README_SHEET, IDENT_SHEET, PLAN_SHEET, COMMITTEE_SHEET, DASHBOARD_SHEET, HISTORY_SHEET, LISTS_SHEET = SHEETS
# The Historique sheet: one row per action per earlier period, written by `camf-excel reconduire`.
HISTORY_HEADERS = ("Période", "No", "Action", "Statut", "Avancement (%)", "Date de mise à jour", "En retard")
HISTORY_TABLE = "tbl_historique"
COMMITTEE_MEMBER_KEYS = ("nom", "organisation", "role", "courriel")
COMMITTEE_MEETING_KEYS = ("date", "sujets", "decisions")
TABLE_NAME = "tbl_plan"
HEADER_ROW = 2  # zero-based: title, band "plan adopté / suivi", then the header
FIRST_DATA_ROW = HEADER_ROW + 1
# Staff cannot grow a table on a protected sheet (Excel) and LibreOffice never grows one:
# every row they may need must exist. 100 blank rows hold a full plan revision; a blank
# workbook gets 200, enough for the largest MRC plans (about 150 actions).
EXTRA_ROWS = 100
MIN_ROWS = 200
LOCKED_ROWS_BELOW = 1000  # rows under the table given a locked format (further down, nobody types)
COMMITTEE_MEMBERS = 25
COMMITTEE_MEETINGS = 40
IDENT_FIRST_ROW = 3
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")

WORKBOOK_OPTIONS = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "nan_inf_to_errors": True,
    "in_memory": True,
}
COLOURS = {"plan": "#DDEBF7", "suivi": "#FFF2CC", "calcul": "#E7E6E6", "input": "#FFFFFF",
           "title": "#1F4E78"}
STATUS_COLOURS = {"Non débutée": "#EDEDED", "En cours": "#FFE699", "Réalisée": "#C6EFCE",
                  "En continu": "#BDD7EE", "Reportée": "#F8CBAD", "Abandonnée": "#D9D9D9"}
NUMBER_FORMATS = {"integer": "0", "number": '#,##0.00\\ "$"', "percent": '0\\ "%"',
                  "date": "yyyy-mm-dd"}
LINE_HEIGHT = 15
# Characters of running text a column holds per unit of width: the width counts digits, and
# Calibri's (and Carlito's, LibreOffice's stand-in) lower-case letters are narrower.
CHARACTERS_PER_WIDTH = 1.15
MAX_ROW_HEIGHT = 150
README_WIDTH = 110
EMAIL_RULE = 'AND(ISNUMBER(FIND("@",{cell})),ISNUMBER(FIND(".",{cell})))'
REQUIRED_MARK = " *"  # after a required column's header; the reader forgives it (reader._REQUIRED_MARK)
MEETING_DATE_WIDTH = 22  # « Date de la rencontre » on one line, beside the table's filter button

# Printing. Paper codes are Excel's; sizes and margins as Excel stores them (points, inches).
LETTER, LEGAL = 1, 5
SIDE_MARGIN, TOP_MARGIN, HEADER_MARGIN = 0.25, 0.6, 0.25
# (paper, landscape, pages tall at one page wide: 0 = as many as needed) of every sheet but the
# Plan d'action, which prints two pages wide (_print_plan).
PAGE_SETUPS = {README_SHEET: (LETTER, False, 0), IDENT_SHEET: (LETTER, True, 1),
               COMMITTEE_SHEET: (LEGAL, True, 1), DASHBOARD_SHEET: (LETTER, False, 1),
               HISTORY_SHEET: (LETTER, True, 0), LISTS_SHEET: (LETTER, False, 0)}
PLAN_PAPER = LEGAL
# Empty rows printed under the actions: room to add a few by hand. Further empty rows of the
# table (200 and more) would print as pages of empty grid.
PRINTED_SPARE_ROWS = 10
CHART_SIZE = (900, 480)  # pixels: the width of the dashboard's table columns
DEFAULT_ROW_PIXELS = 20
PERIOD_MISSING_NOTE = ("Période de suivi non inscrite (onglet Identification) : aucune action n'est "
                       "comptée en retard.")
HEADER_TEXT_LIMIT = 80  # characters of an organisation's name in the page header (Excel: 255 in all)


class _Sheet(Worksheet):
    """A worksheet that skips xlsxwriter's future-function expansion of each formula.

    xlsxwriter runs about a hundred regular expressions over every formula to prefix Excel
    365 functions with `_xlfn.`; the workbook uses only functions Excel 2007 knows (checked
    by USED_FUNCTIONS), so that pass, half of the generation time, is skipped.
    """

    def _prepare_formula(self, formula: str, expand_future_functions: bool = False) -> str:
        del expand_future_functions
        return formula.removeprefix("=")


USED_FUNCTIONS = frozenset({"IF", "AND", "ISNUMBER", "FIND", "COUNTIF", "COUNTIFS", "SUM", "SUMIFS",
                            "AVERAGEIFS", "IFERROR", "INDEX", "MATCH", "TRIM", "SUBSTITUTE", "LEN",
                            "TODAY", "MAX", "SUMPRODUCT"})
# Lists the workbook recognises in formulas (their spellings on Listes): the dashboard counts these.
RECOGNISED_LISTS = ("statut", "champ", "origine")
ROW_MARK = "{n}"


def _ok(result: int | None, what: str) -> None:
    """Turn xlsxwriter's -1/-2 return codes (which only warn) into errors."""
    if result not in (None, 0):
        raise CamfError(f"Écriture impossible ({what}) : code {result}.")


def row_height(texts: Sequence[tuple[str, float]]) -> float:
    """Return a row height that shows every wrapped text whole.

    Neither LibreOffice nor Excel re-measures row heights of a generated file on load: without
    this, wrapped text is cut or spills over the next row. A column of width w holds about
    w × CHARACTERS_PER_WIDTH characters of running text per line, broken between words; a line
    is 15 points high.
    """
    most = MAX_ROW_HEIGHT // LINE_HEIGHT
    lines = 1
    for text, width in texts:
        per_line = max(int(width * CHARACTERS_PER_WIDTH), 1)
        count = 0
        for part in text.split("\n"):
            count += _line_count(part, per_line, most)
            if count >= most:
                break  # the row is as high as it goes
        lines = max(lines, count)
    return min(LINE_HEIGHT * lines, MAX_ROW_HEIGHT)


def _line_count(paragraph: str, per_line: int, most: int) -> int:
    """Count the lines a paragraph takes, broken between words (a longer word is cut), up to `most`."""
    lines, used = 0, per_line  # a full line: the first word starts a new one
    for word in paragraph.split():
        if used + 1 + len(word) <= per_line:
            used += 1 + len(word)
            continue
        full, used = divmod(len(word), per_line)
        if used == 0:
            full, used = full - 1, per_line
        lines += 1 + full
        if lines >= most:
            return most
    return max(lines, 1)


def column_pixels(width: float) -> int:
    """Return a column's width on screen at 100 % zoom: Excel's 7 pixels a character, plus 5."""
    return int(width * 7 + 5)


def header_text(column: Column) -> str:
    """Return a Plan d'action column's header as written: required columns end with « * »."""
    return column.header + (REQUIRED_MARK if column.required else "")


def axis_step(largest: int) -> int:
    """Return a whole step for the chart's count axis giving ten gridlines at most."""
    steps = (1, 2, 5, 10, 20, 50, 100)
    return next((step for step in steps if largest <= 10 * step), steps[-1])


def _page_text(text: str) -> str:
    """A text as a page header or footer shows it: « & » starts a code there, so it is doubled."""
    return text.replace("&", "&&")


def _cached(value: float | None) -> float | str:
    """A formula's cached value: "" where the figure is undefined (no action, no budget)."""
    return "" if value is None else value


def _qualified(sheet: str, cell: str) -> str:
    return f"{quote_sheetname(sheet)}!{cell}"


@dataclass
class _Formats:
    """The workbook's cell formats, created once."""

    book: Workbook

    def __post_init__(self) -> None:
        add = self.book.add_format
        self.title = add({"bold": True, "font_size": 16, "font_color": COLOURS["title"]})
        self.subtitle = add({"bold": True, "font_size": 12, "font_color": COLOURS["title"]})
        self.wrap = add({"text_wrap": True, "valign": "top"})
        self.help = add({"italic": True, "font_color": "#595959", "text_wrap": True})
        self.label = add({"bold": True, "valign": "top", "border": 1, "bg_color": "#F2F2F2"})
        self.band = {g: add({"bold": True, "align": "center", "bg_color": c, "border": 1})
                     for g, c in COLOURS.items()}
        self.header = {g: add({"bold": True, "text_wrap": True, "valign": "top", "bg_color": c,
                               "border": 1}) for g, c in COLOURS.items()}
        self.formula = add({"bg_color": COLOURS["calcul"], "border": 1, "valign": "top"})
        self.count = add({"border": 1, "bg_color": COLOURS["calcul"]})
        self.share = add({"border": 1, "num_format": "0.0 %", "bg_color": COLOURS["calcul"]})
        self.money = add({"border": 1, "num_format": NUMBER_FORMATS["number"],
                          "bg_color": COLOURS["calcul"]})
        self.inputs = {kind: self._input(kind) for kind in ("text", "integer", "number",
                                                              "percent", "date")}
        self.quoted = add({"locked": False, "text_wrap": True, "valign": "top",
                           "quote_prefix": True, "border": 1, "border_color": "#BFBFBF"})
        self.status = {s: add({"bg_color": c}) for s, c in STATUS_COLOURS.items()}
        self.late = add({"bold": True, "font_color": "#9C0006", "bg_color": "#FFC7CE"})
        self.note = add({"italic": True, "font_color": "#9C0006"})
        self.plain = add({"locked": True})

    def _input(self, kind: str) -> Format:
        properties: dict[str, object] = {"locked": False, "valign": "top", "border": 1,
                                         "border_color": "#BFBFBF"}
        if kind in NUMBER_FORMATS:
            properties["num_format"] = NUMBER_FORMATS[kind]
        else:
            properties["text_wrap"] = True
        return self.book.add_format(properties)

    def for_kind(self, kind: str) -> Format:
        """Return the input format of a column kind."""
        return self.inputs.get(kind, self.inputs["text"])


class _Builder:
    """Writes one workbook; each method fills one sheet."""

    def __init__(self, template: Template, identification: Mapping[str, object],
                 actions: Sequence[Mapping[str, object]], password: str | None,
                 carried: Carried | None = None) -> None:
        self.template = template
        self.identification = identification
        self.actions = list(actions)
        self.carried = carried or Carried()
        self.password = password or ""
        self.rows = max(len(self.actions) + EXTRA_ROWS, MIN_ROWS)
        self.last_row = FIRST_DATA_ROW + self.rows - 1
        self.stream = io.BytesIO()
        self.book = xlsxwriter.Workbook(self.stream, WORKBOOK_OPTIONS)
        self.formats = _Formats(self.book)
        self.columns = {c.key: i for i, c in enumerate(template.columns)}
        self.periode = identification.get("periode")
        self.figures: Figures = compute_figures(self.actions, self.periode, template)
        self.previous = previous_figures(self.carried.history, self.periode, template)
        # The calculated columns' formulas, once, with ROW_MARK where each row puts its number.
        cells = {key: xl_col_to_name(col) + ROW_MARK for key, col in self.columns.items()}
        self.row_patterns = [(key, self.columns[key], formula)
                             for key, formula in row_formulas(template, cells).items()]

    def build(self) -> bytes:
        """Write every sheet and return the .xlsx bytes."""
        sheets = {name: self.book.add_worksheet(name, worksheet_class=_Sheet) for name in SHEETS}
        # Each sheet's writer returns the last row and column it prints; Listes, hidden, prints
        # nothing (LibreOffice prints a hidden sheet that has a print area).
        self._write_lists(sheets[LISTS_SHEET])
        printed = {
            README_SHEET: self._write_readme(sheets[README_SHEET]),
            IDENT_SHEET: self._write_identification(sheets[IDENT_SHEET]),
            PLAN_SHEET: self._write_plan(sheets[PLAN_SHEET]),
            COMMITTEE_SHEET: self._write_committee(sheets[COMMITTEE_SHEET]),
            HISTORY_SHEET: self._write_history(sheets[HISTORY_SHEET]),
            DASHBOARD_SHEET: self._write_dashboard(sheets[DASHBOARD_SHEET]),
        }
        self._write_properties()
        for name, sheet in sheets.items():
            self._print_page(sheet, printed.get(name))
        sheets[README_SHEET].activate()  # what the workbook is and how to fill it, first
        self.book.close()
        return self.stream.getvalue()

    def _protect(self, sheet: Worksheet) -> None:
        sheet.protect(self.password, {"autofilter": True, "sort": True, "format_columns": True,
                                      "format_rows": True})

    def _text(self, sheet: Worksheet, row: int, col: int, text: str, fmt: Format | None = None,
              input_cell: bool = False) -> None:
        """Write text as text, never as a formula; an input cell keeps Excel's quote prefix."""
        if input_cell and text.startswith(FORMULA_PREFIXES):
            fmt = self.formats.quoted
        _ok(sheet.write_string(row, col, text, fmt), f"{sheet.name} {xl_rowcol_to_cell(row, col)}")

    def _value(self, sheet: Worksheet, row: int, col: int, kind: str, value: object) -> None:
        fmt = self.formats.for_kind(kind)
        if value is None or value == "":
            return
        if isinstance(value, dt.date):
            _ok(sheet.write_datetime(row, col, value, fmt), "date")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            _ok(sheet.write_number(row, col, value, fmt), "nombre")
        else:
            self._text(sheet, row, col, str(value), fmt, input_cell=True)

    # -- Listes ------------------------------------------------------------------------
    def _write_lists(self, sheet: Worksheet) -> None:
        sheet.hide()
        col = 0
        for spec in self.template.lists.values():
            sheet.set_column(col, col, max(12, *(len(i) for i in spec.items)) + 2)
            self._list_column(sheet, col, spec.range_name, list(spec.items), spec.size)
            col += 1
        for name in RECOGNISED_LISTS:
            forms = list_forms(self.template.lists[name])
            sheet.set_column(col, col + 1, 30)
            self._list_column(sheet, col, f"liste_{name}_formes", list(forms))
            self._list_column(sheet, col + 1, f"liste_{name}_canon", list(forms.values()))
            col += 2
        for column in self.template.columns:
            if column.step:
                steps = list(range(0, 101, column.step))
                self._list_column(sheet, col, step_range(column), steps, fmt=self.formats.inputs["percent"])
                col += 1
        self._protect(sheet)

    def _list_column(self, sheet: Worksheet, col: int, name: str, items: Sequence[str | int],
                     size: int = 0, fmt: Format | None = None) -> None:
        """Write one named list on the Listes sheet; rows up to `size` stay open to additions."""
        self._text(sheet, 0, col, name, self.formats.label)
        for row, item in enumerate(items, start=1):
            if isinstance(item, str):
                self._text(sheet, row, col, item)
            else:
                _ok(sheet.write_number(row, col, item, fmt), name)
        for row in range(len(items) + 1, size + 1):
            _ok(sheet.write_blank(row, col, None, self.formats.inputs["text"]), name)
        letter = xl_col_to_name(col, col_abs=True)
        reference = f"={quote_sheetname(sheet.name)}!{letter}$2:{letter}${max(size, len(items)) + 1}"
        _ok(self.book.define_name(name, reference), name)

    # -- Lisez-moi ---------------------------------------------------------------------
    def _write_readme(self, sheet: Worksheet) -> tuple[int, int]:
        t = self.template
        required = ", ".join(c.header for c in t.columns if c.required)
        sheet.set_column(0, 0, 4)
        sheet.set_column(1, 1, README_WIDTH)
        self._text(sheet, 0, 1, t.title, self.formats.title)
        lines = [
            ("sub", "À quoi sert ce classeur"),
            ("", "Suivre la mise en œuvre du plan d'action : où en est chaque action, ce qui "
                 "avance, ce qui bloque, ce qui mérite d'être partagé. Le Tableau de bord se "
                 "calcule tout seul à partir de l'onglet Plan d'action."),
            ("sub", "Comment le remplir"),
            ("", "1. Identification : vérifier l'organisation, les années du plan et inscrire la "
                 "période de suivi (l'année sur laquelle porte ce suivi). Sans elle, aucune action "
                 "n'est comptée en retard."),
            ("", "2. Plan d'action : pour chaque action, choisir le Statut et l'Avancement dans "
                 "leur liste (l'avancement va de 0 à 100 par pas de 5, sans le signe %), inscrire "
                 "la Date de mise à jour et le Budget utilisé (des nombres, sans symbole), puis les "
                 "Commentaires, les Obstacles et les Prochaines étapes."),
            ("", f"Un en-tête suivi de «{REQUIRED_MARK} » marque une colonne obligatoire, à remplir "
                 f"pour chaque action : {required}. Le Statut le devient dès que l'action a débuté."),
            ("", "3. Une action Abandonnée ou Reportée s'explique dans Commentaires. Une action "
                 "Réalisée est à 100 %."),
            ("", "4. Nouvelle action : l'inscrire dans la première ligne vide du tableau (les "
                 "cellules sous le tableau sont verrouillées : le tableau de bord ne les compterait "
                 "pas)."),
            ("", "5. Comité de suivi : membres du comité et journal des rencontres."),
            ("", "6. Enregistrer le fichier au format .xlsx (Excel ou LibreOffice) et le "
                 "retourner à la personne responsable du suivi. Ne pas renommer les onglets ni "
                 "les en-têtes de colonnes."),
            ("sub", "Impression"),
            ("", "Chaque onglet est prêt à imprimer. Le Plan d'action s'imprime à l'horizontale sur "
                 "du papier légal (8,5 × 14 po) : pour chaque groupe d'actions, une page « plan "
                 "adopté » puis une page « suivi », les colonnes No à Action répétées sur chacune. "
                 f"Il imprime les actions inscrites à la création du classeur et {PRINTED_SPARE_ROWS} "
                 "lignes libres ; pour imprimer des actions ajoutées plus bas, sélectionner leurs "
                 "lignes, puis Imprimer › Imprimer la sélection."),
            ("sub", "Légende des couleurs"),
        ]
        row = 2
        for style, text in lines:
            fmt = self.formats.subtitle if style == "sub" else self.formats.wrap
            self._text(sheet, row, 1, text, fmt)
            sheet.set_row(row, row_height([(text, README_WIDTH)]))
            row += 1
        legend = [("plan", "Plan adopté : actions telles qu'adoptées (modifiables au besoin)."),
                  ("suivi", "Suivi : colonnes à mettre à jour à chaque bilan."),
                  ("calcul", "Calculé : formules, à ne pas modifier (cellules verrouillées).")]
        for group, text in legend:
            self._text(sheet, row, 0, "", self.formats.band[group])
            self._text(sheet, row, 1, text, self.formats.wrap)
            row += 1
        for status, fmt in self.formats.status.items():
            self._text(sheet, row, 0, "", fmt)
            self._text(sheet, row, 1, f"Statut « {status} »", self.formats.wrap)
            row += 1
        row += 1
        self._text(sheet, row, 1, "Modèle du classeur", self.formats.subtitle)
        self._text(sheet, row + 1, 1, f"Identifiant du modèle : {t.id}")
        self._text(sheet, row + 2, 1, f"Version du modèle : {t.version}")
        self._text(sheet, row + 3, 1, f"Produit par camf-excel {__version__}")
        self._protect(sheet)
        return row + 3, 1

    # -- Identification ----------------------------------------------------------------
    def _write_identification(self, sheet: Worksheet) -> tuple[int, int]:
        sheet.set_column(0, 0, 38)
        sheet.set_column(1, 1, 40)
        sheet.set_column(2, 2, 70)
        self._text(sheet, 0, 0, "Identification", self.formats.title)
        for col, header in enumerate(("Renseignement", "Valeur", "Aide")):
            self._text(sheet, 2, col, header, self.formats.header["plan"])
        for offset, field in enumerate(self.template.identification):
            row = IDENT_FIRST_ROW + offset
            self._text(sheet, row, 0, field.label + (" *" if field.required else ""),
                       self.formats.label)
            _ok(sheet.write_blank(row, 1, None, self.formats.for_kind(field.kind)), field.key)
            self._value(sheet, row, 1, field.kind, self.identification.get(field.key))
            self._text(sheet, row, 2, field.help, self.formats.help)
            cell = xl_rowcol_to_cell(row, 1, row_abs=True, col_abs=True)
            _ok(self.book.define_name(f"ident_{field.key}", "=" + _qualified(sheet.name, cell)),
                field.key)
            self._validate_identification(sheet, row, field.kind, field.list, field.label)
        note_row = IDENT_FIRST_ROW + len(self.template.identification) + 1
        self._text(sheet, note_row, 0, "* renseignement obligatoire", self.formats.help)
        self._protect(sheet)
        return note_row, 2

    def _validate_identification(self, sheet: Worksheet, row: int, kind: str, list_name: str | None,
                                 label: str) -> None:
        cell = xl_rowcol_to_cell(row, 1)
        options: dict[str, object] = {"input_title": label[:32], "error_type": "stop"}
        if kind == "list":
            options |= {"validate": "list",
                        "source": "=" + self.template.lists[list_name or ""].range_name,
                        "error_message": "Choisir une valeur dans la liste."}
        elif kind == "integer":
            options |= {"validate": "integer", "criteria": "between", "minimum": ENTRY_YEARS[0],
                        "maximum": ENTRY_YEARS[1], "error_message": "Inscrire une année, par exemple 2025."}
        elif kind == "date":
            options |= {"validate": "date", "criteria": "between",
                        "minimum": dt.date(ENTRY_YEARS[0], 1, 1), "maximum": dt.date(ENTRY_YEARS[1], 12, 31),
                        "error_message": "Inscrire une date, par exemple 2025-03-10."}
        elif kind == "email":
            options |= {"validate": "custom", "value": "=" + EMAIL_RULE.format(cell=cell),
                        "error_message": "Inscrire une adresse courriel valide."}
        else:
            return
        options["error_title"] = "Valeur non valide"
        _ok(sheet.data_validation(cell, options), f"validation {cell}")

    # -- Plan d'action -----------------------------------------------------------------
    def _write_plan(self, sheet: Worksheet) -> tuple[int, int]:
        columns = self.template.columns
        last_col = len(columns) - 1
        self._text(sheet, 0, 0, "Plan d'action et suivi", self.formats.title)
        self._write_bands(sheet)
        for col, column in enumerate(columns):
            fmt = self.formats.formula if column.kind == "formula" else self.formats.for_kind(column.kind)
            sheet.set_column(col, col, column.width, fmt, {"hidden": column.hidden})
        # Empty cells show their row's format before their column's (Excel and LibreOffice): the
        # rows around the table are locked and plain, so nothing is typed where neither the
        # dashboard nor the tool would count it.
        for row in (*range(HEADER_ROW), *range(self.last_row + 1, self.last_row + 1 + LOCKED_ROWS_BELOW)):
            sheet.set_row(row, None, self.formats.plain)
        _ok(sheet.add_table(HEADER_ROW, 0, self.last_row, last_col, {
            "name": TABLE_NAME, "style": "Table Style Light 1", "autofilter": True,
            "columns": [{"header": header_text(c), "header_format": self.formats.header[c.group]}
                        for c in columns],
        }), "tableau")
        sheet.set_row(HEADER_ROW, 45)
        # The action stays in view while staff fill the follow-up columns, far to the right.
        sheet.freeze_panes(FIRST_DATA_ROW, self.columns["action"] + 1)
        for offset in range(self.rows):
            values = self.actions[offset] if offset < len(self.actions) else {}
            self._write_action(sheet, FIRST_DATA_ROW + offset, values)
        for col, column in enumerate(columns):
            self._validate_column(sheet, col, column)
            self._define_column_name(sheet, col, column)
        self._colour_statuses(sheet)
        self._protect(sheet)
        printed_rows = min(len(self.actions) + PRINTED_SPARE_ROWS, self.rows)
        return FIRST_DATA_ROW + printed_rows - 1, max(i for i, c in enumerate(columns) if not c.hidden)

    def _print_page(self, sheet: Worksheet, extent: tuple[int, int] | None) -> None:
        """Give a sheet its print setup: paper, orientation, size, margins, header and footer, area."""
        sheet.set_margins(left=SIDE_MARGIN, right=SIDE_MARGIN, top=TOP_MARGIN, bottom=TOP_MARGIN)
        header, footer = self._page_texts()
        sheet.set_header(header, {"margin": HEADER_MARGIN})
        sheet.set_footer(footer, {"margin": HEADER_MARGIN})
        if extent:
            _ok(sheet.print_area(0, 0, *extent), f"zone d'impression {sheet.name}")
        if sheet.name == PLAN_SHEET:
            self._print_plan(sheet)
            return
        paper, landscape, tall = PAGE_SETUPS[sheet.name]
        sheet.set_paper(paper)
        if landscape:
            sheet.set_landscape()
        sheet.fit_to_pages(1, tall)

    def _page_texts(self) -> tuple[str, str]:
        """Return every sheet's page header (organisation, period or plan years) and footer (page X de Y)."""
        ident = self.identification
        organisation = str(ident.get("organisation") or "")[:HEADER_TEXT_LIMIT]
        periode, start, end = (ident.get(key) for key in ("periode", "annee_debut", "annee_fin"))
        when = ""
        if periode not in (None, ""):
            when = f"Période de suivi : {periode}"
        elif start not in (None, "") and end not in (None, ""):
            when = f"Plan {start}-{end}"
        header = f"&L{_page_text(organisation)}&R{_page_text(when)}"
        footer = "&L&A&CPage &P de &N&RImprimé le &D"
        if len(header) > 255:  # Excel's limit; xlsxwriter would only warn and write no header
            raise CamfError("En-tête de page trop long.")
        return header, footer

    def _print_plan(self, sheet: Worksheet) -> None:
        """Print the actions legibly: for each block of actions, a « plan adopté » page, then a « suivi » one.

        One page wide would shrink some twenty columns to an unreadable size: two pages wide,
        No to Action repeated on each. Excel and LibreOffice both ignore manual breaks when they
        fit to pages: the cut falls before Statut because the template's widths make the two
        pages about as wide (checked by a test), whatever fonts the program has.
        """
        sheet.set_paper(PLAN_PAPER)
        sheet.set_landscape()
        sheet.fit_to_pages(2, 0)
        sheet.repeat_columns(0, self.columns["action"])
        sheet.repeat_rows(1, HEADER_ROW)  # the band (plan adopté, suivi) and the headers
        sheet.print_across()  # a block's suivi page right after its plan page

    def _write_bands(self, sheet: Worksheet) -> None:
        labels = {"plan": "PLAN ADOPTÉ", "suivi": "SUIVI", "calcul": "CALCULÉ"}
        groups = [c.group for c in self.template.columns]
        start = 0
        for col in range(1, len(groups) + 1):
            if col == len(groups) or groups[col] != groups[start]:
                label, fmt = labels.get(groups[start], ""), self.formats.band[groups[start]]
                if col - 1 > start:
                    _ok(sheet.merge_range(1, start, 1, col - 1, label, fmt), "bandeau")
                else:
                    self._text(sheet, 1, start, label, fmt)
                start = col

    def _write_action(self, sheet: Worksheet, row: int, values: Mapping[str, object]) -> None:
        """Write one table row: its values (empty cells take the column's input format) and its formulas."""
        texts = []
        for col, column in enumerate(self.template.columns):
            if column.kind == "formula":
                continue
            value = values.get(column.key)
            self._value(sheet, row, col, column.kind, value)
            if isinstance(value, str):
                texts.append((value, column.width))
        self._write_calculated(sheet, row, values)
        if texts:
            sheet.set_row(row, row_height(texts))

    def _write_calculated(self, sheet: Worksheet, row: int, values: Mapping[str, object]) -> None:
        """Write the row's formulas, each with the value it computes as its cached value."""
        number = str(row + 1)
        present = has_action(values)
        cached: dict[str, object] = {f"{name}_lu": self._recognised(values, name) if present else ""
                                     for name in RECOGNISED_LISTS}
        cached["en_retard"] = late_flag(values, self.periode, self.template)
        for key, col, pattern in self.row_patterns:
            _ok(sheet.write_formula(row, col, pattern.replace(ROW_MARK, number), self.formats.formula,
                                    cached[key]), key)

    def _recognised(self, values: Mapping[str, object], key: str) -> str:
        value = values.get(key)
        return value if isinstance(value, str) and value in self.template.lists[key].items else ""

    def _validate_column(self, sheet: Worksheet, col: int, column: Column) -> None:
        if column.hidden:
            return  # a helper column nobody types in
        options: dict[str, object] = {"input_title": column.input_title[:32],
                                      "input_message": column.input_message,
                                      "error_type": column.error_style,
                                      "error_title": "Valeur non valide"}
        if column.kind == "list":
            spec = self.template.lists[column.list or ""]
            options |= {"validate": "list", "source": "=" + spec.range_name,
                        "error_message": f"Choisir une valeur de la liste « {column.header} »."}
        elif column.kind == "integer":
            options |= {"validate": "integer", "criteria": "between", "minimum": ENTRY_YEARS[0],
                        "maximum": ENTRY_YEARS[1], "error_message": "Inscrire une année, par exemple 2026."}
        elif column.kind == "number":
            options |= {"validate": "decimal", "criteria": ">=", "value": 0,
                        "error_message": "Inscrire un montant positif, sans symbole $."}
        elif column.kind == "percent" and column.step:
            options |= {"validate": "list", "source": "=" + step_range(column),
                        "error_message": f"Choisir dans la liste : de 0 à 100 par pas de {column.step}, "
                                         "sans le signe %."}
        elif column.kind == "percent":
            options |= {"validate": "decimal", "criteria": "between", "minimum": 0,
                        "maximum": 100, "error_message": "Inscrire un nombre de 0 à 100, sans le signe %."}
        elif column.kind == "date":
            options |= {"validate": "date", "criteria": "between",
                        "minimum": dt.date(ENTRY_YEARS[0], 1, 1), "maximum": "=TODAY()",
                        "error_message": "Inscrire une date passée ou d'aujourd'hui (aaaa-mm-jj)."}
        else:
            options |= {"validate": "any"}
        _ok(sheet.data_validation(FIRST_DATA_ROW, col, self.last_row, col, options),
            f"validation {column.key}")

    def _define_column_name(self, sheet: Worksheet, col: int, column: Column) -> None:
        first = xl_rowcol_to_cell(FIRST_DATA_ROW, col, row_abs=True, col_abs=True)
        last = xl_rowcol_to_cell(self.last_row, col, row_abs=True, col_abs=True)
        _ok(self.book.define_name(f"plan_{column.key}", f"={_qualified(sheet.name, first)}:{last}"),
            column.key)

    def _colour_statuses(self, sheet: Worksheet) -> None:
        status_col = self.columns["statut"]
        # Coloured by the status the dashboard counts: a variant typed by hand is coloured too.
        first = xl_rowcol_to_cell(FIRST_DATA_ROW, self.columns["statut_lu"], col_abs=True)
        for status in self.template.lists["statut"].items:
            if status in self.formats.status:
                _ok(sheet.conditional_format(FIRST_DATA_ROW, status_col, self.last_row, status_col, {
                    "type": "formula", "criteria": f"={first}={text_literal(status)}",
                    "format": self.formats.status[status]}), "couleurs")
        late_col = self.columns["en_retard"]
        _ok(sheet.conditional_format(FIRST_DATA_ROW, late_col, self.last_row, late_col, {
            "type": "cell", "criteria": "==", "value": '"Oui"', "format": self.formats.late}),
            "retard")

    # -- Comité de suivi ---------------------------------------------------------------
    def _write_committee(self, sheet: Worksheet) -> tuple[int, int]:
        self._text(sheet, 0, 0, "Comité de suivi", self.formats.title)
        members = ("Nom", "Organisation", "Rôle", "Courriel")
        meetings = ("Date de la rencontre", "Sujets", "Décisions")
        for col, width in enumerate((28, 28, 36, 30, 3, MEETING_DATE_WIDTH, 45, 45)):
            kind = "date" if col == 5 else "text"
            sheet.set_column(col, col, width, None if col == 4 else self.formats.for_kind(kind))
        self._committee_table(sheet, 0, members, COMMITTEE_MEMBERS, "tbl_comite")
        self._committee_table(sheet, 5, meetings, COMMITTEE_MEETINGS, "tbl_rencontres")
        self._committee_rows(sheet, 0, self.carried.members[:COMMITTEE_MEMBERS], COMMITTEE_MEMBER_KEYS)
        self._committee_rows(sheet, 5, self.carried.meetings[:COMMITTEE_MEETINGS], COMMITTEE_MEETING_KEYS)
        first, last = 3, 2 + COMMITTEE_MEMBERS
        _ok(sheet.data_validation(first, 2, last, 2, {
            "validate": "list", "source": "=" + self.template.lists["role_comite"].range_name,
            "input_title": "Rôle", "input_message": "Choisir le rôle dans la liste.",
            "error_type": "warning", "error_message": "Rôle hors liste : le garder quand même ?"}),
            "rôle")
        _ok(sheet.data_validation(first, 5, 2 + COMMITTEE_MEETINGS, 5, {
            "validate": "date", "criteria": "between", "minimum": dt.date(ENTRY_YEARS[0], 1, 1),
            "maximum": dt.date(ENTRY_YEARS[1], 12, 31), "error_message": "Inscrire une date (aaaa-mm-jj)."}),
            "date rencontre")
        self._text(sheet, 1, 0, "Membres du comité", self.formats.subtitle)
        self._text(sheet, 1, 5, "Journal des rencontres", self.formats.subtitle)
        self._protect(sheet)
        return 2 + max(COMMITTEE_MEMBERS, COMMITTEE_MEETINGS), 5 + len(meetings) - 1

    def _committee_rows(self, sheet: Worksheet, col: int, rows: Sequence[Mapping[str, object]],
                        keys: Sequence[str]) -> None:
        """Write the committee's members or meetings carried from the previous period's workbook."""
        for row, values in enumerate(rows, start=3):
            for offset, key in enumerate(keys):
                self._value(sheet, row, col + offset, "date" if key == "date" else "text", values.get(key))

    def _committee_table(self, sheet: Worksheet, col: int, headers: Sequence[str], rows: int,
                         name: str) -> None:
        _ok(sheet.add_table(2, col, 2 + rows, col + len(headers) - 1, {
            "name": name, "style": "Table Style Light 1",
            "columns": [{"header": h, "header_format": self.formats.header["suivi"]}
                        for h in headers]}), name)

    # -- Historique --------------------------------------------------------------------
    def _write_history(self, sheet: Worksheet) -> tuple[int, int] | None:
        """Write earlier periods' values, one row per action per period, locked: the dashboard reads them."""
        f = self.formats
        rows = list(self.carried.history)
        self._text(sheet, 0, 0, "Historique du suivi", f.title)
        self._text(sheet, 1, 0, "Les valeurs des périodes précédentes, reportées par camf-excel reconduire. "
                   "Le tableau de bord s'en sert pour montrer l'évolution ; ne pas modifier.", f.help)
        for col, width in enumerate((10, 8, 60, 14, 12, 14, 10)):
            sheet.set_column(col, col, width)
        last = 3 + max(len(rows), 1) - 1
        _ok(sheet.add_table(2, 0, last, len(HISTORY_HEADERS) - 1, {
            "name": HISTORY_TABLE, "style": "Table Style Light 1",
            "columns": [{"header": h, "header_format": f.header["calcul"]} for h in HISTORY_HEADERS]}),
            HISTORY_TABLE)
        kinds = ("integer", "text", "text", "text", "integer", "date", "text")
        for row, values in enumerate(rows, start=3):
            for col, (key, kind) in enumerate(zip(HISTORY_KEYS, kinds, strict=True)):
                self._value(sheet, row, col, kind, values.get(key))
        for col, key in ((0, "periode"), (3, "statut"), (6, "en_retard")):
            first, end = xl_rowcol_to_cell(3, col, True, True), xl_rowcol_to_cell(last, col, True, True)
            _ok(self.book.define_name(f"hist_{key}", f"={_qualified(sheet.name, first)}:{end}"), key)
        self._protect(sheet)
        if not rows:  # a first period: nothing to show or print (a print area would print it, hidden)
            sheet.hide()
            return None
        return last, len(HISTORY_HEADERS) - 1

    # -- Tableau de bord ---------------------------------------------------------------
    def _write_dashboard(self, sheet: Worksheet) -> tuple[int, int]:
        f = self.formats
        sheet.set_column(0, 0, 50)  # « Soutien aux familles et conciliation travail-famille », bold
        sheet.set_column(1, 1, 14)
        sheet.set_column(2, 20, 12)
        self._text(sheet, 0, 0, "Tableau de bord", f.title)
        self._text(sheet, 1, 0, "Calculé automatiquement à partir de l'onglet Plan d'action.")
        self._text(sheet, 2, 0, "Indicateurs", f.header["calcul"])
        styles = {"count": f.count, "share": f.share, "money": f.money, "year": f.count}
        row = 3
        evolution = evolution_values(self.figures, self.previous)
        for indicator in (*indicators(self.template), *evolution_indicators(self.template)):
            self._text(sheet, row, 0, indicator.label, f.label)
            cached = evolution.get(indicator.name, None)
            if indicator.name not in evolution:
                cached = indicator.value(self.figures)
            _ok(sheet.write_formula(row, 1, "=" + indicator.formula, styles[indicator.style], cached),
                indicator.label)
            cell = xl_rowcol_to_cell(row, 1, row_abs=True, col_abs=True)
            _ok(self.book.define_name(indicator.cell_name, "=" + _qualified(sheet.name, cell)),
                indicator.cell_name)
            if indicator.name == "en_retard":
                self._late_note(sheet, row)
            row += 1
        row = self._write_status_table(sheet, row + 1)
        extent = self._write_matrix(sheet, row + 2)
        self._protect(sheet)
        return extent

    def _late_note(self, sheet: Worksheet, row: int) -> None:
        """Say beside the late count why it is 0 while no période de suivi is entered."""
        note = text_literal(PERIOD_MISSING_NOTE)
        cached = "" if is_number(self.periode) else PERIOD_MISSING_NOTE
        _ok(sheet.write_formula(row, 2, f'=IF(ISNUMBER(ident_periode),"",{note})', self.formats.note,
                                cached), "note période")

    def _write_status_table(self, sheet: Worksheet, top: int) -> int:
        """Write the count and share of each status from row `top`; return the row after the table."""
        d, f = self.figures, self.formats
        for col, header in enumerate(("Actions par statut", "Nombre", "%")):
            self._text(sheet, top, col, header, f.header["calcul"])
        statuses = self.template.lists["statut"].items
        for row, status in enumerate(statuses, start=top + 1):
            self._text(sheet, row, 0, status, f.label)
            count = status_count_formula(xl_rowcol_to_cell(row, 0))
            _ok(sheet.write_formula(row, 1, "=" + count, f.count, d.by_status[status]), status)
            _ok(sheet.write_formula(row, 2, "=" + share_formula(xl_rowcol_to_cell(row, 1)), f.share,
                                    _cached(d.status_share(status))), status)
        row = top + 1 + len(statuses)
        counts = f"{xl_rowcol_to_cell(top + 1, 1)}:{xl_rowcol_to_cell(row - 1, 1)}"
        self._text(sheet, row, 0, "Statut non renseigné ou hors liste", f.label)
        _ok(sheet.write_formula(row, 1, f"=tdb_actions-SUM({counts})", f.count, d.without_status),
            "sans statut")
        _ok(sheet.write_formula(row, 2, "=" + share_formula(xl_rowcol_to_cell(row, 1)), f.share,
                                _cached(d.without_status_share)), "sans statut")
        return row + 1

    def _write_matrix(self, sheet: Worksheet, top: int) -> tuple[int, int]:
        """Write the champ × statut matrix and its chart below; return the last row and column shown."""
        d, f = self.figures, self.formats
        statuses = self.template.lists["statut"].items
        champs = self.template.lists["champ"].items
        self._text(sheet, top - 1, 0, "Actions par champ d'action et par statut", f.subtitle)
        self._text(sheet, top, 0, "Champ d'action", f.header["calcul"])
        for col, status in enumerate(statuses, start=1):
            self._text(sheet, top, col, status, f.header["calcul"])
        total_col = len(statuses) + 1
        self._text(sheet, top, total_col, "Total", f.header["calcul"])
        for row, champ in enumerate(champs, start=top + 1):
            self._text(sheet, row, 0, champ, f.label)
            champ_cell = xl_rowcol_to_cell(row, 0, col_abs=True)
            for col, status in enumerate(statuses, start=1):
                status_cell = xl_rowcol_to_cell(top, col, row_abs=True)
                _ok(sheet.write_formula(row, col, "=" + champ_status_formula(champ_cell, status_cell),
                                        f.count, d.by_champ_status[champ, status]), champ)
            _ok(sheet.write_formula(row, total_col, "=" + champ_formula(champ_cell), f.count,
                                    d.by_champ[champ]), champ)
        chart_row = top + len(champs) + 2
        self._insert_chart(sheet, top, len(champs), statuses, chart_row)
        return chart_row + CHART_SIZE[1] // DEFAULT_ROW_PIXELS, total_col

    def _insert_chart(self, sheet: Worksheet, top: int, n_champs: int, statuses: Sequence[str],
                      row: int) -> None:
        chart = self.book.add_chart({"type": "bar", "subtype": "stacked"})
        first, last = top + 1, top + n_champs
        for col, status in enumerate(statuses, start=1):
            chart.add_series({
                "name": [sheet.name, top, col],
                "categories": [sheet.name, first, 0, last, 0],
                "values": [sheet.name, first, col, last, col],
                "fill": {"color": STATUS_COLOURS.get(status, "#A5A5A5")},
                "border": {"color": "#7F7F7F"},
            })
        chart.set_title({"name": "Actions par champ d'action et par statut"})
        chart.set_y_axis({"reverse": True})
        # Actions are whole: the count axis (a bar chart's x axis) goes by whole steps from 0.
        step = axis_step(max(self.figures.by_champ.values(), default=0))
        chart.set_x_axis({"min": 0, "major_unit": step, "num_format": "0"})
        chart.set_legend({"position": "bottom"})
        chart.set_size({"width": CHART_SIZE[0], "height": CHART_SIZE[1]})
        # Below the matrix, never over it: on a laptop screen the matrix fills the width.
        _ok(sheet.insert_chart(row, 0, chart), "graphique")

    def _write_properties(self) -> None:
        t = self.template
        organisation = str(self.identification.get("organisation") or "")
        _ok(self.book.set_properties({
            "title": t.title + (f" — {organisation}" if organisation else ""),
            "subject": f"Suivi du plan d'action {t.demarche}",
            "author": "camf-excel", "company": "Espace MUNI (anciennement le CAMF)",
            "keywords": f"{t.demarche}, suivi, plan d'action",
            "comments": f"Modèle {t.id} version {t.version}",
        }), "propriétés")
        for name, value in (("camf_template_id", t.id), ("camf_template_version", t.version),
                            ("camf_generator", f"camf-excel {__version__}")):
            _ok(self.book.set_custom_property(name, value), name)


def step_range(column: Column) -> str:
    """Name of the Listes range holding a stepped column's choices (liste_avancement)."""
    return f"liste_{column.key}"


@dataclass(frozen=True)
class Carried:
    """What a workbook rolled forward carries beyond its actions: earlier periods and its committee.

    `history` rows have the keys of figures.HISTORY_KEYS; `members` and `meetings` those of
    COMMITTEE_MEMBER_KEYS and COMMITTEE_MEETING_KEYS.
    """

    history: Sequence[Mapping[str, object]] = ()
    members: Sequence[Mapping[str, object]] = ()
    meetings: Sequence[Mapping[str, object]] = ()


def build_workbook(template: Template, identification: Mapping[str, object] | None = None,
                   actions: Sequence[Mapping[str, object]] = (),
                   password: str | None = None, carried: Carried | None = None) -> bytes:
    """Return the .xlsx bytes of a follow-up workbook, pre-filled with its actions and what is carried."""
    return _Builder(template, identification or {}, actions, password, carried).build()
