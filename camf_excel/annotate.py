"""Annotated copy of a received workbook: each cell named by an issue gets a fill and a note.

The copy is made by editing the package's XML parts as text (styles, the sheets concerned,
their relationships, comments and VML drawings, [Content_Types].xml); every other part is
copied unchanged. Re-saving with openpyxl would drop the dashboard chart and more, and a
full XML round trip would rewrite namespaces and extensions Excel cares about.
"""

from __future__ import annotations

import bisect
import io
import itertools
import posixpath
import re
import time
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from camf_excel.errors import InputError
from camf_excel.files import check_zip_workbook, sniff_format
from camf_excel.model import ERROR, WARNING, Issue
from camf_excel.outputs import refuse_existing, write_atomically

AUTHOR = "camf-excel"
FILL_COLOURS: dict[str, str] = {ERROR: "FFFFC7CE", WARNING: "FFFFEB9C"}  # Excel's "bad" and "neutral" fills
LINE_PREFIXES = {ERROR: "Erreur : ", WARNING: "Avertissement : "}
ANNOTATED_KINDS = frozenset({"xlsx", "xlsm"})

_DAMAGED = "FICHIER_ENDOMMAGE"
# (SpreadsheetML, relationships) namespaces: new parts speak the package's own dialect.
_TRANSITIONAL = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                 "http://schemas.openxmlformats.org/officeDocument/2006/relationships")
_STRICT = ("http://purl.oclc.org/ooxml/spreadsheetml/main",
           "http://purl.oclc.org/ooxml/officeDocument/relationships")
_COMMENTS_CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
_VML_CONTENT = "application/vnd.openxmlformats-officedocument.vmlDrawing"
_STYLES_CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAX_ROW, _MAX_COLUMN = 1_048_576, 16_384

# An attribute value may hold a literal ">": a tag ends at the first ">" outside quotes.
_ATTRS = r"""(?:[^>"'/]|/(?!>)|"[^"]*"|'[^']*')*"""
_TOKEN = re.compile(rf"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<[?!].*?>|<(/?)([\w.:-]+)({_ATTRS})(/?)>", re.S)
_CELL_REF = re.compile(r"\$?([A-Za-z]{1,3})\$?(\d{1,7})")
# XML 1.0 forbids C0 controls but tab and newline, lone surrogates and U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def annotate_workbook(source: Path, target: Path, issues: Sequence[Issue], force: bool = False) -> Path:
    """Write to target a copy of source whose cells named by issues are highlighted and noted.

    Issues without a cell, or naming a sheet the workbook lacks, are left to the caller's
    report. The source is never written; target is written atomically, never over an
    existing file without force.
    """
    source, target = Path(source), Path(target)
    _refuse_same_file(source, target)
    _refuse_other_formats(source)
    check_zip_workbook(source)
    refuse_existing(target, force)
    package = _Package(source)
    book = _read_workbook(package)
    notes = _notes_by_sheet(book, issues)
    if notes:
        annotator = _Annotator(package, book, _Styles(package, book), _ShapeIds(package))
        for part, sheet_notes in notes.items():
            annotator.sheet(part, sheet_notes)
        annotator.styles.save()
    return write_atomically(target, package.to_bytes(), force)


def _refuse_same_file(source: Path, target: Path) -> None:
    same = target.resolve() == source.resolve()
    if not same and target.exists() and source.exists():
        same = target.samefile(source)  # a hard link is the same file under another name
    if same:
        raise InputError(f"La copie annotée {target} serait le classeur reçu lui-même : choisissez "
                         "un autre nom, le classeur reçu n'est jamais modifié.")


_OTHER_FORMATS = {"ods": "un classeur OpenDocument (.ods)", "xls": "un ancien classeur Excel (.xls)",
                  "xlsb": "un classeur binaire Excel (.xlsb)", "xltx": "un modèle Excel (.xltx)"}


def _refuse_other_formats(source: Path) -> None:
    """Refuse, from its bytes, a source that is not an .xlsx (or .xlsm) package."""
    sniffed = sniff_format(source)
    if sniffed.kind in ANNOTATED_KINDS:
        return
    if sniffed.kind in _OTHER_FORMATS:
        raise InputError(f"La copie annotée n'est offerte que pour les classeurs .xlsx : {source.name} est "
                         f"{_OTHER_FORMATS[sniffed.kind]}. Ouvrez-le et enregistrez-le au format .xlsx, "
                         "puis relancez la validation.")
    raise InputError(f"Copie annotée impossible pour {source.name} (seuls les classeurs .xlsx sont "
                     f"annotés) : {sniffed.message or 'format non reconnu'}.")


# --- the package -------------------------------------------------------------------------------

class _Package:
    """The parts of an OOXML zip by name; a part never put back keeps its bytes."""

    def __init__(self, source: Path) -> None:
        try:
            with zipfile.ZipFile(source) as archive:
                self.entries = archive.infolist()
                self.data = {entry.filename: archive.read(entry) for entry in self.entries}
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, ValueError,
                zlib.error) as error:
            raise InputError(f"archive illisible ({error})", _DAMAGED) from error
        # Some generators write `xl\styles.xml` or odd case; names are matched loosely.
        self.names = {_normalise(name): name for name in self.data}
        self.added: list[str] = []

    def get(self, part: str) -> bytes | None:
        """Return a part's bytes, or None when the package lacks it."""
        name = self.names.get(_normalise(part))
        return None if name is None else self.data[name]

    def text(self, part: str) -> str:
        """Return a UTF-8 XML part as text; the same text encodes back to the same bytes."""
        try:
            return (self.get(part) or b"").decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(f"partie « {part} » dans un encodage non pris en charge", _DAMAGED) from error

    def put(self, part: str, data: str | bytes) -> None:
        """Replace a part, or add it when new."""
        name = self.names.get(_normalise(part))
        if name is None:
            name = part
            self.names[_normalise(part)] = name
            self.added.append(name)
        self.data[name] = data.encode("utf-8") if isinstance(data, str) else data

    def unused(self, pattern: str) -> str:
        """Return the first free part name `pattern.format(n)`, n = 1, 2…"""
        number = 1
        while _normalise(pattern.format(number)) in self.names:
            number += 1
        return pattern.format(number)

    def parts_ending(self, suffix: str) -> list[str]:
        """Return the stored names ending with suffix (case-insensitive)."""
        return [name for key, name in self.names.items() if key.endswith(suffix)]

    def to_bytes(self) -> bytes:
        """Return the zip: the original entries in their order, then the new parts."""
        stream = io.BytesIO()
        now = time.localtime()[:6]
        with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
            for entry in self.entries:
                info = zipfile.ZipInfo(entry.filename, entry.date_time)
                info.compress_type = (entry.compress_type if entry.compress_type == zipfile.ZIP_STORED
                                      else zipfile.ZIP_DEFLATED)
                info.external_attr = entry.external_attr
                archive.writestr(info, self.data[entry.filename])
            for name in self.added:
                info = zipfile.ZipInfo(name, now)
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, self.data[name])
        return stream.getvalue()


