"""Inputs: safe walks of input folders, formats sniffed from bytes, package guards before any parser.

A workbook's bytes are read once (`load_input`); the sniffer, the guards and the parser all see
those same bytes. The guards (`check_zip_workbook`, `check_legacy_workbook`) bound what
python-calamine would build from them, because calamine aborts the process (no exception) when
an allocation fails: they follow the package as calamine does (same paths, same positions) and
parse each part they bound with expat, so that how a part is written cannot hide a cell.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import functools
import hashlib
import html
import io
import os
import re
import stat
import struct
import zipfile
import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from xml.parsers import expat

import olefile

from camf_excel.errors import InputError

# --- limits -----------------------------------------------------------------------------------
# A follow-up workbook is a few hundred rows by tens of columns, well under 1 MB; the largest
# real file of the corpus holds 142,784 cells (140,151 rows x 2 columns, a 12 MB sheet part).

MAX_INPUT_BYTES = 20 * 1024 * 1024
MAX_ZIP_ENTRIES = 2_000
MAX_PART_BYTES = 100 * 1024 * 1024
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_RATIO = 100  # declared size / compressed size, for parts above 1 MB
MAX_SHARED_STRINGS = 1_000_000
MIN_SHARED_STRING_BYTES = 13  # "<si><t/></si>": a table cannot hold more than size / 13 strings
# calamine builds every sheet it reads as a dense grid from A1 to its last valued cell, at
# about 40 bytes a cell with the Python lists (measured: 4 million cells, 168 MB). The whole
# workbook's grids are bounded together: 2 million cells stay near 100 MB.
MAX_CELLS = 2_000_000
# Text calamine would hold: one copy of a shared string per cell that refers to it (a 1 MB
# string in 20,000 cells is 20 GB from a 100 KB file), ODS text times its repetitions, and
# Python's own copy of each. A real follow-up workbook holds about 1 MB.
MAX_TEXT_BYTES = 32 * 1024 * 1024
# Markup the guard parses (measured: 1.1 to 1.3 µs a "<"; an .xls record costs less), so that a
# refusal comes within about 1.3 s; the corpus' tallest sheet has 851,449 and a follow-up
# workbook some 20,000.
MAX_MARKUP = 1_000_000
MAX_CSV_FIELD_CHARS = 1_000_000  # csv's own default (131,072) is under a long pasted comment

_DAMAGED, _HOSTILE = "FICHIER_ENDOMMAGE", "FICHIER_DANGEREUX"
_CHUNK = 64 * 1024


def _number(value: int) -> str:
    """Write a count the French way, for messages: 2 000 000."""
    return f"{value:,}".replace(",", " ")


# --- R2: reading a file once ------------------------------------------------------------------

@dataclass(frozen=True)
class Sniffed:
    """The format found in a file's bytes, with what to tell the user (None when all is well)."""

    kind: str
    message: str | None
    # Plain text (no NUL byte, not PDF, HTML or XML): a CSV to callers that accept one.
    text: bool = False


@dataclass(frozen=True)
class Loaded:
    """A file's bytes, read once (b"" when refused before reading), and the format they show."""

    data: bytes
    sniffed: Sniffed

    @property
    def sha256(self) -> str:
        """The SHA-256 of the bytes read ('' when nothing was read)."""
        return hashlib.sha256(self.data).hexdigest() if self.data else ""


def load_input(path: Path) -> Loaded:
    """Read a file's bytes once, within MAX_INPUT_BYTES, and sniff them; never raises."""
    try:
        data = _read_regular(Path(path))
    except _RefusedError as refused:
        return Loaded(b"", refused.sniffed)
    except (OSError, RuntimeError) as error:
        return Loaded(b"", _sniffed("damaged", f"lecture impossible : {error.__class__.__name__}"))
    return Loaded(data, sniff_bytes(data))


class _RefusedError(Exception):
    """A file refused before its bytes are read (special, empty, too big)."""

    def __init__(self, sniffed: Sniffed) -> None:
        super().__init__(sniffed.kind)
        self.sniffed = sniffed


def _read_regular(path: Path) -> bytes:
    """Return a regular file's bytes; a FIFO or device is never waited on."""
    # O_NONBLOCK: opening a FIFO swapped in after a check must not block; no effect on files.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(descriptor, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise _RefusedError(_sniffed("not_spreadsheet", "pas un fichier ordinaire"))
        if info.st_size > MAX_INPUT_BYTES:
            raise _RefusedError(_sniffed("too_big"))
        data = stream.read(MAX_INPUT_BYTES + 1)  # the file may grow meanwhile: the read is capped too
    if not data:
        raise _RefusedError(_sniffed("empty"))
    if len(data) > MAX_INPUT_BYTES:
        raise _RefusedError(_sniffed("too_big"))
    return data


# --- R2: deciding the format from the bytes ---------------------------------------------------

_SNIFF_HEAD_BYTES = 64 * 1024
_MAX_MANIFEST_BYTES = 1024 * 1024  # [Content_Types].xml is a few KB; more is not a workbook
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
# Excel 2.1-4.0 wrote a bare BIFF stream, no OLE2 container: it starts with a BOF record.
_BARE_BIFF_BOF = frozenset({b"\x09\x00", b"\x09\x02", b"\x09\x04"})
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_SAVE_AS_XLSX = "ouvrez-le dans Excel ou LibreOffice et enregistrez-le au format .xlsx"

MESSAGES: dict[str, str | None] = {
    "xlsx": None,
    "ods": None,
    "xlsm": "classeur avec macros (.xlsm) : les macros ne sont jamais exécutées ; "
            f"pour garder les listes et les formules, {_SAVE_AS_XLSX}",
    "xltx": f"modèle Excel (.xltx) plutôt que classeur : {_SAVE_AS_XLSX}",
    "xlsb": f"classeur binaire Excel (.xlsb) : {_SAVE_AS_XLSX}",
    "xls": "ancien format Excel (.xls) : ouvrez-le et enregistrez-le au format .xlsx",
    "encrypted": "classeur protégé par mot de passe : ouvrez-le, Fichier › Enregistrer sous… en "
                 ".xlsx avec un mot de passe vide, et envoyez cette copie",
    "empty": "fichier vide (0 octet) : demandez à l'expéditeur de renvoyer le classeur",
    "too_big": f"fichier de plus de {MAX_INPUT_BYTES // (1024 * 1024)} Mo : un classeur de suivi "
               "fait bien moins ; vérifiez qu'il s'agit du bon fichier",
    "not_spreadsheet": "pas un classeur : envoyez le classeur de suivi au format .xlsx",
    "damaged": "classeur endommagé ou tronqué : ouvrez-le dans Excel ou LibreOffice pour le "
               "réparer, enregistrez-le en .xlsx, ou demandez une nouvelle copie",
}
SPREADSHEET_KINDS = frozenset({"xlsx", "ods", "xlsm", "xltx", "xlsb", "xls"})


