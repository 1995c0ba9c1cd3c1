"""Read a returned follow-up workbook: raw cells with their real positions, sheets and columns found by text.

One engine reads the values: python-calamine (xlsx, xlsm, xltx, xlsb, xls, ods), about 15 times
faster than openpyxl and the only one that reads Strict Open XML. What calamine cannot say is
recovered from the package itself: Excel error cells (calamine gives ''), merged cells in .ods,
and the template's identity. Nothing here interprets a value; `validation` does.
"""

from __future__ import annotations

import functools
import html
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook
from xlsxwriter.utility import xl_range, xl_rowcol_to_cell

from camf_excel.errors import InputError
from camf_excel.files import PackageFacts, check_sheet, check_zip_workbook, sniff_format
from camf_excel.issues import make_issue
from camf_excel.model import Issue, Template
from camf_excel.normalise import clean_text, fold
from camf_excel.templates import DEFAULT_TEMPLATE, TEMPLATE_BY_DEMARCHE, list_templates
from camf_excel.writer import SHEETS

PLAN_SHEET, IDENT_SHEET, README_SHEET = SHEETS[2], SHEETS[1], SHEETS[0]
HEADER_SCAN_ROWS = 20
MAX_HEADER_LENGTH = 80
MIN_HEADER_MATCHES = 3  # a sheet found by content must show at least this many known headers
READ_KINDS = frozenset({"xlsx", "ods", "xlsm", "xltx", "xlsb", "xls"})
REFUSAL_CODES = {"empty": "FICHIER_VIDE", "too_big": "FICHIER_TROP_GROS",
                 "not_spreadsheet": "PAS_UN_CLASSEUR", "damaged": "FICHIER_ENDOMMAGE",
                 "encrypted": "FICHIER_PROTEGE"}
_REQUIRED_MARK = re.compile(r"\s*\*+\s*$")
Merge = tuple[int, int, int, int]  # first row, first column, last row, last column (0-based)
SheetFacts = tuple[dict[tuple[int, int], str], list[Merge]]  # error cells, merged ranges


class RefusedFileError(InputError):
    """The file cannot be read at all; `code` is the catalogued issue."""


@dataclass(frozen=True)
class PlanRow:
    """A non-blank row of the Plan d'action, as read (0-based sheet row `index`)."""

    index: int
    values: dict[str, object]
    extras: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def number(self) -> int:
        """The row number a spreadsheet program shows."""
        return self.index + 1


@dataclass(frozen=True)
class IdentValue:
    """A value of the Identification sheet and the position of its cell (0-based)."""

    value: object
    row: int
    col: int
    error: str = ""


@dataclass
class RawWorkbook:
    """Everything read from one workbook, before any value is interpreted."""

    file: str
    kind: str
    template: Template
    template_id: str = ""
    template_version: str = ""
    sheet_names: tuple[str, ...] = ()
    ident_sheet: str = ""
    identification: dict[str, IdentValue] = field(default_factory=dict)
    plan_sheet: str = ""
    header_index: int = -1
    columns: dict[str, int] = field(default_factory=dict)
    extra_columns: dict[int, str] = field(default_factory=dict)
    rows: list[PlanRow] = field(default_factory=list)
    blank_rows: int = 0
    merged: list[Merge] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def issue(self, code: str, **details: object) -> None:
        """Record a catalogued issue of this file."""
        self.issues.append(make_issue(code, self.file, **details))  # type: ignore[arg-type]


# --- headers ----------------------------------------------------------------------------------

def header_lookup(template: Template) -> dict[str, str]:
    """Map the folded form of every header, alias and key to its column key."""
    key = (template.id, template.version, template.source)
    if key not in _HEADER_LOOKUPS:
        lookup: dict[str, str] = {}
        for column in template.columns:
            for name in (column.key, column.header, *column.aliases):
                lookup.setdefault(fold(name), column.key)
        _HEADER_LOOKUPS[key] = lookup
    return _HEADER_LOOKUPS[key]


_HEADER_LOOKUPS: dict[tuple[str, str, str], dict[str, str]] = {}


def header_key(cell: object, lookup: Mapping[str, str]) -> str | None:
    """Return the column key a header cell names (a trailing « * » is forgiven), else None."""
    return lookup.get(fold(_REQUIRED_MARK.sub("", clean_text(cell))))


