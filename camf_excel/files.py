"""Inputs: safe walks of input folders, formats sniffed from bytes, package guards before any parser."""

from __future__ import annotations

import csv
import errno
import functools
import html
import io
import os
import posixpath
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from camf_excel.errors import InputError

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
# XML allows either quote around an attribute, and spaces around "=": so do calamine and the guard.
_SST_COUNT = re.compile(rb"<(?:\w+:)?sst\b[^>]*?\buniqueCount\s*=\s*[\"'](\d+)[\"']")
_NS = rb"(?:\w+:)?"
# Cells holding something (not self-closing): styled empty cells do not widen calamine's range.
# One pass finds them all, with their other attributes and, when the cell is a formula (shared
# ones are a bare <f t="shared" si="0"/>) followed by no value or an empty one, its closing tag.
_VALUED_CELL = re.compile(
    rb"<" + _NS + rb"c\b([^>]*?\br\s*=\s*[\"']([A-Z]{1,3})(\d+)[\"'][^>]*)(?<!/)>"
    rb"(?:\s*<" + _NS + rb"f\b(?:[^>]*/>|[^>]*>[^<]*</" + _NS + rb"f\s*>)\s*"
    rb"(?:<" + _NS + rb"v\s*/>|<" + _NS + rb"v\s*>\s*</" + _NS + rb"v\s*>)?\s*(</" + _NS + rb"c\s*>))?")
ValuedCell = tuple[bytes, bytes, bytes, bytes]  # attributes, column letters, row digits, no value
CellRef = tuple[bytes, bytes]  # column letters, row digits: b"H", b"12"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")


def is_encrypted_office_file(head: bytes) -> bool:
    """Tell whether an OLE2 container holds an encrypted Office document (password-protected)."""
    return _ENCRYPTED_STREAM in head


@dataclass
class PackageFacts:
    """What the guard learnt while reading an OOXML package, so the reader need not read it again.

    `sheet_parts` maps sheet names to worksheet parts; `checked` lists the worksheet parts read
    in full (cell area bounded, CRC-32 verified); `error_cells` maps such a part to its cells
    holding an Excel error (calamine reads them as ''), `percent_cells` to the references
    (column letters, row digits) of its valued cells shown as a percentage (calamine gives 1 for
    « 100 % »), `uncached_cells` to those of its formulas saved without a value (calamine gives '');
    `percent_styles` are the cell formats (`s`) showing a percentage; `parts` keeps the small
    parts that say where the sheets are and name the template.
    """

    path: Path
    workbook_part: str = "xl/workbook.xml"  # where `_rels/.rels` puts it (SheetJS may write wtf/…)
    sheet_parts: dict[str, str] = field(default_factory=dict)
    checked: set[str] = field(default_factory=set)
    error_cells: dict[str, dict[str, str]] = field(default_factory=dict)
    percent_cells: dict[str, list[CellRef]] = field(default_factory=dict)
    uncached_cells: dict[str, list[CellRef]] = field(default_factory=dict)
    styles_part: str = ""
    percent_styles: frozenset[int] = frozenset()
    parts: dict[str, bytes] = field(default_factory=dict)


_DAMAGED, _HOSTILE = "FICHIER_ENDOMMAGE", "FICHIER_DANGEREUX"
_ROOT_RELATIONSHIPS, _CUSTOM_PROPERTIES = "_rels/.rels", "docprops/custom.xml"
_MAX_KEPT_PART = 1024 * 1024
_ERROR_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*\bt\s*=\s*[\"']e[\"'][^>]*)>(.*?)</(?:\w+:)?c>", re.S)
_ERROR_HINT = re.compile(rb"t=[\"']e[\"']")  # a literal start: scanned quickly
_REF = re.compile(rb"\br\s*=\s*[\"']([A-Z]{1,3}\d+)[\"']")
_CACHED = re.compile(rb"<(?:\w+:)?v>([^<]*)</")
# The parts a parser (calamine, ElementTree) will read; charts, themes and drawings are never parsed.
_PARSED_PART = re.compile(r"^(?:\[content_types\]\.xml|_rels/\.rels|content\.xml|meta\.xml|styles\.xml|"
                          r"xl/(?:workbook\.xml|_rels/[^/]*|sharedstrings\.xml|styles\.xml|"
                          r"worksheets/(?:_rels/)?[^/]*|tables/[^/]*))$")
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, zlib.error, KeyError)


