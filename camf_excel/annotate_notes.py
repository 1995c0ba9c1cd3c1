"""The notes of an annotated copy: the comments part and the VML shapes that show them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from camf_excel.annotate_package import DECLARATION, Package
from camf_excel.annotate_sheet import MAX_COLUMN, MAX_ROW, Layout, Note
from camf_excel.errors import InputError
from camf_excel.xmlparts import (
    DAMAGED,
    Edit,
    Node,
    append_child,
    apply,
    child_texts,
    shown,
    text_of,
    tree,
    xml_text,
)

AUTHOR = "camf-excel"


# --- the comments part ---------------------------------------------------------------------------

def _run(text: str, prefix: str) -> str:
    p = prefix
    return (f'<{p}r><{p}rPr><{p}sz val="9"/><{p}color indexed="81"/><{p}rFont val="Tahoma"/>'
            f'<{p}family val="2"/></{p}rPr><{p}t xml:space="preserve">{xml_text(text)}</{p}t></{p}r>')


def _comment(note: Note, author: int, prefix: str) -> str:
    p = prefix
    return (f'<{p}comment ref="{note.ref}" authorId="{author}"><{p}text>{_run(note.text, p)}</{p}text>'
            f'</{p}comment>')


def new_comments(notes: list[Note], main: str) -> bytes:
    """Return a new comments part holding the notes."""
    comments = "".join(_comment(note, 0, "") for note in notes)
    return (f'{DECLARATION}<comments xmlns="{main}"><authors><author>{AUTHOR}</author></authors>'
            f"<commentList>{comments}</commentList></comments>").encode()


def merged_comments(data: bytes, part: str, notes: list[Note]) -> tuple[bytes, set[str]]:
    """Add the notes to an existing comments part; return it and the cells that already had one.

    A cell holds one comment at most (Excel repairs a file with two): a note on a cell that
    already has a comment is appended to it, on a new line.
    """
    root = tree(data, part, 4)
    authors, comment_list = root.child("authors"), root.child("commentList")
    if authors is None or comment_list is None:
        raise InputError(f"partie « {part} » sans <authors> ou <commentList> : classeur endommagé", DAMAGED)
    names = child_texts(data, authors, "author", part)
    edits: list[Edit] = []
    if AUTHOR in names:
        author = names.index(AUTHOR)
    else:
        author = len(names)
        p = authors.prefix
        edits.append(append_child(data, authors, f"<{p}author>{AUTHOR}</{p}author>"))
    existing: dict[str, Node] = {}
    for comment in comment_list.all("comment"):
        existing.setdefault(comment.attrs.get("ref", "").split(":")[0].replace("$", "").upper(), comment)
    new: list[str] = []
    for note in notes:
        found = existing.get(note.ref)
        text = found.child("text") if found is not None else None
        if found is None:
            new.append(_comment(note, author, comment_list.prefix))
        elif text is not None:
            # A copy validated again meets its own notes: a line already there is not repeated.
            present = text_of(data, text, part).split("\n")
            lines = [line for line in note.lines if line not in present]
            if lines:
                edits.append(append_child(data, text, _run("\n" + "\n".join(lines), text.prefix)))
        else:  # a comment without text: ours replaces it
            edits.append((found.start, found.end, _comment(note, author, found.prefix).encode("utf-8")))
    if new:
        edits.append(append_child(data, comment_list, "".join(new)))
    return apply(data, edits), set(existing)


# --- VML drawings --------------------------------------------------------------------------------

_VML_NAMESPACES = {"v": "urn:schemas-microsoft-com:vml", "o": "urn:schemas-microsoft-com:office:office",
                   "x": "urn:schemas-microsoft-com:office:excel"}
_SHAPE_TYPE = ('<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" '
               'path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
               '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>')
# Office Art numbers shapes with 32 bits: ids beyond are not a drawing Excel wrote.
_MAX_SHAPE_ID = 2**31 - 1
_SHAPE_ID = re.compile(rb"_x0000_s([0-9]+)")
_VML_TAG = re.compile(rb"""<(/?)([\w.:-]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(/?)>""")
_VML_ATTRIBUTE = re.compile(rb"""([^\s=/>]+)\s*=\s*("[^"]*"|'[^']*')""")
# What a markup scanner must step over whole: what it holds is never markup.
_SKIPPED = ((b"<!--", b"-->"), (b"<![CDATA[", b"]]>"), (b"<?", b"?>"))


