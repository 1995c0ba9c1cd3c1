"""Frozen records shared by every module: templates, columns, lists (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

Kind = Literal["text", "list", "integer", "number", "percent", "date", "email", "formula"]
KINDS: frozenset[str] = frozenset(get_args(Kind))
ErrorStyle = Literal["stop", "warning", "information"]


@dataclass(frozen=True)
class ListSpec:
    """A validation list: canonical items, accepted variants and the named range's size."""

    name: str
    items: tuple[str, ...]
    synonyms: Mapping[str, str] = field(default_factory=dict)
    editable: bool = False
    slots: int = 0

    @property
    def range_name(self) -> str:
        """Name of the workbook's defined name holding this list."""
        return f"liste_{self.name}"

    @property
    def size(self) -> int:
        """Rows reserved for the list on the Listes sheet (room to extend when editable)."""
        return max(len(self.items), self.slots)


@dataclass(frozen=True)
class Column:
    """A column of the Plan d'action table."""

    key: str
    header: str
    kind: str
    width: float = 12
    required: bool = False
    list: str | None = None
    group: str = "plan"
    error_style: str = "stop"
    aliases: tuple[str, ...] = ()
    input_title: str = ""
    input_message: str = ""
    hidden: bool = False  # a calculated helper column, not shown (and not printed)
    step: int = 0  # a percent column's choices go by this step (0: any number from 0 to 100)
    since: str = ""  # the template version that added it: an older workbook is not told it lacks it


@dataclass(frozen=True)
class IdentField:
    """A label/value line of the Identification sheet."""

    key: str
    label: str
    kind: str
    required: bool = False
    list: str | None = None
    help: str = ""


@dataclass(frozen=True)
class Rule:
    """A registered check (`rules.REGISTRY`) applied to some columns (all applicable ones when empty)."""

    check: str
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    """A follow-up workbook definition loaded from workbook_templates/."""

    id: str
    version: str
    demarche: str
    language: str
    title: str
    columns: tuple[Column, ...]
    identification: tuple[IdentField, ...]
    lists: Mapping[str, ListSpec]
    rules: tuple[Rule, ...]
    realised_status: str
    not_late_statuses: tuple[str, ...]
    added_origin: str = ""  # the Origine of an action added while the plan runs (counted apart)
    source: str = ""

    def column(self, key: str) -> Column:
        """Return the column with this canonical key."""
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)

    @property
    def column_keys(self) -> tuple[str, ...]:
        """Canonical keys of the Plan d'action columns, in sheet order."""
        return tuple(column.key for column in self.columns)


# Years (the template's whole numbers): what the workbook and the command line let people enter,
# and what a file read back may plausibly hold (older plans included) before it is called a typo.
ENTRY_YEARS = (2000, 2100)
PLAUSIBLE_YEARS = (1900, 2100)

# Excel holds at most this many characters in a cell: longer text cannot be written back.
CELL_TEXT_LIMIT = 32_767

Severity = Literal["erreur", "avertissement"]
ERROR: Severity = "erreur"
WARNING: Severity = "avertissement"
ISSUE_FIELDS = ("severity", "code", "file", "sheet", "cell", "row", "column", "value", "message")


@dataclass(frozen=True)
class Issue:
    """One problem found in an input file, where it is and what to do (DOMAIN §8)."""

    severity: Severity
    code: str
    file: str
    sheet: str = ""
    cell: str = ""
    row: int | None = None
    column: str = ""
    value: str = ""
    message: str = ""