def _sniffed(kind: str, detail: str | None = None) -> Sniffed:
    message = MESSAGES[kind]
    if detail and message:
        message = f"{message} ({detail})"
    return Sniffed(kind, message, text=detail == _TEXT_FILE)


def sniff_format(path: Path) -> Sniffed:
    """Decide a file's format from its bytes, never from its name; never raises.

    Reads only what it needs (a zip's directory, an OLE2 container's first stream records).
    """
    try:
        path = Path(path)
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            # Opening a FIFO would block forever; a folder or device is no workbook either.
            return _sniffed("not_spreadsheet", "pas un fichier ordinaire")
        if info.st_size == 0:
            return _sniffed("empty")
        if info.st_size > MAX_INPUT_BYTES:
            return _sniffed("too_big")
        with path.open("rb") as stream:
            return _sniff_stream(stream)
    except (OSError, RuntimeError) as error:
        return _sniffed("damaged", f"lecture impossible : {error.__class__.__name__}")
    except Exception as error:  # a sniffer must never stop the batch: the file is reported
        return _sniffed("damaged", error.__class__.__name__)


def sniff_bytes(data: bytes) -> Sniffed:
    """Decide the format of bytes already read; never raises."""
    if not data:
        return _sniffed("empty")
    if len(data) > MAX_INPUT_BYTES:
        return _sniffed("too_big")
    try:
        return _sniff_stream(io.BytesIO(data))
    except Exception as error:  # a sniffer must never stop the batch: the file is reported
        return _sniffed("damaged", error.__class__.__name__)


def _sniff_stream(stream: IO[bytes]) -> Sniffed:
    head = stream.read(_SNIFF_HEAD_BYTES)
    stream.seek(0)
    if head.startswith(b"PK"):
        return _sniff_zip(stream)
    if head.startswith(OLE2_MAGIC):
        return _sniff_ole2(stream)
    if head[:2] in _BARE_BIFF_BOF and head[3:4] == b"\x00":
        return _sniffed("xls", "Excel 2.1 à 4.0")
    return _sniffed("not_spreadsheet", _describe_other(head))


_TEXT_FILE = "fichier texte, CSV par exemple"
_OTHER_OFFICE_DOCUMENT = "document Office qui n'est pas un classeur (Word, PowerPoint…)"


def _describe_other(head: bytes) -> str:
    """Name what a non-zip, non-OLE2 file looks like, for the message."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith(b"%pdf"):
        return "document PDF"
    if start.startswith((b"<html", b"<!doctype html")):
        return "page HTML"
    if start.startswith(b"<?xml"):
        return "fichier XML"
    if b"\x00" not in head[:4096]:
        return _TEXT_FILE
    return "contenu non reconnu"


def _sniff_zip(stream: IO[bytes]) -> Sniffed:
    """Tell which kind of zip a file is: OOXML spreadsheet, OpenDocument, something else, damaged."""
    try:
        with zipfile.ZipFile(stream) as archive:
            members = _normalised_members(archive)
            if not members:
                return _sniffed("damaged", "archive vide")
            if "[content_types].xml" in members:
                manifest = _read_capped(archive, members["[content_types].xml"])
                return _ooxml_kind(manifest, set(members))
            if "mimetype" in members:
                return _opendocument_kind(archive, members)
            return _sniffed("not_spreadsheet", "archive zip sans classeur")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError,
            KeyError, zlib.error, RuntimeError) as error:
        return _sniffed("damaged", f"archive illisible : {error.__class__.__name__}")


def _normalised_members(archive: zipfile.ZipFile) -> dict[str, str]:
    """Map lower-case, forward-slash member names to the stored ones.

    Some generators write `xl\\styles.xml` or `[content_types].xml` (poi 49609.xlsx), which
    calamine still reads: the sniffer must not call them foreign.
    """
    return {_key(name): name for name in archive.namelist()}


def _key(name: str) -> str:
    """Name a part as calamine's look-up does: forward slashes, ASCII letters in lower case."""
    return _ascii_lower(name.replace("\\", "/"))


def _ascii_lower(text: str) -> str:
    # Rust's to_ascii_lowercase: "É" stays "É" (str.lower() would change it).
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}


def _read_capped(archive: zipfile.ZipFile, name: str) -> bytes:
    with archive.open(name) as stream:
        return stream.read(_MAX_MANIFEST_BYTES)


_TYPE_ELEMENT = re.compile(rb"<(?:\w+:)?(Override|Default)\b([^>]*)>")
_ATTRIBUTE = re.compile(rb"\b(PartName|Extension|ContentType)\s*=\s*[\"']([^\"']*)[\"']")


def _main_content_types(content_types: bytes, names: set[str]) -> set[str]:
    """Return the `.main` content types that apply to a part actually present in the package.

    A Default only counts when a part has its extension: SheetJS declares the .xlsb main type
    for every `.bin` even in a plain .xlsx.
    """
    extensions = {name.rpartition(".")[2] for name in names if "." in name}
    found = set()
    for element in _TYPE_ELEMENT.finditer(content_types):
        pairs = _ATTRIBUTE.findall(element.group(2))
        attributes = {key.decode(): value.decode("utf-8", "replace") for key, value in pairs}
        content_type = attributes.get("ContentType", "")
        if not content_type.endswith((".main+xml", ".main")):
            continue
        if element.group(1) == b"Override" or attributes.get("Extension", "").lower() in extensions:
            found.add(content_type)
    return found


def _ooxml_kind(content_types: bytes, names: set[str]) -> Sniffed:
    """Classify an Office Open XML package from the content type of its main part."""
    main = " ".join(_main_content_types(content_types, names))
    if "xl/workbook.bin" in names or "sheet.binary" in main:
        return _sniffed("xlsb")
    if "spreadsheetml" not in main and "ms-excel" not in main:
        return _sniffed("not_spreadsheet", _OTHER_OFFICE_DOCUMENT)
    if "macroEnabled" in main or "xl/vbaproject.bin" in names:
        return _sniffed("xlsm")
    if "spreadsheetml.template.main" in main:
        return _sniffed("xltx")
    return _sniffed("xlsx")


def _opendocument_kind(archive: zipfile.ZipFile, members: dict[str, str]) -> Sniffed:
    """Classify an OpenDocument package; a password-protected one lists its encryption data."""
    if _read_capped(archive, members["mimetype"]).strip() != _ODS_MIMETYPE:
        return _sniffed("not_spreadsheet", "document OpenDocument qui n'est pas un classeur")
    manifest = members.get("meta-inf/manifest.xml")
    if manifest and b"encryption-data" in _read_capped(archive, manifest):
        return _sniffed("encrypted")
    return _sniffed("ods")


# --- OLE2 containers: encrypted workbooks, legacy .xls ----------------------------------------