def _normalise(name: str) -> str:
    return name.replace("\\", "/").lstrip("/").lower()


def _parse(package: _Package, part: str) -> Element | None:
    data = package.get(part)
    if data is None:
        return None
    try:
        return fromstring(data)
    except (ParseError, DefusedXmlException) as error:
        raise InputError(f"partie « {part} » illisible ({error})", _DAMAGED) from error


def _local(name: str) -> str:
    return name.rpartition("}")[2].rpartition(":")[2]


@dataclass(frozen=True)
class _Relationship:
    """One relationship of a part: its type and the part it points to (resolved)."""

    id: str
    type: str
    target: str
    external: bool


def _rels_part(part: str) -> str:
    folder, _, name = part.replace("\\", "/").lstrip("/").rpartition("/")
    return f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"


def _relationships(package: _Package, part: str) -> dict[str, _Relationship]:
    """Return a part's relationships by id, targets resolved against the part's folder."""
    root = _parse(package, _rels_part(part))
    found: dict[str, _Relationship] = {}
    folder = posixpath.dirname(part.replace("\\", "/").lstrip("/"))
    for element in root.iter() if root is not None else ():
        if _local(element.tag) != "Relationship":
            continue
        target = unquote(element.get("Target", "")).replace("\\", "/")
        external = element.get("TargetMode", "") == "External"
        if not external:
            target = posixpath.normpath(target.lstrip("/") if target.startswith("/")
                                        else posixpath.join(folder, target))
        found[element.get("Id", "")] = _Relationship(element.get("Id", ""), element.get("Type", ""),
                                                     target, external)
    return found


def _workbook_part(package: _Package) -> str:
    for relation in _relationships(package, "").values():
        if relation.type.endswith("/officeDocument") and package.get(relation.target) is not None:
            return relation.target
    return "xl/workbook.xml"


@dataclass(frozen=True)
class _Workbook:
    """The workbook part, its worksheets by name, and the namespaces the package uses."""

    part: str
    sheets: dict[str, str]
    namespaces: tuple[str, str] = _TRANSITIONAL

    @property
    def main(self) -> str:
        """The SpreadsheetML namespace."""
        return self.namespaces[0]

    def relationship_type(self, kind: str) -> str:
        """Return the full relationship type of a kind (comments, vmlDrawing, styles)."""
        return f"{self.namespaces[1]}/{kind}"


def _read_workbook(package: _Package) -> _Workbook:
    """Map each worksheet's name, as Excel shows it, to its part."""
    workbook = _workbook_part(package)
    root = _parse(package, workbook)
    if root is None:
        raise InputError("classeur sans partie xl/workbook.xml", _DAMAGED)
    relations = _relationships(package, workbook)
    sheets = {}
    for element in root.iter():
        if _local(element.tag) != "sheet":
            continue
        ids = [value for key, value in element.attrib.items() if key.endswith("}id")]
        relation = relations.get(ids[0]) if ids else None
        if (relation and relation.type.endswith("/worksheet") and element.get("name")
                and package.get(relation.target) is not None):
            sheets[element.get("name", "")] = relation.target
    strict = root.tag.startswith(f"{{{_STRICT[0]}}}")
    return _Workbook(workbook, sheets, _STRICT if strict else _TRANSITIONAL)