def check_zip_workbook(path: Path, wanted: Callable[[str], bool] | None = None) -> PackageFacts:
    """Refuse, before any parser sees it, a zip that is a bomb or that would make calamine abort.

    python-calamine trusts the archive: a 4 KB file declaring four billion shared strings, or
    one cell at XFD1048576, makes it allocate until the process aborts (no exception). The
    checks read the central directory, the start of every XML part, and in full the worksheets
    of the sheets `wanted` names (all when None); `check_sheet` checks another one later.
    """
    facts = PackageFacts(Path(path))
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            _check_entries(entries)
            # First the parts that say where the workbook, its sheets and its styles are.
            _keep_parts(archive, entries, facts, {_ROOT_RELATIONSHIPS})
            facts.workbook_part = office_document(facts.parts)
            kept = {_ROOT_RELATIONSHIPS, facts.workbook_part, relationships_part(facts.workbook_part),
                    _CUSTOM_PROPERTIES}
            _keep_parts(archive, entries, facts, kept - {_ROOT_RELATIONSHIPS})
            facts.sheet_parts, facts.styles_part = workbook_parts(facts.parts, facts.workbook_part)
            deep = {part for name, part in facts.sheet_parts.items() if wanted is None or wanted(name)}
            folder = facts.workbook_part.rpartition("/")[0]
            parsed = [e for e in entries if _normal(e.filename) not in kept
                      and (_PARSED_PART.match(_as_in_xl(_normal(e.filename), folder))
                           or _normal(e.filename) == facts.styles_part)]
            # The styles first: the worksheets' scan needs to know which formats show a percentage.
            parsed.sort(key=lambda e: _normal(e.filename) != facts.styles_part)
            for entry in parsed:
                in_wanted = wanted is None or _normal(entry.filename) in deep
                _check_part(archive, entry, facts, deep=in_wanted)
    except _ZIP_ERRORS as error:
        raise InputError(f"archive endommagée ou tronquée ({error})", _DAMAGED) from error
    return facts


def check_sheet(facts: PackageFacts, name: str) -> None:
    """Check in full the worksheet of one more sheet before a parser reads it (no-op if done)."""
    part = facts.sheet_parts.get(name)
    if not part or part in facts.checked:
        return
    try:
        with zipfile.ZipFile(facts.path) as archive:
            entry = next((e for e in archive.infolist() if _normal(e.filename) == part), None)
            if entry is not None:
                _check_part(archive, entry, facts, deep=True)
    except _ZIP_ERRORS as error:
        raise InputError(f"archive endommagée ou tronquée ({error})", _DAMAGED) from error


def _normal(name: str) -> str:
    return name.replace("\\", "/").lower()


def _as_in_xl(name: str, folder: str) -> str:
    """Name a part as if the workbook lived in xl/, as most do: the same parts are checked."""
    return f"xl/{name[len(folder) + 1:]}" if folder and name.startswith(f"{folder}/") else name


def _keep_parts(archive: zipfile.ZipFile, entries: list[zipfile.ZipInfo], facts: PackageFacts,
                names: set[str]) -> None:
    for entry in entries:
        if _normal(entry.filename) in names:
            _check_part(archive, entry, facts, deep=False, keep=True)