_ENCRYPTED_STREAMS = frozenset({"encryptedpackage", "encryptioninfo"})
_BIFF_STREAMS = ("workbook", "book")  # BIFF8 (Excel 97-2003), BIFF5 (Excel 5 and 95)
_BIFF_BOF = frozenset({0x0809, 0x0409, 0x0209, 0x0009})
_BIFF_FILEPASS, _BIFF_EOF = 0x002F, 0x000A


def _sniff_ole2(stream: IO[bytes]) -> Sniffed:
    """Classify an OLE2 container: encrypted Office document, legacy workbook, or something else.

    Every kind of encryption is found here, before any parser: OOXML in an EncryptedPackage,
    and .xls RC4, RC4 CryptoAPI or XOR obfuscation, which a FILEPASS record announces.
    """
    try:
        with contextlib.closing(olefile.OleFileIO(stream)) as container:
            streams = {"/".join(entry).lower(): entry for entry in container.listdir()}
            if _ENCRYPTED_STREAMS & set(streams):
                return _sniffed("encrypted")
            name = next((n for n in _BIFF_STREAMS if n in streams), None)
            if name is None:
                return _sniffed("not_spreadsheet", _OTHER_OFFICE_DOCUMENT)
            with contextlib.closing(container.openstream(streams[name])) as biff:
                records = biff.read(MAX_INPUT_BYTES)
    except Exception as error:  # olefile raises many kinds on a damaged container
        return _sniffed("damaged", f"conteneur OLE2 illisible : {error.__class__.__name__}")
    return _sniffed("encrypted") if biff_encrypted(records) else _sniffed("xls")


def biff_encrypted(records: bytes) -> bool:
    """Tell whether a BIFF workbook stream announces encryption (FILEPASS in its globals)."""
    position = 0
    while position + 4 <= len(records):
        number, length = struct.unpack_from("<HH", records, position)
        if position == 0 and number not in _BIFF_BOF:
            return False
        if number == _BIFF_FILEPASS:
            return True
        if number == _BIFF_EOF:
            return False  # FILEPASS belongs to the globals, which end here
        position += 4 + length
    return False


def check_legacy_workbook(data: bytes) -> None:
    """Refuse, before calamine reads it, an OLE2 workbook that would make it allocate without bound.

    calamine builds every sheet of an .xls when it opens it: it reserves the cells a DIMENSIONS
    record declares, a grid from A1 to the last cell, and one copy of a shared string per cell
    showing it. The records are walked as calamine walks them: globals first, then each sheet
    from the position its BOUNDSHEET record gives.
    """
    if zipfile.is_zipfile(io.BytesIO(data)):  # never raises
        # calamine tries its readers in turn: were its .xls one to fail, it would open this zip
        # (Excel 2007 and later store an .xls theme as one); guard it as any package.
        check_zip_workbook(Path("theme"), data)
    stream = _biff_stream(data)
    if stream is None:
        return  # no workbook stream: calamine refuses the file itself
    budget = _BiffBudget()
    positions, shared = _biff_globals(stream, budget)
    for position in positions:
        if position > len(stream):  # calamine would slice past the end of the stream and panic
            raise InputError("feuille annoncée hors du classeur : classeur endommagé", _DAMAGED)
        budget.sheet(stream, position, shared)
    budget.check()


def _biff_stream(data: bytes) -> bytes | None:
    try:
        with contextlib.closing(olefile.OleFileIO(io.BytesIO(data))) as container:
            for name in ("Workbook", "Book"):  # calamine's order
                if container.exists(name):
                    with contextlib.closing(container.openstream(name)) as stream:
                        return stream.read(MAX_INPUT_BYTES)
    except Exception as error:  # olefile raises many kinds on a damaged container
        raise InputError(f"conteneur OLE2 illisible ({error.__class__.__name__}) : classeur endommagé",
                         _DAMAGED) from error
    return None


_BiffRecord = tuple[int, memoryview, list[memoryview]]  # number, data, the CONTINUE records after it
_HEADER = struct.Struct("<HH")


def _biff_records(stream: bytes, start: int, budget: _BiffBudget) -> Iterator[_BiffRecord]:
    """Yield the records from `start`, each with its CONTINUE records, as calamine's iterator does."""
    unpack, view, size, position = _HEADER.unpack_from, memoryview(stream), len(stream), start
    while position + 4 <= size:
        number, length = unpack(stream, position)
        data = view[position + 4:position + 4 + length]
        position += 4 + length
        continued = []
        while position + 4 < size and stream[position] == 0x3C and stream[position + 1] == 0:
            length = unpack(stream, position)[1]
            continued.append(view[position + 4:position + 4 + length])
            position += 4 + length
        budget.records += 1 + len(continued)
        if budget.records > MAX_MARKUP:
            raise InputError(f"classeur .xls de plus de {_number(MAX_MARKUP)} enregistrements (fichier "
                             "malveillant ?)", _HOSTILE)
        yield number, data, continued


def _biff_globals(stream: bytes, budget: _BiffBudget) -> tuple[list[int], list[int]]:
    """Return the sheets' positions (BOUNDSHEET) and the shared strings' lengths (SST)."""
    positions: list[int] = []
    shared: list[int] = []
    for number, data, continued in _biff_records(stream, 0, budget):
        if number == 0x0085 and len(data) >= 4:
            positions.append(struct.unpack_from("<I", data)[0])
        elif number == 0x00FC:
            shared = _sst_lengths(data, continued)
            budget.text += sum(shared)
        elif number == _BIFF_EOF:
            break
    return positions, shared


def _sst_lengths(record: memoryview, continued: list[memoryview]) -> list[int]:
    """Return the length, in characters, of each string of an SST record (XLUnicodeRichExtendedString)."""
    pieces = [record[8:], *continued]
    lengths: list[int] = []
    data = pieces.pop(0)
    while data or pieces:
        if not data:
            data = pieces.pop(0)
            continue
        if len(data) < 3:
            break  # calamine refuses the file
        count, flags = struct.unpack_from("<HB", data)
        header = 3 + (2 if flags & 0x8 else 0) + (4 if flags & 0x4 else 0)
        runs = struct.unpack_from("<H", data, 3)[0] * 4 if flags & 0x8 and len(data) >= 5 else 0
        extra = struct.unpack_from("<i", data, header - 4)[0] if flags & 0x4 and len(data) >= header else 0
        lengths.append(count)
        data, pieces = _skip_characters(data[header:], pieces, count, bool(flags & 0x1))
        data, pieces = _skip_bytes(data, pieces, runs + max(extra, 0))
    return lengths


