"""XML parts of a package, read by one hardened parser and edited as bytes at the offsets it reports.

Every XML part the tool reads — by the guards, the reader or the annotated copy — goes through
`hardened_parser`: expat with any DTD refused (no entity can expand, as defusedxml refuses it).
`scan`/`tree` find each element, namespaces checked; the edits then splice the part's own bytes,
so untouched markup stays byte-identical and nothing that only looks like markup (text, CDATA
sections, comments, processing instructions) can move an edit. Only UTF-8 parts are edited:
the text inserted is UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.parsers import expat

from camf_excel.errors import InputError
from camf_excel.limits import DAMAGED, HOSTILE

_CHUNK = 1 << 20
# A start tag that expat has accepted: attribute values are consumed whole (they may hold ">").
_START_TAG = re.compile(rb"""<[^\s/>]+(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*(/?)>""")
_TAG_NAME = re.compile(rb"<[^\s/>]+")
_ATTRIBUTE = re.compile(rb"""\s+([^\s=/>]+)\s*=\s*("[^"]*"|'[^']*')""")
# XML 1.0 forbids C0 controls but tab and newline, lone surrogates and U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_SMALL_NUMBER = re.compile(r"[0-9]{1,9}")
_UTF8 = frozenset({"utf-8", "utf8"})
_SEPARATOR = " "  # expat reports "uri local prefix": no name holds a space


@dataclass(eq=False, slots=True)
class Node:
    """One element: its name as written, namespace, attributes, and where its tags are in the bytes."""

    name: str  # as written: prefix:local, or local
    uri: str  # its namespace ('' when none)
    attrs: dict[str, str]  # by name as written (r, s, r:id, xml:space); declarations apart
    start: int  # the start tag's "<"
    head: int  # just after the start tag
    depth: int  # the root is 1
    empty: bool  # written <x/>
    declared: dict[str, str]  # namespaces declared on this element, by prefix ('' for the default)
    close: int = -1  # the end tag's "<" (head when empty)
    end: int = -1  # just after the element
    children: list[Node] = field(default_factory=list)

    @property
    def local(self) -> str:
        """The name without its prefix."""
        return self.name.rpartition(":")[2]

    @property
    def prefix(self) -> str:
        """The prefix with its colon, or '' (new children are written with it)."""
        prefix, colon, _ = self.name.rpartition(":")
        return f"{prefix}:" if colon else ""

    def child(self, local: str) -> Node | None:
        """Return the first kept child of this namespace with this local name."""
        return next(iter(self.all(local)), None)

    def all(self, local: str) -> list[Node]:
        """Return the kept children of this namespace with this local name."""
        return [c for c in self.children if c.local == local and c.uri == self.uri]

    def namespaced(self, local: str) -> str | None:
        """Return the value of a prefixed attribute by local name (r:id…)."""
        for name, value in self.attrs.items():
            if name.partition(":")[2] == local:
                return value
        return None


def hardened_parser(part: str, namespaces: bool = False, utf8_only: bool = False) -> expat.XMLParserType:
    """Return an expat parser that refuses any DTD, naming the part (no entity can ever expand).

    With namespaces, element names come as "uri local prefix" and a prefix never declared makes
    the part malformed, as it does for Excel. With utf8_only, a part declaring another encoding
    is refused (parts to be edited: the text inserted is UTF-8).
    """
    parser = expat.ParserCreate("utf-8" if utf8_only else None, _SEPARATOR if namespaces else None)
    parser.namespace_prefixes = namespaces
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse_dtd(*_: object) -> None:
        raise InputError(f"partie « {part} » avec une déclaration DTD : refusée", HOSTILE)

    def check_encoding(_version: str, encoding: str | None, _standalone: int) -> None:
        if encoding is not None and encoding.lower() not in _UTF8:
            raise InputError(f"partie « {part} » dans un encodage non pris en charge ({encoding[:20]})",
                             DAMAGED)

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    if utf8_only:
        parser.XmlDeclHandler = check_encoding
    return parser


