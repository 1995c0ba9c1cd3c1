"""Inputs read once and their format decided from the bytes; legacy (OLE2) containers checked.

A workbook's bytes are read once (`load_input`); the sniffer, the guards and the parser all see
those same bytes. The guards (`check_zip_workbook`, `check_legacy_workbook`) bound what
python-calamine would build from them, because calamine aborts the process (no exception) when
an allocation fails: they follow the package as calamine does (same paths, same positions) and
parse each part they bound with expat, so that how a part is written cannot hide a cell.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import olefile

from camf_excel.errors import InputError
from camf_excel.limits import (
    DAMAGED,
    HOSTILE,
    MAX_CELLS,
    MAX_INPUT_BYTES,
    MAX_MARKUP,
    MAX_TEXT_BYTES,
    ODS_MIMETYPE,
    SAVE_AS_XLSX,
    french_number,
    part_key,
)
from camf_excel.package import check_zip_workbook

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
        data = read_regular(Path(path))
    except RefusedInputError as refused:
        return Loaded(b"", refused.sniffed)
    except (OSError, RuntimeError) as error:
        return Loaded(b"", Sniffed(UNOPENABLE, unopenable(error)))
    return Loaded(data, sniff_bytes(data))


# Windows' ERROR_CLOUD_FILE_* codes (358 to 404): a OneDrive or SharePoint « files on demand »
# placeholder whose content the sync client could not bring (client stopped, offline, timeout).
_CLOUD_FILE_ERRORS = range(358, 405)


UNOPENABLE = "unopenable"  # the system would not let the file be read: held open, online only, rights


def unopenable(error: BaseException) -> str:
    """Say in French why a file could not be read, and what to do (Windows' usual causes first).

    A file another program holds exclusively (a sharing violation) or a protected one gives
    PermissionError; a OneDrive placeholder that cannot be brought down gives a cloud-file
    error, or EINVAL when read (measured by others: rdiff-backup #510).
    """
    name = error.__class__.__name__
    if isinstance(error, PermissionError):
        return ("fichier ouvert dans un autre programme qui en bloque la lecture, ou accès refusé : "
                f"fermez-le (Excel ?) ou vérifiez vos droits, puis relancez ({name})")
    cloud = getattr(error, "winerror", None) in _CLOUD_FILE_ERRORS
    if cloud or getattr(error, "errno", None) == errno.EINVAL:
        return ("fichier OneDrive ou SharePoint disponible en ligne seulement, qui n'a pas pu être "
                "téléchargé : vérifiez que OneDrive est lancé et connecté, choisissez « Toujours "
                f"conserver sur cet appareil » pour ce dossier, puis relancez ({name})")
    return f"{MESSAGES['damaged']} (lecture impossible : {name})"


class RefusedInputError(Exception):
    """A file refused before its bytes are read (special, empty, too big)."""

    def __init__(self, sniffed: Sniffed) -> None:
        super().__init__(sniffed.kind)
        self.sniffed = sniffed


def read_regular(path: Path) -> bytes:
    """Return a regular file's bytes; a FIFO or device is never waited on."""
    # O_NONBLOCK: opening a FIFO swapped in after a check must not block; no effect on files.
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    with os.fdopen(descriptor, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise RefusedInputError(_sniffed("not_spreadsheet", "pas un fichier ordinaire"))
        if info.st_size > MAX_INPUT_BYTES:
            raise RefusedInputError(_sniffed("too_big"))
        data = stream.read(MAX_INPUT_BYTES + 1)  # the file may grow meanwhile: the read is capped too
    if not data:
        raise RefusedInputError(_sniffed("empty"))
    if len(data) > MAX_INPUT_BYTES:
        raise RefusedInputError(_sniffed("too_big"))
    return data


# --- R2: deciding the format from the bytes ---------------------------------------------------

_SNIFF_HEAD_BYTES = 64 * 1024
_MAX_MANIFEST_BYTES = 1024 * 1024  # [Content_Types].xml is a few KB; more is not a workbook
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
# Excel 2.1-4.0 wrote a bare BIFF stream, no OLE2 container: it starts with a BOF record.
_BARE_BIFF_BOF = frozenset({b"\x09\x00", b"\x09\x02", b"\x09\x04"})

MESSAGES: dict[str, str | None] = {
    "xlsx": None,
    "ods": None,
    "xlsm": "classeur avec macros (.xlsm) : les macros ne sont jamais exécutées ; "
            f"pour garder les listes et les formules, {SAVE_AS_XLSX}",
    "xltx": f"modèle Excel (.xltx) plutôt que classeur : {SAVE_AS_XLSX}",
    "xlsb": f"classeur binaire Excel (.xlsb) : {SAVE_AS_XLSX}",
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
        return Sniffed(UNOPENABLE, unopenable(error))
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
    return {part_key(name): name for name in archive.namelist()}


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
    if _read_capped(archive, members["mimetype"]).strip() != ODS_MIMETYPE:
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
            raise InputError("feuille annoncée hors du classeur : classeur endommagé", DAMAGED)
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
                         DAMAGED) from error
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
            raise InputError(f"classeur .xls de plus de {french_number(MAX_MARKUP)} enregistrements (fichier "
                             "malveillant ?)", HOSTILE)
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
                             "plage plausible (fichier malveillant ou endommagé)", HOSTILE)

    def check(self) -> None:
        if self.cells > MAX_CELLS:
            raise InputError("feuilles .xls hors de toute plage plausible (fichier malveillant ou endommagé)",
                             HOSTILE)
        if self.text > MAX_TEXT_BYTES:
            raise InputError(f"classeur dont le texte, une fois lu, dépasserait {MAX_TEXT_BYTES // 2**20} Mo "
                             "(textes partagés répétés : fichier malveillant ?)", HOSTILE)