def _check_entries(entries: list[zipfile.ZipInfo]) -> None:
    names = [e.filename for e in entries]
    if len(entries) > MAX_ZIP_ENTRIES:
        raise InputError(f"archive de {len(entries)} parties : ce n'est pas un classeur de suivi",
                         _HOSTILE)
    if len(set(names)) != len(names):
        raise InputError("archive endommagée : parties en double", _DAMAGED)
    if sum(e.file_size for e in entries) > MAX_TOTAL_BYTES:
        raise InputError("classeur trop volumineux une fois décompressé", _HOSTILE)
    for entry in entries:
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > MAX_PART_BYTES or (entry.file_size > 1_048_576 and ratio > MAX_RATIO):
            raise InputError(f"partie « {entry.filename} » anormalement grande (bombe de "
                             "décompression ?)", _HOSTILE)


def _check_part(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, facts: PackageFacts, deep: bool,
                keep: bool = False) -> None:
    with archive.open(entry) as stream:
        head = stream.read(_HEAD_BYTES)
        if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
            raise InputError(f"partie « {entry.filename} » avec une déclaration DTD : refusée", _HOSTILE)
        match = _SST_COUNT.search(head)
        if match and int(match.group(1)) > min(MAX_SHARED_STRINGS,
                                               entry.file_size // MIN_SHARED_STRING_BYTES + 1):
            raise InputError("table de textes partagés invraisemblable (fichier malveillant ?)",
                             _HOSTILE)
        name = _normal(entry.filename)
        if "/worksheets/" in name and deep:
            xml = head + stream.read()
            cells = _VALUED_CELL.findall(xml)
            _check_cell_area(cells)
            facts.checked.add(name)
            _collect_cell_facts(xml, cells, name, facts)
        elif keep and entry.file_size <= _MAX_KEPT_PART:
            facts.parts[name] = head + stream.read()
        elif name == facts.styles_part and entry.file_size <= _MAX_KEPT_PART:
            facts.percent_styles = percent_styles(head + stream.read())
        elif name.endswith("sharedstrings.xml"):
            stream.read()  # read to the end so that zipfile checks the CRC-32, as for sheets


_SHEET_ELEMENT = re.compile(rb"<(?:\w+:)?sheet\b([^>]*)/?>")
_RELATIONSHIP = re.compile(rb"<(?:\w+:)?Relationship\b([^>]*)/?>")
_XML_ATTRIBUTE = re.compile(rb"([\w:.-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


def xml_attributes(text: bytes) -> dict[str, str]:
    """Return the attributes of an XML start tag's inside, names without their prefix, values unescaped."""
    return {name.decode("utf-8", "replace").rpartition(":")[2]: html.unescape((double or single).decode(
        "utf-8", "replace")) for name, double, single in _XML_ATTRIBUTE.findall(text)}


def office_document(parts: dict[str, bytes]) -> str:
    """Return the workbook part `_rels/.rels` names (normalised path), xl/workbook.xml by default."""
    for match in _RELATIONSHIP.finditer(parts.get(_ROOT_RELATIONSHIPS, b"")):
        attributes = xml_attributes(match.group(1))
        if attributes.get("Type", "").endswith("/officeDocument"):
            return _resolve("", attributes.get("Target", "")) or "xl/workbook.xml"
    return "xl/workbook.xml"


def relationships_part(part: str) -> str:
    """Return the relationships part of a part: xl/workbook.xml → xl/_rels/workbook.xml.rels."""
    folder, _, name = part.rpartition("/")
    return f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"


def _resolve(folder: str, target: str) -> str:
    """Return a relationship's target as a normalised part name, relative to the source's folder."""
    target = target.replace("\\", "/")
    path = target.lstrip("/") if target.startswith("/") else f"{folder}/{target}" if folder else target
    return posixpath.normpath(path).lower().lstrip("/") if path else ""


def _targets(parts: dict[str, bytes], workbook: str) -> dict[str, tuple[str, str]]:
    """Map the workbook's relationship ids to (type, part)."""
    folder = workbook.rpartition("/")[0]
    found = {}
    for match in _RELATIONSHIP.finditer(parts.get(relationships_part(workbook), b"")):
        attributes = xml_attributes(match.group(1))
        found[attributes.get("Id", "")] = (attributes.get("Type", ""),
                                           _resolve(folder, attributes.get("Target", "")))
    return found


def workbook_parts(parts: dict[str, bytes], workbook: str = "xl/workbook.xml") -> tuple[dict[str, str], str]:
    """Return the worksheet part of each sheet name, and the styles part ('' if none), as normalised paths."""
    targets = _targets(parts, workbook)
    sheets = {}
    for match in _SHEET_ELEMENT.finditer(parts.get(workbook, b"")):
        attributes = xml_attributes(match.group(1))
        sheets[attributes.get("name", "")] = targets.get(attributes.get("id", ""), ("", ""))[1]
    styles = next((part for kind, part in targets.values() if kind.endswith("/styles")), "")
    return sheets, styles


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


def _error_cells(xml: bytes) -> dict[str, str]:
    """Map the reference of each cell holding an Excel error to the error's text (#REF!…)."""
    found = {}
    for match in _ERROR_CELL.finditer(xml):
        ref, cached = _REF.search(match.group(1)), _CACHED.search(match.group(2))
        if ref:
            found[ref.group(1).decode()] = cached.group(1).decode("utf-8", "replace") if cached else "#ERREUR"
    return found


def _collect_cell_facts(xml: bytes, cells: list[ValuedCell], part: str, facts: PackageFacts) -> None:
    """Note a checked sheet's error cells, percentage cells and formulas without a value."""
    # The valued cells' attributes, joined: a tenth of the sheet to search for hints.
    attributes = b"\n".join(cell[0] for cell in cells)
    if _ERROR_HINT.search(attributes):
        facts.error_cells[part] = _error_cells(xml)
    if facts.percent_styles and _percent_hint(facts.percent_styles).search(attributes):
        needles = _percent_needles(facts.percent_styles)
        found = [(letters, digits) for attributes, letters, digits, _ in cells
                 if any(needle in attributes for needle in needles)]
        if found:
            facts.percent_cells[part] = found
    uncached = [cell for cell in cells if cell[3]]
    # Excel writes a formula computed to "" as t="str" with an empty value: that one is cached.
    # (No other attribute of a cell holds "str": t="inlineStr" has a capital S.) One test for all.
    if uncached and b"str" in b" ".join(cell[0] for cell in uncached):
        uncached = [cell for cell in uncached if b"str" not in cell[0]]
    if uncached:
        facts.uncached_cells[part] = [(letters, digits) for _, letters, digits, _ in uncached]




@functools.lru_cache(maxsize=64)
def _percent_hint(styles: frozenset[int]) -> re.Pattern[bytes]:
    """Return a fast pattern telling whether a sheet may use one of styles (s="9", s='9')."""
    numbers = b"|".join(str(number).encode() for number in sorted(styles))
    return re.compile(rb"s=[\"'](?:" + numbers + rb")[\"']")  # a literal start: scanned quickly


@functools.lru_cache(maxsize=64)
def _percent_needles(styles: frozenset[int]) -> tuple[bytes, ...]:
    # A cell's attributes are r, s, t, cm, vm, ph: no other one ends in "s".
    return tuple(f"s={quote}{number}{quote}".encode() for number in sorted(styles) for quote in "\"'")


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _check_cell_area(cells: list[ValuedCell]) -> None:
    if not cells:
        return
    # Few distinct column letters and row numbers: convert those, not every cell.
    columns = [_column_number(letters) for letters in {cell[1] for cell in cells}]
    rows = [int(number) for number in {cell[2] for cell in cells}]
    width, height = max(columns) - min(columns) + 1, max(rows) - min(rows) + 1
    if width * height > MAX_CELLS:
        raise InputError(f"feuille de {height} lignes sur {width} colonnes : hors de toute plage "
                         "plausible (fichier malveillant ou endommagé)", _HOSTILE)


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
    if path.suffix.lower() not in WORKBOOK_SUFFIXES:
        return Skipped(path, f"pas un classeur : {name} (ignoré)")
    return None


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


# --- R2: deciding the format from the bytes ---------------------------------------------------

MAX_INPUT_BYTES = 20 * 1024 * 1024
_SNIFF_HEAD_BYTES = 64 * 1024
_MAX_MANIFEST_BYTES = 1024 * 1024  # [Content_Types].xml is a few KB; more is not a workbook
_OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
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


@dataclass(frozen=True)
class Sniffed:
    """The format found in a file's bytes, with what to tell the user (None when all is well)."""

    kind: str
    message: str | None
    # Plain text (no NUL byte, not PDF, HTML or XML): a CSV to callers that accept one.
    text: bool = False


def _sniffed(kind: str, detail: str | None = None) -> Sniffed:
    message = MESSAGES[kind]
    if detail and message:
        message = f"{message} ({detail})"
    return Sniffed(kind, message, text=detail == _TEXT_FILE)


def sniff_format(path: Path) -> Sniffed:
    """Decide a file's format from its bytes, never from its name; never raises."""
    try:
        return _sniff(Path(path))
    except (OSError, RuntimeError) as error:
        return _sniffed("damaged", f"lecture impossible : {error.__class__.__name__}")
    except Exception as error:  # a sniffer must never stop the batch: the file is reported
        return _sniffed("damaged", error.__class__.__name__)


def _sniff(path: Path) -> Sniffed:
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        # Opening a FIFO would block forever; a folder or device is no workbook either.
        return _sniffed("not_spreadsheet", "pas un fichier ordinaire")
    if info.st_size == 0:
        return _sniffed("empty")
    if info.st_size > MAX_INPUT_BYTES:
        return _sniffed("too_big")
    with path.open("rb") as stream:
        head = stream.read(_SNIFF_HEAD_BYTES)
    if head.startswith(b"PK"):
        return _sniff_zip(path)
    if head.startswith(_OLE2_MAGIC):
        return _sniffed("encrypted" if is_encrypted_office_file(head) else "xls")
    if head[:2] in _BARE_BIFF_BOF and head[3:4] == b"\x00":
        return _sniffed("xls", "Excel 2.1 à 4.0")
    return _sniffed("not_spreadsheet", _describe_other(head))


_TEXT_FILE = "fichier texte, CSV par exemple"


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


def _sniff_zip(path: Path) -> Sniffed:
    """Tell which kind of zip a file is: OOXML spreadsheet, OpenDocument, something else, damaged."""
    try:
        with zipfile.ZipFile(path) as archive:
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
            KeyError, zlib.error) as error:
        return _sniffed("damaged", f"archive illisible : {error.__class__.__name__}")


def _normalised_members(archive: zipfile.ZipFile) -> dict[str, str]:
    """Map lower-case, forward-slash member names to the stored ones.

    Some generators write `xl\\styles.xml` or `[content_types].xml` (poi 49609.xlsx), which
    calamine still reads: the sniffer must not call them foreign.
    """
    return {name.replace("\\", "/").lower(): name for name in archive.namelist()}


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
        return _sniffed("not_spreadsheet", "document Office qui n'est pas un classeur (Word, PowerPoint…)")
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


def read_csv_rows(path: Path) -> list[list[str]]:
    """Return a CSV file's rows: UTF-8 (with or without BOM) or Windows-1252, comma, semicolon or tab.

    Excel in French writes « CSV (séparateur : point-virgule) » in Windows-1252; the delimiter
    is the one the first line uses most.
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    if "\x00" in text:
        raise InputError("ce n'est pas un fichier CSV ni un classeur")
    first_line = text.split("\n", 1)[0]
    delimiter = max(";,\t", key=first_line.count)
    return [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
