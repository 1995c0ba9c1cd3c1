"""Read a returned follow-up workbook: raw cells with their real positions, sheets and columns found by text.

One engine reads the values: python-calamine (xlsx, xlsm, xltx, xlsb, xls, ods), about 15 times
faster than openpyxl and the only one that reads Strict Open XML. What calamine cannot say is
recovered from the package itself: Excel error cells (calamine gives ''), merged cells in .ods,
cells shown as a percentage (« 100 % » is the number 1), formulas saved without their value
(calamine gives ''), the rows the workbook's own dashboard counts, and the template's identity.
Nothing here interprets a value; `validation` does.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_calamine import CalamineError, CalamineSheet, CalamineWorkbook
from xlsxwriter.utility import xl_range, xl_rowcol_to_cell

from camf_excel.errors import InputError
from camf_excel.files import MESSAGES, OLE2_MAGIC, check_legacy_workbook, load_input
from camf_excel.issues import make_issue
from camf_excel.limits import DAMAGED
from camf_excel.model import Column, Issue, Template
from camf_excel.normalise import clean_text, fold
from camf_excel.package import Merge, PackageFacts, check_sheet, check_zip_workbook
from camf_excel.parts import custom_properties, defined_name, ods_user_properties
from camf_excel.templates import DEFAULT_TEMPLATE, TEMPLATE_BY_DEMARCHE, list_templates
from camf_excel.writer import SHEETS

PLAN_SHEET, IDENT_SHEET, README_SHEET = SHEETS[2], SHEETS[1], SHEETS[0]
COMMITTEE_SHEET = SHEETS[3]
# The Comité de suivi's two tables, found by their headers (folded): key -> accepted headers.
MEETING_HEADERS = {"date": ("date de la rencontre", "date"), "sujets": ("sujets", "sujet"),
                   "decisions": ("decisions", "decision")}
MEMBER_HEADERS = {"nom": ("nom",), "organisation": ("organisation",), "role": ("role",),
                  "courriel": ("courriel",)}
HEADER_SCAN_ROWS = 20
MAX_HEADER_LENGTH = 80
MIN_HEADER_MATCHES = 3  # a sheet found by content must show at least this many known headers
READ_KINDS = frozenset({"xlsx", "ods", "xlsm", "xltx", "xlsb", "xls"})
REFUSAL_CODES = {"empty": "FICHIER_VIDE", "too_big": "FICHIER_TROP_GROS",
                 "not_spreadsheet": "PAS_UN_CLASSEUR", "damaged": "FICHIER_ENDOMMAGE",
                 "encrypted": "FICHIER_PROTEGE", "unopenable": "FICHIER_INACCESSIBLE"}
# The defined name the generated workbook's dashboard counts actions in (writer: plan_<key>).
REACH_NAME = "plan_action"
_REQUIRED_MARK = re.compile(r"\s*\*+\s*$")
Position = tuple[int, int]  # row, column (0-based)
_NO_KEYS: frozenset[str] = frozenset()


class RefusedFileError(InputError):
    """The file cannot be read at all; `code` is the catalogued issue.

    `sha256` and `size` describe the bytes that were read ('' and 0 when none could be).
    """

    def __init__(self, message: str, code: str, sha256: str = "", size: int = 0) -> None:
        super().__init__(message, code)
        self.sha256, self.size = sha256, size


@dataclass(frozen=True)
class PlanRow:
    """A non-blank row of the Plan d'action, as read (0-based sheet row `index`).

    `percent_keys`: the input columns whose cell has a percentage number format (« 100 % » typed
    by a person is the number 1); `no_cached_keys`: the input columns whose cell holds a formula
    saved without its value (read as ''). Formula columns (En retard) are never listed.
    """

    index: int
    values: dict[str, object]
    extras: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    percent_keys: frozenset[str] = _NO_KEYS
    no_cached_keys: frozenset[str] = _NO_KEYS

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
    percent: bool = False  # the cell has a percentage number format
    no_cached: bool = False  # the cell holds a formula saved without its value (read as '')


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
    # 0-based last row of the `plan_action` range the workbook's dashboard counts, when declared;
    # non-blank rows below it go to `rows_outside`, not to `rows`.
    reach_last_row: int | None = None
    rows_outside: list[PlanRow] = field(default_factory=list)
    merged: list[Merge] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    # The bytes read, once, for everything above: their SHA-256 (hex) and their size.
    sha256: str = ""
    size: int = 0
    # The Comité de suivi sheet's rows, as read (values by MEETING_HEADERS / MEMBER_HEADERS key).
    committee_sheet: str = ""
    meetings: list[PlanRow] = field(default_factory=list)
    members: list[PlanRow] = field(default_factory=list)

    def issue(self, code: str, **details: Any) -> None:
        """Record a catalogued issue of this file."""
        self.issues.append(make_issue(code, self.file, **details))


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
        if header_score(mapping, template) > header_score(best[1], template):
            best = (index, mapping)
        if header_score(best[1], template) * 2 >= len(template.columns):
            break  # a header this complete is the one; the rows below are data
    return best


def header_score(mapping: Mapping[int, str], template: Template) -> int:
    """Count the input columns a header names: calculated ones alone (En retard…) make no header."""
    return sum(1 for key in mapping.values() if template.column(key).kind != "formula")


# --- the workbook -----------------------------------------------------------------------------

def read_raw(path: Path, template: Template | None = None) -> RawWorkbook:
    """Read one workbook's Identification and Plan d'action; raise RefusedFileError if it cannot be read.

    The file is read once: its format is sniffed, its package guarded and its cells parsed
    from those same bytes, whose SHA-256 and size the result carries.
    """
    path = Path(path)
    loaded = load_input(path)
    data, sniffed, digest = loaded.data, loaded.sniffed, loaded.sha256
    if sniffed.kind not in READ_KINDS:
        code = REFUSAL_CODES.get(sniffed.kind, "PAS_UN_CLASSEUR")
        raise RefusedFileError(sniffed.message or sniffed.kind, code, digest, len(data))
    try:
        facts = guard_workbook(path, sniffed.kind, data, _first_read)
        raw = _read_book(path, sniffed.kind, data, open_workbook(data), facts, template, sniffed.message)
    except InputError as error:
        raise RefusedFileError(str(error), error.code or "FICHIER_ENDOMMAGE", digest, len(data)) from error
    except (CalamineError, ValueError, IndexError, KeyError, OSError, UnicodeError) as error:
        raise RefusedFileError(_unreadable(error), "FICHIER_ILLISIBLE", digest, len(data)) from error
    raw.sha256, raw.size = digest, len(data)
    return raw


def _first_read(name: str) -> bool:
    """Tell whether a sheet is one the reader reads first (others are checked only if read)."""
    return fold(name) in _FIRST_READ


_FIRST_READ = frozenset(fold(name) for name in (IDENT_SHEET, PLAN_SHEET))


def guard_workbook(path: Path, kind: str, data: bytes,
                   wanted: Callable[[str], bool] | None = None) -> PackageFacts:
    """Check a workbook's bytes before calamine reads them; raise InputError when it must not.

    Worksheets other than those `wanted` names (all when None) are checked when read (`_SheetCells`).
    """
    if kind == "xls":
        if not data.startswith(OLE2_MAGIC):  # Excel 2.1-4.0: calamine reads no bare BIFF stream
            raise InputError(f"{MESSAGES['xls']} (Excel 2.1 à 4.0, que l'outil ne lit pas)",
                             "FICHIER_ILLISIBLE")
        check_legacy_workbook(data)
        return PackageFacts(Path(path), kind="xls")
    facts = check_zip_workbook(path, data, wanted)
    if (facts.kind == "ods") != (kind == "ods") or (facts.kind == "xlsb") != (kind == "xlsb"):
        # calamine would read the bytes as another format than the one they announce.
        raise InputError(f"contenu incohérent (annoncé {kind}, lisible comme {facts.kind}) : classeur "
                         "endommagé ou contrefait, refusé", "FICHIER_DANGEREUX")
    return facts


def open_workbook(data: bytes) -> CalamineWorkbook:
    """Open a workbook's bytes with calamine, which then tells the format from them, not from a name.

    Call it on bytes a guard (`guard_workbook`) has checked: calamine aborts on some others.
    """
    with calamine_failures():
        return CalamineWorkbook.from_filelike(io.BytesIO(data))


def sheet_rows(book: CalamineWorkbook, name: str) -> list[list[object]]:
    """Return a sheet's rows from A1, as calamine reads them."""
    with calamine_failures():
        return [list(r) for r in book.get_sheet_by_name(name).to_python(skip_empty_area=False)]