def _skip_characters(data: memoryview, pieces: list[memoryview], count: int,
                     wide: bool) -> tuple[memoryview, list[memoryview]]:
    """Skip `count` characters split across CONTINUE records (each starts with its own width flag)."""
    while count > 0:
        taken = min(count, len(data) // (2 if wide else 1))
        data, count = data[taken * (2 if wide else 1):], count - taken
        if count > 0:
            if not pieces:
                return memoryview(b""), []
            data = pieces.pop(0)
            wide, data = bool(len(data) and data[0] & 0x1), data[1:]
    return data, pieces


def _skip_bytes(data: memoryview, pieces: list[memoryview],
                count: int) -> tuple[memoryview, list[memoryview]]:
    while count > 0:
        if not data:
            if not pieces:
                return memoryview(b""), []
            data = pieces.pop(0)
        taken = min(count, len(data))
        data, count = data[taken:], count - taken
    return data, pieces


# Records calamine turns into cells: NUMBER, LABEL, RSTRING, BOOLERR, STRING, RK, FORMULA, LABELSST.
_BIFF_CELLS = frozenset({0x0203, 0x0204, 0x00D6, 0x0205, 0x027E, 0x0006, 0x00FD})
_BIFF_MULRK, _BIFF_LABELSST, _BIFF_DIMENSIONS = 0x00BD, 0x00FD, 0x0200


class _BiffBudget:
    """What calamine would build from an .xls: grids, reserved cells and text."""

    def __init__(self) -> None:
        self.records = self.cells = self.text = 0

    def sheet(self, stream: bytes, position: int, shared: list[int]) -> None:
        last_row = last_col = -1
        depth, seen_bof = 0, False
        for number, data, _ in _biff_records(stream, position, self):
            if depth:  # a nested substream (embedded chart): calamine skips it
                depth += {0x0809: 1, _BIFF_EOF: -1}.get(number, 0)
                continue
            if number == 0x0809:
                depth, seen_bof = (1, True) if seen_bof else (0, True)
            elif number == _BIFF_EOF:
                break
            elif number == _BIFF_DIMENSIONS:
                self._reserve(data)
            elif (number in _BIFF_CELLS or number == _BIFF_MULRK) and len(data) >= 4:
                row, col = struct.unpack_from("<HH", data)
                if number == _BIFF_MULRK and len(data) >= 6:
                    col = struct.unpack_from("<H", data, len(data) - 2)[0]
                last_row = max(last_row, row)
                last_col = max(last_col, col)
                if number == _BIFF_LABELSST and len(data) >= 10:
                    index = struct.unpack_from("<I", data, 6)[0]
                    self.text += shared[index] if index < len(shared) else 0
        self.cells += (last_row + 1) * (last_col + 1)
        self.check()

    def _reserve(self, data: memoryview) -> None:
        """Bound the cells calamine reserves for a sheet from its DIMENSIONS record."""
        if len(data) == 14:
            first, last, first_col, last_col = struct.unpack_from("<IIHH", data)
        elif len(data) == 10:
            first, last, first_col, last_col = struct.unpack_from("<HHHH", data)
        else:
            return  # calamine refuses the file
        if first_col > 0xFF or last_col < first_col:
            first_col = 0
        if last < 1 or last_col < 1:
            return  # calamine reserves one cell
        rows, cols = (last - first) % 2**32, last_col - first_col  # u32 arithmetic: it wraps around
        if rows * cols > MAX_CELLS:
            raise InputError(f"feuille .xls déclarant {rows} lignes sur {cols} colonnes : hors de toute "
                             "plage plausible (fichier malveillant ou endommagé)", _HOSTILE)

    def check(self) -> None:
        if self.cells > MAX_CELLS:
            raise InputError("feuilles .xls hors de toute plage plausible (fichier malveillant ou endommagé)",
                             _HOSTILE)
        if self.text > MAX_TEXT_BYTES:
            raise InputError(f"classeur dont le texte, une fois lu, dépasserait {MAX_TEXT_BYTES // 2**20} Mo "
                             "(textes partagés répétés : fichier malveillant ?)", _HOSTILE)


# --- R3-R5: package guards --------------------------------------------------------------------

Position = tuple[int, int]  # 0-based row, column


@dataclass
class PackageFacts:
    """What the guard learnt while reading a package, so the reader need not read it again.

    `sheet_parts` maps sheet names to the worksheet parts calamine reads for them;
    `error_cells` maps a worksheet part to the positions of its cells holding an Excel error
    (calamine reads them as '') and their text; `percent_cells` to those of its valued cells
    shown as a percentage (calamine gives 1 for « 100 % »); `uncached_cells` to those of its
    formulas saved without a value (calamine gives ''); `percent_styles` are the cell formats
    (`s`) showing a percentage; `parts` keeps the small parts that name the sheets and the
    template (and an .ods content.xml). `cells` and `text` are what calamine would build.
    """

    path: Path
    kind: str = "xlsx"
    workbook_part: str = "xl/workbook.xml"
    sheet_parts: dict[str, str] = field(default_factory=dict)
    error_cells: dict[str, dict[Position, str]] = field(default_factory=dict)
    percent_cells: dict[str, set[Position]] = field(default_factory=dict)
    uncached_cells: dict[str, set[Position]] = field(default_factory=dict)
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
    shared: array[int] = field(default_factory=lambda: array("q"), repr=False)


_ROOT_RELATIONSHIPS, _CUSTOM_PROPERTIES = "_rels/.rels", "docprops/custom.xml"
_ODS_CONTENT, _ODS_META, _ODS_MANIFEST = "content.xml", "meta.xml", "meta-inf/manifest.xml"
_MAX_KEPT_PART = 1024 * 1024
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, zlib.error, KeyError,
               NotImplementedError, RuntimeError)
_XML_SUFFIXES = (".xml", ".rels", ".vml")


def check_zip_workbook(path: Path, data: bytes | None = None,
                       wanted: Callable[[str], bool] | None = None) -> PackageFacts:
    """Refuse, before any parser sees it, a zip that is a bomb or that would make calamine abort.

    python-calamine trusts the archive: a 4 KB file declaring four billion shared strings, one
    cell at XFD1048576, a string repeated in every cell, or an ODS row repeated a million
    times, make it allocate until the process aborts (no exception). The guard reads the
    central directory, every XML part (no DTD anywhere, CRC-32 checked), and parses what
    calamine would build: the worksheets and shared strings it reads (found as calamine finds
    them, through the relationships), or an ODS content.xml. `data` are the file's bytes
    when already read (the path then only names the file). Only the worksheets `wanted`
    names are parsed now (all when None); `check_sheet` parses another before it is read.
    """
    facts = PackageFacts(Path(path), data=data)
    try:
        with zipfile.ZipFile(io.BytesIO(data) if data is not None else Path(path)) as archive:
            _PackageGuard(archive, facts, wanted).run()
    except _ZIP_ERRORS as error:
        raise InputError(f"archive endommagée ou tronquée ({error})", _DAMAGED) from error
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
        raise InputError(f"archive endommagée ou tronquée ({error})", _DAMAGED) from error


