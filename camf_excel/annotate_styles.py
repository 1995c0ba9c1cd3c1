"""The copy's cell formats: each (format, severity) pair is cloned once with a highlight fill."""

from __future__ import annotations

import posixpath

from camf_excel.annotate_package import DECLARATION, Package, RelationshipsEditor, Workbook, add_content_type
from camf_excel.errors import InputError
from camf_excel.model import ERROR, WARNING
from camf_excel.xmlparts import DAMAGED, Edit, Node, append_child, apply, set_attribute, start_tag, tree

# Violet and turquoise: colours the follow-up workbook never uses (its statuses are grey, yellow,
# green, blue, salmon; « En retard » is pink), so a highlight is never read as a status.
FILL_COLOURS: dict[str, str] = {ERROR: "FFCC99FF", WARNING: "FF8EE5EE"}
COLOUR_NAMES: dict[str, str] = {ERROR: "violet", WARNING: "turquoise"}
_STYLES_CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
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


def _styles_part(package: Package, book: Workbook) -> tuple[str, bytes]:
    """Return the styles part's name and bytes; create it (rare minimal writers) when missing."""
    editor = RelationshipsEditor(package, book.part)
    relation = editor.of_kind("styles")
    if relation is not None:
        data = package.get(relation.part)
        if data is not None:
            return relation.part, data
    part = posixpath.join(posixpath.dirname(book.part), "styles.xml")  # where openpyxl looks
    if package.get(part) is not None:
        part = package.unused(part.replace("styles.xml", "styles{}.xml"))
    editor.add(book.relationship_type("styles"), part)
    editor.save()
    add_content_type(package, part, None, _STYLES_CONTENT)
    return part, (DECLARATION + _MINIMAL_STYLES.format(main=book.main)).encode("utf-8")


class Styles:
    """The cell formats of one package, and the highlighted clones added to them.

    A clone keeps the cell's number format, font, border, alignment and protection (an input
    cell stays unlocked on its protected sheet); only fillId changes.
    """

    def __init__(self, package: Package, book: Workbook) -> None:
        self.package = package
        self.part, self.data = _styles_part(package, book)
        self.prefix = tree(self.data, self.part, 1).prefix
        p = self.prefix
        self._ensure("fills", "fill", f'<{p}fill><{p}patternFill patternType="none"/></{p}fill>'
                     f'<{p}fill><{p}patternFill patternType="gray125"/></{p}fill>')
        self._ensure("cellXfs", "xf", f'<{p}xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>')
        root = tree(self.data, self.part, 3)
        # Each format as written, and the length of its start tag (where fillId is set).
        self.formats = [(self.data[xf.start:xf.end], xf.head - xf.start)
                        for xf in self._container(root, "cellXfs").all("xf")]
        self.fill_count = len(self._container(root, "fills").all("fill"))
        self.new_fills: list[bytes] = []
        self.new_formats: list[bytes] = []
        self.fill_ids: dict[str, int] = {}
        self.clones: dict[tuple[int, str], int] = {}

    def _container(self, root: Node, local: str) -> Node:
        found = root.child(local)
        if found is None:
            raise InputError(f"styles sans <{local}> : classeur endommagé", DAMAGED)
        return found

    def _ensure(self, local: str, child: str, defaults: str) -> None:
        """Make sure the container exists and holds at least the defaults Excel relies on."""
        root = tree(self.data, self.part, 3)
        container = root.child(local)
        if container is None:
            following = [node for node in root.children if node.uri == root.uri
                         and node.local in _STYLE_ORDER[_STYLE_ORDER.index(local) + 1:]]
            position = min((node.start for node in following), default=root.close)
            p = root.prefix
            element = f'<{p}{local} count="0">{defaults}</{p}{local}>'.encode()
            self.data = apply(self.data, [(position, position, element)])
        elif not container.all(child):
            self.data = apply(self.data, [append_child(self.data, container, defaults)])

    def styled(self, base: int, severity: str) -> int:
        """Return the index of base's format with the severity's fill, cloning it the first time.

        A severity without a fill (the legend's) keeps the cell's own format.
        """
        if severity not in FILL_COLOURS:
            return base
        if not 0 <= base < len(self.formats):
            base = 0  # a dangling index shows as the default format in Excel
        key = (base, severity)
        if key not in self.clones:
            clone, head = self.formats[base]
            tag = set_attribute(set_attribute(clone[:head], "fillId", str(self._fill(severity))),
                                "applyFill", "1")
            self.new_formats.append(tag + clone[head:])
            self.clones[key] = len(self.formats) + len(self.new_formats) - 1
        return self.clones[key]

    def _fill(self, severity: str) -> int:
        if severity not in self.fill_ids:
            p = self.prefix
            self.new_fills.append(f'<{p}fill><{p}patternFill patternType="solid"><{p}fgColor rgb='
                                  f'"{FILL_COLOURS[severity]}"/><{p}bgColor indexed="64"/>'
                                  f'</{p}patternFill></{p}fill>'.encode())
            self.fill_ids[severity] = self.fill_count + len(self.new_fills) - 1
        return self.fill_ids[severity]

    def save(self) -> None:
        """Append the new fills and formats, fix both counts, and put the part back."""
        root = tree(self.data, self.part, 2)
        edits: list[Edit] = []
        for local, count, added in (("fills", self.fill_count, self.new_fills),
                                    ("cellXfs", len(self.formats), self.new_formats)):
            container = self._container(root, local)  # opened by _ensure: it has children
            tag = set_attribute(start_tag(self.data, container), "count", str(count + len(added)))
            edits += [(container.start, container.head, tag),
                      (container.close, container.close, b"".join(added))]
        self.package.put(self.part, apply(self.data, edits))