@contextlib.contextmanager
def calamine_failures() -> Iterator[None]:
    """Turn a Rust panic inside calamine into the refusal of a damaged file.

    python-calamine raises a panic (an odd .xlsb: a sheet whose relationship is missing) as
    pyo3's PanicException, a BaseException no `except Exception` catches, and whose class
    cannot be imported before it is first raised: it is recognised by name.
    """
    try:
        yield
    except BaseException as error:
        if type(error).__name__ != "PanicException":
            raise
        raise InputError(f"classeur incohérent, le lecteur s'est arrêté ({str(error)[:120]}) : classeur "
                         "endommagé", DAMAGED) from None


def _unreadable(error: Exception) -> str:
    """Say why calamine could not read a file that passed the guards."""
    detail = str(error)
    if detail == "Cannot detect file format":  # every reader failed: calamine keeps no reason
        return ("aucun lecteur ne reconnaît ce classeur, endommagé ou d'un format non pris en charge : "
                "ouvrez-le dans Excel ou LibreOffice et enregistrez-le au format .xlsx")
    return f"{error.__class__.__name__} : {detail[:160]}"


def _read_book(path: Path, kind: str, data: bytes, book: CalamineWorkbook, facts: PackageFacts,
               template: Template | None, format_note: str | None) -> RawWorkbook:
    names = tuple(book.sheet_names)
    cells = _SheetCells(data, book, facts)
    template_id, version = _template_identity(facts, cells, names)
    raw = RawWorkbook(str(path), kind, _known_templates()[DEFAULT_TEMPLATE], template_id, version, names)
    if format_note:
        raw.issue("FORMAT_NON_STANDARD", detail=format_note)
    _read_identification(raw, cells)
    raw.template = template or _choose_template(raw)
    _read_plan(raw, cells)
    _report_other_plans(raw, cells)
    _read_committee(raw, cells)
    return raw