class _PackageGuard:
    """Read a zip package once, part by part, as calamine would, within the limits."""

    def __init__(self, archive: zipfile.ZipFile, facts: PackageFacts,
                 wanted: Callable[[str], bool] | None = None) -> None:
        self.archive, self.facts, self.wanted = archive, facts, wanted
        self.entries = archive.infolist()
        _check_entries(self.entries)
        # calamine looks parts up by their lower-case, forward-slash name, else by exact name.
        self.by_key = {_key(entry.filename): entry for entry in self.entries}
        self.by_name = {entry.filename: entry for entry in self.entries}
        self.done: set[str] = set()
        self.shared = facts.shared  # length of each shared string, in UTF-8 bytes
        self.references: Counter[int] = Counter()  # shared string index → cells that show it

    def run(self) -> None:
        # Every reader calamine may reach is bounded: it tries xlsx (whose shared strings come
        # before it can fail), then xlsb, then ods, on the same bytes.
        xlsx = self._ooxml() if _ROOT_RELATIONSHIPS in self.by_key else False
        ods = self._ods() if self._ods_mimetype() else False
        self.facts.kind = self._reader(xlsx, "xl/_rels/workbook.bin.rels" in self.by_name, ods)
        for entry in self.entries:  # every other XML part: no DTD, CRC-32 checked
            if _key(entry.filename) not in self.done and _key(entry.filename).endswith(_XML_SUFFIXES):
                self._read(entry)
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
                             "contrefait, refusé", _HOSTILE)
        return readers[0] if readers else "xlsx"

    def _ods_mimetype(self) -> bool:
        entry = self.by_name.get("mimetype")  # calamine reads this exact name
        if entry is None:
            return False
        with self.archive.open(entry) as stream:
            return stream.read(len(_ODS_MIMETYPE)) == _ODS_MIMETYPE

    # -- parts --

    def _entry(self, key: str) -> zipfile.ZipInfo | None:
        """Return the entry calamine opens for a part name (look-up by key, else exact name)."""
        return self.by_key.get(_ascii_lower(key)) or self.by_name.get(key)

    def _read(self, entry: zipfile.ZipInfo, sink: Callable[[bytes], None] | None = None,
              keep: bool = False) -> bytes:
        """Read a part in chunks: no DTD anywhere in it, each chunk fed to `sink`; return it if `keep`."""
        self.done.add(_key(entry.filename))
        kept: list[bytes] = []
        tail = b""
        with self.archive.open(entry) as stream:  # zipfile checks the CRC-32 at the end
            while chunk := stream.read(_CHUNK):
                window = tail + chunk
                if _DTD.search(window):
                    raise InputError(f"partie « {entry.filename} » avec une déclaration DTD : refusée",
                                     _HOSTILE)
                tail = window[-_DTD_OVERLAP:]  # a declaration split across two chunks is still found
                if sink is not None:
                    sink(chunk)
                if keep:
                    kept.append(chunk)
        return b"".join(kept)

    def _keep(self, key: str) -> bytes:
        """Return a small part calamine or the reader parses (b'' if absent or too large)."""
        entry = self._entry(key)
        if entry is None or _key(entry.filename) in self.done:
            return self.facts.parts.get(_key(entry.filename), b"") if entry else b""
        data = self._read(entry, keep=entry.file_size <= _MAX_KEPT_PART)
        _refuse_wide_encoding(data, entry.filename)
        self.facts.parts[_key(entry.filename)] = data
        return data

    def _parse(self, key: str, scanner: _Scanner) -> bool:
        """Parse a part with a scanner, within the markup budget; False if the part is absent."""
        entry = self._entry(key)
        if entry is None or _key(entry.filename) in self.done:
            return False
        parser = scanner.start(entry)

        def feed(chunk: bytes) -> None:
            if not parser.started:
                _refuse_wide_encoding(chunk, entry.filename)
            self.facts.markup += chunk.count(b"<")
            if self.facts.markup > MAX_MARKUP:
                raise InputError(f"partie « {entry.filename} » démesurée : plus de {_number(MAX_MARKUP)} "
                                 "balises (fichier malveillant ?)", _HOSTILE)
            parser.feed(chunk)

        self._read(entry, feed)
        parser.close()
        scanner.finish()
        return True

    # -- Office Open XML --

    def _ooxml(self) -> bool:
        """Bound what calamine's xlsx reader reads; tell whether it can open the package."""
        folder = _office_folder(self._keep(_ROOT_RELATIONSHIPS))
        if folder is None:
            return False  # calamine's xlsx reader stops there
        facts = self.facts
        facts.workbook_part = _key(f"{folder}workbook.xml")
        opens = self._entry(f"{folder}_rels/workbook.xml.rels") is not None
        relationships = _relationships(self._keep(f"{folder}_rels/workbook.xml.rels"))
        sheets = _sheets(self._keep(f"{folder}workbook.xml"), facts.workbook_part)
        self._keep(_CUSTOM_PROPERTIES)
        styles = self._keep(f"{folder}styles.xml")
        entry = self._entry(f"{folder}styles.xml")
        facts.styles_part = _key(entry.filename) if entry else ""
        facts.percent_styles = percent_styles(styles) if styles else frozenset()
        self._parse(f"{folder}sharedStrings.xml", _SharedStringScanner(self.shared, facts))
        for name, rel_id in sheets:
            target = relationships.get(rel_id)
            if target is None:
                continue  # calamine refuses the workbook: nothing more to bound
            sheet = self._entry(target[1:] if target.startswith("/") else f"{folder}{target}")
            if sheet is None:
                continue
            if name in facts.sheet_parts:
                continue  # calamine reads the first sheet of a name
            facts.sheet_parts[name] = _key(sheet.filename)
            if self.wanted is None or self.wanted(name):
                self.parse_sheet(sheet.filename)
            else:
                facts.pending[name] = sheet.filename
                self.done.add(_key(sheet.filename))  # parsed, DTD and CRC included, if it is ever read
        return opens

    def parse_sheet(self, name: str) -> None:
        """Parse one worksheet as calamine would read it, and count the shared strings it shows."""
        self._parse(name, _SheetScanner(self.facts, _key(name), self.references))

    def check_text(self) -> None:
        """Add the text the cells parsed so far show from the shared strings; refuse past the limit."""
        shown = sum(count * self.shared[index] for index, count in self.references.items()
                    if 0 <= index < len(self.shared))
        self.references.clear()  # counted once: a sheet parsed later adds its own
        self.facts.text += shown
        if self.facts.text > MAX_TEXT_BYTES:
            raise InputError(f"classeur dont le texte, une fois lu, dépasserait {MAX_TEXT_BYTES // 2**20} Mo "
                             "(textes partagés répétés : fichier malveillant ?)", _HOSTILE)

    # -- OpenDocument --

    def _ods(self) -> bool:
        """Bound what calamine's ods reader reads (content.xml, by that exact name)."""
        entry = self.by_name.get(_ODS_CONTENT)
        if entry is not None:
            self.done.discard(_key(entry.filename))  # parsed even if the xlsx reader read it as XML
            self._parse(entry.filename, _OdsScanner(self.facts))
        self._keep(_ODS_META)
        self._keep(_ODS_MANIFEST)
        return entry is not None


