"""The worksheet side of an annotated copy: noted cells restyled or created, and their layout."""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from camf_excel.annotate_styles import Styles
from camf_excel.errors import InputError
from camf_excel.model import ERROR, WARNING, Issue
from camf_excel.xmlparts import (
    DAMAGED,
    Edit,
    Node,
    apply,
    drop_attribute,
    opened,
    scan,
    set_attribute,
    shown,
    small_int,
    start_tag,
)

LINE_PREFIXES = {ERROR: "Erreur : ", WARNING: "Avertissement : "}
LEGEND = "legende"  # the severity of a note that explains the copy: no fill
MAX_ROW, MAX_COLUMN = 1_048_576, 16_384
_CELL_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]{1,7})")
# CT_Worksheet: legacyDrawing comes after drawing and before these (mc:AlternateContent wraps
# oleObjects and controls in files saved by Excel 2010 and later).
_AFTER_LEGACY_DRAWING = frozenset({"legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls",
                                   "webPublishItems", "tableParts", "extLst", "AlternateContent"})


def column_number(letters: str) -> int:
    """Return the number (from 1) of a column's letters."""
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def column_letters(number: int) -> str:
    """Return the letters of a column number (from 1)."""
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def parse_cell(reference: str) -> tuple[int, int] | None:
    """Return (row, column), both from 1, of an A1 reference ($ allowed; a range gives its start)."""
    match = _CELL_REF.fullmatch(reference.strip().split(":")[0])
    if not match:
        return None
    row, column = int(match.group(2)), column_number(match.group(1))
    if not (1 <= row <= MAX_ROW and 1 <= column <= MAX_COLUMN):
        return None
    return row, column


# --- what each cell gets -------------------------------------------------------------------------

@dataclass
class Note:
    """A cell to annotate: the worst severity among its issues and one line per issue."""

    row: int
    column: int
    severity: str = WARNING
    lines: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """The cell's A1 reference."""
        return f"{column_letters(self.column)}{self.row}"

    @property
    def text(self) -> str:
        """The note's text, one line per issue."""
        return "\n".join(self.lines)

    def explain(self, lines: list[str]) -> None:
        """Put the copy's legend first in this note."""
        self.lines[:0] = [line for line in lines if line not in self.lines]

    def add(self, issue: Issue) -> None:
        """Take one more issue on this cell."""
        severity = ERROR if issue.severity == ERROR else WARNING
        if severity == ERROR:
            self.severity = ERROR
        line = LINE_PREFIXES[severity] + (issue.message or issue.code)
        if line not in self.lines:
            self.lines.append(line)


# --- sizes, to place the notes -------------------------------------------------------------------

_MAX_PX = 2_000.0  # wider than Excel's widest column, taller than its tallest row


def pixels(text: str | None, scale: float, offset: float = 0.0) -> float | None:
    """Return a size attribute in pixels, or None when it is not a plausible size (nan, -1, 1e308…)."""
    try:
        value = float(text or "") * scale + offset
    except ValueError:
        return None
    return value if math.isfinite(value) and 0.0 <= value <= _MAX_PX else None


Range = TypeVar("Range", tuple[int, int, float], tuple[int, int, int])


def disjoint(ranges: list[Range]) -> list[Range]:
    """Return column ranges sorted, without overlaps (invalid: the leftmost range keeps its columns)."""
    kept: list[Range] = []
    for found in sorted(ranges):
        if not kept or found[0] > kept[-1][1]:
            kept.append(found)
    return kept