def _template_identity(facts: PackageFacts, cells: _SheetCells, names: tuple[str, ...]) -> tuple[str, str]:
    """Return the template id and version the workbook declares: properties, else Lisez-moi."""
    if facts.kind == "ods":
        properties = ods_user_properties(facts.parts.get("meta.xml", b""))
    else:
        properties = custom_properties(facts.parts.get("docprops/custom.xml", b""))
    found = properties.get("camf_template_id", ""), properties.get("camf_template_version", "")
    if found[0] or README_SHEET not in names:
        return found
    text = " ".join(clean_text(c) for r in cells.rows(README_SHEET) for c in r)
    template_id = re.search(r"Identifiant du modèle : ([\w.-]+)", text)
    version = re.search(r"Version du modèle : ([\w.-]+)", text)
    return (template_id.group(1) if template_id else "", version.group(1) if version else "")


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

@dataclass
class CellFacts:
    """What the package says of a sheet's cells beyond their values (0-based positions)."""

    errors: dict[Position, str] = field(default_factory=dict)  # Excel error cells and their text
    merged: list[Merge] = field(default_factory=list)
    percent: set[Position] = field(default_factory=set)  # valued cells shown as a percentage
    uncached: set[Position] = field(default_factory=set)  # formulas saved without their value


class _SheetCells:
    """Rows of a sheet from A1, plus what the package says of its cells (`CellFacts`)."""

    def __init__(self, data: bytes, book: CalamineWorkbook, facts: PackageFacts) -> None:
        self.data, self.kind, self.book, self.facts = data, facts.kind, book, facts
        self._sheets: dict[str, CalamineSheet] = {}

    def sheet(self, name: str) -> CalamineSheet:
        if name not in self._sheets:
            check_sheet(self.facts, name)  # a sheet left for later is bounded before calamine reads it
            with calamine_failures():
                self._sheets[name] = self.book.get_sheet_by_name(name)
        return self._sheets[name]

    def rows(self, name: str) -> list[list[object]]:
        sheet = self.sheet(name)
        with calamine_failures():
            return [list(r) for r in sheet.to_python(skip_empty_area=False)]

    def facts_of(self, name: str, columns: Set[int] | None = None) -> CellFacts:
        """Return the sheet's error cells, and its percentage and formula cells in `columns` (all if None).

        Merged ranges: `merged`. A generated plan holds 200 formulas of its own (En retard),
        most without a value: only the columns read as input are worth noting.
        """
        facts = self.facts
        part = facts.sheet_parts.get(name, "")  # the guard noted them while bounding the sheet
        return CellFacts(dict(facts.error_cells.get(part, {})), list(facts.merged_cells.get(part, [])),
                         _in(facts.percent_cells.get(part, set()), columns),
                         _in(facts.uncached_cells.get(part, set()), columns))

    def merged(self, name: str) -> list[Merge]:
        if self.kind == "ods":
            return list(self.facts.merged_cells.get(self.facts.sheet_parts.get(name, ""), []))
        sheet = self.sheet(name)
        with calamine_failures():
            ranges = sheet.merged_cell_ranges or []
        return [(r0, c0, r1, c1) for (r0, c0), (r1, c1) in ranges]

    def reach(self) -> tuple[str, int] | None:
        """Return the sheet and 0-based last row of the workbook's `plan_action` range, if declared."""
        if self.kind == "ods":
            return _ods_range_end(self.facts.named_ranges.get(REACH_NAME, ""))
        if self.kind == "xls":
            return None
        workbook = self.facts.parts.get(self.facts.workbook_part, b"")
        return _ooxml_range_end(defined_name(workbook, self.facts.workbook_part, REACH_NAME))