def _check_entries(entries: list[zipfile.ZipInfo]) -> None:
    keys = [_key(e.filename) for e in entries]
    if len(entries) > MAX_ZIP_ENTRIES:
        raise InputError(f"archive de {len(entries)} parties : ce n'est pas un classeur de suivi",
                         _HOSTILE)
    if len(set(keys)) != len(keys):
        raise InputError("archive endommagée : parties en double", _DAMAGED)
    if sum(e.file_size for e in entries) > MAX_TOTAL_BYTES:
        raise InputError("classeur trop volumineux une fois décompressé", _HOSTILE)
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > MAX_PART_BYTES or (entry.file_size > 1_048_576 and ratio > MAX_RATIO):
            raise InputError(f"partie « {entry.filename} » anormalement grande (bombe de "
                             "décompression ?)", _HOSTILE)


# Any case (an XML parser may accept <!doctype); `<!` starts the pattern so the scan stays fast.
_DTD = re.compile(rb"<!(?:[Dd][Oo][Cc][Tt][Yy][Pp][Ee]|[Ee][Nn][Tt][Ii][Tt][Yy])")
_DTD_OVERLAP = len(b"<!DOCTYPE") - 1


def _refuse_wide_encoding(start: bytes, name: str) -> None:
    """Refuse a parsed part in UTF-16 or UTF-32: the guards read ASCII-compatible XML only."""
    if start.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in start[:512]:
        raise InputError(f"partie « {name} » dans un encodage inattendu (UTF-16) : {_SAVE_AS_XLSX}",
                         _DAMAGED)


# --- small parts: where calamine finds the workbook and its sheets ---------------------------

_OFFICE_DOCUMENT = b"/relationships/officeDocument"  # transitional and Strict (purl.oclc.org) alike
_SHEET_TYPES = frozenset({"worksheet", "chartsheet", "dialogsheet"})
_RAW_TAG = re.compile(rb"<[^\s/>]+((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_RAW_ATTRIBUTE = re.compile(rb"([^\s=/>]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


def _start_tags(xml: bytes, part: str, wanted: frozenset[str]) -> list[dict[bytes, bytes]]:
    """Return the raw attributes of the start tags whose local name is wanted, in order.

    expat finds the tags (comments, CDATA and quoted '>' cannot fool it); the attributes are
    taken raw from the tag's bytes, since calamine reads some of them without unescaping.
    """
    found: list[dict[bytes, bytes]] = []
    if not xml:
        return found  # an absent part: calamine finds nothing there either
    parser = _new_parser(part)

    def start(name: str, _attributes: dict[str, str]) -> None:
        if name.rpartition(":")[2] in wanted:
            match = _RAW_TAG.match(xml, parser.CurrentByteIndex)
            if match is None:
                raise InputError(f"partie « {part} » illisible : classeur endommagé", _DAMAGED)
            found.append({key: double if double is not None else single for key, double, single
                          in _RAW_ATTRIBUTE.findall(match.group(1))})

    parser.StartElementHandler = start
    _run_parser(parser, xml, part)
    return found


def _text(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw is not None else ""


def _office_folder(relationships: bytes) -> str | None:
    """Return the folder calamine reads the workbook from (that of the last officeDocument target),
    None when there is none."""
    target = None
    for attributes in _start_tags(relationships, _ROOT_RELATIONSHIPS, frozenset({"Relationship"})):
        if attributes.get(b"Type", b"").endswith(_OFFICE_DOCUMENT) and b"Target" in attributes:
            target = html.unescape(_text(attributes[b"Target"]))
    if target is None:
        return None
    return target[:target.rfind("/") + 1].removeprefix("/") if "/" in target else ""


def _relationships(xml: bytes) -> dict[bytes, str]:
    """Map the workbook's relationship ids (raw) to the sheet targets, as calamine reads them."""
    found = {}
    for attributes in _start_tags(xml, "workbook.xml.rels", frozenset({"Relationship"})):
        kind = _text(attributes.get(b"Type")).rpartition("/")[2]
        if b"Id" in attributes and kind in _SHEET_TYPES:
            found[attributes[b"Id"]] = _text(attributes.get(b"Target"))  # not unescaped, as calamine
    return found


def _sheets(xml: bytes, part: str) -> list[tuple[str, bytes]]:
    """Return each sheet's name and relationship id, in workbook order, as calamine reads them."""
    found = []
    for attributes in _start_tags(xml, part, frozenset({"sheet"})):
        ids = [value for key, value in attributes.items() if key.rpartition(b":")[2] == b"id"]
        found.append((html.unescape(_text(attributes.get(b"name"))), ids[-1] if ids else b""))
    return found


# --- parsing the parts calamine would expand --------------------------------------------------

class _Parser:
    """An expat parser fed in chunks; its errors become a refusal naming the part."""

    def __init__(self, part: str, handlers: dict[str, Any]) -> None:
        self.part = part
        self.parser = _new_parser(part)
        self.started = False
        for name, handler in handlers.items():
            setattr(self.parser, name, handler)

    def feed(self, chunk: bytes, final: bool = False) -> None:
        self.started = True
        try:
            self.parser.Parse(chunk, final)
        except expat.ExpatError as error:
            raise InputError(f"partie « {self.part} » mal formée ({expat.errors.messages[error.code]}, "
                             f"ligne {error.lineno}) : classeur endommagé", _DAMAGED) from error

    def close(self) -> None:
        self.feed(b"", final=True)


def _new_parser(part: str) -> Any:
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_: object) -> None:
        raise InputError(f"partie « {part} » avec une déclaration DTD : refusée", _HOSTILE)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    return parser


def _run_parser(parser: Any, xml: bytes, part: str) -> None:
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as error:
        raise InputError(f"partie « {part} » mal formée ({expat.errors.messages[error.code]}) : "
                         "classeur endommagé", _DAMAGED) from error


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
            raise InputError("table de textes partagés invraisemblable (fichier malveillant ?)", _HOSTILE)

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
                                     "classeur endommagé", _DAMAGED)
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
                             "plausible (fichier malveillant ou endommagé)", _HOSTILE)
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
    letters = text.rstrip(_DIGITS)
    digits = text[len(letters):]
    column = _column(letters)
    if not digits or column == -1 or int(digits) == 0:
        raise InputError(f"référence de cellule invalide (« {text[:20]} ») dans « {part} » : classeur "
                         "endommagé", _DAMAGED)
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