@dataclass
class Layout:
    """Column widths and row heights of a sheet, in pixels, to size and place the notes."""

    column_ranges: list[tuple[int, int, float]] = field(default_factory=list)
    default_column: float = 64
    row_heights: dict[int, float] = field(default_factory=dict)
    default_row: float = 20
    _firsts: list[int] = field(default_factory=list, init=False, repr=False)
    _column_sums: list[float] = field(default_factory=list, init=False, repr=False)
    _custom_rows: list[int] = field(default_factory=list, init=False, repr=False)
    _row_sums: list[float] = field(default_factory=list, init=False, repr=False)

    def freeze(self) -> Layout:
        """Sort the sizes once: every lookup is then a bisection, however many ranges a sheet has."""
        ranges = self.column_ranges = disjoint(self.column_ranges)
        self._firsts = [first for first, _, _ in ranges]
        self._column_sums = list(itertools.accumulate(((stop - first + 1) * (width - self.default_column)
                                                       for first, stop, width in ranges), initial=0.0))
        self._custom_rows = sorted(self.row_heights)
        self._row_sums = list(itertools.accumulate((self.row_heights[r] for r in self._custom_rows),
                                                   initial=0.0))
        return self

    def column_px(self, column: int) -> float:
        """Width of a column (from 1)."""
        index = bisect.bisect_right(self._firsts, column) - 1
        if index >= 0 and column <= self.column_ranges[index][1]:
            return self.column_ranges[index][2]
        return self.default_column

    def row_px(self, row: int) -> float:
        """Height of a row (from 1)."""
        return self.row_heights.get(row, self.default_row)

    def left_px(self, column: int) -> float:
        """Distance from the sheet's left edge to the left of a column (from 1)."""
        index = bisect.bisect_right(self._firsts, column - 1)
        extra = self._column_sums[index]
        if index:  # the last range may start left of the column and end right of it
            _, stop, width = self.column_ranges[index - 1]
            extra -= max(0, stop - (column - 1)) * (width - self.default_column)
        return (column - 1) * self.default_column + extra

    def top_px(self, row: int) -> float:
        """Distance from the sheet's top to the top of a row (from 1)."""
        above = bisect.bisect_left(self._custom_rows, row)
        return (row - 1 - above) * self.default_row + self._row_sums[above]


# --- the worksheet part --------------------------------------------------------------------------

ColumnStyles = list[tuple[int, int, int]]


@dataclass
class _Row:
    """An existing row that holds noted cells: its element, number, cells and extLst."""

    node: Node
    number: int
    notes: list[Note]
    cells: list[Node] = field(default_factory=list)
    tail: Node | None = None  # extLst: the cells go before it


@dataclass
class _Reading:
    """What one pass over a worksheet gathers, before any edit is made."""

    root: Node | None = None
    sheet_data: Node | None = None
    dimension: Node | None = None
    layout: Layout = field(default_factory=Layout)
    column_styles: ColumnStyles = field(default_factory=list)
    rows: list[_Row] = field(default_factory=list)
    new_rows: list[tuple[int, int, list[Note]]] = field(default_factory=list)  # (position, number, notes)
    numbered: list[tuple[Node, int]] = field(default_factory=list)  # rows without r, and their number
    legacy_drawing: Node | None = None
    after_legacy_drawing: Node | None = None  # the first child that must follow a legacyDrawing
    page_setup: Node | None = None