def parse_error(part: str, error: expat.ExpatError) -> InputError:
    """Return the refusal of a malformed part, in French, naming it."""
    return InputError(f"partie « {part} » mal formée ({expat.errors.messages[error.code]}, ligne "
                      f"{error.lineno}) : classeur endommagé", DAMAGED)


def _written(expanded: str) -> tuple[str, str]:
    """Return (name as written, namespace) of a name expat reports as "uri local prefix"."""
    pieces = expanded.split(_SEPARATOR)
    if len(pieces) == 3:
        return f"{pieces[2]}:{pieces[1]}", pieces[0]
    if len(pieces) == 2:
        return pieces[1], pieces[0]
    return expanded, ""


def scan(data: bytes, part: str, depth: int = 1 << 30) -> Iterator[tuple[bool, Node]]:
    """Yield (True, element) at each start tag and (False, element) after its end, in document order.

    Elements below depth (the root is 1) are parsed but not reported. The part is fed in
    chunks so that a tall sheet is never held as a tree.
    """
    parser = hardened_parser(part, namespaces=True, utf8_only=True)
    events: list[tuple[bool, Node]] = []
    stack: list[Node] = []
    declared: dict[str, str] = {}  # declarations of the element about to start
    deeper = 0  # open elements below depth: counted only

    def declare(prefix: str | None, uri: str | None) -> None:
        declared[prefix or ""] = uri or ""

    def started(expanded: str, attrs: dict[str, str]) -> None:
        nonlocal deeper
        if len(stack) >= depth:
            deeper += 1
            declared.clear()
            return
        at = parser.CurrentByteIndex
        tag = _START_TAG.match(data, at)
        if tag is None:  # expat accepted it: only a parser disagreement could get here
            raise InputError(f"partie « {part} » : balise illisible à l'octet {at}", DAMAGED)
        if _SEPARATOR in "".join(attrs):  # a prefixed attribute (rare): named back as written
            attrs = {_written(key)[0]: value for key, value in attrs.items()}
        name, uri = _written(expanded)
        node = Node(name, uri, attrs, at, tag.end(), len(stack) + 1, bool(tag.group(1)), dict(declared))
        declared.clear()
        stack.append(node)
        events.append((True, node))

    def ended(_name: str) -> None:
        nonlocal deeper
        if deeper:
            deeper -= 1
            return
        node = stack.pop()
        if node.empty:
            node.close = node.end = node.head
        else:
            node.close = parser.CurrentByteIndex
            node.end = data.index(b">", node.close) + 1
        events.append((False, node))

    parser.StartNamespaceDeclHandler = declare
    parser.StartElementHandler = started
    parser.EndElementHandler = ended
    try:
        for offset in range(0, max(len(data), 1), _CHUNK):
            parser.Parse(data[offset:offset + _CHUNK], offset + _CHUNK >= len(data))
            yield from events
            events.clear()
    except expat.ExpatError as error:
        raise parse_error(part, error) from error


def tree(data: bytes, part: str, depth: int) -> Node:
    """Return the root element, its descendants kept down to depth (the root is 1)."""
    kept: list[Node] = []
    for opening, node in scan(data, part, depth):
        if opening:
            del kept[node.depth - 1:]
            if kept:
                kept[-1].children.append(node)
            kept.append(node)
    return kept[0]


def text_of(data: bytes, node: Node, part: str) -> str:
    """Return the text inside an element, entities and CDATA sections decoded."""
    return "".join(_texts(data, node, part, 1)[0][1])


def child_texts(data: bytes, parent: Node, local: str, part: str) -> list[str]:
    """Return the text of each child of parent with this local name, in one parse."""
    return ["".join(pieces) for name, pieces in _texts(data, parent, part, 2)
            if name.rpartition(":")[2] == local]