@dataclass(frozen=True)
class _VmlTag:
    """A tag of a VML drawing: name, whether it closes, where it is, and its attributes."""

    name: str
    closing: bool
    start: int
    end: int
    attributes: dict[str, tuple[bytes, int, int]]  # name → (value, span of the value inside quotes)

    @property
    def local(self) -> str:
        """The name without its prefix."""
        return self.name.rpartition(":")[2]


def _vml_tags(data: bytes) -> Iterator[_VmlTag]:
    """Yield the tags of a VML drawing in order, stepping over comments, CDATA and instructions.

    Excel's VML is not always well-formed XML (an unclosed <br>), so no XML parser reads it; the
    scan still reads it in order, as a parser would, so nothing inside a comment counts.
    """
    position = 0
    while (start := data.find(b"<", position)) >= 0:
        skipped = next((pair for pair in _SKIPPED if data.startswith(pair[0], start)), None)
        if skipped is not None:
            stop = data.find(skipped[1], start + len(skipped[0]))
            position = len(data) if stop < 0 else stop + len(skipped[1])
        elif data.startswith(b"<!", start):  # <!DOCTYPE, <!ENTITY: no drawing Excel wrote has one
            raise InputError("dessin des notes (VML) avec une déclaration DTD : refusé", DAMAGED)
        elif (tag := _VML_TAG.match(data, start)) is not None:
            at = tag.start(3)  # spans in the drawing, not in the tag
            attributes = {found.group(1).decode("latin-1"):
                          (found.group(2)[1:-1], at + found.start(2) + 1, at + found.end(2) - 1)
                          for found in _VML_ATTRIBUTE.finditer(tag.group(3))}
            yield _VmlTag(tag.group(2).decode("latin-1"), bool(tag.group(1)), start, tag.end(), attributes)
            position = tag.end()
        else:
            position = start + 1  # a lone "<" in text: not a tag


def _number(digits: bytes, what: str) -> int:
    """Return a number read in a drawing, refusing one no drawing could hold (never a huge int())."""
    if len(digits) > 10 or int(digits) > _MAX_SHAPE_ID:
        number = shown(digits.decode("latin-1"))
        raise InputError(f"dessin des notes (VML) invraisemblable : {what} « {number} » trop grand "
                         "(classeur endommagé ou malveillant)", DAMAGED)
    return int(digits)