def find_header(rows: Sequence[Sequence[object]], template: Template) -> tuple[int, dict[int, str]]:
    """Return the index of the header row among the first rows and its column → key map."""
    lookup = header_lookup(template)
    best: tuple[int, dict[int, str]] = (-1, {})
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        mapping: dict[int, str] = {}
        for col, cell in enumerate(row):
            if not isinstance(cell, str) or len(cell) > MAX_HEADER_LENGTH:
                continue  # numbers and long texts (actions) are no headers: skip folding them
            key = header_key(cell, lookup)
            if key and key not in mapping.values():
                mapping[col] = key
        if len(mapping) > len(best[1]):
            best = (index, mapping)
        if len(best[1]) * 2 >= len(template.columns):
            break  # a header this complete is the one; the rows below are data
    return best


# --- the workbook -----------------------------------------------------------------------------

def read_raw(path: Path, template: Template | None = None) -> RawWorkbook:
    """Read one workbook's Identification and Plan d'action; raise RefusedFileError if it cannot be read."""
    path = Path(path)
    sniffed = sniff_format(path)
    if sniffed.kind not in READ_KINDS:
        code = REFUSAL_CODES.get(sniffed.kind, "PAS_UN_CLASSEUR")
        raise RefusedFileError(sniffed.message or sniffed.kind, code)
    try:
        facts = PackageFacts(path) if sniffed.kind == "xls" else check_zip_workbook(path, _first_read)
        book = CalamineWorkbook.from_path(str(path))
        return _read_book(path, sniffed.kind, book, facts, template, sniffed.message)
    except InputError as error:
        raise RefusedFileError(str(error), error.code or "FICHIER_ENDOMMAGE") from error
    except (CalamineError, ValueError, IndexError, KeyError, OSError, UnicodeError) as error:
        detail = f"{error.__class__.__name__} : {str(error)[:160]}"
        raise RefusedFileError(detail, "FICHIER_ILLISIBLE") from error


def _first_read(name: str) -> bool:
    """Tell whether a sheet is one the reader reads first (others are checked only if read)."""
    return fold(name) in _FIRST_READ


_FIRST_READ = frozenset(fold(name) for name in (IDENT_SHEET, PLAN_SHEET))


def _read_book(path: Path, kind: str, book: CalamineWorkbook, facts: PackageFacts,
               template: Template | None, format_note: str | None) -> RawWorkbook:
    names = tuple(book.sheet_names)
    cells = _SheetCells(path, kind, book, facts)
    template_id, version = _template_identity(path, kind, facts, cells, names)
    raw = RawWorkbook(str(path), kind, _known_templates()[DEFAULT_TEMPLATE], template_id, version, names)
    if format_note:
        raw.issue("FORMAT_NON_STANDARD", detail=format_note)
    _read_identification(raw, cells)
    raw.template = template or _choose_template(raw)
    _read_plan(raw, cells)
    return raw


def _template_identity(path: Path, kind: str, facts: PackageFacts, cells: _SheetCells,
                       names: tuple[str, ...]) -> tuple[str, str]:
    """Return the template id and version the workbook declares: properties, else Lisez-moi."""
    if kind == "ods":
        properties = _ods_properties(path)
    else:
        properties = _ooxml_properties(facts.parts.get("docprops/custom.xml", b""))
    found = properties.get("camf_template_id", ""), properties.get("camf_template_version", "")
    if found[0] or README_SHEET not in names:
        return found
    text = " ".join(clean_text(c) for r in cells.rows(README_SHEET) for c in r)
    template_id = re.search(r"Identifiant du modèle : ([\w.-]+)", text)
    version = re.search(r"Version du modèle : ([\w.-]+)", text)
    return (template_id.group(1) if template_id else "", version.group(1) if version else "")


_CUSTOM_PROPERTY = re.compile(rb"<property\b[^>]*\bname=\"([^\"]+)\"[^>]*>\s*<vt:\w+>([^<]*)</vt:\w+>")
_ODS_PROPERTY = re.compile(rb"<meta:user-defined\b[^>]*\bmeta:name=\"([^\"]+)\"[^>]*>([^<]*)<")


def _decoded_pairs(pattern: re.Pattern[bytes], xml: bytes) -> dict[str, str]:
    return {html.unescape(name.decode("utf-8", "replace")): html.unescape(value.decode("utf-8", "replace"))
            for name, value in pattern.findall(xml)}