class Worksheet:
    """Edits of one worksheet part: cell styles, missing cells and rows, the legacyDrawing element.

    The part is read once; every edit is made at the offsets of that reading, all at the end.
    """

    def __init__(self, data: bytes, part: str) -> None:
        self.data, self.part = data, part
        self.edits: list[Edit] = []
        self.reading = _Reading()

    def edited(self) -> bytes:
        """Return the part with every edit made."""
        return apply(self.data, self.edits)

    def highlight(self, notes: list[Note], styles: Styles) -> Layout:
        """Give each noted cell its highlighted format, creating the cells and rows that are missing."""
        wanted: dict[int, list[Note]] = {}
        for note in notes:
            wanted.setdefault(note.row, []).append(note)
        reading = self.reading = self._read(wanted)
        if reading.root is None or reading.sheet_data is None:
            raise InputError(f"feuille {self.part} sans données (<sheetData> absent) : classeur endommagé",
                             DAMAGED)
        p = reading.root.prefix
        new_cell = _CellMaker(p, styles, reading.column_styles)
        edits = [edit for row in reading.rows for edit in self._edited_row(row, new_cell)]
        edits += [(node.start, node.head, set_attribute(start_tag(self.data, node), "r", str(number)))
                  for node, number in reading.numbered]
        edits += [(at, at, _new_row(p, number, row_notes, new_cell))
                  for at, number, row_notes in reading.new_rows]
        edits += self._tail(reading.sheet_data, p, wanted, new_cell)
        edits += self._widened_dimension(reading.dimension, notes)
        edits += self._notes_printed(reading.page_setup)
        self.edits += edits
        return reading.layout.freeze()

    def _notes_printed(self, page_setup: Node | None) -> list[Edit]:
        """Print the notes after the sheet (Excel and LibreOffice print none by default).

        Only where the sheet has its page setup: a new one would have to find its place among
        the elements the schema orders, for a setting the person can also choose when printing.
        """
        if page_setup is None:
            return []
        return [(page_setup.start, page_setup.head,
                 set_attribute(start_tag(self.data, page_setup), "cellComments", "atEnd"))]

    def _read(self, wanted: dict[int, list[Note]]) -> _Reading:
        """Read the sheet once: sizes, column formats, and where each noted row is or goes."""
        reading = _Reading()
        rows = _RowWalker(self.part, wanted, reading)
        parent: Node | None = None  # the root's child being read
        for opening, node in scan(self.data, self.part, 4):
            if node.depth == 4 and rows.current is None:
                continue  # a cell of a row without notes: most of a sheet, passed over quickly
            if node.depth == 1:
                reading.root = reading.root or node
                continue
            main = reading.root is not None and node.uri == reading.root.uri
            if node.depth == 2 and opening:
                parent = node if main else None
                _read_top(node, reading, main)
            elif not main:
                continue  # another namespace: not a row, not a cell
            elif not opening:
                rows.ended(node)
            elif node.depth == 3 and parent is not None and parent.local == "cols" and node.local == "col":
                _read_column(node, reading)
            elif node.depth == 3 and parent is reading.sheet_data and node.local == "row":
                rows.row(node)
            elif node.depth == 4:
                rows.child(node)
        return reading

    def _edited_row(self, row: _Row, new_cell: _CellMaker) -> list[Edit]:
        """Return the edits of one row: noted cells restyled, missing ones inserted in order."""
        tag = start_tag(self.data, row.node)
        if "r" not in row.node.attrs:
            tag = set_attribute(tag, "r", str(row.number))
        # A row's own format applies to its empty cells only when customFormat says so.
        custom = row.node.attrs.get("customFormat", "").lower() in ("1", "true")
        row_style = small_int(row.node.attrs.get("s")) if custom else None
        wanted = {note.column: note for note in sorted(row.notes, key=lambda note: note.column)}
        edits: list[Edit] = []
        previous = 0
        for cell in row.cells:
            column = self._cell_column(cell, previous)
            cell_tag = start_tag(self.data, cell)
            if "r" not in cell.attrs:
                cell_tag = set_attribute(cell_tag, "r", f"{column_letters(column)}{row.number}")
            missing = [c for c in wanted if c < column]  # a handful of notes per row at most
            edits += [(cell.start, cell.start, new_cell(wanted.pop(c), row_style)) for c in missing]
            if column in wanted:
                base = small_int(cell.attrs.get("s")) or 0
                style = new_cell.styles.styled(base, wanted.pop(column).severity)
                cell_tag = set_attribute(cell_tag, "s", str(style))
            if cell_tag != start_tag(self.data, cell):
                edits.append((cell.start, cell.head, cell_tag))
            previous = column
        added = b"".join(new_cell(wanted[column], row_style) for column in sorted(wanted))
        if added:
            tag = drop_attribute(tag, "spans")  # an optional hint; a stale one would mislead readers
        if row.node.empty:
            closed = opened(tag) + added + f"</{row.node.name}>".encode()
            return [*edits, (row.node.start, row.node.head, closed)]
        at = row.tail.start if row.tail is not None else row.node.close  # CT_Row: cells, then extLst
        return [*edits, (row.node.start, row.node.head, tag), (at, at, added)]

    def _cell_column(self, cell: Node, previous: int) -> int:
        """Return a cell's column; cells out of order would make the copy hold a cell twice."""
        declared = cell.attrs.get("r")
        position = parse_cell(declared) if declared is not None else None
        column = position[1] if position else previous + 1 if declared is None else None
        if column is None or column <= previous:
            raise InputError(f"feuille {self.part} : cellule « {shown(declared or '')} » hors d'ordre ou "
                             "illisible : classeur endommagé", DAMAGED)
        return column

    def _tail(self, sheet_data: Node, p: str, wanted: dict[int, list[Note]],
              new_cell: _CellMaker) -> list[Edit]:
        """Return the edit adding the rows below the last one (opening an empty <sheetData/>)."""
        rows = b"".join(_new_row(p, number, wanted[number], new_cell) for number in sorted(wanted))
        if sheet_data.empty:
            return [(sheet_data.start, sheet_data.head,
                     opened(start_tag(self.data, sheet_data)) + rows + f"</{sheet_data.name}>".encode())]
        return [(sheet_data.close, sheet_data.close, rows)]

    def _widened_dimension(self, dimension: Node | None, notes: list[Note]) -> list[Edit]:
        """Make <dimension> (the used range, trusted by some readers) cover the new cells."""
        ref = dimension.attrs.get("ref", "") if dimension is not None else ""
        corners = [parse_cell(corner) for corner in ref.split(":")]
        if dimension is None or not all(corners):
            return []
        rows = [c[0] for c in corners if c] + [n.row for n in notes]
        columns = [c[1] for c in corners if c] + [n.column for n in notes]
        top_left = f"{column_letters(min(columns))}{min(rows)}"
        bottom_right = f"{column_letters(max(columns))}{max(rows)}"
        new_ref = top_left if top_left == bottom_right else f"{top_left}:{bottom_right}"
        tag = set_attribute(start_tag(self.data, dimension), "ref", new_ref)
        return [(dimension.start, dimension.head, tag)]

    # --- the legacyDrawing element (the notes' VML) ---

    def legacy_drawing(self) -> str | None:
        """Return the relationship id of the sheet's legacyDrawing element, if it has one."""
        element = self.reading.legacy_drawing
        return None if element is None else element.namespaced("id") or ""

    def set_legacy_drawing(self, rid: str, namespace: str) -> None:
        """Point the legacyDrawing element at rid, adding it where CT_Worksheet wants it."""
        root = self.reading.root
        if root is None or root.empty:
            raise InputError(f"feuille {self.part} vide : classeur endommagé", DAMAGED)
        declared = next((prefix for prefix, uri in root.declared.items() if prefix and uri == namespace),
                        None)
        r = declared or "r"
        existing = self.reading.legacy_drawing
        if existing is not None:  # one whose drawing is missing: it takes the new one
            tag = start_tag(self.data, existing)
            ids = [name for name in existing.attrs if name.partition(":")[2] == "id"]
            for name in ids:
                tag = drop_attribute(tag, name)
            tag = set_attribute(tag, f"{r}:id", rid)
            if not declared:
                tag = set_attribute(tag, "xmlns:r", namespace)
            self.edits.append((existing.start, existing.head, tag))
            return
        element = f'<{root.prefix}legacyDrawing {r}:id="{rid}"/>'.encode()
        if not declared:
            element = set_attribute(element, "xmlns:r", namespace)
        following = self.reading.after_legacy_drawing
        position = following.start if following is not None else root.close
        self.edits.append((position, position, element))


