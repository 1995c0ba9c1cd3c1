"""The guard of an Excel binary workbook (.xlsb): its sheets bounded before calamine builds them.

calamine reads an .xlsb's worksheets as streams of BIFF12 records and builds, for each, a grid
spanning its valued cells: one cell at row 1,048,576 and column 4 billion, or a shared string
shown in a million cells, would make it allocate until the process aborts. The records are
walked here as calamine walks them (MS-XLSB 2.1.4: a type and a size, each written on 7-bit
bytes): the sheets named by workbook.bin through its relationships, then each sheet's rows
(BrtRowHdr) and cells, counting the grid and the text it would build.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

from camf_excel.errors import InputError
from camf_excel.limits import DAMAGED, HOSTILE, MAX_CELLS, MAX_MARKUP, MAX_TEXT_BYTES, french_number
from camf_excel.parts import read_relationships

RELATIONSHIPS = "xl/_rels/workbook.bin.rels"
WORKBOOK, SHARED_STRINGS = "xl/workbook.bin", "xl/sharedStrings.bin"
_ROW_HEADER, _SHEET_DATA_END = 0x0000, 0x0092
_BUNDLE_SHEET, _BUNDLE_END = 0x009C, 0x0090
_BEGIN_SST, _SST_ITEM = 0x009F, 0x0013
_SHARED_CELL, _INLINE_CELLS = 0x0007, frozenset({0x0006, 0x0008})  # BrtCellIsst; BrtCellSt, BrtFmlaString
_VALUE_CELLS = frozenset(range(0x0002, 0x000B))  # the cells calamine keeps (blank and error formulas not)
_LAST_ROW = 0x0010_0000  # calamine stops a sheet at a row past this
_U32 = struct.Struct("<I")

Read = Callable[[str], bytes | None]  # a part's bytes by exact name (None when absent)


def check_xlsb(read: Read) -> None:
    """Refuse an .xlsb whose sheets would make calamine build more cells or text than the limits."""
    lengths = _shared_string_lengths(read(SHARED_STRINGS) or b"")
    budget = _Budget()
    for part in _sheet_parts(read):
        data = read(part)
        if data is not None:
            budget.sheet(data, part, lengths)


def _records(data: bytes, part: str) -> Iterator[tuple[int, memoryview]]:
    """Yield each record's type and data; a record cut short ends the stream, as calamine fails there."""
    view, size, position, count = memoryview(data), len(data), 0, 0
    while position < size:
        kind, position = _varint(data, position, 2)
        length, position = _varint(data, position, 4)
        if kind < 0 or length < 0 or position + length > size:
            return
        count += 1
        if count > MAX_MARKUP:
            raise InputError(f"partie « {part} » de plus de {french_number(MAX_MARKUP)} enregistrements "
                             "(fichier malveillant ?)", HOSTILE)
        yield kind, view[position:position + length]
        position += length


def _varint(data: bytes, position: int, most: int) -> tuple[int, int]:
    """Read a number written on up to `most` bytes of 7 bits (low first); -1 when the data ends."""
    value = 0
    for index in range(most):
        if position >= len(data):
            return -1, position
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            break
    return value, position


def _u32(record: memoryview, offset: int = 0) -> int:
    return _U32.unpack_from(record, offset)[0] if len(record) >= offset + 4 else 0


def _shared_string_lengths(data: bytes) -> list[int]:
    """Return each shared string's length in UTF-8 bytes (at most three per UTF-16 unit)."""
    return [3 * _u32(record, 1) for kind, record in _records(data, SHARED_STRINGS) if kind == _SST_ITEM]


def _sheet_parts(read: Read) -> list[str]:
    """Return the parts calamine reads as sheets: workbook.bin's sheets, through the relationships."""
    targets = {r.id: r.written for r in read_relationships(read(RELATIONSHIPS) or b"", WORKBOOK)}
    parts = []
    for kind, record in _records(read(WORKBOOK) or b"", WORKBOOK):
        if kind == _BUNDLE_END:
            break
        if kind == _BUNDLE_SHEET and len(record) >= 12:
            units = _u32(record, 8)
            if units == 0xFFFF_FFFF or len(record) < 12 + 2 * units:
                continue
            relation = bytes(record[12:12 + 2 * units]).decode("utf-16-le", "replace")
            if relation in targets:
                parts.append(f"xl/{targets[relation]}")
    return parts


class _Budget:
    """The cells and text calamine would build, summed over the sheets read."""

    def __init__(self) -> None:
        self.cells = self.text = 0

    def sheet(self, data: bytes, part: str, lengths: list[int]) -> None:
        last_row = last_col = -1
        row = 0
        for kind, record in _records(data, part):
            if kind == _ROW_HEADER:
                row = _u32(record)
                if row > _LAST_ROW:
                    break
            elif kind == _SHEET_DATA_END:
                break
            elif kind in _VALUE_CELLS and len(record) >= 8:
                last_row, last_col = max(last_row, row), max(last_col, _u32(record))
                self.text += self._text(kind, record, lengths)
        self.cells += (last_row + 1) * (last_col + 1)
        if self.cells > MAX_CELLS:
            raise InputError(f"feuille « {part} » de {last_row + 1} lignes sur {last_col + 1} colonnes : "
                             "hors de toute plage plausible (fichier malveillant ou endommagé)", HOSTILE)
        if self.text > MAX_TEXT_BYTES:
            raise InputError(f"classeur dont le texte, une fois lu, dépasserait {MAX_TEXT_BYTES // 2**20} Mo "
                             "(textes partagés répétés : fichier malveillant ?)", HOSTILE)

    @staticmethod
    def _text(kind: int, record: memoryview, lengths: list[int]) -> int:
        if kind == _SHARED_CELL:
            index = _u32(record, 8)
            if index >= len(lengths):
                raise InputError("cellule renvoyant à un texte partagé absent : classeur endommagé", DAMAGED)
            return lengths[index]
        return 3 * _u32(record, 8) if kind in _INLINE_CELLS else 0