class ShapeIds:
    """Hands out VML shape ids unique in the workbook, by blocks of 1024 as Excel numbers them."""

    def __init__(self, package: Package) -> None:
        used = [0]
        for part in package.parts_ending(".vml"):
            for tag in _vml_tags(package.get(part) or b""):
                for name, (value, _, _) in tag.attributes.items():
                    if tag.local == "idmap" and name.rpartition(":")[2] == "data":
                        used += [_number(n, "bloc de formes") for n in re.findall(rb"[0-9]+", value)]
                    elif name.rpartition(":")[2] in ("id", "spid"):
                        used += [_number(n, "numéro de forme") // 1024 for n in _SHAPE_ID.findall(value)]
        self.next_block = max(used) + 1

    def take(self, count: int) -> tuple[list[int], list[int]]:
        """Return the blocks used and the shape ids of count new shapes."""
        blocks = list(range(self.next_block, self.next_block + count // 1024 + 1))
        if (blocks[-1] + 1) * 1024 > _MAX_SHAPE_ID:
            raise InputError("dessin des notes (VML) : plus de numéro de forme libre (classeur endommagé)",
                             DAMAGED)
        self.next_block = blocks[-1] + 1
        return blocks, [blocks[0] * 1024 + 1 + i for i in range(count)]


_NOTE_WIDTH_PX = 340
_CHARS_PER_LINE = 52  # Tahoma 9 in a 340 px box
_LINE_PX = 15
_MAX_LINES = 40
# A note box spans a few rows and columns; tiny or hidden ones must not make it walk the sheet.
_MAX_STEPS = 64


def _anchor_end(start: int, offset: float, size: Callable[[int], float], last: int) -> tuple[int, float]:
    """Return the row or column where a box reaching `offset` px past the start of `start` ends, and where."""
    position = start
    for _ in range(_MAX_STEPS):
        step = size(position)
        if offset < step or position >= last:
            break
        offset -= step
        position += 1
    return position, offset


def _shape(shape_id: int, note: Note, layout: Layout) -> str:
    """Return the VML shape of a hidden note, sized for its text, to the right of its cell."""
    lines = sum(max(1, -(-len(line) // _CHARS_PER_LINE)) for line in note.lines)
    height = min(lines, _MAX_LINES) * _LINE_PX + 12
    left_column, top_row = min(note.column + 1, MAX_COLUMN), max(note.row - 1, 1)
    right_column, right_offset = _anchor_end(left_column, 15.0 + _NOTE_WIDTH_PX, layout.column_px, MAX_COLUMN)
    bottom_row, bottom_offset = _anchor_end(top_row, 10.0 + height, layout.row_px, MAX_ROW)
    left = layout.left_px(left_column) + 15
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


def new_vml(notes: list[Note], layout: Layout, ids: ShapeIds) -> bytes:
    """Return a new VML drawing holding the notes' shapes."""
    blocks, shape_ids = ids.take(len(notes))
    namespaces = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _VML_NAMESPACES.items())
    shapes = "".join(_shape(i, note, layout) for i, note in zip(shape_ids, notes, strict=True))
    return (f'<xml {namespaces}><o:shapelayout v:ext="edit"><o:idmap v:ext="edit" '
            f'data="{",".join(map(str, blocks))}"/></o:shapelayout>{_SHAPE_TYPE}{shapes}</xml>').encode()


def extended_vml(data: bytes, notes: list[Note], layout: Layout, ids: ShapeIds) -> bytes:
    """Append note shapes to an existing VML drawing; its own bytes stay as they were."""
    tags = list(_vml_tags(data))
    root = next((tag for tag in tags if not tag.closing), None)
    close = next((tag for tag in reversed(tags) if tag.closing and tag.local == "xml"), None)
    if (root is None or root.local != "xml" or data[root.start:root.end].endswith(b"/>") or close is None
            or close.start < root.end):
        raise InputError("dessin VML des notes illisible : classeur endommagé", DAMAGED)
    blocks, shape_ids = ids.take(len(notes))
    shapes = "".join(_shape(i, note, layout) for i, note in zip(shape_ids, notes, strict=True))
    if not any(tag.local == "shapetype" and tag.attributes.get("id", (b"",))[0] == b"_x0000_t202"
               for tag in tags):
        shapes = _SHAPE_TYPE + shapes
    edits: list[Edit] = [(close.start, close.start, shapes.encode())]
    missing = "".join(f' xmlns:{prefix}="{uri}"' for prefix, uri in _VML_NAMESPACES.items()
                      if f"xmlns:{prefix}" not in root.attributes)
    edits.append((root.end - 1, root.end - 1, missing.encode()))  # before the root tag's ">"
    idmap = next((tag for tag in tags if tag.local == "idmap" and not tag.closing), None)
    data_value = idmap.attributes.get("data") if idmap is not None else None
    if data_value is not None:
        value, begin, stop = data_value
        listed = b",".join([value.strip(), *(str(block).encode() for block in blocks)]).strip(b",")
        edits.append((begin, stop, listed))
    return apply(data, edits)
