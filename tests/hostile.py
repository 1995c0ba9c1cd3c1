"""Small hostile files, built in memory in milliseconds: one builder per way past a guard.

Each builder returns the file's bytes; `write(folder, name, data)` puts them on disk under a
name of any kind (bytes for a name that is not UTF-8). Nothing here reads a corpus.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from pathlib import Path

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONSHIPS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CHUNK = 64 * 1024  # the guard reads parts in chunks of this size (limits.CHUNK)
FAR = "XFD1048576"  # the last cell of a sheet: calamine would build 17 billion cells up to it


def write(folder: Path, name: str | bytes, data: bytes) -> Path:
    """Write data to folder/name; a bytes name is written as is (a Windows name unpacked on Linux)."""
    if isinstance(name, bytes):
        # A str path holding the name's bytes as surrogates writes those very bytes.
        path = folder / os.fsdecode(name)
        path.write_bytes(data)
        assert os.fsencode(path.name) == name
        return path
    (folder / name).write_bytes(data)
    return folder / name


def zip_package(parts: dict[str, bytes], stored: tuple[str, ...] = ()) -> bytes:
    """Return a zip of the parts, in order; `stored` ones uncompressed (an ODS mimetype)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data, zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


# --- Office Open XML ----------------------------------------------------------------------------

def worksheet(rows: str, prolog: bytes = b'<?xml version="1.0" encoding="UTF-8"?>') -> bytes:
    """Return a worksheet part holding the given <row> elements."""
    return prolog + f'<worksheet xmlns="{MAIN}"><sheetData>{rows}</sheetData></worksheet>'.encode()