class _OdsScanner(_Scanner):
    """Follow content.xml as calamine's ODS reader does, repetitions included.

    calamine reads every table when it opens the file. For each row element it keeps the
    cells up to its last valued one (each repeated cell once per repetition), then builds the
    table's grid from A1 with every repeated row, and a second grid of formulas. Text is kept
    once per repetition. Names are matched with their `table:` prefix, as calamine does.
    """

    def __init__(self, facts: PackageFacts) -> None:
        self.facts = facts
        self.in_table = self.in_row = False
        self.cell_depth = 0
        self.row = self.col = self.row_repeat = self.row_end = 0
        self.cell_repeat = self.cell_text = 0
        self.cell_valued = False
        self.last_row = self.last_col = self.kept = 0

    def start(self, entry: zipfile.ZipInfo) -> _Parser:
        return _Parser(entry.filename, {"StartElementHandler": self._start, "EndElementHandler": self._end,
                                        "CharacterDataHandler": self._text})

    def _start(self, name: str, attributes: dict[str, str]) -> None:
        if self.cell_depth:
            self._inside_cell(name, attributes)
        elif not self.in_table:
            if name == "table:table":
                self.in_table, self.row = True, 0
                self.last_row = self.last_col = self.kept = 0
        elif not self.in_row:
            if name == "table:table-row":
                self.in_row, self.col, self.row_end = True, 0, 0
                self.row_repeat = _count(attributes.get("table:number-rows-repeated"))
        elif name in _ODS_CELLS:
            self._open_cell(attributes)

    def _open_cell(self, attributes: dict[str, str]) -> None:
        self.cell_depth = 1
        self.cell_repeat = _count(attributes.get("table:number-columns-repeated"))
        self.cell_valued = any(attributes.get(name) for name in _ODS_VALUES) \
            or attributes.get("office:value-type") == "string"
        self.cell_text = sum(len(attributes.get(name, "")) for name in _ODS_TEXTS)

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
        self.col += self.cell_repeat

    def _close_row(self) -> None:
        self.in_row = False
        self.kept += self.row_end  # kept once per row element, whatever its repetition
        if self.row_end:
            self.last_row = self.row + self.row_repeat
            self.last_col = max(self.last_col, self.row_end)
        self.row += self.row_repeat
        self._check()

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
                             f"{_number(MAX_CELLS)} cellules : hors de toute plage plausible (fichier "
                             "malveillant ou endommagé)", _HOSTILE)
        if self.facts.text > MAX_TEXT_BYTES:
            raise InputError(f"classeur dont le texte, une fois lu, dépasserait {MAX_TEXT_BYTES // 2**20} "
                             "Mo (cellules répétées : fichier malveillant ?)", _HOSTILE)


_COUNT = re.compile(r"\+?[0-9]+")


def _count(value: str | None) -> int:
    """Return a repetition count as calamine reads it (1 when absent; an invalid one fails calamine)."""
    return int(value) if value is not None and _COUNT.fullmatch(value) else 1


# --- what the reader needs from small parts ---------------------------------------------------

