"""The package guard: a zip workbook (OOXML or ODS) read part by part as calamine reads it, within the limits.

Every part is found through the package's relationships, as calamine finds it; every XML part is
scanned for a DTD; the parts calamine expands (worksheets, shared strings, ODS content) are parsed
with expat and bounded before calamine sees them. `PackageFacts` keeps what the reader needs.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
import zlib
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from camf_excel.errors import InputError
from camf_excel.limits import (
    CHUNK,
    DAMAGED,
    HOSTILE,
    MAX_CELLS,
    MAX_MARKUP,
    MAX_PART_BYTES,
    MAX_RATIO,
    MAX_SHARED_STRINGS,
    MAX_TEXT_BYTES,
    MAX_TOTAL_BYTES,
    MAX_ZIP_ENTRIES,
    MIN_SHARED_STRING_BYTES,
    ODS_MIMETYPE,
    SAVE_AS_XLSX,
    ascii_lower,
    french_number,
    part_key,
)
from camf_excel.parts import (
    ROOT_RELATIONSHIPS,
    office_folder,
    percent_styles,
    read_relationships,
    sheet_entries,
)
from camf_excel.xlsb import RELATIONSHIPS as XLSB_RELATIONSHIPS
from camf_excel.xlsb import check_xlsb
from camf_excel.xmlparts import hardened_parser, parse_error

# --- R3-R5: package guards --------------------------------------------------------------------

Position = tuple[int, int]  # 0-based row, column
Merge = tuple[int, int, int, int]  # first row, first column, last row, last column (0-based)


@dataclass
class PackageFacts:
    """What the guard learnt while reading a package, so the reader need not read it again.

    `sheet_parts` maps sheet names to the worksheet parts calamine reads for them (an ODS
    table's name to itself); `error_cells` maps a worksheet part to the positions of its cells
    holding an error (calamine reads them as '') and their text; `percent_cells` to those of its
    valued cells shown as a percentage (calamine gives 1 for « 100 % »); `uncached_cells` to
    those of its formulas saved without a value (calamine gives ''); `merged_cells` to an ODS
    table's merged ranges; `named_ranges` are an ODS's; `percent_styles` are the cell formats
    (`s`) showing a percentage; `parts` keeps the small parts that name the sheets and the
    template (and an .ods content.xml). `cells` and `text` are what calamine would build.
    """

    path: Path
    kind: str = "xlsx"
    workbook_part: str = "xl/workbook.xml"
    sheet_parts: dict[str, str] = field(default_factory=dict)
    sheet_kinds: dict[str, str] = field(default_factory=dict)  # worksheet, chartsheet, dialogsheet
    error_cells: dict[str, dict[Position, str]] = field(default_factory=dict)
    percent_cells: dict[str, set[Position]] = field(default_factory=dict)
    uncached_cells: dict[str, set[Position]] = field(default_factory=dict)
    merged_cells: dict[str, list[Merge]] = field(default_factory=dict)  # ODS (calamine gives xlsx's)
    named_ranges: dict[str, str] = field(default_factory=dict)  # ODS, by lower-case name
    styles_part: str = ""
    percent_styles: frozenset[int] = frozenset()
    parts: dict[str, bytes] = field(default_factory=dict)
    cells: int = 0
    text: int = 0
    markup: int = 0
    # Worksheets not parsed yet (name → part): calamine reads a sheet only when asked for it, so
    # the guard parses those the reader does not need at once just before they are read.
    pending: dict[str, str] = field(default_factory=dict)
    data: bytes | None = field(default=None, repr=False)
    # With keep_all: every entry, in order, and every part's bytes by entry name (the annotated copy).
    entries: list[zipfile.ZipInfo] = field(default_factory=list, repr=False)
    contents: dict[str, bytes] | None = field(default=None, repr=False)
    shared: array[int] = field(default_factory=lambda: array("q"), repr=False)


_CUSTOM_PROPERTIES = "docprops/custom.xml"
_SHEET_TYPES = frozenset({"worksheet", "chartsheet", "dialogsheet"})
_ODS_CONTENT, _ODS_META, _ODS_MANIFEST = "content.xml", "meta.xml", "meta-inf/manifest.xml"
_MAX_KEPT_PART = 1024 * 1024
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, zlib.error, KeyError,
               NotImplementedError, RuntimeError)
_XML_SUFFIXES = (".xml", ".rels", ".vml")


def check_zip_workbook(path: Path, data: bytes | None = None,
                       wanted: Callable[[str], bool] | None = None, keep_all: bool = False) -> PackageFacts:
    """Refuse, before any parser sees it, a zip that is a bomb or that would make calamine abort.

    python-calamine trusts the archive: a 4 KB file declaring four billion shared strings, one
    cell at XFD1048576, a string repeated in every cell, or an ODS row repeated a million
    times, make it allocate until the process aborts (no exception). The guard reads the
    central directory, every XML part (no DTD anywhere, CRC-32 checked), and parses what
    calamine would build: the worksheets and shared strings it reads (found as calamine finds
    them, through the relationships), or an ODS content.xml. `data` are the file's bytes
    when already read (the path then only names the file). Only the worksheets `wanted`
    names are parsed now (all when None); `check_sheet` parses another before it is read.
    With keep_all, the facts keep every entry and its bytes: the package read once, for a copy.
    """
    facts = PackageFacts(Path(path), data=data, contents={} if keep_all else None)
    try:
        with zipfile.ZipFile(io.BytesIO(data) if data is not None else Path(path)) as archive:
            _PackageGuard(archive, facts, wanted).run()
    except _ZIP_ERRORS as error:
        raise InputError(f"archive endommagée ou tronquée ({error})", DAMAGED) from error
    return facts


def check_sheet(facts: PackageFacts, name: str) -> None:
    """Parse, before calamine reads it, a worksheet the first check left for later (no-op otherwise)."""
    part = facts.pending.pop(name, None)
    if part is None or facts.data is None:
        return
    try:
        with zipfile.ZipFile(io.BytesIO(facts.data)) as archive:
            guard = _PackageGuard(archive, facts)
            guard.parse_sheet(part)
            guard.check_text()
    except _ZIP_ERRORS as error:
        raise InputError(f"archive endommagée ou tronquée ({error})", DAMAGED) from error


class _PackageGuard:
    """Read a zip package once, part by part, as calamine would, within the limits."""

    def __init__(self, archive: zipfile.ZipFile, facts: PackageFacts,
                 wanted: Callable[[str], bool] | None = None) -> None:
        self.archive, self.facts, self.wanted = archive, facts, wanted
        self.entries = facts.entries = archive.infolist()
        _check_entries(self.entries)
        # calamine looks parts up by their lower-case, forward-slash name, else by exact name.
        self.by_key = {part_key(entry.filename): entry for entry in self.entries}
        self.by_name = {entry.filename: entry for entry in self.entries}
        self.done: set[str] = set()
        self.shared = facts.shared  # length of each shared string, in UTF-8 bytes
        self.references: Counter[int] = Counter()  # shared string index → cells that show it

    def run(self) -> None:
        # Every reader calamine may reach is bounded: it tries xlsx (whose shared strings come
        # before it can fail), then xlsb, then ods, on the same bytes.
        xlsx = self._ooxml() if ROOT_RELATIONSHIPS in self.by_key else False
        ods = self._ods() if self._ods_mimetype() else False
        self.facts.kind = self._reader(xlsx, XLSB_RELATIONSHIPS in self.by_name, ods)
        if self.facts.kind == "xlsb":
            check_xlsb(self._binary_part)
        for entry in self.entries:  # every other XML part: no DTD, CRC-32 checked
            if part_key(entry.filename) not in self.done and part_key(entry.filename).endswith(_XML_SUFFIXES):
                self._read(entry)
            elif self.facts.contents is not None and entry.filename not in self.facts.contents:
                self._read(entry, xml=False)  # an image, a macro project: CRC-32 checked, kept
        self.check_text()

    @staticmethod
    def _reader(xlsx: bool, xlsb: bool, ods: bool) -> str:
        """Return the reader calamine will use: the first of xlsx, xlsb, ods whose parts are there.

        A package two of them could open is refused: no real workbook is both, and the
        reader's facts must come from the reading calamine makes.
        """
        readers = [name for name, present in (("xlsx", xlsx), ("xlsb", xlsb), ("ods", ods)) if present]
        if len(readers) > 1:
            raise InputError(f"paquet hybride ({' et '.join(readers)}) : classeur endommagé ou "
                             "contrefait, refusé", HOSTILE)
        return readers[0] if readers else "xlsx"

    def _ods_mimetype(self) -> bool:
        entry = self.by_name.get("mimetype")  # calamine reads this exact name
        if entry is None:
            return False
        with self.archive.open(entry) as stream:
            return stream.read(len(ODS_MIMETYPE)) == ODS_MIMETYPE

    # -- parts --

    def _entry(self, key: str) -> zipfile.ZipInfo | None:
        """Return the entry calamine opens for a part name (look-up by key, else exact name)."""
        return self.by_key.get(ascii_lower(key)) or self.by_name.get(key)

    def _read(self, entry: zipfile.ZipInfo, sink: Callable[[bytes], None] | None = None,
              keep: bool = False, xml: bool = True) -> bytes:
        """Read a part in chunks, each fed to `sink`: no DTD anywhere in an XML part; return it if `keep`."""
        self.done.add(part_key(entry.filename))
        contents = self.facts.contents
        keep = keep or contents is not None
        kept: list[bytes] = []
        tail = b""
        with self.archive.open(entry) as stream:  # zipfile checks the CRC-32 at the end
            while chunk := stream.read(CHUNK):
                window = tail + chunk
                if xml and _DTD.search(window):
                    raise InputError(f"partie « {entry.filename} » avec une déclaration DTD : refusée",
                                     HOSTILE)
                tail = window[-_DTD_OVERLAP:]  # a declaration split across two chunks is still found
                if sink is not None:
                    sink(chunk)
                if keep:
                    kept.append(chunk)
        data = b"".join(kept)
        if contents is not None:
            contents[entry.filename] = data
        return data

    def _binary_part(self, name: str) -> bytes | None:
        """Return a part of an .xlsb by its exact name, as calamine opens it (None if absent)."""
        entry = self.by_name.get(name)
        if entry is None:
            return None
        if name.endswith(_XML_SUFFIXES):
            return self._keep(name)
        return self._read(entry, keep=True, xml=False)

    def _keep(self, key: str) -> bytes:
        """Return a small part calamine or the reader parses (b'' if absent or too large)."""
        entry = self._entry(key)
        if entry is None or part_key(entry.filename) in self.done:
            return self.facts.parts.get(part_key(entry.filename), b"") if entry else b""
        data = self._read(entry, keep=entry.file_size <= _MAX_KEPT_PART)
        _refuse_wide_encoding(data, entry.filename)
        self.facts.parts[part_key(entry.filename)] = data
        return data

    def _parse(self, key: str, scanner: _Scanner) -> bool:
        """Parse a part with a scanner, within the markup budget; False if the part is absent."""
        entry = self._entry(key)
        if entry is None or part_key(entry.filename) in self.done:
            return False
        parser = scanner.start(entry)

        def feed(chunk: bytes) -> None:
            if not parser.started:
                _refuse_wide_encoding(chunk, entry.filename)
            self.facts.markup += chunk.count(b"<")
            if self.facts.markup > MAX_MARKUP:
                raise InputError(f"partie « {entry.filename} » démesurée : plus de "
                                 f"{french_number(MAX_MARKUP)} balises (fichier malveillant ?)", HOSTILE)
            parser.feed(chunk)

        self._read(entry, feed)
        parser.close()
        scanner.finish()
        return True

    # -- Office Open XML --

    def _ooxml(self) -> bool:
        """Bound what calamine's xlsx reader reads; tell whether it can open the package."""
        folder = office_folder(self._keep(ROOT_RELATIONSHIPS))
        if folder is None:
            return False  # calamine's xlsx reader stops there
        facts = self.facts
        facts.workbook_part = part_key(f"{folder}workbook.xml")
        opens = self._entry(f"{folder}_rels/workbook.xml.rels") is not None
        # calamine maps the ids as written, the last of an id winning; sheets of every kind.
        relationships = {r.id: r for r in read_relationships(
            self._keep(f"{folder}_rels/workbook.xml.rels"), facts.workbook_part) if r.kind in _SHEET_TYPES}
        sheets = sheet_entries(self._keep(f"{folder}workbook.xml"), facts.workbook_part)
        self._keep(_CUSTOM_PROPERTIES)
        styles = self._keep(f"{folder}styles.xml")
        entry = self._entry(f"{folder}styles.xml")
        facts.styles_part = part_key(entry.filename) if entry else ""
        facts.percent_styles = percent_styles(styles, facts.styles_part) if styles else frozenset()
        self._parse(f"{folder}sharedStrings.xml", _SharedStringScanner(self.shared, facts))
        for name, rel_id in sheets:
            relation = relationships.get(rel_id)
            if relation is None:
                continue  # calamine refuses the workbook: nothing more to bound
            target = relation.written  # not unescaped, as calamine reads it
            sheet = self._entry(target[1:] if target.startswith("/") else f"{folder}{target}")
            if sheet is None:
                continue
            if name in facts.sheet_parts:
                continue  # calamine reads the first sheet of a name
            facts.sheet_parts[name] = part_key(sheet.filename)
            facts.sheet_kinds[name] = relation.kind
            if self.wanted is None or self.wanted(name):
                self.parse_sheet(sheet.filename)
            else:
                facts.pending[name] = sheet.filename
                self.done.add(part_key(sheet.filename))  # parsed, DTD and CRC included, if it is ever read
        return opens

    def parse_sheet(self, name: str) -> None:
        """Parse one worksheet as calamine would read it, and count the shared strings it shows."""
        self._parse(name, _SheetScanner(self.facts, part_key(name), self.references))

    def check_text(self) -> None:
        """Add the text the cells parsed so far show from the shared strings; refuse past the limit."""
        shown = sum(count * self.shared[index] for index, count in self.references.items()
                    if 0 <= index < len(self.shared))
        self.references.clear()  # counted once: a sheet parsed later adds its own
        self.facts.text += shown
        if self.facts.text > MAX_TEXT_BYTES:
            raise InputError(f"classeur dont le texte, une fois lu, dépasserait {MAX_TEXT_BYTES // 2**20} Mo "
                             "(textes partagés répétés : fichier malveillant ?)", HOSTILE)

    # -- OpenDocument --

    def _ods(self) -> bool:
        """Bound what calamine's ods reader reads (content.xml, by that exact name)."""
        entry = self.by_name.get(_ODS_CONTENT)
        if entry is not None:
            self.done.discard(part_key(entry.filename))  # parsed even if the xlsx reader read it as XML
            self._parse(entry.filename, _OdsScanner(self.facts))
        self._keep(_ODS_META)
        self._keep(_ODS_MANIFEST)
        return entry is not None


def _check_entries(entries: list[zipfile.ZipInfo]) -> None:
    keys = [part_key(e.filename) for e in entries]
    if len(entries) > MAX_ZIP_ENTRIES:
        raise InputError(f"archive de {len(entries)} parties : ce n'est pas un classeur de suivi",
                         HOSTILE)
    if len(set(keys)) != len(keys):
        raise InputError("archive endommagée : parties en double", DAMAGED)
    if sum(e.file_size for e in entries) > MAX_TOTAL_BYTES:
        raise InputError("classeur trop volumineux une fois décompressé", HOSTILE)
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > MAX_PART_BYTES or (entry.file_size > 1_048_576 and ratio > MAX_RATIO):
            raise InputError(f"partie « {entry.filename} » anormalement grande (bombe de "
                             "décompression ?)", HOSTILE)


# Any case (an XML parser may accept <!doctype); `<!` starts the pattern so the scan stays fast.
_DTD = re.compile(rb"<!(?:[Dd][Oo][Cc][Tt][Yy][Pp][Ee]|[Ee][Nn][Tt][Ii][Tt][Yy])")
_DTD_OVERLAP = len(b"<!DOCTYPE") - 1


def _refuse_wide_encoding(start: bytes, name: str) -> None:
    """Refuse a parsed part in UTF-16 or UTF-32: the guards read ASCII-compatible XML only."""
    if start.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in start[:512]:
        raise InputError(f"partie « {name} » dans un encodage inattendu (UTF-16) : {SAVE_AS_XLSX}",
                         DAMAGED)


# --- parsing the parts calamine would expand --------------------------------------------------

class _Parser:
    """An expat parser fed in chunks; its errors become a refusal naming the part."""

    def __init__(self, part: str, handlers: dict[str, Any]) -> None:
        self.part = part
        self.parser = hardened_parser(part)
        self.started = False
        for name, handler in handlers.items():
            setattr(self.parser, name, handler)

    def feed(self, chunk: bytes, final: bool = False) -> None:
        self.started = True
        try:
            self.parser.Parse(chunk, final)
        except expat.ExpatError as error:
            raise parse_error(self.part, error) from error

    def close(self) -> None:
        self.feed(b"", final=True)


class _Scanner:
    """A parse of one part: `start` returns the parser to feed, `finish` checks what it found."""

    def start(self, entry: zipfile.ZipInfo) -> _Parser:
        raise NotImplementedError

    def finish(self) -> None:
        return


class _SharedStringScanner(_Scanner):
    """Measure each shared string (`<si>`) as calamine stores it, and refuse a lying count."""

    def __init__(self, lengths: array[int], facts: PackageFacts) -> None:
        self.lengths, self.facts = lengths, facts
        self.depth = 0  # inside a <si>: calamine reads a nested <si> as part of the outer one
        self.size = 0

    def start(self, entry: zipfile.ZipInfo) -> _Parser:
        self.size = entry.file_size
        return _Parser(entry.filename, {"StartElementHandler": self._start, "EndElementHandler": self._end,
                              "CharacterDataHandler": self._text})

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if local == "si":
            if not self.depth:
                self.lengths.append(0)
            self.depth += 1
        elif local == "sst":
            self._check_count(attributes.get("uniqueCount", ""))

    def _check_count(self, declared: str) -> None:
        # calamine reserves room for the declared count before reading a single string.
        limit = min(MAX_SHARED_STRINGS, self.size // MIN_SHARED_STRING_BYTES + 1)
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise InputError("table de textes partagés invraisemblable (fichier malveillant ?)", HOSTILE)

    def _end(self, name: str) -> None:
        if self.depth and name.rpartition(":")[2] == "si":
            self.depth -= 1

    def _text(self, text: str) -> None:
        if self.depth:
            size = len(text.encode("utf-8", "surrogatepass"))
            self.lengths[-1] += size
            self.facts.text += size  # calamine keeps the table itself too


class _Cell:
    """A worksheet cell being read: where calamine puts it and what it holds."""

    __slots__ = ("col", "formula", "in_value", "other", "row", "style", "text", "type", "value", "valued")

    def __init__(self, row: int, col: int, kind: str, style: str) -> None:
        self.row, self.col, self.type, self.style = row, col, kind, style
        self.valued = self.formula = self.other = self.in_value = False
        self.value = ""
        self.text = 0


class _LocalNames(dict[str, str]):
    """Element names without their prefix, worked out once per name."""

    def __missing__(self, name: str) -> str:
        local = self[name] = name.rpartition(":")[2]
        return local


class _SheetScanner(_Scanner):
    """Follow a worksheet as calamine's cell reader does: where each cell lands, what it holds.

    A cell's position is its `r`, else the one after the previous cell of the row; a row's
    is its `r`, else the one after the previous row. The grid calamine builds runs from A1 to
    the last cell holding something; the cells showing a shared string are counted by index.
    (About a microsecond an element: this runs on every cell of every sheet.)
    """

    def __init__(self, facts: PackageFacts, key: str, references: Counter[int]) -> None:
        self.facts, self.key, self.references = facts, key, references
        self.part = key
        self.local = _LocalNames()
        self.percent_styles = frozenset(str(style) for style in facts.percent_styles)
        self.row = self.col = 0
        self.last_row = self.last_col = -1
        self.cell: _Cell | None = None
        self.text = 0
        self.errors: dict[Position, str] = {}
        self.percent: set[Position] = set()
        self.uncached: set[Position] = set()

    def start(self, entry: zipfile.ZipInfo) -> _Parser:
        self.part = entry.filename
        return _Parser(entry.filename, {"StartElementHandler": self._start, "EndElementHandler": self._end,
                                        "CharacterDataHandler": self._text})

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        local = self.local[name]
        cell = self.cell
        if cell is not None:  # calamine reads a value from any element inside a cell
            cell.valued = True
            if local == "v":
                cell.in_value = True
            elif local == "f":
                cell.formula = True
            else:
                cell.other = True
        elif local == "c":
            reference = attributes.get("r")  # calamine reads the unprefixed attribute only
            if reference is not None:
                self.row, column = _reference(reference, self.part)
                if column is None:
                    raise InputError(f"cellule sans colonne (« {reference[:20]} ») dans « {self.part} » : "
                                     "classeur endommagé", DAMAGED)
                self.col = column
            self.cell = _Cell(self.row, self.col, attributes.get("t", ""), attributes.get("s", ""))
        elif local == "row" and "r" in attributes:
            self.row = _reference(attributes["r"], self.part)[0]

    def _end(self, name: str) -> None:
        cell = self.cell
        if cell is None:
            if self.local[name] == "row":
                self.row, self.col = self.row + 1, 0
            return
        local = self.local[name]
        if local == "c":  # calamine ends the cell at the first </c>, nested or not
            self.cell = None
            self._close(cell)
        elif local == "v":
            cell.in_value = False

    def _text(self, text: str) -> None:
        cell = self.cell
        if cell is not None:
            cell.text += len(text)
            if cell.in_value:
                cell.value += text

    def _close(self, cell: _Cell) -> None:
        self.col = cell.col + 1
        if not cell.valued:
            return  # an empty cell, styled or not, does not widen calamine's grid
        self.last_row = max(self.last_row, cell.row)
        self.last_col = max(self.last_col, cell.col)
        self.text += cell.text
        if cell.type == "s":
            value = cell.value.strip()
            if value.isascii() and value.isdigit():
                self.references[int(value)] += 1
        elif cell.type == "e":
            self.errors[(cell.row, cell.col)] = cell.value.strip() or "#ERREUR"
        if cell.style in self.percent_styles:
            self.percent.add((cell.row, cell.col))
        # Excel writes a formula computed to "" as t="str" with an empty value: that one is cached.
        if cell.formula and not cell.other and cell.type != "str" and not cell.value.strip():
            self.uncached.add((cell.row, cell.col))

    def finish(self) -> None:
        facts = self.facts
        height, width = self.last_row + 1, self.last_col + 1
        facts.cells += height * width
        if facts.cells > MAX_CELLS:
            raise InputError(f"feuille de {height} lignes sur {width} colonnes : hors de toute plage "
                             "plausible (fichier malveillant ou endommagé)", HOSTILE)
        facts.text += self.text
        if self.errors:
            facts.error_cells[self.key] = self.errors
        if self.percent:
            facts.percent_cells[self.key] = self.percent
        if self.uncached:
            facts.uncached_cells[self.key] = self.uncached


_DIGITS = "0123456789"


def _reference(text: str, part: str) -> tuple[int, int | None]:
    """Return the 0-based row and column (None if no letters) of a reference, as calamine reads it."""
    found = _parsed_reference(text)
    if found is None:
        raise InputError(f"référence de cellule invalide (« {text[:20]} ») dans « {part} » : classeur "
                         "endommagé", DAMAGED)
    return found


# Workbooks of one layout repeat their references (A4…X253): a worker reads each once.
@functools.lru_cache(maxsize=1 << 16)
def _parsed_reference(text: str) -> tuple[int, int | None] | None:
    letters = text.rstrip(_DIGITS)
    digits = text[len(letters):]
    column = _column(letters)
    if not digits or column == -1 or int(digits) == 0:
        return None
    return int(digits) - 1, column


@functools.lru_cache(maxsize=4096)
def _column(letters: str) -> int | None:
    """Return the 0-based column of letters (any count, either case, as calamine): None if none, -1 if bad."""
    if not letters:
        return None
    if not (letters.isascii() and letters.isalpha()):
        return -1
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number - 1


_ODS_CELLS = frozenset({"table:table-cell", "table:covered-table-cell"})
# Attributes that give an ODS cell a value in calamine (office:value-type="string" too).
_ODS_VALUES = ("office:value", "office:string-value", "office:date-value", "office:time-value",
               "office:boolean-value", "table:formula")
_ODS_TEXTS = ("office:string-value", "office:date-value", "office:time-value", "table:formula")
_ODS_CACHED = ("office:value", "office:string-value", "office:date-value", "office:time-value",
               "office:boolean-value")
_MAX_SPAN = 100_000
# Cells noted per file (errors, percentages, formulas without value), repetitions included.
MAX_NOTED_CELLS = 200_000


class _OdsScanner(_Scanner):
    """Follow content.xml as calamine's ODS reader does, repetitions included, noting what the reader needs.

    calamine reads every table when it opens the file. For each row element it keeps the
    cells up to its last valued one (each repeated cell once per repetition), then builds the
    table's grid from A1 with every repeated row, and a second grid of formulas. Text is kept
    once per repetition. Names are matched with their `table:` prefix, as calamine does. On
    the way, each table's error cells (and their text), percentage cells, formulas saved
    without a value and merged ranges are noted, and the named ranges.
    """

    def __init__(self, facts: PackageFacts) -> None:
        self.facts = facts
        self.in_table = self.in_row = False
        self.table = ""
        self.cell_depth = 0
        self.row = self.col = self.row_repeat = self.row_end = 0
        self.cell_repeat = self.cell_text = 0
        self.cell_valued = False
        self.last_row = self.last_col = self.kept = 0
        self.note = ""  # what the open cell may be noted as: error, percent, uncached, or ''
        self.note_text: list[str] = []
        self.marks: list[tuple[str, int, str]] = []  # this row's noted cells: what, column, text
        self.budget = MAX_NOTED_CELLS

    def start(self, entry: zipfile.ZipInfo) -> _Parser:
        return _Parser(entry.filename, {"StartElementHandler": self._start, "EndElementHandler": self._end,
                                        "CharacterDataHandler": self._text})

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if self.cell_depth:
            self._inside_cell(name, attributes)
        elif not self.in_table:
            if name == "table:table":
                self._open_table(attributes.get("table:name", ""))
            elif name == "table:named-range":
                self.facts.named_ranges.setdefault(attributes.get("table:name", "").lower(),
                                                   attributes.get("table:cell-range-address", ""))
        elif not self.in_row:
            if name == "table:table-row":
                self.in_row, self.col, self.row_end, self.marks = True, 0, 0, []
                self.row_repeat = _count(attributes.get("table:number-rows-repeated"))
        elif name in _ODS_CELLS:
            self._open_cell(attributes)

    def _open_table(self, name: str) -> None:
        self.in_table, self.row, self.table = True, 0, name
        self.last_row = self.last_col = self.kept = 0
        self.facts.sheet_parts.setdefault(name, name)  # an ODS table's facts are filed under its name

    def _open_cell(self, attributes: dict[str, str]) -> None:
        self.cell_depth = 1
        self.cell_repeat = _count(attributes.get("table:number-columns-repeated"))
        self.cell_valued = any(attributes.get(name) for name in _ODS_VALUES) \
            or attributes.get("office:value-type") == "string"
        self.cell_text = sum(len(attributes.get(name, "")) for name in _ODS_TEXTS)
        self.note, self.note_text = _ods_note(attributes), []
        self._note_merge(attributes)

    def _note_merge(self, attributes: dict[str, str]) -> None:
        rows = min(_count(attributes.get("table:number-rows-spanned")), _MAX_SPAN)
        cols = min(_count(attributes.get("table:number-columns-spanned")), _MAX_SPAN)
        if (rows > 1 or cols > 1) and self.budget > 0:
            self.budget -= 1
            self.facts.merged_cells.setdefault(self.table, []).append(
                (self.row, self.col, self.row + rows - 1, self.col + cols - 1))

    def _inside_cell(self, name: str, attributes: dict[str, str]) -> None:
        if name in _ODS_CELLS:
            self.cell_depth += 1
        elif name == "text:s":  # calamine writes that many spaces
            self.cell_text += _count(attributes.get("text:c"))
        elif name == "text:p":
            self.cell_text += 1  # a line break between paragraphs

    def _text(self, text: str) -> None:
        if self.cell_depth:
            self.cell_text += len(text)
            if self.note and len(self.note_text) < 64:
                self.note_text.append(text)

    def _end(self, name: str) -> None:
        if self.cell_depth:
            if name in _ODS_CELLS:
                self.cell_depth -= 1
                if not self.cell_depth:
                    self._close_cell()
        elif self.in_row and name == "table:table-row":
            self._close_row()
        elif self.in_table and not self.in_row and name == "table:table":
            self._close_table()

    def _close_cell(self) -> None:
        if self.cell_valued:
            self.row_end = self.col + self.cell_repeat
            self.facts.text += self.cell_text * self.cell_repeat * max(self.row_repeat, 1)
        text = "".join(self.note_text).strip()
        if self.note == "error":
            self._mark("error", text[:64] or "#ERREUR")
        elif self.note == "uncached" and not text:
            self._mark("uncached", "")
        elif self.note == "percent":
            self._mark("percent", "")
        self.col += self.cell_repeat

    def _mark(self, what: str, text: str) -> None:
        """Note the open cell, once per column it is repeated over, within the budget."""
        span = min(self.cell_repeat, max(self.budget, 0))
        self.marks += [(what, self.col + offset, text) for offset in range(span)]

    def _close_row(self) -> None:
        self.in_row = False
        self.kept += self.row_end  # kept once per row element, whatever its repetition
        if self.row_end:
            self.last_row = self.row + self.row_repeat
            self.last_col = max(self.last_col, self.row_end)
        self._note_row()
        self.row += self.row_repeat
        self._check()

    def _note_row(self) -> None:
        """File the row's noted cells once per repetition of the row, within the budget."""
        if not self.marks:
            return
        times = min(self.row_repeat, 1 + max(self.budget, 0) // len(self.marks))
        self.budget -= times * len(self.marks)
        facts, table = self.facts, self.table
        for row in range(self.row, self.row + times):
            for what, col, text in self.marks:
                if what == "error":
                    facts.error_cells.setdefault(table, {})[(row, col)] = text
                elif what == "percent":
                    facts.percent_cells.setdefault(table, set()).add((row, col))
                else:
                    facts.uncached_cells.setdefault(table, set()).add((row, col))
        self.marks = []

    def _close_table(self) -> None:
        self.in_table = False
        # Two grids (values, formulas), each about twice an .xlsx cell, plus the kept cells.
        self.facts.cells += 2 * self.last_row * self.last_col + self.kept
        self.last_row = self.last_col = self.kept = 0
        self._check()

    def _check(self) -> None:
        cells = self.facts.cells + 2 * self.last_row * self.last_col + self.kept
        if cells > MAX_CELLS:
            raise InputError("feuille dont les lignes et cellules répétées feraient plus de "
                             f"{french_number(MAX_CELLS)} cellules : hors de toute plage plausible (fichier "
                             "malveillant ou endommagé)", HOSTILE)
        if self.facts.text > MAX_TEXT_BYTES:
            raise InputError(f"classeur dont le texte, une fois lu, dépasserait {MAX_TEXT_BYTES // 2**20} "
                             "Mo (cellules répétées : fichier malveillant ?)", HOSTILE)


def _ods_note(attributes: dict[str, str]) -> str:
    """Return what an ODS cell may be noted as: error, uncached (formula, no value or text), percent."""
    if attributes.get("calcext:value-type") == "error":
        return "error"
    if "table:formula" in attributes and not any(name in attributes for name in _ODS_CACHED):
        return "uncached"
    return "percent" if attributes.get("office:value-type") == "percentage" else ""


_COUNT = re.compile(r"\+?[0-9]+")


def _count(value: str | None) -> int:
    """Return a repetition count as calamine reads it (1 when absent; an invalid one fails calamine)."""
    return int(value) if value is not None and _COUNT.fullmatch(value) else 1