def xlsx_parts(sheet: bytes, target: str = "worksheets/sheet1.xml", shared: bytes | None = None,
               name: str = "Feuil1") -> dict[str, bytes]:
    """Return the parts of a one-sheet workbook whose sheet lies at xl/<target>."""
    content_types = (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>')
    root = (f'<Relationships xmlns="{RELATIONSHIPS}"><Relationship Id="rId1" '
            f'Type="{OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    workbook = (f'<workbook xmlns="{MAIN}" xmlns:r="{OFFICE}"><sheets>'
                f'<sheet name="{name}" sheetId="1" r:id="rId1"/></sheets></workbook>')
    relationships = (f'<Relationships xmlns="{RELATIONSHIPS}"><Relationship Id="rId1" '
                     f'Type="{OFFICE}/worksheet" Target="{target}"/></Relationships>')
    parts = {"[Content_Types].xml": content_types.encode(), "_rels/.rels": root.encode(),
             "xl/workbook.xml": workbook.encode(), "xl/_rels/workbook.xml.rels": relationships.encode(),
             f"xl/{target}": sheet}
    if shared is not None:
        parts["xl/sharedStrings.xml"] = shared
    return parts


def xlsx(rows: str = '<row r="1"><c r="A1" t="inlineStr"><is><t>No</t></is></c></row>') -> bytes:
    """Return a small, harmless .xlsx (one sheet, the given rows)."""
    return zip_package(xlsx_parts(worksheet(rows)))


def dtd_after_4kb() -> bytes:
    """A sheet whose DTD comes after 5 KB of comment: a scan of the part's start misses it."""
    prolog = b'<?xml version="1.0"?><!--' + b" " * 5_000 + b'--><!DOCTYPE w [<!ENTITY a "b">]>'
    return zip_package(xlsx_parts(worksheet('<row r="1"><c r="A1"><v>1</v></c></row>', prolog)))


def dtd_across_chunks() -> bytes:
    """A part never parsed by the guard whose `<!DOCTYPE` straddles two of the guard's chunks."""
    head = b'<?xml version="1.0"?><!--'
    padding = b" " * (CHUNK - 4 - len(head) - len(b"-->"))
    app = head + padding + b'--><!DOCTYPE Properties [<!ENTITY a "b">]><Properties/>'
    assert app.index(b"<!DOCTYPE") == CHUNK - 4
    parts = xlsx_parts(worksheet('<row r="1"><c r="A1"><v>1</v></c></row>'))
    parts["docProps/app.xml"] = app
    return zip_package(parts)


# How a far cell can be written so that a pattern-matching guard does not see it.
FAR_CELLS = {
    "a1_and_far": f'<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="{FAR}"><v>1</v></c></row>',
    "far_only": f'<row r="1048576"><c r="{FAR}"><v>1</v></c></row>',
    "lower_case": '<row r="1048576"><c r="xfd1048576"><v>1</v></c></row>',
    "four_letters": '<row r="1048576"><c r="AAAA1048576"><v>1</v></c></row>',
    "no_cell_reference": '<row r="1048576">' + "<c><v>1</v></c>" * 2 + "</row>"
                         '<row r="1"><c r="XFD1"><v>1</v></c></row>',
    "quoted_bracket": f'<row r="1048576"><c x=">" r="{FAR}"><v>1</v></c></row>',
    "bracket_in_value": f'<row r="1048576"><c x="<c" r="{FAR}"><v>1</v></c></row>',
    "prefixed": f'<x:row r="1048576"><x:c r="{FAR}"><x:v>1</x:v></x:c></x:row>',
}


def far_cell(variant: str = "a1_and_far", target: str = "donnees/feuille.xml") -> bytes:
    """A sheet stored at an odd part path (found through the relationships) with a far cell."""
    rows = FAR_CELLS[variant]
    sheet = worksheet(rows).replace(b"<worksheet ", b'<worksheet xmlns:x="' + MAIN.encode() + b'" ')
    if variant == "bracket_in_value":  # '<' in an attribute: not XML, yet calamine reads it
        sheet = worksheet(rows)
    return zip_package(xlsx_parts(sheet, target=target))


def shared_string_amplification(cells: int = 20_000, length: int = 1_000_000) -> bytes:
    """One 1 MB shared string shown by 20,000 cells: calamine copies it into each (20 GB)."""
    shared = (f'<sst xmlns="{MAIN}" count="{cells}" uniqueCount="1"><si><t>'.encode() + b"a" * length
              + b"</t></si></sst>")
    rows = "".join(f'<row r="{row}"><c r="A{row}" t="s"><v>0</v></c></row>' for row in range(1, cells + 1))
    return zip_package(xlsx_parts(worksheet(rows), shared=shared))


def hybrid_xlsx_ods() -> bytes:
    """An .xlsx that also holds an ODS mimetype and content: calamine could read either."""
    parts = {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", **xlsx_parts(worksheet(""))}
    parts["content.xml"] = ods_content(ods_rows("<table:table-cell/>"))
    return zip_package(parts, stored=("mimetype",))


# --- OpenDocument -------------------------------------------------------------------------------

ODS_NAMESPACES = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
                  'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
                  'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')


def ods_rows(*cells: str, repeat: int = 1) -> str:
    """Return one table row of the given cells, repeated `repeat` times."""
    attribute = f' table:number-rows-repeated="{repeat}"' if repeat != 1 else ""
    return f"<table:table-row{attribute}>{''.join(cells)}</table:table-row>"


def ods_cell(text: str = "", repeat: int = 1, number: float | None = None) -> str:
    """Return an ODS cell: text, number or empty, repeated over `repeat` columns."""
    attribute = f' table:number-columns-repeated="{repeat}"' if repeat > 1 else ""
    if number is not None:
        return f'<table:table-cell office:value-type="float" office:value="{number}"{attribute}/>'
    if text:
        return (f'<table:table-cell office:value-type="string"{attribute}><text:p>{text}</text:p>'
                "</table:table-cell>")
    return f"<table:table-cell{attribute}/>"


def ods_content(*rows: str, name: str = "Feuille1") -> bytes:
    """Return a content.xml with one table of the given rows."""
    return (f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ODS_NAMESPACES}>'
            f'<office:body><office:spreadsheet><table:table table:name="{name}">{"".join(rows)}'
            "</table:table></office:spreadsheet></office:body></office:document-content>").encode()


def ods(*rows: str) -> bytes:
    """Return an .ods package (mimetype first and stored, as OpenDocument requires)."""
    manifest = (b'<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:'
                b'xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type='
                b'"application/vnd.oasis.opendocument.spreadsheet"/></manifest:manifest>')
    return zip_package({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet",
                        "content.xml": ods_content(*(rows or (ods_rows(ods_cell("No")),))),
                        "META-INF/manifest.xml": manifest}, stored=("mimetype",))


