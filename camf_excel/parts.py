"""The small parts of a package, read with the one hardened parser: where things are, what they say.

Relationships (which part is the workbook, which parts are its sheets, its notes), the sheet
list, the document's custom properties, the workbook's defined names and the cell formats
that show a percentage. The guards, the reader and the annotated copy all read them here, so
none depends on where a part is stored or how its XML is spelled (prefixes, quotes, spaces,
CDATA, comments). Where calamine reads an attribute without unescaping it, `written` keeps
the raw text, so the guard follows the part calamine will open.
"""

from __future__ import annotations

import functools
import html
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote
from xml.parsers import expat

from camf_excel.errors import InputError
from camf_excel.limits import DAMAGED
from camf_excel.xmlparts import Node, hardened_parser, parse_error, text_of, tree

ROOT_RELATIONSHIPS = "_rels/.rels"
_OFFICE_DOCUMENT = "/relationships/officeDocument"  # transitional and Strict (purl.oclc.org) alike
_RAW_TAG = re.compile(rb"<[^\s/>]+((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_RAW_ATTRIBUTE = re.compile(rb"([^\s=/>]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


def start_tags(xml: bytes, part: str, wanted: frozenset[str]) -> Iterator[dict[str, str]]:
    """Yield the attributes, as written (not unescaped), of the start tags whose local name is wanted.

    expat finds the tags (comments, CDATA and a quoted '>' cannot fool it) and checks the part;
    the attributes are taken raw from the tag's bytes, since calamine reads some of them so.
    """
    if not xml:
        return  # an absent part: calamine finds nothing there either
    parser = hardened_parser(part)
    found: list[dict[str, str]] = []

    def start(name: str, _attributes: dict[str, str]) -> None:
        if name.rpartition(":")[2] in wanted:
            match = _RAW_TAG.match(xml, parser.CurrentByteIndex)
            if match is None:
                raise InputError(f"partie « {part} » illisible : classeur endommagé", DAMAGED)
            found.append({_decoded(key): _decoded(double if double is not None else single)
                          for key, double, single in _RAW_ATTRIBUTE.findall(match.group(1))})

    parser.StartElementHandler = start
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as error:
        raise parse_error(part, error) from error
    yield from found


def _decoded(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


# --- relationships ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Relationship:
    """One relationship of a part: its type, its target as written, and the part it designates."""

    id: str  # as written, escapes kept: calamine matches the sheets' r:id to it so
    type: str
    written: str  # the target as written, escapes kept: how calamine reads a sheet's target
    part: str  # the target resolved against the source part's folder (OPC), or the external URI
    external: bool

    @property
    def kind(self) -> str:
        """The last word of the type (worksheet, comments, officeDocument…), whatever its namespace."""
        return self.type.rpartition("/")[2]


def resolve(target: str, source: str) -> str:
    """Return the part a relationship target designates, against the source part's folder (OPC)."""
    target = unquote(target).replace("\\", "/")
    folder = posixpath.dirname(source.replace("\\", "/").lstrip("/"))
    joined = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
    return posixpath.normpath(joined)


def rels_part(part: str) -> str:
    """Return the name of a part's relationships part ('' is the package itself)."""
    folder, _, name = part.replace("\\", "/").lstrip("/").rpartition("/")
    return f"{folder}/_rels/{name}.rels" if folder else f"_rels/{name}.rels"


def read_relationships(xml: bytes, source: str) -> list[Relationship]:
    """Return the relationships of the source part ('' for the package), from its .rels xml, in order."""
    found = []
    for attributes in start_tags(xml, rels_part(source), frozenset({"Relationship"})):
        written = attributes.get("Target", "")
        target = html.unescape(written)
        external = html.unescape(attributes.get("TargetMode", "")) == "External"
        found.append(Relationship(attributes.get("Id", ""), html.unescape(attributes.get("Type", "")),
                                  written, target if external else resolve(target, source), external))
    return found


def office_folder(root_relationships: bytes) -> str | None:
    """Return the folder calamine reads the workbook from (that of the last officeDocument target),
    None when there is none."""
    targets = [html.unescape(r.written) for r in read_relationships(root_relationships, "")
               if r.type.endswith(_OFFICE_DOCUMENT)]
    if not targets:
        return None
    target = targets[-1]
    return target[:target.rfind("/") + 1].removeprefix("/") if "/" in target else ""


def sheet_entries(workbook: bytes, part: str) -> list[tuple[str, str]]:
    """Return each sheet's name (unescaped) and relationship id (as written, as calamine), in order."""
    found = []
    for attributes in start_tags(workbook, part, frozenset({"sheet"})):
        ids = [value for key, value in attributes.items() if key.rpartition(":")[2] == "id"]
        found.append((html.unescape(attributes.get("name", "")), ids[-1] if ids else ""))
    return found


# --- what a workbook says of itself ---------------------------------------------------------------

def custom_properties(xml: bytes, part: str = "docProps/custom.xml") -> dict[str, str]:
    """Return the document's custom properties by name (OOXML docProps/custom.xml)."""
    if not xml:
        return {}
    root = tree(xml, part, 3)
    return {name: "".join(text_of(xml, value, part) for value in element.children)
            for element in root.children if element.local == "property"
            and (name := element.attrs.get("name"))}


def ods_user_properties(xml: bytes, part: str = "meta.xml") -> dict[str, str]:
    """Return an OpenDocument's user-defined properties by name (meta.xml)."""
    found: dict[str, str] = {}
    if not xml:
        return found
    for element in _descendants(tree(xml, part, 3)):
        if element.local == "user-defined":
            name = element.namespaced("name")
            if name:
                found[name] = text_of(xml, element, part)
    return found


def defined_name(workbook: bytes, part: str, name: str) -> str:
    """Return the formula of a workbook-wide defined name (case ignored, as Excel), else ''."""
    if not workbook:
        return ""
    wanted = name.casefold()
    for names in tree(workbook, part, 3).all("definedNames"):
        for element in names.all("definedName"):
            if element.attrs.get("name", "").casefold() == wanted and "localSheetId" not in element.attrs:
                return text_of(workbook, element, part)
    return ""


def _descendants(node: Node) -> Iterator[Node]:
    for child in node.children:
        yield child
        yield from _descendants(child)


# --- cell formats showing a percentage ----------------------------------------------------------

_BUILTIN_PERCENT_FORMATS = frozenset({9, 10})  # "0%" and "0.00%", never written in styles.xml
_SMALL_NUMBER = re.compile(r"[0-9]{1,9}")


@functools.lru_cache(maxsize=8)  # workbooks from one generator share their styles part
def percent_styles(xml: bytes, part: str = "xl/styles.xml") -> frozenset[int]:
    """Return the indexes of the cell formats (`cellXfs`) whose number format shows a percentage."""
    if not xml:
        return frozenset()
    root = tree(xml, part, 3)
    codes: dict[int, bool] = dict.fromkeys(_BUILTIN_PERCENT_FORMATS, True)
    for formats in root.all("numFmts"):  # not the dxfs' own numFmt
        for element in formats.all("numFmt"):
            number = element.attrs.get("numFmtId", "")
            if _SMALL_NUMBER.fullmatch(number):
                codes[int(number)] = is_percent_format(element.attrs.get("formatCode", ""))
    found = set()
    for formats in root.all("cellXfs"):
        for index, element in enumerate(formats.all("xf")):
            number = element.attrs.get("numFmtId", "")
            if _SMALL_NUMBER.fullmatch(number) and codes.get(int(number), False):
                found.add(index)
    return frozenset(found)


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