class _RowWalker:
    """Follows the rows as they are read: where each noted row is, or where it must be created."""

    def __init__(self, part: str, wanted: dict[int, list[Note]], reading: _Reading) -> None:
        self.part, self.wanted, self.reading = part, wanted, reading
        self.pending = iter(sorted(wanted))  # the rows to place, ascending: one pass, however tall the sheet
        self.upcoming = next(self.pending, None)
        self.current: _Row | None = None
        self.previous = 0

    def row(self, node: Node) -> None:
        """Take a row's start tag."""
        number = self._number(node)
        while self.upcoming is not None and self.upcoming <= number:
            if self.upcoming < number:  # a row the sheet lacks: created before this one
                self.reading.new_rows.append((node.start, self.upcoming, self.wanted.pop(self.upcoming)))
            self.upcoming = next(self.pending, None)
        height = pixels(node.attrs.get("ht"), 4 / 3)
        if height is not None:
            self.reading.layout.row_heights[number] = height
        if number in self.wanted:
            self.current = _Row(node, number, self.wanted.pop(number))
        elif "r" not in node.attrs:  # a later insertion must not shift the rows that count on order
            self.reading.numbered.append((node, number))
        self.previous = number

    def child(self, node: Node) -> None:
        """Take a child of a row: a cell, or the extLst that must stay last."""
        if self.current is None:
            return
        if node.local == "c":
            self.current.cells.append(node)
        elif node.local == "extLst":
            self.current.tail = self.current.tail or node

    def ended(self, node: Node) -> None:
        """Take an end tag: a noted row is complete."""
        if self.current is not None and node is self.current.node:
            self.reading.rows.append(self.current)
            self.current = None

    def _number(self, row: Node) -> int:
        """Return a row's number; rows out of order would make the copy hold two rows of one number."""
        declared = row.attrs.get("r")
        number = small_int(declared) if declared is not None else self.previous + 1
        if number is None or number <= self.previous:
            raise InputError(f"feuille {self.part} : ligne « {shown(declared or '')} » hors d'ordre ou "
                             "illisible : classeur endommagé", DAMAGED)
        return number