def _texts(data: bytes, node: Node, part: str, depth: int) -> list[tuple[str, list[str]]]:
    """Return (name, text pieces) of the elements at depth inside node (node is 1), in order."""
    parser = hardened_parser(part, utf8_only=True)  # a fragment: its prefixes are declared above it
    found: list[tuple[str, list[str]]] = []
    level = 0

    def started(name: str, _attrs: dict[str, str]) -> None:
        nonlocal level
        level += 1
        if level == depth:
            found.append((name, []))

    def ended(_name: str) -> None:
        nonlocal level
        level -= 1

    def text(piece: str) -> None:
        if level >= depth:
            found[-1][1].append(piece)

    parser.StartElementHandler, parser.EndElementHandler = started, ended
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data[node.start:node.end], True)
    except expat.ExpatError as error:
        raise parse_error(part, error) from error
    return found


# --- edits ---------------------------------------------------------------------------------------

Edit = tuple[int, int, bytes]


def apply(data: bytes, edits: list[Edit]) -> bytes:
    """Replace each span (start, stop) of data; insertions at one place keep the list's order."""
    pieces, position = [], 0
    for start, stop, replacement in sorted(edits, key=lambda edit: (edit[0], edit[1])):
        if start < position:
            raise InputError("modifications qui se chevauchent : partie XML inattendue", DAMAGED)
        pieces += [data[position:start], replacement]
        position = stop
    pieces.append(data[position:])
    return b"".join(pieces)


def start_tag(data: bytes, node: Node) -> bytes:
    """Return an element's start tag, as written."""
    return data[node.start:node.head]


def opened(tag: bytes) -> bytes:
    """Return an empty element's tag <x …/> as a start tag <x …>."""
    return tag[:-2].rstrip() + b">" if tag.endswith(b"/>") else tag


def append_child(data: bytes, parent: Node, child: str) -> Edit:
    """Return the edit that makes child the last child of parent (opening <x/> if needed)."""
    if parent.empty:
        return parent.start, parent.head, (opened(start_tag(data, parent)).decode("utf-8") + child
                                           + f"</{parent.name}>").encode("utf-8")
    return parent.close, parent.close, child.encode("utf-8")


def _attribute_values(tag: bytes) -> dict[str, tuple[int, int]]:
    """Map each attribute of a start tag to the span of its quoted value, read in order."""
    return {found.group(1).decode("utf-8", "replace"): found.span(2) for found in _attributes(tag)}


def set_attribute(tag: bytes, name: str, value: str) -> bytes:
    """Return the start tag with the attribute set (its value replaced, or added at the end)."""
    quoted = f'"{attribute_text(value)}"'.encode()
    span = _attribute_values(tag).get(name)
    if span is not None:
        return tag[:span[0]] + quoted + tag[span[1]:]
    end = len(tag) - (2 if tag.endswith(b"/>") else 1)
    return tag[:end].rstrip() + f" {name}=".encode() + quoted + tag[end:]


def drop_attribute(tag: bytes, name: str) -> bytes:
    """Return the start tag without the attribute (and the space before it)."""
    name_bytes = name.encode("utf-8")
    for attribute in _attributes(tag):
        if attribute.group(1) == name_bytes:
            return tag[:attribute.start()] + tag[attribute.end():]
    return tag


def _attributes(tag: bytes) -> Iterator[re.Match[bytes]]:
    """Yield the attributes of a start tag in order, each consumed whole."""
    name = _TAG_NAME.match(tag)
    position = name.end() if name else len(tag)
    while attribute := _ATTRIBUTE.match(tag, position):
        yield attribute
        position = attribute.end()


# --- text ----------------------------------------------------------------------------------------

def xml_text(text: str) -> str:
    """Escape text for element content, without the characters XML 1.0 forbids."""
    text = _NOT_XML.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def attribute_text(text: str) -> str:
    """Escape text for a double-quoted attribute value."""
    return xml_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;")


def small_int(text: str | None) -> int | None:
    """Return an attribute's whole number (at most 9 ASCII digits), or None: never a huge int()."""
    return int(text) if text is not None and _SMALL_NUMBER.fullmatch(text) else None


def shown(text: str, limit: int | None = 20) -> str:
    """Return a value from the file fit for a message: shortened, invisible characters escaped."""
    cut = text if limit is None or len(text) <= limit else text[:limit] + "…"
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in cut)