class _RelationshipsEditor:
    """Adds relationships to a part's .rels, creating it when the part had none."""

    def __init__(self, package: _Package, part: str) -> None:
        self.package, self.path = package, _rels_part(part)
        self.folder = posixpath.dirname(part.replace("\\", "/").lstrip("/"))
        self.existing = _relationships(package, part)
        self.text = package.text(self.path) if package.get(self.path) is not None else (
            _DECLARATION + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"></Relationships>')

    def of_kind(self, kind: str) -> _Relationship | None:
        """Return the first relationship of this kind (comments…), whatever its namespace."""
        return next((r for r in self.existing.values()
                     if r.type.rpartition("/")[2] == kind and not r.external), None)

    def add(self, kind: str, target: str) -> str:
        """Add a relationship to target (a part name) and return its new id."""
        number = len(self.existing) + 1
        while f"rId{number}" in self.existing:
            number += 1
        rid = f"rId{number}"
        relative = posixpath.relpath(target, self.folder or ".")
        self.existing[rid] = _Relationship(rid, kind, target, False)
        element = f'<Relationship Id="{rid}" Type="{kind}" Target="{_attribute_text(relative)}"/>'
        self.text = _append_child(self.text, "Relationships", element)
        return rid

    def save(self) -> None:
        """Put the .rels part back into the package."""
        self.package.put(self.path, self.text)


def _add_content_type(package: _Package, part: str | None, extension: str | None,
                      content_type: str) -> None:
    """Declare a new part's content type: an Override for part, or a Default for extension."""
    text = package.text("[Content_Types].xml")
    if part is not None:
        element = f'<Override PartName="/{_attribute_text(part)}" ContentType="{content_type}"/>'
        present = re.search(rf"""PartName\s*=\s*["']/?{re.escape(part)}["']""", text, re.I)
    else:
        element = f'<Default Extension="{extension}" ContentType="{content_type}"/>'
        present = re.search(rf"""Extension\s*=\s*["']{re.escape(extension or "")}["']""", text, re.I)
    if not present:
        package.put("[Content_Types].xml", _append_child(text, "Types", element))


# --- XML text helpers ----------------------------------------------------------------------------

def _xml_text(text: str) -> str:
    """Escape text for element content, without the characters XML 1.0 forbids."""
    text = _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute_text(text: str) -> str:
    return _xml_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def _root_prefix(text: str, local: str) -> str:
    """Return the prefix, with its colon, of the root element (usually '': default namespace)."""
    match = re.search(rf"<(?:([\w.-]+):)?{local}(?=[\s/>])", text)
    return f"{match.group(1)}:" if match and match.group(1) else ""


def _tags(text: str, prefix: str, local: str, start: int = 0, end: int | None = None
          ) -> Iterator[re.Match[str]]:
    """Yield the start tags <prefix:local …> in text[start:end]; group 2 is '/' when empty."""
    pattern = re.compile(rf"<{re.escape(prefix)}{local}(?=[\s/>])({_ATTRS})(/?)>")
    return pattern.finditer(text, start, len(text) if end is None else end)


def _get_attribute(tag: str, name: str) -> str | None:
    match = re.search(rf"""\s{re.escape(name)}\s*=\s*(?:"([^"]*)"|'([^']*)')""", tag)
    if not match:
        return None
    return match.group(1) if match.group(1) is not None else match.group(2)


def _set_attribute(tag: str, name: str, value: str) -> str:
    """Return the start tag with the attribute set (replaced, or added before the tag's end)."""
    pattern = re.compile(rf"""(\s{re.escape(name)}\s*=\s*)(?:"[^"]*"|'[^']*')""")
    if pattern.search(tag):
        return pattern.sub(lambda m: f'{m.group(1)}"{value}"', tag, count=1)
    end = len(tag) - (2 if tag.endswith("/>") else 1)
    return f'{tag[:end].rstrip()} {name}="{value}"{tag[end:]}'


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace each span (start, stop) of text; insertions at one place keep the list's order."""
    pieces, position = [], 0
    for start, stop, replacement in sorted(edits, key=lambda edit: (edit[0], edit[1])):
        pieces += [text[position:start], replacement]
        position = stop
    pieces.append(text[position:])
    return "".join(pieces)


def _drop_attribute(tag: str, name: str) -> str:
    return re.sub(rf"""\s{re.escape(name)}\s*=\s*(?:"[^"]*"|'[^']*')""", "", tag, count=1)


def _element_end(text: str, tag: re.Match[str], prefix: str, local: str) -> int:
    """Return where the element opened by tag ends (after its end tag)."""
    if tag.group(2):
        return tag.end()
    close = f"</{prefix}{local}>"
    position = text.find(close, tag.end())
    if position < 0:
        raise InputError(f"élément <{local}> sans fin : partie XML endommagée", _DAMAGED)
    return position + len(close)


def _append_child(text: str, local: str, child: str) -> str:
    """Insert child as the last child of the (first) element named local; expand it if empty."""
    prefix = _root_prefix(text, local)
    tag = next(_tags(text, prefix, local), None)
    if tag is None:
        raise InputError(f"élément <{local}> introuvable : partie XML endommagée", _DAMAGED)
    if tag.group(2):
        opened = tag.group(0)[:-2].rstrip() + ">"
        return f"{text[:tag.start()]}{opened}{child}</{prefix}{local}>{text[tag.end():]}"
    end = _element_end(text, tag, prefix, local) - len(f"</{prefix}{local}>")
    return text[:end] + child + text[end:]


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def _column_letters(number: int) -> str:
    letters = ""
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _parse_cell(reference: str) -> tuple[int, int] | None:
    """Return (row, column), both from 1, of an A1 reference ($ allowed; a range gives its start)."""
    match = _CELL_REF.fullmatch(reference.strip().split(":")[0])
    if not match:
        return None
    row, column = int(match.group(2)), _column_number(match.group(1))
    if not (1 <= row <= _MAX_ROW and 1 <= column <= _MAX_COLUMN):
        return None
    return row, column


# --- what each cell gets -------------------------------------------------------------------------

@dataclass
class _Note:
    """A cell to annotate: the worst severity among its issues and one line per issue."""

    row: int
    column: int
    severity: str = WARNING
    lines: list[str] = field(default_factory=list)

    @property
    def ref(self) -> str:
        """The cell's A1 reference."""
        return f"{_column_letters(self.column)}{self.row}"

    @property
    def text(self) -> str:
        """The note's text, one line per issue."""
        return "\n".join(self.lines)

    def add(self, issue: Issue) -> None:
        """Take one more issue on this cell."""
        severity = ERROR if issue.severity == ERROR else WARNING
        if severity == ERROR:
            self.severity = ERROR
        line = LINE_PREFIXES[severity] + (issue.message or issue.code)
        if line not in self.lines:
            self.lines.append(line)


def _notes_by_sheet(book: _Workbook, issues: Sequence[Issue]) -> dict[str, list[_Note]]:
    """Group the issues that name a cell of an existing worksheet: part → notes in cell order."""
    sheets = book.sheets
    folded = {name.casefold(): part for name, part in sheets.items()}
    found: dict[str, dict[tuple[int, int], _Note]] = {}
    for issue in issues:
        part = sheets.get(issue.sheet) or folded.get(issue.sheet.casefold())
        position = _parse_cell(issue.cell) if issue.cell else None
        if part is None or position is None:
            continue  # file- or sheet-level issue, or a sheet the workbook lacks: the report has it
        cells = found.setdefault(part, {})
        cells.setdefault(position, _Note(*position)).add(issue)
    return {part: [cells[key] for key in sorted(cells)] for part, cells in found.items()}


# --- styles --------------------------------------------------------------------------------------

_MINIMAL_STYLES = (
    '<styleSheet xmlns="{main}"><fonts count="1"><font><sz val="11"/>'
    '<name val="Calibri"/><family val="2"/></font></fonts><fills count="0"></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="0"></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
    '</cellStyles></styleSheet>')
# CT_Stylesheet's order, to place a missing container.
_STYLE_ORDER = ("numFmts", "fonts", "fills", "borders", "cellStyleXfs", "cellXfs", "cellStyles",
                "dxfs", "tableStyles", "colors", "extLst")


def _styles_part(package: _Package, book: _Workbook) -> tuple[str, str]:
    """Return the styles part's name and text; create it (rare minimal writers) when missing."""
    editor = _RelationshipsEditor(package, book.part)
    relation = editor.of_kind("styles")
    if relation is not None and package.get(relation.target) is not None:
        return relation.target, package.text(relation.target)
    part = posixpath.join(posixpath.dirname(book.part), "styles.xml")  # where openpyxl looks
    if package.get(part) is not None:
        part = package.unused(part.replace("styles.xml", "styles{}.xml"))
    editor.add(book.relationship_type("styles"), part)
    editor.save()
    _add_content_type(package, part, None, _STYLES_CONTENT)
    return part, _DECLARATION + _MINIMAL_STYLES.format(main=book.main)


class _Styles:
    """The copy's cell formats: each (format, severity) pair is cloned once with a highlight fill.

    The clone keeps the cell's number format, font, border, alignment and protection (an input
    cell stays unlocked on its protected sheet); only fillId changes.
    """

    def __init__(self, package: _Package, book: _Workbook) -> None:
        self.package = package
        self.part, self.text = _styles_part(package, book)
        self.prefix = _root_prefix(self.text, "styleSheet")
        p = self.prefix
        self._ensure("fills", "fill", f'<{p}fill><{p}patternFill patternType="none"/></{p}fill>'
                     f'<{p}fill><{p}patternFill patternType="gray125"/></{p}fill>')
        self._ensure("cellXfs", "xf", f'<{p}xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>')
        self.formats = self._children("cellXfs", "xf")
        self.fill_count = len(self._children("fills", "fill"))
        self.new_fills: list[str] = []
        self.new_formats: list[str] = []
        self.fill_ids: dict[str, int] = {}
        self.clones: dict[tuple[int, str], int] = {}

    def _container(self, local: str) -> tuple[int, int] | None:
        """Return the span of the container's content, or None when it is missing."""
        tag = next(_tags(self.text, self.prefix, local), None)
        if tag is None:
            return None
        if tag.group(2):  # <fills/>: open it up so that children have a place
            p = self.prefix
            opened = tag.group(0)[:-2].rstrip() + ">"
            self.text = f"{self.text[:tag.start()]}{opened}</{p}{local}>{self.text[tag.end():]}"
            return self._container(local)
        end = _element_end(self.text, tag, self.prefix, local) - len(f"</{self.prefix}{local}>")
        return tag.end(), end

    def _ensure(self, local: str, child: str, defaults: str) -> None:
        """Make sure the container exists and holds at least the defaults Excel relies on."""
        p = self.prefix
        if self._container(local) is None:
            following = [next(_tags(self.text, p, name), None)
                         for name in _STYLE_ORDER[_STYLE_ORDER.index(local) + 1:]]
            position = min((tag.start() for tag in following if tag is not None),
                           default=self.text.rfind(f"</{p}styleSheet"))
            self.text = f'{self.text[:position]}<{p}{local} count="0"></{p}{local}>{self.text[position:]}'
        if not self._children(local, child):
            self._append(local, defaults)

    def _span(self, local: str) -> tuple[int, int]:
        span = self._container(local)
        if span is None:
            raise InputError(f"styles sans <{local}> : classeur endommagé", _DAMAGED)
        return span

    def _append(self, local: str, children: str) -> None:
        _, end = self._span(local)
        self.text = self.text[:end] + children + self.text[end:]

    def _children(self, local: str, child: str) -> list[str]:
        start, end = self._span(local)
        content = self.text[start:end]
        p = re.escape(self.prefix)
        pattern = re.compile(rf"<{p}{child}(?=[\s/>]){_ATTRS}(?:/>|>.*?</{p}{child}>)", re.S)
        return pattern.findall(content)

    def styled(self, base: int, severity: str) -> int:
        """Return the index of base's format with the severity's fill, cloning it the first time."""
        if not 0 <= base < len(self.formats):
            base = 0  # a dangling index shows as the default format in Excel
        key = (base, severity)
        if key not in self.clones:
            clone = self.formats[base]
            tag = next(_tags(clone, self.prefix, "xf"))
            start_tag = _set_attribute(_set_attribute(tag.group(0), "fillId", str(self._fill(severity))),
                                       "applyFill", "1")
            self.new_formats.append(start_tag + clone[tag.end():])
            self.clones[key] = len(self.formats) + len(self.new_formats) - 1
        return self.clones[key]

    def _fill(self, severity: str) -> int:
        if severity not in self.fill_ids:
            p = self.prefix
            self.new_fills.append(f'<{p}fill><{p}patternFill patternType="solid"><{p}fgColor rgb='
                                  f'"{FILL_COLOURS[severity]}"/><{p}bgColor indexed="64"/>'
                                  f'</{p}patternFill></{p}fill>')
            self.fill_ids[severity] = self.fill_count + len(self.new_fills) - 1
        return self.fill_ids[severity]

    def save(self) -> None:
        """Append the new fills and formats, fix both counts, and put the part back."""
        for local, child, added in (("fills", "fill", self.new_fills), ("cellXfs", "xf", self.new_formats)):
            self._append(local, "".join(added))
            count = str(len(self._children(local, child)))
            tag = next(_tags(self.text, self.prefix, local))
            self.text = f"{self.text[:tag.start()]}{_set_attribute(tag.group(0), 'count', count)}" \
                        f"{self.text[tag.end():]}"
        self.package.put(self.part, self.text)


# --- worksheets ----------------------------------------------------------------------------------

@dataclass
class _Layout:
    """Column widths and row heights of a sheet, in pixels, to size and place the notes."""

    column_ranges: list[tuple[int, int, float]] = field(default_factory=list)
    default_column: float = 64
    row_heights: dict[int, float] = field(default_factory=dict)
    default_row: float = 20
    _custom_rows: list[int] = field(default_factory=list, init=False, repr=False)
    _custom_sums: list[float] = field(default_factory=lambda: [0.0], init=False, repr=False)

    def column_px(self, column: int) -> float:
        """Width of a column (from 1)."""
        for first, last, width in self.column_ranges:
            if first <= column <= last:
                return width
        return self.default_column

    def row_px(self, row: int) -> float:
        """Height of a row (from 1)."""
        return self.row_heights.get(row, self.default_row)

    def top_px(self, row: int) -> float:
        """Distance from the sheet's top to the top of a row (from 1)."""
        if len(self._custom_rows) != len(self.row_heights):  # sums of the custom heights, once
            self._custom_rows = sorted(self.row_heights)
            self._custom_sums = list(itertools.accumulate((self.row_heights[r] for r in self._custom_rows),
                                                          initial=0.0))
        above = bisect.bisect_left(self._custom_rows, row)
        return (row - 1 - above) * self.default_row + self._custom_sums[above]


_NOTE_WIDTH_PX = 340
_CHARS_PER_LINE = 52  # Tahoma 9 in a 340 px box
_LINE_PX = 15
_MAX_LINES = 40


class _Worksheet:
    """Text edits of one worksheet part: cell styles, missing cells, the legacyDrawing element."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.prefix = _root_prefix(text, "worksheet")

    def highlight(self, notes: list[_Note], styles: _Styles) -> _Layout:
        """Give each noted cell its highlighted format, creating the cells and rows that are missing."""
        p = self.prefix
        start, end = self._sheet_data()
        layout = self._layout(start)
        column_styles = self._column_styles(start)
        wanted: dict[int, list[_Note]] = {}
        for note in notes:
            wanted.setdefault(note.row, []).append(note)
        edits: list[tuple[int, int, str]] = []
        pending = iter(sorted(wanted))  # the rows to place, ascending: one pass, however tall the sheet
        upcoming = next(pending, None)
        previous = 0
        for row in _tags(self.text, p, "row", start, end):
            row_end = _element_end(self.text, row, p, "row")
            declared = _get_attribute(row.group(0), "r")
            number = int(declared) if declared and declared.isdigit() else previous + 1
            while upcoming is not None and upcoming <= number:
                if upcoming < number:  # a row the sheet lacks: created before this one
                    edits.append((row.start(), row.start(), self._new_row(upcoming, wanted.pop(upcoming),
                                                                          styles, column_styles)))
                upcoming = next(pending, None)
            height = _get_attribute(row.group(0), "ht")
            if height and _is_number(height):
                layout.row_heights[number] = float(height) * 4 / 3
            if number in wanted:
                edits.append((row.start(), row_end, self._edited_row(row, row_end, number, wanted.pop(number),
                                                                     styles, column_styles)))
            elif declared is None:  # a later insertion must not shift the rows that count on order
                edits.append((row.start(), row.end(), _set_attribute(row.group(0), "r", str(number))))
            previous = number
        tail = "".join(self._new_row(number, wanted[number], styles, column_styles)
                       for number in sorted(wanted))
        edits.append((end, end, tail))
        self.text = _apply(self.text, edits)
        self._widen_dimension(notes)
        return layout

    def _sheet_data(self) -> tuple[int, int]:
        """Return the span of sheetData's content, opening an empty <sheetData/> first."""
        p = self.prefix
        data = next(_tags(self.text, p, "sheetData"), None)
        if data is None:
            raise InputError("feuille sans données (<sheetData> absent) : classeur endommagé", _DAMAGED)
        if data.group(2):
            self.text = f"{self.text[:data.start()]}<{p}sheetData></{p}sheetData>{self.text[data.end():]}"
            data = next(_tags(self.text, p, "sheetData"))
        return data.end(), _element_end(self.text, data, p, "sheetData") - len(f"</{p}sheetData>")

    def _column_styles(self, before: int) -> list[tuple[int, int, int]]:
        """Return the <cols> ranges as (first, last, format index)."""
        found = []
        for col in _tags(self.text, self.prefix, "col", 0, before):
            first, last = _get_attribute(col.group(0), "min"), _get_attribute(col.group(0), "max")
            style = _get_attribute(col.group(0), "style") or "0"
            if first and last and first.isdigit() and last.isdigit() and style.isdigit():
                found.append((int(first), int(last), int(style)))
        return found

    def _layout(self, before: int) -> _Layout:
        """Read column widths and default sizes (row heights are read with the rows)."""
        layout = _Layout()
        for col in _tags(self.text, self.prefix, "col", 0, before):
            first, last = _get_attribute(col.group(0), "min"), _get_attribute(col.group(0), "max")
            width = _get_attribute(col.group(0), "width")
            if first and last and first.isdigit() and last.isdigit() and width and _is_number(width):
                layout.column_ranges.append((int(first), int(last), float(width) * 7))
        sheet_format = next(_tags(self.text, self.prefix, "sheetFormatPr", 0, before), None)
        if sheet_format:
            height = _get_attribute(sheet_format.group(0), "defaultRowHeight") or ""
            width = _get_attribute(sheet_format.group(0), "defaultColWidth") or ""
            layout.default_row = float(height) * 4 / 3 if _is_number(height) else layout.default_row
            layout.default_column = float(width) * 7 + 5 if _is_number(width) else layout.default_column
        return layout

    def _new_row(self, number: int, notes: list[_Note], styles: _Styles,
                 column_styles: list[tuple[int, int, int]]) -> str:
        """Return a new row holding only the noted cells."""
        p = self.prefix
        cells = "".join(self._new_cell(note, None, styles, column_styles) for note in notes)
        return f'<{p}row r="{number}">{cells}</{p}row>'

    def _edited_row(self, row: re.Match[str], row_end: int, number: int, notes: list[_Note],
                    styles: _Styles, column_styles: list[tuple[int, int, int]]) -> str:
        """Return the row with its noted cells restyled and its missing ones inserted in order."""
        p = self.prefix
        tag = row.group(0) if _get_attribute(row.group(0), "r") else _set_attribute(row.group(0), "r",
                                                                                     str(number))
        if row.group(2):
            tag, inner = tag[:-2].rstrip() + ">", ""
        else:
            inner = self.text[row.end():row_end - len(f"</{p}row>")]
        # A row's own format applies to its empty cells only when customFormat says so.
        custom = (_get_attribute(tag, "customFormat") or "").lower() in ("1", "true")
        row_style = _get_attribute(tag, "s") if custom else None
        wanted = {note.column: note for note in sorted(notes, key=lambda note: note.column)}
        edits: list[tuple[int, int, str]] = []
        previous = 0
        for cell in _tags(inner, p, "c"):
            declared = _get_attribute(cell.group(0), "r")
            position = _parse_cell(declared) if declared else None
            column = position[1] if position else previous + 1
            cell_tag = cell.group(0) if declared else _set_attribute(cell.group(0), "r",
                                                                     f"{_column_letters(column)}{number}")
            for missing in [c for c in wanted if c < column]:  # a handful of notes per row at most
                edits.append((cell.start(), cell.start(), self._new_cell(wanted.pop(missing), row_style,
                                                                         styles, column_styles)))
            if column in wanted:
                base = _get_attribute(cell_tag, "s") or "0"
                style = styles.styled(int(base) if base.isdigit() else 0, wanted.pop(column).severity)
                cell_tag = _set_attribute(cell_tag, "s", str(style))
            if cell_tag != cell.group(0):
                edits.append((cell.start(), cell.end(), cell_tag))
            previous = column
        if wanted:
            tail = re.search(rf"<{re.escape(p)}extLst(?=[\s/>])", inner)  # CT_Row: cells, then extLst
            at = tail.start() if tail else len(inner)
            added = "".join(self._new_cell(wanted[column], row_style, styles, column_styles)
                            for column in sorted(wanted))
            edits.append((at, at, added))
            tag = _drop_attribute(tag, "spans")  # an optional hint; a stale one would mislead readers
        inner = _apply(inner, edits)
        return f"{tag}{inner}</{p}row>"

    def _new_cell(self, note: _Note, row_style: str | None, styles: _Styles,
                  column_styles: list[tuple[int, int, int]]) -> str:
        # An empty cell shows its row's or column's format (unlocked input columns): keep it.
        if row_style and row_style.isdigit():
            base = int(row_style)
        else:
            base = next((style for first, last, style in column_styles if first <= note.column <= last), 0)
        return f'<{self.prefix}c r="{note.ref}" s="{styles.styled(base, note.severity)}"/>'

    def _widen_dimension(self, notes: list[_Note]) -> None:
        """Make <dimension> (the used range, trusted by some readers) cover the new cells."""
        dimension = next(_tags(self.text, self.prefix, "dimension"), None)
        ref = _get_attribute(dimension.group(0), "ref") if dimension else None
        corners = [_parse_cell(part) for part in (ref or "").split(":")]
        if dimension is None or not all(corners):
            return
        rows = [c[0] for c in corners if c] + [n.row for n in notes]
        columns = [c[1] for c in corners if c] + [n.column for n in notes]
        top_left = f"{_column_letters(min(columns))}{min(rows)}"
        bottom_right = f"{_column_letters(max(columns))}{max(rows)}"
        new_ref = top_left if top_left == bottom_right else f"{top_left}:{bottom_right}"
        self.text = (self.text[:dimension.start()] + _set_attribute(dimension.group(0), "ref", new_ref)
                     + self.text[dimension.end():])

    def legacy_drawing(self) -> str | None:
        """Return the relationship id of the sheet's legacyDrawing element, if it has one."""
        for local, start, stop in _children(self.text, self.prefix):
            if local == "legacyDrawing":
                match = re.search(r"""\s[\w.-]+:id\s*=\s*["']([^"']*)["']""", self.text[start:stop])
                return match.group(1) if match else ""
        return None

    def set_legacy_drawing(self, rid: str, namespace: str) -> None:
        """Point the legacyDrawing element at rid, adding it where CT_Worksheet wants it."""
        root = re.search(rf"<{re.escape(self.prefix)}worksheet(?=[\s/>]){_ATTRS}>", self.text)
        declared = re.search(rf"""xmlns:([\w.-]+)\s*=\s*["']{re.escape(namespace)}["']""",
                             root.group(0) if root else "")
        r = declared.group(1) if declared else "r"
        element = f'<{self.prefix}legacyDrawing {r}:id="{rid}"/>'
        if not declared:
            element = _set_attribute(element, "xmlns:r", namespace)
        children = list(_children(self.text, self.prefix))
        for local, start, stop in children:
            if local == "legacyDrawing":  # one whose drawing is missing: it takes the new one
                tag = re.sub(r"""\s[\w.-]+:id\s*=\s*(?:"[^"]*"|'[^']*')""", "", self.text[start:stop])
                tag = _set_attribute(tag, f"{r}:id", rid)
                if not declared:
                    tag = _set_attribute(tag, "xmlns:r", namespace)
                self.text = self.text[:start] + tag + self.text[stop:]
                return
        position = next((start for local, start, _ in children if local in _AFTER_LEGACY_DRAWING),
                        self.text.rfind(f"</{self.prefix}worksheet"))
        self.text = self.text[:position] + element + self.text[position:]


# CT_Worksheet: legacyDrawing comes after drawing and before these (mc:AlternateContent wraps
# oleObjects and controls in files saved by Excel 2010 and later).
_AFTER_LEGACY_DRAWING = frozenset({"legacyDrawingHF", "drawingHF", "picture", "oleObjects", "controls",
                                   "webPublishItems", "tableParts", "extLst", "AlternateContent"})


def _children(text: str, prefix: str) -> Iterator[tuple[str, int, int]]:
    """Yield (local name, start, end of start tag) of each child of the root element.

    sheetData is skipped in one jump: it holds almost all of a sheet's tags.
    """
    depth, position = 0, 0
    while match := _TOKEN.search(text, position):
        position = match.end()
        if match.group(2) is None:
            continue  # comment, processing instruction, CDATA, declaration
        local = match.group(2).rpartition(":")[2]
        if match.group(1):
            depth -= 1
            continue
        if depth == 1:
            yield local, match.start(), match.end()
        if not match.group(4):
            depth += 1
            if depth == 2 and local == "sheetData":
                found = text.find(f"</{prefix}sheetData>", position)
                position = found if found >= 0 else len(text)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- comments and their VML shapes ---------------------------------------------------------------

def _run(text: str, prefix: str) -> str:
    p = prefix
    return (f'<{p}r><{p}rPr><{p}sz val="9"/><{p}color indexed="81"/><{p}rFont val="Tahoma"/>'
            f'<{p}family val="2"/></{p}rPr><{p}t xml:space="preserve">{_xml_text(text)}</{p}t></{p}r>')


def _comment(note: _Note, author: int, prefix: str) -> str:
    p = prefix
    return (f'<{p}comment ref="{note.ref}" authorId="{author}"><{p}text>{_run(note.text, p)}</{p}text>'
            f'</{p}comment>')


def _new_comments(notes: list[_Note], main: str) -> str:
    comments = "".join(_comment(note, 0, "") for note in notes)
    return (f'{_DECLARATION}<comments xmlns="{main}"><authors><author>{AUTHOR}</author></authors>'
            f"<commentList>{comments}</commentList></comments>")


def _merged_comments(text: str, notes: list[_Note]) -> tuple[str, set[str]]:
    """Add the notes to an existing comments part; return it and the cells that already had one.

    A cell holds one comment at most (Excel repairs a file with two): a note on a cell that
    already has a comment is appended to it, on a new line.
    """
    p = _root_prefix(text, "comments")
    authors = ["" if tag.group(2) else text[tag.end():text.find(f"</{p}author>", tag.end())]
               for tag in _tags(text, p, "author")]
    if AUTHOR in authors:
        author = authors.index(AUTHOR)
    else:
        author = len(authors)
        text = _append_child(text, "authors", f"<{p}author>{AUTHOR}</{p}author>")
    existing: dict[str, tuple[int, int]] = {}
    for tag in _tags(text, p, "comment"):
        ref = (_get_attribute(tag.group(0), "ref") or "").split(":")[0].replace("$", "").upper()
        existing[ref] = (tag.start(), _element_end(text, tag, p, "comment"))
    edits, new = [], []
    for note in notes:
        if note.ref in existing:
            start, stop = existing[note.ref]
            close = text.rfind(f"</{p}text>", start, stop)
            if close >= 0:
                edits.append((close, close, _run("\n" + note.text, p)))
            else:  # a comment without text: ours replaces it
                edits.append((start, stop, _comment(note, author, p)))
        else:
            new.append(_comment(note, author, p))
    text = _apply(text, edits)
    if new:
        text = _append_child(text, "commentList", "".join(new))
    return text, set(existing)


_VML_NAMESPACES = {"v": "urn:schemas-microsoft-com:vml", "o": "urn:schemas-microsoft-com:office:office",
                   "x": "urn:schemas-microsoft-com:office:excel"}
_SHAPE_TYPE = ('<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" '
               'path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
               '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>')


class _ShapeIds:
    """Hands out VML shape ids unique in the workbook, by blocks of 1024 as Excel numbers them."""

    def __init__(self, package: _Package) -> None:
        used = [0]
        for part in package.parts_ending(".vml"):
            text = (package.get(part) or b"").decode("latin-1")
            used += [int(n) // 1024 for n in re.findall(r"_x0000_s(\d+)", text)]
            for data in re.findall(r"""idmap\b[^>]*?\bdata\s*=\s*["']([\d,\s]*)["']""", text):
                used += [int(n) for n in re.findall(r"\d+", data)]
        self.next_block = max(used) + 1

    def take(self, count: int) -> tuple[list[int], list[int]]:
        """Return the blocks used and the shape ids of count new shapes."""
        blocks = list(range(self.next_block, self.next_block + count // 1024 + 1))
        self.next_block = blocks[-1] + 1
        return blocks, [blocks[0] * 1024 + 1 + i for i in range(count)]


def _shape(shape_id: int, note: _Note, layout: _Layout) -> str:
    """Return the VML shape of a hidden note, sized for its text, to the right of its cell."""
    lines = sum(max(1, -(-len(line) // _CHARS_PER_LINE)) for line in note.lines)
    height = min(lines, _MAX_LINES) * _LINE_PX + 12
    left_column, top_row = min(note.column + 1, _MAX_COLUMN), max(note.row - 1, 1)
    right_column, right_offset = left_column, 15.0 + _NOTE_WIDTH_PX
    while right_offset >= layout.column_px(right_column) and right_column < _MAX_COLUMN:
        right_offset -= layout.column_px(right_column)
        right_column += 1
    bottom_row, bottom_offset = top_row, 10.0 + height
    while bottom_offset >= layout.row_px(bottom_row) and bottom_row < _MAX_ROW:
        bottom_offset -= layout.row_px(bottom_row)
        bottom_row += 1
    left = sum(layout.column_px(c) for c in range(1, left_column)) + 15
    top = layout.top_px(top_row) + 10
    anchor = (f"{left_column - 1}, 15, {top_row - 1}, 10, {right_column - 1}, {int(right_offset)}, "
              f"{bottom_row - 1}, {int(bottom_offset)}")
    return (f'<v:shape id="_x0000_s{shape_id}" type="#_x0000_t202" style="position:absolute;'
            f"margin-left:{left * 0.75:.2f}pt;margin-top:{top * 0.75:.2f}pt;"
            f"width:{_NOTE_WIDTH_PX * 0.75:.2f}pt;"
            f'height:{height * 0.75:.2f}pt;z-index:{shape_id % 1024};visibility:hidden" fillcolor="#ffffe1" '
            'o:insetmode="auto"><v:fill color2="#ffffe1"/><v:shadow on="t" color="black" obscured="t"/>'
            '<v:path o:connecttype="none"/><v:textbox style="mso-direction-alt:auto">'
            '<div style="text-align:left"></div></v:textbox><x:ClientData ObjectType="Note">'
            f"<x:MoveWithCells/><x:SizeWithCells/><x:Anchor>{anchor}</x:Anchor><x:AutoFill>False</x:AutoFill>"
            f"<x:Row>{note.row - 1}</x:Row><x:Column>{note.column - 1}</x:Column></x:ClientData></v:shape>")


def _new_vml(notes: list[_Note], layout: _Layout, ids: _ShapeIds) -> str:
    blocks, shape_ids = ids.take(len(notes))
    namespaces = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _VML_NAMESPACES.items())
    shapes = "".join(_shape(i, note, layout) for i, note in zip(shape_ids, notes, strict=True))
    return (f'<xml {namespaces}><o:shapelayout v:ext="edit"><o:idmap v:ext="edit" '
            f'data="{",".join(map(str, blocks))}"/></o:shapelayout>{_SHAPE_TYPE}{shapes}</xml>')


def _extended_vml(text: str, notes: list[_Note], layout: _Layout, ids: _ShapeIds) -> str:
    """Append note shapes to an existing VML drawing (Excel's VML is not always well-formed XML)."""
    close = text.lower().rfind("</xml>")
    root = re.search(r"<xml\b[^>]*>", text)
    if close < 0 or root is None:
        raise InputError("dessin VML des notes illisible : classeur endommagé", _DAMAGED)
    blocks, shape_ids = ids.take(len(notes))
    shapes = "".join(_shape(i, note, layout) for i, note in zip(shape_ids, notes, strict=True))
    if not re.search(r"""\bid\s*=\s*["']_x0000_t202["']""", text):
        shapes = _SHAPE_TYPE + shapes
    text = text[:close] + shapes + text[close:]
    missing = "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in _VML_NAMESPACES.items()
                      if f"xmlns:{prefix}=" not in root.group(0))
    text = text[:root.end() - 1] + missing + text[root.end() - 1:]
    return re.sub(r"""(idmap\b[^>]*?\bdata\s*=\s*["'])([\d,\s]*)""",
                  lambda m: m.group(1) + ",".join([m.group(2).strip(), *map(str, blocks)]).strip(","),
                  text, count=1)


@dataclass
class _Annotator:
    """Adds the notes of each sheet to one package; formats and shape ids are shared by the sheets."""

    package: _Package
    book: _Workbook
    styles: _Styles
    ids: _ShapeIds

    def sheet(self, part: str, notes: list[_Note]) -> None:
        """Highlight the sheet's noted cells and give each a note (comments part and VML shape)."""
        sheet = _Worksheet(self.package.text(part))
        layout = sheet.highlight(notes, self.styles)
        relations = _RelationshipsEditor(self.package, part)
        had_comment = self._comments(relations, part, notes)
        self._drawing(relations, sheet, part, [n for n in notes if n.ref not in had_comment], layout)
        relations.save()
        self.package.put(part, sheet.text)

    def _new_part(self, sheet_part: str, pattern: str) -> str:
        # Beside the workbook part, as Excel does: xl/comments1.xml, xl/drawings/vmlDrawing1.vml.
        return self.package.unused(posixpath.join(posixpath.dirname(posixpath.dirname(sheet_part)), pattern))

    def _comments(self, relations: _RelationshipsEditor, part: str, notes: list[_Note]) -> set[str]:
        """Write the notes into the sheet's comments part; return the cells that had a comment."""
        comments = relations.of_kind("comments")
        if comments is not None and self.package.get(comments.target) is not None:
            merged, had_comment = _merged_comments(self.package.text(comments.target), notes)
            self.package.put(comments.target, merged)
            return had_comment
        target = self._new_part(part, "comments{}.xml")
        self.package.put(target, _new_comments(notes, self.book.main))
        relations.add(self.book.relationship_type("comments"), target)
        _add_content_type(self.package, target, None, _COMMENTS_CONTENT)
        return set()

    def _drawing(self, relations: _RelationshipsEditor, sheet: _Worksheet, part: str,
                 notes: list[_Note], layout: _Layout) -> None:
        """Give the new notes their VML shapes, in the sheet's legacy drawing (one per sheet)."""
        drawing = relations.existing.get(sheet.legacy_drawing() or "")
        if drawing is not None and not drawing.external and self.package.get(drawing.target) is not None:
            if notes:
                # latin-1 maps bytes to characters one to one: the drawing's own bytes come back as
                # they were, whatever its encoding; the shapes added are ASCII.
                text = (self.package.get(drawing.target) or b"").decode("latin-1")
                extended = _extended_vml(text, notes, layout, self.ids)
                self.package.put(drawing.target, extended.encode("latin-1"))
            return
        target = self._new_part(part, "drawings/vmlDrawing{}.vml")
        self.package.put(target, _new_vml(notes, layout, self.ids))
        rid = relations.add(self.book.relationship_type("vmlDrawing"), target)
        sheet.set_legacy_drawing(rid, self.book.namespaces[1])
        _add_content_type(self.package, None, "vml", _VML_CONTENT)