def _read_top(node: Node, reading: _Reading, main: bool) -> None:
    """Take what a child of the root says: where the data is, the used range, default sizes."""
    if node.local in _AFTER_LEGACY_DRAWING and reading.after_legacy_drawing is None:
        reading.after_legacy_drawing = node  # mc:AlternateContent included: it is not SpreadsheetML
    elif not main:
        return
    elif node.local == "sheetData" and reading.sheet_data is None:
        reading.sheet_data = node
    elif node.local == "dimension" and reading.dimension is None:
        reading.dimension = node
    elif node.local == "legacyDrawing" and reading.legacy_drawing is None:
        reading.legacy_drawing = node
    elif node.local == "pageSetup" and reading.page_setup is None:
        reading.page_setup = node
    elif node.local == "sheetFormatPr":
        layout = reading.layout
        layout.default_row = pixels(node.attrs.get("defaultRowHeight"), 4 / 3) or layout.default_row
        layout.default_column = pixels(node.attrs.get("defaultColWidth"), 7, 5) or layout.default_column


def _read_column(col: Node, reading: _Reading) -> None:
    """Take a <col> range: its width (to place notes) and its format (for new cells)."""
    first, last = small_int(col.attrs.get("min")), small_int(col.attrs.get("max"))
    if first is None or last is None or not 1 <= first <= last:
        return
    style = small_int(col.attrs.get("style", "0"))
    if style is not None:
        reading.column_styles.append((first, last, style))
    width = pixels(col.attrs.get("width"), 7)
    if width is not None:
        reading.layout.column_ranges.append((first, min(last, MAX_COLUMN), width))


class _CellMaker:
    """Writes the empty cell a note needs, with the format it showed empty (its row's or column's)."""

    def __init__(self, prefix: str, styles: Styles, column_styles: ColumnStyles) -> None:
        self.prefix, self.styles = prefix, styles
        self.column_styles = disjoint(column_styles)
        self._firsts = [first for first, _, _ in self.column_styles]

    def _column_style(self, column: int) -> int:
        index = bisect.bisect_right(self._firsts, column) - 1
        if index >= 0 and column <= self.column_styles[index][1]:
            return self.column_styles[index][2]
        return 0

    def __call__(self, note: Note, row_style: int | None) -> bytes:
        base = row_style if row_style is not None else self._column_style(note.column)
        return f'<{self.prefix}c r="{note.ref}" s="{self.styles.styled(base, note.severity)}"/>'.encode()


def _new_row(prefix: str, number: int, notes: list[Note],
             new_cell: Callable[[Note, int | None], bytes]) -> bytes:
    """Return a new row holding only the noted cells."""
    cells = b"".join(new_cell(note, None) for note in sorted(notes, key=lambda note: note.column))
    return f'<{prefix}row r="{number}">'.encode() + cells + f"</{prefix}row>".encode()
