"""File-system safety: atomic, non-clobbering writes."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import zipfile
from pathlib import Path

from camf_excel.errors import InputError, OutputExistsError


def refuse_existing(path: Path, force: bool) -> None:
    """Raise OutputExistsError when path exists and --force was not given."""
    if path.exists() and not force:
        raise OutputExistsError(f"Le fichier de sortie existe déjà : {path}. "
                                "Utilisez --force pour le remplacer.")


def refuse_input_as_output(output: Path, inputs: list[Path]) -> None:
    """Raise InputError when the output path is, or resolves to, one of the inputs."""
    for source in inputs:
        if output.exists() and source.exists() and output.samefile(source):
            raise InputError(f"La sortie {output} est aussi un fichier d'entrée : "
                             "choisissez un autre nom, l'entrée n'est jamais écrasée.")


def write_atomically(path: Path, data: bytes, force: bool = False) -> Path:
    """Write data to path through a temporary file in the same folder; a crash leaves no half file.

    Without force, an existing file is never replaced (the final step is a hard link, which
    fails if the name was taken meanwhile); with force it is replaced in one rename.
    """
    refuse_existing(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".camf-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if force:
            Path(temporary).replace(path)
        else:
            _link_without_clobbering(Path(temporary), path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(temporary).unlink()
    _fsync_directory(path.parent)
    return path


def _link_without_clobbering(temporary: Path, path: Path) -> None:
    try:
        os.link(temporary, path)
    except FileExistsError as error:
        raise OutputExistsError(f"Le fichier de sortie existe déjà : {path}. "
                                "Utilisez --force pour le remplacer.") from error
    except PermissionError as error:
        raise InputError(f"Impossible d'écrire {path} : fichier ouvert dans un autre programme "
                         "ou dossier protégé. Fermez-le puis recommencez.") from error
    except OSError:
        # File systems without hard links (some network shares): exclusive create instead.
        with path.open("xb") as target:
            target.write(temporary.read_bytes())


def _fsync_directory(folder: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


MAX_ZIP_ENTRIES = 2_000
MAX_PART_BYTES = 100 * 1024 * 1024
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_RATIO = 100  # declared size / compressed size, for parts above 1 MB
MAX_SHARED_STRINGS = 1_000_000
MIN_SHARED_STRING_BYTES = 13  # "<si><t/></si>": a table cannot hold more than size / 13 strings
# calamine allocates rows x columns of the used range, whatever lies in between: a cell at A1
# and one at XFD1048576 ask for 17 billion cells. 20 million cells (~0.6 GB) is far beyond any
# real workbook (the tallest in the corpus: 140,151 rows x 2 columns).
MAX_CELLS = 20_000_000
_HEAD_BYTES = 4096
_SST_COUNT = re.compile(rb"<(?:\w+:)?sst\b[^>]*?\buniqueCount=\"(\d+)\"")
# Cells holding something (not self-closing): styled empty cells do not widen calamine's range.
_CELL_REF = re.compile(rb"<(?:\w+:)?c\b[^>]*?\br=\"([A-Z]{1,3})(\d+)\"[^>]*(?<!/)>")
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")


def is_encrypted_office_file(head: bytes) -> bool:
    """Tell whether an OLE2 container holds an encrypted Office document (password-protected)."""
    return _ENCRYPTED_STREAM in head


def check_zip_workbook(path: Path) -> None:
    """Refuse, before any parser sees it, a zip that is a bomb or that would make calamine abort.

    python-calamine trusts the archive: a 4 KB file declaring four billion shared strings, or
    one cell at XFD1048576, makes it allocate until the process aborts (no exception). The
    checks read the central directory and the start of a few parts only.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            _check_entries(entries)
            for entry in entries:
                if entry.filename.endswith((".xml", ".rels")):
                    _check_part(archive, entry)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
        raise InputError(f"archive endommagée ou tronquée ({error})") from error


def _check_entries(entries: list[zipfile.ZipInfo]) -> None:
    names = [e.filename for e in entries]
    if len(entries) > MAX_ZIP_ENTRIES:
        raise InputError(f"archive de {len(entries)} parties : ce n'est pas un classeur de suivi")
    if len(set(names)) != len(names):
        raise InputError("archive endommagée : parties en double")
    if sum(e.file_size for e in entries) > MAX_TOTAL_BYTES:
        raise InputError("classeur trop volumineux une fois décompressé")
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > MAX_PART_BYTES or (entry.file_size > 1_048_576 and ratio > MAX_RATIO):
            raise InputError(f"partie « {entry.filename} » anormalement grande (bombe de décompression ?)")


def _check_part(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> None:
    with archive.open(entry) as stream:
        head = stream.read(_HEAD_BYTES)
        if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
            raise InputError(f"partie « {entry.filename} » avec une déclaration DTD : refusée")
        match = _SST_COUNT.search(head)
        if match and int(match.group(1)) > min(MAX_SHARED_STRINGS,
                                               entry.file_size // MIN_SHARED_STRING_BYTES + 1):
            raise InputError("table de textes partagés invraisemblable (fichier malveillant ?)")
        if "/worksheets/" in entry.filename or entry.filename.endswith("sharedStrings.xml"):
            rest = stream.read()  # read to the end so that zipfile checks the CRC-32
            if "/worksheets/" in entry.filename:
                _check_cell_references(head + rest)


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _check_cell_references(xml: bytes) -> None:
    rows = [int(m.group(2)) for m in _CELL_REF.finditer(xml)]
    columns = {m.group(1) for m in _CELL_REF.finditer(xml)}
    if not rows:
        return
    width = max(map(_column_number, columns)) - min(map(_column_number, columns)) + 1
    height = max(rows) - min(rows) + 1
    if width * height > MAX_CELLS:
        raise InputError(f"feuille de {height} lignes sur {width} colonnes : hors de toute plage "
                         "plausible (fichier malveillant ou endommagé)")