def _in(positions: Set[Position], columns: Set[int] | None) -> set[Position]:
    """Return the positions in `columns` (all of them when None)."""
    return set(positions) if columns is None else {p for p in positions if p[1] in columns}


# --- the dashboard's reach (defined names) ----------------------------------------------------

_SHEET_REF = r"(?:'((?:[^']|'')+)'|([^'!.:$]+))"  # quoted (apostrophes doubled) or bare
_ANY_SHEET = r"(?:'(?:[^']|'')+'|[^'!.:$]+)"  # the same, not captured
_COLUMN_ROW = r"\$?[A-Za-z]{1,3}\$?(\d{1,7})"
# 'Plan d''action'!$D$4:$D$203 (Excel) and $'Plan d''action'.$D$4:.$D$203 (OpenDocument).
_OOXML_RANGE = re.compile(rf"=?{_SHEET_REF}!{_COLUMN_ROW}(?::{_COLUMN_ROW})?")
_ODS_RANGE = re.compile(rf"\$?{_SHEET_REF}\.{_COLUMN_ROW}(?::(?:\$?{_ANY_SHEET})?\.{_COLUMN_ROW})?")


def _ooxml_range_end(text: str) -> tuple[str, int] | None:
    return _range_end(_OOXML_RANGE.fullmatch(text.strip()))


def _ods_range_end(text: str) -> tuple[str, int] | None:
    return _range_end(_ODS_RANGE.fullmatch(text.strip()))


def _range_end(match: re.Match[str] | None) -> tuple[str, int] | None:
    if match is None:
        return None
    quoted, bare, first, last = match.groups()
    sheet = quoted.replace("''", "'") if quoted else bare
    return sheet, int(last or first) - 1


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
    facts = cells.facts_of(name)
    for index, row in enumerate(rows):
        for col, cell in enumerate(row[:4]):
            key = labels.get(fold(_REQUIRED_MARK.sub("", clean_text(cell))))
            if key and key not in raw.identification:
                raw.identification[key] = _ident_value(row, (index, col + 1), facts)
                if raw.identification[key].no_cached:
                    raw.issue("FORMULE_SANS_VALEUR", sheet=name, cell=xl_rowcol_to_cell(index, col + 1),
                              row=index + 1, column=key)
                break


def _ident_value(row: list[object], where: Position, facts: CellFacts) -> IdentValue:
    value = row[where[1]] if where[1] < len(row) else ""
    return IdentValue(value, *where, facts.errors.get(where, ""), percent=where in facts.percent,
                      no_cached=where in facts.uncached)


def _ident_labels(template: Template) -> dict[str, str]:
    labels: dict[str, str] = {}
    for ident in template.identification:
        for name in (ident.label, ident.key):
            labels.setdefault(fold(name), ident.key)
    return labels


def _ident_score(rows: list[list[object]], labels: Mapping[str, str]) -> int:
    return sum(1 for row in rows[:40] for cell in row[:4]
               if fold(_REQUIRED_MARK.sub("", clean_text(cell))) in labels)


