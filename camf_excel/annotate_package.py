"""The package of a workbook being annotated: its parts, relationships and content types."""

from __future__ import annotations

import io
import posixpath
import time
import zipfile
from dataclasses import dataclass

from camf_excel.errors import InputError
from camf_excel.limits import DAMAGED, part_key
from camf_excel.package import PackageFacts
from camf_excel.parts import Relationship, read_relationships, rels_part
from camf_excel.xmlparts import Node, append_child, apply, attribute_text, tree

# (SpreadsheetML, relationships) namespaces: new parts speak the package's own dialect.
TRANSITIONAL = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                "http://schemas.openxmlformats.org/officeDocument/2006/relationships")
STRICT = ("http://purl.oclc.org/ooxml/spreadsheetml/main",
          "http://purl.oclc.org/ooxml/officeDocument/relationships")
DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_NEW_RELATIONSHIPS = (DECLARATION + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                      'relationships"></Relationships>')


class Package:
    """The parts of an OOXML zip by name, as the guard read them; a part never put back keeps its bytes."""

    def __init__(self, facts: PackageFacts) -> None:
        if facts.contents is None:
            raise ValueError("the guard must keep every part (check_zip_workbook(keep_all=True))")
        self.entries, self.data = facts.entries, dict(facts.contents)
        # The guard refused two parts of one name; some generators write `xl\styles.xml` or odd case.
        self.names = {_key(name): name for name in self.data}
        self.added: list[str] = []

    def get(self, part: str) -> bytes | None:
        """Return a part's bytes, or None when the package lacks it."""
        name = self.names.get(_key(part))
        return None if name is None else self.data[name]

    def put(self, part: str, data: bytes) -> None:
        """Replace a part, or add it when new."""
        name = self.names.get(_key(part))
        if name is None:
            name = part
            self.names[_key(part)] = name
            self.added.append(name)
        self.data[name] = data

    def unused(self, pattern: str) -> str:
        """Return the first free part name `pattern.format(n)`, n = 1, 2…"""
        number = 1
        while _key(pattern.format(number)) in self.names:
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


def _key(name: str) -> str:
    """A part name as OPC compares it: forward slashes, no leading slash, ASCII case ignored."""
    return part_key(name).lstrip("/")


def part_tree(package: Package, part: str, depth: int) -> Node | None:
    """Return a part's root element (kept down to depth), or None when the package lacks it."""
    data = package.get(part)
    return None if data is None else tree(data, part, depth)


# --- relationships -------------------------------------------------------------------------------

def relationships(package: Package, part: str) -> dict[str, Relationship]:
    """Return a part's relationships by id (the first of an id wins, as Excel), targets resolved."""
    found: dict[str, Relationship] = {}
    for relation in read_relationships(package.get(rels_part(part)) or b"", part):
        found.setdefault(relation.id, relation)
    return found


class RelationshipsEditor:
    """Adds relationships to a part's .rels, creating it when the part had none."""

    def __init__(self, package: Package, part: str) -> None:
        self.package, self.path = package, rels_part(part)
        self.folder = posixpath.dirname(part.replace("\\", "/").lstrip("/"))
        self.existing = relationships(package, part)
        self.data = package.get(self.path) or _NEW_RELATIONSHIPS.encode("utf-8")

    def of_kind(self, kind: str) -> Relationship | None:
        """Return the first relationship of this kind (comments…), whatever its namespace."""
        return next((r for r in self.existing.values() if r.kind == kind and not r.external), None)

    def add(self, kind: str, target: str) -> str:
        """Add a relationship to target (a part name) and return its new id."""
        number = len(self.existing) + 1
        while f"rId{number}" in self.existing:
            number += 1
        rid = f"rId{number}"
        relative = posixpath.relpath(target, self.folder or ".")
        self.existing[rid] = Relationship(rid, kind, relative, target, False)
        root = tree(self.data, self.path, 1)
        element = (f'<{root.prefix}Relationship Id="{rid}" Type="{attribute_text(kind)}" '
                   f'Target="{attribute_text(relative)}"/>')
        self.data = apply(self.data, [append_child(self.data, root, element)])
        return rid

    def save(self) -> None:
        """Put the .rels part back into the package."""
        self.package.put(self.path, self.data)


def add_content_type(package: Package, part: str | None, extension: str | None, content_type: str) -> None:
    """Declare a new part's content type: an Override for part, or a Default for extension."""
    name = "[Content_Types].xml"
    data = package.get(name)
    if data is None:
        raise InputError("classeur sans [Content_Types].xml : endommagé", DAMAGED)
    root = tree(data, name, 2)
    p = root.prefix
    if part is not None:
        key, wanted = "PartName", f"/{part}"
        element = f'<{p}Override PartName="/{attribute_text(part)}" ContentType="{content_type}"/>'
    else:
        key, wanted = "Extension", extension or ""
        element = f'<{p}Default Extension="{attribute_text(wanted)}" ContentType="{content_type}"/>'
    # Part names and extensions are compared without regard to case (OPC).
    if any(child.attrs.get(key, "").casefold() == wanted.casefold() for child in root.children):
        return
    package.put(name, apply(data, [append_child(data, root, element)]))


# --- the workbook part ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Workbook:
    """The workbook part, its worksheets by name, and the namespaces the package uses."""

    part: str
    sheets: dict[str, str]
    namespaces: tuple[str, str] = TRANSITIONAL

    @property
    def main(self) -> str:
        """The SpreadsheetML namespace."""
        return self.namespaces[0]

    def relationship_type(self, kind: str) -> str:
        """Return the full relationship type of a kind (comments, vmlDrawing, styles)."""
        return f"{self.namespaces[1]}/{kind}"


def read_workbook(package: Package, facts: PackageFacts) -> Workbook:
    """Return the workbook part and its worksheets by name: those the guard and the reader found."""
    root = part_tree(package, facts.workbook_part, 1)
    if root is None:
        raise InputError("classeur sans partie xl/workbook.xml", DAMAGED)
    sheets = {name: part for name, part in facts.sheet_parts.items()
              if facts.sheet_kinds.get(name) == "worksheet" and package.get(part) is not None}
    return Workbook(package.names[_key(facts.workbook_part)], sheets,
                    STRICT if root.uri == STRICT[0] else TRANSITIONAL)