def _ooxml_properties(xml: bytes) -> dict[str, str]:
    return _decoded_pairs(_CUSTOM_PROPERTY, xml)


def _ods_properties(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        if "meta.xml" not in archive.namelist():
            return {}
        with archive.open("meta.xml") as stream:
            return _decoded_pairs(_ODS_PROPERTY, stream.read(1024 * 1024))


def _choose_template(raw: RawWorkbook) -> Template:
    """Pick the declared template; an unknown or newer one is reported and read by démarche."""
    known = _known_templates()
    demarche = raw.identification.get("demarche")
    named = clean_text(demarche.value if demarche else "").upper()
    wanted = TEMPLATE_BY_DEMARCHE.get(named, DEFAULT_TEMPLATE)
    by_demarche = known.get(wanted, known[DEFAULT_TEMPLATE])
    declared = known.get(raw.template_id)
    if declared is None:
        detail = (f"modèle « {raw.template_id} » inconnu de cet outil" if raw.template_id
                  else "classeur sans identité de modèle camf-excel")
        raw.issue("MODELE_INCONNU", detail=detail, template=by_demarche.id)
        return by_demarche
    if version_key(raw.template_version) > version_key(declared.version):
        raw.issue("MODELE_VERSION_RECENTE", template=declared.id, version=raw.template_version,
                  known=declared.version)
    return declared


@functools.lru_cache(maxsize=1)
def _known_templates() -> dict[str, Template]:
    # Templates do not change during a run; listing them stats and loads every file.
    return {t.id: t for t in list_templates()}


def version_key(version: str) -> tuple[int, ...]:
    """Return a template version as numbers, to compare "1.10" after "1.9"."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


# --- reading sheets' cells --------------------------------------------------------------------

class _SheetCells:
    """Rows of a sheet from A1, plus its error cells and merged ranges (0-based, inclusive)."""

    def __init__(self, path: Path, kind: str, book: CalamineWorkbook, facts: PackageFacts) -> None:
        self.path, self.kind, self.book, self.facts = path, kind, book, facts
        self._sheets: dict[str, CalamineSheet] = {}
        self._ods: dict[str, SheetFacts] | None = None

    def sheet(self, name: str) -> CalamineSheet:
        if name not in self._sheets:
            if self.kind != "ods":
                check_sheet(self.facts, name)  # a sheet not checked up front, before calamine reads it
            self._sheets[name] = self.book.get_sheet_by_name(name)
        return self._sheets[name]

    def rows(self, name: str) -> list[list[object]]:
        return [list(r) for r in self.sheet(name).to_python(skip_empty_area=False)]

    def errors(self, name: str) -> dict[tuple[int, int], str]:
        if self.kind == "ods":
            return self._ods_facts().get(name, ({}, []))[0]
        part = self.facts.sheet_parts.get(name, "")
        return {_cell_position(ref): text for ref, text in self.facts.error_cells.get(part, {}).items()}

    def merged(self, name: str) -> list[Merge]:
        if self.kind == "ods":
            return self._ods_facts().get(name, ({}, []))[1]
        ranges = self.sheet(name).merged_cell_ranges or []
        return [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in ranges]

    def _ods_facts(self) -> dict[str, SheetFacts]:
        if self._ods is None:
            self._ods = _ods_cell_facts(self.path)
        return self._ods


def _cell_position(ref: str) -> tuple[int, int]:
    letters = ref.rstrip("0123456789")
    col = 0
    for letter in letters:
        col = col * 26 + ord(letter) - 64
    return int(ref[len(letters):]) - 1, col - 1


_TABLE_NS = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_CALCEXT_NS = "urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0"
_MAX_SPAN = 100_000
_CELL_TAGS = (f"{{{_TABLE_NS}}}table-cell", f"{{{_TABLE_NS}}}covered-table-cell")


def _ods_cell_facts(path: Path) -> dict[str, SheetFacts]:
    """Walk content.xml for error cells and merged ranges, only when the file has any."""
    with zipfile.ZipFile(path) as archive, archive.open("content.xml") as stream:
        xml = stream.read()
    if b'value-type="error"' not in xml and b"-spanned=" not in xml:
        return {}
    return _OdsWalker().walk(xml)


class _OdsWalker:
    """Track the row and column of each ODS cell, counting repeated rows and columns."""

    def __init__(self) -> None:
        self.facts: dict[str, SheetFacts] = {}
        self.table = ""
        self.row = self.col = 0

    def walk(self, xml: bytes) -> dict[str, SheetFacts]:
        for event, element in ET.iterparse(_BytesReader(xml), events=("start", "end")):
            tag = element.tag
            if event == "start" and tag == f"{{{_TABLE_NS}}}table":
                self.table, self.row = element.get(f"{{{_TABLE_NS}}}name", ""), 0
                self.facts[self.table] = ({}, [])
            elif event == "start" and tag == f"{{{_TABLE_NS}}}table-row":
                self.col = 0
            elif event == "end" and tag == f"{{{_TABLE_NS}}}table-row":
                self.row += _repeat(element, "rows")
                element.clear()
            elif event == "end" and tag in _CELL_TAGS:
                self._cell(element)
                self.col += _repeat(element, "columns")
        return {name: facts for name, facts in self.facts.items() if facts[0] or facts[1]}

    def _cell(self, element: ET.Element) -> None:
        errors, merged = self.facts[self.table]
        if element.get(f"{{{_CALCEXT_NS}}}value-type") == "error":
            errors[(self.row, self.col)] = "".join(element.itertext()).strip() or "#ERREUR"
        rows = min(int(element.get(f"{{{_TABLE_NS}}}number-rows-spanned", "1") or 1), _MAX_SPAN)
        cols = min(int(element.get(f"{{{_TABLE_NS}}}number-columns-spanned", "1") or 1), _MAX_SPAN)
        if rows > 1 or cols > 1:
            merged.append((self.row, self.col, self.row + rows - 1, self.col + cols - 1))


def _repeat(element: ET.Element, what: str) -> int:
    value = element.get(f"{{{_TABLE_NS}}}number-{what}-repeated", "1")
    return int(value) if value.isdigit() else 1


class _BytesReader:
    """A minimal file object over bytes for iterparse."""

    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.position + size
        chunk = self.data[self.position:end]
        self.position += len(chunk)
        return chunk


# --- Identification ---------------------------------------------------------------------------

def _find_sheet(raw: RawWorkbook, expected: str) -> str:
    """Return the sheet named as expected (case, accents and apostrophes forgiven), else ''."""
    for name in raw.sheet_names:
        if fold(name) == fold(expected):
            return name
    return ""


def _read_identification(raw: RawWorkbook, cells: _SheetCells) -> None:
    template = raw.template
    labels = _ident_labels(template)
    name = _find_sheet(raw, IDENT_SHEET)
    rows = cells.rows(name) if name else []
    if not name:
        name, rows = _best_sheet(raw, cells, lambda r: _ident_score(r, labels), exclude=(PLAN_SHEET,))
        if not name:
            raw.issue("FEUILLE_MANQUANTE", sheet=IDENT_SHEET, expected=IDENT_SHEET,
                      present=_names(raw.sheet_names))
            return
        raw.issue("FEUILLE_RENOMMEE", sheet=name, expected=IDENT_SHEET, found=name)
    raw.ident_sheet = name
    errors = cells.errors(name)
    for index, row in enumerate(rows):
        for col, cell in enumerate(row[:4]):
            key = labels.get(fold(_REQUIRED_MARK.sub("", clean_text(cell))))
            if key and key not in raw.identification:
                value = row[col + 1] if col + 1 < len(row) else ""
                raw.identification[key] = IdentValue(value, index, col + 1, errors.get((index, col + 1), ""))
                break


def _ident_labels(template: Template) -> dict[str, str]:
    labels: dict[str, str] = {}
    for ident in template.identification:
        for name in (ident.label, ident.key):
            labels.setdefault(fold(name), ident.key)
    return labels


def _ident_score(rows: list[list[object]], labels: Mapping[str, str]) -> int:
    return sum(1 for row in rows[:40] for cell in row[:4]
               if fold(_REQUIRED_MARK.sub("", clean_text(cell))) in labels)


def _best_sheet(raw: RawWorkbook, cells: _SheetCells, score: object,
                exclude: tuple[str, ...] = ()) -> tuple[str, list[list[object]]]:
    best: tuple[int, str, list[list[object]]] = (MIN_HEADER_MATCHES - 1, "", [])
    for name in raw.sheet_names:
        if any(fold(name) == fold(other) for other in exclude):
            continue
        rows = cells.rows(name)
        points = score(rows)  # type: ignore[operator]
        if points > best[0]:
            best = (points, name, rows)
    return best[1], best[2]


def _names(names: Sequence[str]) -> str:
    return ", ".join(f"« {n} »" for n in names) or "aucune"


# --- Plan d'action ----------------------------------------------------------------------------

def _read_plan(raw: RawWorkbook, cells: _SheetCells) -> None:
    template = raw.template
    name = _find_sheet(raw, PLAN_SHEET)
    rows = cells.rows(name) if name else []
    if not name:
        name, rows = _best_sheet(raw, cells, lambda r: len(find_header(r, template)[1]),
                                 exclude=(raw.ident_sheet,))
        if not name:
            raw.issue("FEUILLE_MANQUANTE", sheet=PLAN_SHEET, expected=PLAN_SHEET,
                      present=_names(raw.sheet_names))
            return
        raw.issue("FEUILLE_RENOMMEE", sheet=name, expected=PLAN_SHEET, found=name)
    raw.plan_sheet = name
    header_index, mapping = find_header(rows, template)
    if len(mapping) < MIN_HEADER_MATCHES:
        raw.issue("ENTETE_INTROUVABLE", sheet=name, rows=HEADER_SCAN_ROWS)
        return
    raw.header_index = header_index
    raw.columns = {key: col for col, key in mapping.items()}
    _report_columns(raw, rows[header_index], mapping)
    raw.merged = [m for m in cells.merged(name) if m[2] > header_index]
    for r0, c0, r1, c1 in raw.merged:
        raw.issue("CELLULES_FUSIONNEES", sheet=name, cell=xl_rowcol_to_cell(r0, c0), row=r0 + 1,
                  column=mapping.get(c0, ""), range=xl_range(r0, c0, r1, c1))
    _fill_merged(rows, raw.merged)
    _collect_rows(raw, rows, cells.errors(name))


def _report_columns(raw: RawWorkbook, header: list[object], mapping: Mapping[int, str]) -> None:
    lookup = header_lookup(raw.template)
    for col, cell in enumerate(header):
        text = clean_text(cell)
        if not text or col in mapping:
            continue
        key = header_key(cell, lookup)
        where = {"sheet": raw.plan_sheet, "cell": xl_rowcol_to_cell(raw.header_index, col),
                 "row": raw.header_index + 1, "value": text}
        if key:
            first = xl_rowcol_to_cell(raw.header_index, raw.columns[key])
            raw.issue("COLONNE_EN_DOUBLE", column=key, header=text, first=first, **where)
        else:
            raw.extra_columns[col] = text
            raw.issue("COLONNE_SUPPLEMENTAIRE", header=text, **where)
    for column in raw.template.columns:
        if column.key in raw.columns or column.kind == "formula":
            continue
        code = "COLONNE_OBLIGATOIRE_MANQUANTE" if column.required else "COLONNE_MANQUANTE"
        raw.issue(code, sheet=raw.plan_sheet, column=column.key, header=column.header)


def _fill_merged(rows: list[list[object]], merged: list[Merge]) -> None:
    """Give each row under a vertical merge the merge's value, as the person who merged meant."""
    for r0, c0, r1, _c1 in merged:
        if r1 == r0 or r0 >= len(rows) or c0 >= len(rows[r0]):
            continue
        for index in range(r0 + 1, min(r1, len(rows) - 1) + 1):
            if c0 < len(rows[index]):
                rows[index][c0] = rows[r0][c0]


def _collect_rows(raw: RawWorkbook, rows: list[list[object]], errors: Mapping[tuple[int, int], str]) -> None:
    input_columns = {key: col for key, col in raw.columns.items()
                     if raw.template.column(key).kind != "formula"}
    for index in range(raw.header_index + 1, len(rows)):
        row = rows[index]
        values = {key: _at(row, col) for key, col in raw.columns.items()}
        extras = {header: _at(row, col) for col, header in raw.extra_columns.items()}
        row_errors = {key: errors[(index, col)] for key, col in raw.columns.items() if (index, col) in errors}
        extras = {header: value for header, value in extras.items() if not _blank(value)}
        if not row_errors and not extras and all(_blank(values[k]) for k in input_columns):
            raw.blank_rows += 1
            continue
        raw.rows.append(PlanRow(index, values, extras, row_errors))


def _at(row: Sequence[object], col: int) -> object:
    return row[col] if col < len(row) else ""


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")