def _best_sheet(raw: RawWorkbook, cells: _SheetCells, score: Callable[[list[list[object]]], int],
                exclude: tuple[str, ...] = ()) -> tuple[str, list[list[object]]]:
    best: tuple[int, str, list[list[object]]] = (MIN_HEADER_MATCHES - 1, "", [])
    for name in raw.sheet_names:
        if any(fold(name) == fold(other) for other in exclude):
            continue
        rows = cells.rows(name)
        points = score(rows)
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
        name, rows = _best_sheet(raw, cells, lambda r: header_score(find_header(r, template)[1], template),
                                 exclude=(raw.ident_sheet,))
        if not name:
            raw.issue("FEUILLE_MANQUANTE", sheet=PLAN_SHEET, expected=PLAN_SHEET,
                      present=_names(raw.sheet_names))
            return
        raw.issue("FEUILLE_RENOMMEE", sheet=name, expected=PLAN_SHEET, found=name)
    raw.plan_sheet = name
    header_index, mapping = find_header(rows, template)
    if header_score(mapping, template) < MIN_HEADER_MATCHES:
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
    reach = cells.reach()
    if reach and reach[0] == name and reach[1] > header_index:  # a name left pointing above: ignored
        raw.reach_last_row = reach[1]
    _collect_rows(raw, rows, cells.facts_of(name, set(_input_columns(raw).values())))


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
        if column.key in raw.columns or column.kind == "formula" or _newer_than_workbook(column, raw):
            continue
        code = "COLONNE_OBLIGATOIRE_MANQUANTE" if column.required else "COLONNE_MANQUANTE"
        raw.issue(code, sheet=raw.plan_sheet, column=column.key, header=column.header)


def _newer_than_workbook(column: Column, raw: RawWorkbook) -> bool:
    """Tell whether the column came with a template version after the workbook's own (not missing there)."""
    return bool(column.since and raw.template_version
                and version_key(raw.template_version) < version_key(column.since))


def _fill_merged(rows: list[list[object]], merged: list[Merge]) -> None:
    """Give each row under a vertical merge the merge's value, as the person who merged meant."""
    for r0, c0, r1, _c1 in merged:
        if r1 == r0 or r0 >= len(rows) or c0 >= len(rows[r0]):
            continue
        for index in range(r0 + 1, min(r1, len(rows) - 1) + 1):
            if c0 < len(rows[index]):
                rows[index][c0] = rows[r0][c0]


def _input_columns(raw: RawWorkbook) -> dict[str, int]:
    """Return the columns people type into (not the formula ones, like En retard)."""
    return {key: col for key, col in raw.columns.items() if raw.template.column(key).kind != "formula"}


def _collect_rows(raw: RawWorkbook, rows: list[list[object]], facts: CellFacts) -> None:
    """Sort the non-blank rows under the header into `rows` and `rows_outside`; count the blank ones.

    `facts` holds the percentage and formula cells of the input columns only.
    """
    input_columns = _input_columns(raw)
    keys = {col: key for key, col in input_columns.items()}
    percent, uncached = _by_row(facts.percent), _by_row(facts.uncached)
    for index in range(raw.header_index + 1, len(rows)):
        row = rows[index]
        values = {key: _at(row, col) for key, col in raw.columns.items()}
        extras = {header: _at(row, col) for col, header in raw.extra_columns.items()}
        row_errors = {key: facts.errors[(index, col)] for key, col in raw.columns.items()
                      if (index, col) in facts.errors}
        extras = {header: value for header, value in extras.items() if not _blank(value)}
        # A formula without its value reads as '': the row still holds something.
        if not row_errors and not extras and index not in uncached \
                and all(_blank(values[k]) for k in input_columns):
            raw.blank_rows += 1
            continue
        plan_row = PlanRow(index, values, extras, row_errors, _keys(percent.get(index), keys),
                           _keys(uncached.get(index), keys))
        if raw.reach_last_row is not None and index > raw.reach_last_row:
            raw.rows_outside.append(plan_row)
            _report_outside(raw, plan_row)
            continue
        raw.rows.append(plan_row)
        for key in sorted(plan_row.no_cached_keys, key=input_columns.__getitem__):
            raw.issue("FORMULE_SANS_VALEUR", sheet=raw.plan_sheet, row=plan_row.number, column=key,
                      cell=xl_rowcol_to_cell(index, input_columns[key]))


def _by_row(positions: set[Position]) -> dict[int, set[int]]:
    found: dict[int, set[int]] = {}
    for row, col in positions:
        found.setdefault(row, set()).add(col)
    return found


def _keys(cols: Set[int] | None, keys: Mapping[int, str]) -> frozenset[str]:
    return frozenset(keys[col] for col in cols if col in keys) if cols else _NO_KEYS