_XML_ATTRIBUTE = re.compile(rb"([\w:.-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


def xml_attributes(text: bytes) -> dict[str, str]:
    """Return the attributes of an XML start tag's inside, names without their prefix, values unescaped."""
    return {name.decode("utf-8", "replace").rpartition(":")[2]: html.unescape((double or single).decode(
        "utf-8", "replace")) for name, double, single in _XML_ATTRIBUTE.findall(text)}


_BUILTIN_PERCENT_FORMATS = frozenset({9, 10})  # "0%" and "0.00%", never written in styles.xml
_NUMBER_FORMAT = re.compile(rb"<(?:\w+:)?numFmt\b([^>]*)>")
_CELL_FORMAT = re.compile(rb"<(?:\w+:)?xf\b([^>]*)>")
_FORMAT_ID = re.compile(rb"\bnumFmtId\s*=\s*[\"'](\d{1,9})[\"']")


@functools.lru_cache(maxsize=8)  # workbooks from one generator share their styles part
def percent_styles(xml: bytes) -> frozenset[int]:
    """Return the indexes of the cell formats (`cellXfs`) whose number format shows a percentage."""
    codes: dict[int, bool] = dict.fromkeys(_BUILTIN_PERCENT_FORMATS, True)
    for match in _NUMBER_FORMAT.finditer(_element(xml, b"numFmts")):  # not the dxfs' own numFmt
        attributes = xml_attributes(match.group(1))
        number = attributes.get("numFmtId", "")
        if number.isdigit() and len(number) < 10:
            codes[int(number)] = is_percent_format(attributes.get("formatCode", ""))
    found = set()
    for index, match in enumerate(_CELL_FORMAT.finditer(_element(xml, b"cellXfs"))):
        format_id = _FORMAT_ID.search(match.group(1))
        if format_id and codes.get(int(format_id.group(1)), False):
            found.add(index)
    return frozenset(found)


def _element(xml: bytes, tag: bytes) -> bytes:
    """Return the text from an element's start tag to its end tag, whatever its prefix (b'' if absent)."""
    start = xml.find(tag)
    end = xml.find(tag, start + len(tag)) if start >= 0 else -1
    return xml[start:end] if end > start else b""


def is_percent_format(code: str) -> bool:
    """Tell whether a number format code multiplies by 100: a % neither quoted nor escaped (\\%)."""
    quoted = escaped = False
    for char in code:
        if escaped:
            escaped = False
        elif char == "\\" and not quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "%" and not quoted:
            return True
    return False


# --- R1: walking the inputs -------------------------------------------------------------------

WORKBOOK_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xltx", ".xlsb", ".xls", ".ods"})


@dataclass(frozen=True)
class Skipped:
    """An input entry left aside, with the reason shown to the user (unless silent)."""

    path: Path
    reason: str
    silent: bool = False


def walk_inputs(paths: Sequence[Path]) -> tuple[list[Path], list[Skipped]]:
    """Expand files and folders into the workbooks to read, and the entries left aside."""
    kept: list[Path] = []
    skipped: list[Skipped] = []
    seen: set[Path] = set()
    for given in paths:
        for path in _expand(Path(given), skipped):
            identity = _identity(path)
            if identity in seen:
                skipped.append(Skipped(path, "même fichier déjà pris en compte (autre chemin ou lien)"))
                continue
            seen.add(identity)
            kept.append(path)
    return kept, skipped


def _identity(path: Path) -> Path:
    # The same file reached twice (folder + explicit name, or through a link) is read once.
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        return path.absolute()


def _expand(given: Path, skipped: list[Skipped]) -> list[Path]:
    """Return the candidate files under one command-line argument, recording what is skipped."""
    try:
        # An explicit argument is the user's own choice: a link given by name is followed.
        mode = given.stat().st_mode
    except FileNotFoundError:
        skipped.append(Skipped(given, _missing_or_broken(given)))
        return []
    except (OSError, RuntimeError) as error:
        skipped.append(Skipped(given, _unreadable_reason(error)))
        return []
    if stat.S_ISDIR(mode):
        return _walk_folder(given, skipped)
    if stat.S_ISREG(mode):
        return [given]  # explicit file: kept whatever its extension, the content decides later
    skipped.append(Skipped(given, _SPECIAL_FILE))
    return []


_SPECIAL_FILE = "pas un fichier ordinaire (tube, socket ou périphérique) : ignoré"


def _missing_or_broken(path: Path) -> str:
    if path.is_symlink():
        return "introuvable (lien symbolique brisé)"
    return "introuvable"


def _unreadable_reason(error: BaseException) -> str:
    if isinstance(error, RuntimeError) or getattr(error, "errno", None) == errno.ELOOP:
        return "boucle de liens symboliques : ignoré"
    return f"illisible ({error.__class__.__name__}) : vérifiez les droits d'accès"


def _walk_folder(folder: Path, skipped: list[Skipped]) -> list[Path]:
    """Walk a folder without following links to folders, in a sorted, repeatable order."""
    root = folder.resolve()
    found: list[Path] = []

    def report(error: OSError) -> None:
        name = Path(error.filename) if error.filename else folder
        skipped.append(Skipped(name, _unreadable_reason(error)))

    for current, dirnames, filenames in os.walk(folder, followlinks=False, onerror=report):
        here = Path(current)
        dirnames[:] = _enterable_folders(here, dirnames, skipped)
        for name in sorted(filenames):
            path = here / name
            reason = _entry_skip(path, root)
            if reason is None:
                found.append(path)
            else:
                skipped.append(reason)
    return found


def _enterable_folders(here: Path, dirnames: list[str], skipped: list[Skipped]) -> list[str]:
    """Keep the sub-folders to descend into; links to folders and hidden folders are left aside."""
    enterable = []
    for name in sorted(dirnames):
        path = here / name
        if name.startswith("."):
            skipped.append(Skipped(path, "dossier caché", silent=True))
        elif path.is_symlink():
            # os.walk lists links to folders among dirnames; following them could leave the root.
            skipped.append(Skipped(path, "lien symbolique vers un dossier : non suivi"))
        else:
            enterable.append(name)
    return enterable


def _entry_skip(path: Path, root: Path) -> Skipped | None:
    """Return why a file found in a folder is left aside, or None to keep it."""
    name = path.name
    if name.startswith("~$") or (name.startswith(".~lock.") and name.endswith("#")):
        return Skipped(path, "fichier de verrouillage", silent=True)
    if name.startswith("."):
        return Skipped(path, "fichier caché", silent=True)
    try:
        mode = path.lstat().st_mode  # lstat before anything opens it: a FIFO blocks any reader
    except OSError as error:
        return Skipped(path, _unreadable_reason(error))
    if stat.S_ISLNK(mode):
        reason = _link_skip(path, root)
        if reason is not None:
            return reason
    elif not stat.S_ISREG(mode):
        return Skipped(path, _SPECIAL_FILE)
    if path.suffix.lower() not in WORKBOOK_SUFFIXES and not _is_workbook(path):
        return Skipped(path, f"pas un classeur : {name} (ignoré)")
    return None


def _is_workbook(path: Path) -> bool:
    """Tell from its bytes whether a file without a workbook extension is a workbook all the same.

    A workbook saved without extension, or as « plan.bak », is read; a protected one only when
    it has no extension at all (an encrypted .docx looks the same).
    """
    kind = sniff_format(path).kind
    return kind in SPREADSHEET_KINDS or (kind == "encrypted" and not path.suffix)


def _link_skip(path: Path, root: Path) -> Skipped | None:
    """Keep a symbolic link only when it points to a regular file inside the input folder."""
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        return Skipped(path, "lien symbolique brisé : ignoré")
    except (OSError, RuntimeError) as error:  # Python 3.11 raises RuntimeError on a loop
        return Skipped(path, _unreadable_reason(error))
    if not target.is_relative_to(root):
        return Skipped(path, f"lien symbolique vers {target}, hors du dossier d'entrée : ignoré")
    try:
        mode = target.stat().st_mode
    except OSError as error:
        return Skipped(path, _unreadable_reason(error))
    if not stat.S_ISREG(mode):
        return Skipped(path, f"lien symbolique vers un élément qui n'est pas un fichier ordinaire : {target}")
    return None




# --- CSV (plans, organisations, territories) --------------------------------------------------

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_CSV_REFUSALS = {"empty": "fichier vide (0 octet)", "not_spreadsheet": "pas un fichier ordinaire",
                 "too_big": f"fichier de plus de {MAX_INPUT_BYTES // 2**20} Mo : ce n'est pas le bon fichier"}
_SAVE_AS_CSV = "enregistrez-le de nouveau au format « CSV UTF-8 »"


def read_csv_rows(path: Path) -> list[list[str]]:
    """Return a CSV file's rows: UTF-8 (with or without BOM), UTF-16 with BOM or Windows-1252;
    comma, semicolon or tab.

    Excel in French writes « CSV (séparateur : point-virgule) » in Windows-1252; the delimiter
    is the one the first line uses most. A field may hold up to MAX_CSV_FIELD_CHARS characters;
    anything the csv module refuses becomes an InputError naming the file and the line.
    """
    path = Path(path)
    text = _csv_text(path)
    first_line = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        with _csv_field_limit(MAX_CSV_FIELD_CHARS):
            return [list(row) for row in reader]
    except csv.Error as error:
        raise InputError(f"{path.name}, ligne {reader.line_num} : {_csv_problem(error)}") from error


def _csv_text(path: Path) -> str:
    """Return a CSV file's text; raise InputError when it is too big, binary or in no known encoding."""
    try:
        data = _read_regular(path)
    except _RefusedError as refused:
        raise InputError(f"{path.name} : {_CSV_REFUSALS.get(refused.sniffed.kind, 'illisible')}") from None
    except OSError as error:
        raise InputError(f"{path.name} : lecture impossible ({error.__class__.__name__})") from error
    try:
        text = data.decode("utf-16") if data.startswith(_UTF16_BOMS) else _decode_8bit(data)
    except UnicodeDecodeError as error:
        raise InputError(f"{path.name} : encodage non reconnu (octet {error.start + 1}) : "
                         f"{_SAVE_AS_CSV}") from error
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InputError(f"{path.name}, ligne {line} : caractère nul, ce n'est pas un fichier CSV ni un "
                         f"classeur : {_SAVE_AS_CSV}")
    return text


def _decode_8bit(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252")  # strict: bytes Windows-1252 leaves undefined are refused


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """Raise the csv module's field limit for one read, then put it back (it is process-wide)."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _csv_problem(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return (f"champ de plus de {_number(MAX_CSV_FIELD_CHARS)} caractères (guillemet non fermé ?) : "
                "corrigez cette ligne et réessayez")
    return f"ligne CSV illisible ({error}) : {_SAVE_AS_CSV}"