def ods_repeat_bomb() -> bytes:
    """A row of 16,384 repeated cells, repeated 6,000 times: 98 million cells (5.6 GB in calamine),
    just under calamine's own limit of 100 million."""
    return ods(ods_rows(ods_cell("No")), ods_rows(ods_cell(number=1, repeat=16_384), repeat=6_000))


def ods_zero_repeat_bomb() -> bytes:
    """Rows repeated zero times: they take no room in the grid, but calamine keeps their cells."""
    return ods(*[ods_rows(ods_cell(number=1, repeat=16_384), repeat=0)] * 1_000)


def ods_text_bomb() -> bytes:
    """One cell of 100 million spaces (`text:s`): calamine writes each one."""
    cell = ('<table:table-cell office:value-type="string"><text:p><text:s text:c="100000000"/></text:p>'
            "</table:table-cell>")
    return ods(ods_rows(cell))


def ods_libreoffice_tail() -> bytes:
    """A normal LibreOffice sheet: a few cells, then empty rows and cells repeated to the sheet's end."""
    return ods(ods_rows(ods_cell("No"), ods_cell("Action"), ods_cell(repeat=1_022)),
               ods_rows(ods_cell(number=1), ods_cell("Parc"), ods_cell(repeat=1_022)),
               ods_rows(ods_cell(repeat=1_024), repeat=1_048_574))


# --- OLE2 containers: encrypted and legacy workbooks --------------------------------------------

_END, _FREE, _FAT = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD


def cfb(streams: dict[str, bytes]) -> bytes:
    """Return an OLE2 compound file (version 3) holding the given streams at its root.

    Each stream is padded to 4 KB, so that none lives in the mini stream: the FAT sectors, one
    directory sector (up to three streams), then the streams' sectors.
    """
    assert len(streams) <= 3
    padded = [data.ljust(4096, b"\0") for data in streams.values()]
    padded = [data + b"\0" * (-len(data) % 512) for data in padded]
    count = sum(len(data) // 512 for data in padded)
    fat_sectors = 1
    while fat_sectors * 128 < fat_sectors + 1 + count:
        fat_sectors += 1
    assert fat_sectors <= 109
    fat = [_FAT] * fat_sectors + [_END]
    entries = [_directory_entry("Root Entry", 5, _END, 0, child=1)]
    for index, (name, data) in enumerate(zip(streams, padded, strict=True), start=1):
        start = len(fat)
        fat += [*range(start + 1, start + len(data) // 512), _END]
        right = index + 1 if index < len(streams) else _FREE
        entries.append(_directory_entry(name, 2, start, max(len(streams[name]), 4096), right=right))
    difat = [*range(fat_sectors), *[_FREE] * (109 - fat_sectors)]
    header = (bytes.fromhex("D0CF11E0A1B11AE1") + bytes(16)
              + struct.pack("<HHHHH6xIIIIIIIII", 0x3E, 3, 0xFFFE, 9, 6, 0, fat_sectors, fat_sectors, 0, 4096,
                            _END, 0, _END, 0)
              + struct.pack("<109I", *difat))
    table = b"".join(struct.pack("<I", value) for value in fat)
    table = table.ljust(fat_sectors * 512, b"\xff")
    return header + table + b"".join(entries).ljust(512, b"\0") + b"".join(padded)


def _directory_entry(name: str, kind: int, start: int, size: int, child: int = _FREE,
                     right: int = _FREE) -> bytes:
    encoded = (name + "\0").encode("utf-16-le")
    return (encoded.ljust(64, b"\0") + struct.pack("<HBBIII", len(encoded), kind, 1, _FREE, right, child)
            + bytes(16 + 4 + 16) + struct.pack("<IQ", start, size))


def biff(*records: tuple[int, bytes], version: int = 0x0600) -> bytes:
    """Return a BIFF workbook stream: a globals BOF, the given records, EOF."""
    bof = struct.pack("<HHHHII", version, 0x0005, 0x0DBB, 0x07CC, 0, 6)
    parts = [(0x0809, bof), *records, (0x000A, b"")]
    return b"".join(struct.pack("<HH", number, len(data)) + data for number, data in parts)


FILEPASS = 0x002F
ENCRYPTIONS = {
    "xor": struct.pack("<HHH", 0, 0x1234, 0x5678),  # XOR obfuscation (Excel 95 and later)
    "rc4": struct.pack("<HHH", 1, 1, 1) + bytes(48),  # RC4 with a 40-bit key
    "cryptoapi": struct.pack("<HHH", 1, 4, 2) + bytes(200),  # RC4 CryptoAPI (Excel 2002 and later)
}


def encrypted_xls(kind: str = "rc4") -> bytes:
    """Return a password-protected .xls: a FILEPASS record right after the globals' BOF."""
    if kind == "biff5_xor":
        return cfb({"Book": biff((FILEPASS, struct.pack("<HH", 0x1234, 0x5678)), version=0x0500)})
    return cfb({"Workbook": biff((FILEPASS, ENCRYPTIONS[kind]))})


def encrypted_ooxml() -> bytes:
    """Return an encrypted .xlsx: an OLE2 container of EncryptionInfo and EncryptedPackage."""
    return cfb({"EncryptionInfo": struct.pack("<HHI", 4, 4, 0x40), "EncryptedPackage": bytes(64)})


def legacy_xls() -> bytes:
    """Return an unprotected .xls container (globals only: BOF, EOF)."""
    return cfb({"Workbook": biff()})


def _record(number: int, data: bytes) -> bytes:
    return struct.pack("<HH", number, len(data)) + data


def xls_workbook(*cells: bytes, shared: tuple[str, ...] = ()) -> bytes:
    """Return an .xls (BIFF8) with one sheet of the given cell records, and a shared-string table."""
    table = b""
    if shared:
        strings = b"".join(struct.pack("<HB", len(text), 0) + text.encode("latin-1") for text in shared)
        table = _record(0x00FC, struct.pack("<II", len(shared), len(shared)) + strings)

    def globals_(position: int) -> bytes:
        sheet = struct.pack("<IBBBB", position, 0, 0, 6, 0) + b"Feuil1"
        return _bof(0x0005) + table + _record(0x0085, sheet) + _record(0x000A, b"")

    sheet = _bof(0x0010) + b"".join(cells) + _record(0x000A, b"")
    return cfb({"Workbook": globals_(len(globals_(0))) + sheet})


def _bof(kind: int) -> bytes:
    return _record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6))


def xls_number(row: int, col: int, value: float = 1.0) -> bytes:
    """A NUMBER cell record."""
    return _record(0x0203, struct.pack("<HHHd", row, col, 0, value))


def xls_shared(row: int, col: int, index: int) -> bytes:
    """A LABELSST cell record: the cell shows shared string `index`."""
    return _record(0x00FD, struct.pack("<HHHI", row, col, 0, index))


def xls_far_cell() -> bytes:
    """Cells at A1 and IV65536: calamine builds the 16.7 million cells between them."""
    return xls_workbook(xls_number(0, 0), xls_number(65_535, 255))


def xls_dimensions_bomb() -> bytes:
    """A DIMENSIONS record declaring 4 billion rows: calamine reserves room for them at once."""
    return xls_workbook(_record(0x0200, struct.pack("<IIHHH", 0, 0xFFFF_FFFF, 0, 256, 0)), xls_number(0, 0))


def xls_shared_string_amplification(cells: int = 4_500, length: int = 8_000) -> bytes:
    """One 8,000-character shared string shown by 4,500 cells: 36 million characters."""
    return xls_workbook(*(xls_shared(row, 0, 0) for row in range(cells)), shared=("a" * length,))


def xls_with_zip() -> bytes:
    """An .xls container with a zip appended: calamine tries the zip when its .xls reader fails."""
    return legacy_xls() + far_cell()


# --- CSV ----------------------------------------------------------------------------------------

def csv_long_field(length: int = 200_000) -> bytes:
    """A plan CSV whose action holds `length` characters (csv refuses above 131,072 by default)."""
    return f"No;Action\n1;{'x' * length}\n".encode()


def csv_with_nul() -> bytes:
    """A CSV with a NUL byte on its second line."""
    return b"No;Action\n1;Par\x00c\n"


def csv_undefined_bytes() -> bytes:
    """Neither UTF-8 nor Windows-1252: 0x81 and 0x8D are undefined in Windows-1252."""
    return b"No;Action\n1;Parc \x81\x8d\xff\xfe\n"


NON_UTF8_NAME = b"Sainte-Th\xe8cle.xlsx"  # Latin-1 é: a Windows zip unpacked on Linux


# --- Excel binary (.xlsb): BIFF12 records ----------------------------------------------------------

def _biff12(kind: int, data: bytes = b"") -> bytes:
    """One record: its type and size each on 7-bit bytes, low first (MS-XLSB 2.1.4)."""
    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
            value >>= 7
            if not value:
                return bytes(out)
    return varint(kind) + varint(len(data)) + data


def _wide(text: str) -> bytes:
    return struct.pack("<I", len(text)) + text.encode("utf-16-le")


def xlsb_row(row: int) -> bytes:
    return _biff12(0x0000, struct.pack("<IIHBBB", row, 0, 0x0118, 0, 0, 0) + struct.pack("<I", 0))


def xlsb_number(col: int, value: float = 1.0) -> bytes:
    return _biff12(0x0005, struct.pack("<IId", col, 0, value))


def xlsb_shared(col: int, index: int) -> bytes:
    return _biff12(0x0007, struct.pack("<III", col, 0, index))


def xlsb(*cells: bytes, shared: tuple[str, ...] = (), relation: str = "rId1") -> bytes:
    """Return a one-sheet .xlsb whose sheet holds the given row and cell records."""
    content_types = (
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="bin" ContentType="application/vnd.ms-excel.sheet.binary.macroEnabled.main"/>'
        '</Types>')
    root = (f'<Relationships xmlns="{RELATIONSHIPS}"><Relationship Id="rId1" '
            f'Type="{OFFICE}/officeDocument" Target="xl/workbook.bin"/></Relationships>')
    relationships = (f'<Relationships xmlns="{RELATIONSHIPS}"><Relationship Id="rId1" '
                     f'Type="{OFFICE}/worksheet" Target="worksheets/sheet1.bin"/></Relationships>')
    workbook = (_biff12(0x0083) + _biff12(0x008F)
                + _biff12(0x009C, struct.pack("<II", 0, 1) + _wide(relation) + _wide("Feuil1"))
                + _biff12(0x0090) + _biff12(0x0084))
    sheet = (_biff12(0x0081) + _biff12(0x0094, struct.pack("<IIII", 0, 0, 0, 0)) + _biff12(0x0091)
             + b"".join(cells) + _biff12(0x0092) + _biff12(0x0082))
    parts = {"[Content_Types].xml": content_types.encode(), "_rels/.rels": root.encode(),
             "xl/_rels/workbook.bin.rels": relationships.encode(), "xl/workbook.bin": workbook,
             "xl/worksheets/sheet1.bin": sheet}
    if shared:
        parts["xl/sharedStrings.bin"] = (_biff12(0x009F, struct.pack("<II", len(shared), len(shared)))
                                         + b"".join(_biff12(0x0013, b"\x00" + _wide(text)) for text in shared)
                                         + _biff12(0x00A0))
    return zip_package(parts)


def xlsb_far_cell() -> bytes:
    """A1 and a cell at the last row and a column four billion wide: a grid beyond any memory."""
    return xlsb(xlsb_row(0), xlsb_number(0), xlsb_row(1_048_575), xlsb_number(4_000_000_000))


def xlsb_shared_string_amplification(cells: int = 40_000, length: int = 1_000) -> bytes:
    """One 1,000-character shared string shown in 40,000 cells: 120 MB of text from a small file."""
    rows = b"".join(xlsb_row(row) + xlsb_shared(0, 0) for row in range(cells))
    return xlsb(rows, shared=("x" * length,))


def xlsb_missing_relationship() -> bytes:
    """A sheet whose relationship id is absent: calamine panics (a Rust panic, not an error)."""
    return xlsb(xlsb_row(0), xlsb_number(0), relation="rId9")