def _report_outside(raw: RawWorkbook, row: PlanRow) -> None:
    """Report a row below the `plan_action` range: the workbook's dashboard does not count it."""
    key, col = _first_filled(raw, row)
    raw.issue("LIGNE_HORS_TABLEAU", sheet=raw.plan_sheet, cell=xl_rowcol_to_cell(row.index, col),
              row=row.number, column=key, value=row.values.get("action", ""),
              last=(raw.reach_last_row or 0) + 1)


def _first_filled(raw: RawWorkbook, row: PlanRow) -> tuple[str, int]:
    """Return the key and column of the row's Action cell, else of its first non-blank cell."""
    if "action" in raw.columns and not _blank(row.values["action"]):
        return "action", raw.columns["action"]
    filled = [(col, key) for key, col in raw.columns.items()
              if not _blank(row.values[key]) or key in row.no_cached_keys]
    filled += [(col, "action") for col, header in raw.extra_columns.items() if header in row.extras]
    col, key = min(filled, default=(raw.columns.get("action", 0), "action"))
    return key, col


# --- other sheets holding actions -------------------------------------------------------------

_OWN_SHEETS = frozenset(fold(name) for name in SHEETS)


def _report_other_plans(raw: RawWorkbook, cells: _SheetCells) -> None:
    """Report the sheets, other than the generator's, that hold actions under Plan d'action headers.

    A copy of the plan sheet (« Plan d'action (2) ») holds actions nobody reads. Only sheets the
    generator does not make are read: a workbook with its own sheets only costs nothing more.
    """
    if not raw.plan_sheet:
        return
    for name in raw.sheet_names:
        if name in (raw.plan_sheet, raw.ident_sheet) or fold(name) in _OWN_SHEETS:
            continue
        count = _plan_rows_in(cells, name, raw.template)
        if count:
            raw.issue("FEUILLE_PLAN_SUPPLEMENTAIRE", sheet=name, sheet_name=name, rows=count,
                      plan=raw.plan_sheet)


def _plan_rows_in(cells: _SheetCells, name: str, template: Template) -> int:
    """Count the non-blank rows under a Plan d'action header in a sheet (0 without one)."""
    try:
        rows = cells.rows(name)  # the guard checks the sheet first (InputError: file refused)
    except (CalamineError, ValueError, IndexError, KeyError):
        return 0  # a chart sheet or a sheet calamine cannot read: no actions to report there
    header_index, mapping = find_header(rows, template)
    if header_score(mapping, template) < MIN_HEADER_MATCHES:
        return 0
    inputs = [col for col, key in mapping.items() if template.column(key).kind != "formula"]
    return sum(1 for row in rows[header_index + 1:] if any(not _blank(_at(row, col)) for col in inputs))


def _at(row: Sequence[object], col: int) -> object:
    return row[col] if col < len(row) else ""


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


# --- Comité de suivi ----------------------------------------------------------------------------

def _read_committee(raw: RawWorkbook, cells: _SheetCells) -> None:
    """Read the Comité de suivi's members and meetings log, found by their headers; none if absent.

    The sheet is optional to every reader but the bilan: a workbook without it, or whose sheet
    the guard will not let calamine read, simply has no meetings (its plan is read as before).
    """
    name = _find_sheet(raw, COMMITTEE_SHEET)
    if not name:
        return
    try:
        rows = cells.rows(name)
    except (InputError, CalamineError, ValueError, IndexError, KeyError):
        return
    raw.committee_sheet = name
    raw.meetings = _committee_table(rows, MEETING_HEADERS, "date")
    raw.members = _committee_table(rows, MEMBER_HEADERS, "nom")


def _committee_table(rows: list[list[object]], headers: Mapping[str, tuple[str, ...]],
                     anchor: str) -> list[PlanRow]:
    """Return the non-blank rows under the first header row holding `anchor` (and the others to its right)."""
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        folded = [fold(_REQUIRED_MARK.sub("", clean_text(cell))) for cell in row]
        for start, text in enumerate(folded):
            if text not in headers[anchor]:
                continue
            columns = {anchor: start}
            for key, names in headers.items():
                found = [col for col in range(start, min(len(folded), start + len(headers) + 1))
                         if folded[col] in names]
                if key != anchor and found:
                    columns[key] = found[0]
            if len(columns) < 2:
                continue
            return [PlanRow(i, {key: _at(r, col) for key, col in columns.items()})
                    for i, r in enumerate(rows[index + 1:], start=index + 1)
                    if any(not _blank(_at(r, col)) for col in columns.values())]
    return []
