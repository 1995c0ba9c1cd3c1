"""Which typed texts a validation list recognises: one rule, shared by the reader and the workbook.

A list value is recognised when, spaces trimmed and case aside, it is one of the list's items
or declared variants (synonyms), written with or without its accents and with a straight or a
curly apostrophe. The generator writes these same forms into the workbook's hidden Listes
sheet, where a formula looks the typed status and champ up (MATCH is case-insensitive; TRIM
trims as `excel_trim` does): the workbook's Tableau de bord and the tool therefore count the
same values, whatever people typed.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from camf_excel.model import ListSpec

_APOSTROPHES = ("'", "’")
_SPACES = re.compile(" +")


def strip_accents(text: str) -> str:
    """Return text without its combining accents (é -> e, Î -> I)."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def excel_trim(text: str) -> str:
    """Trim as the spreadsheet's TRIM does: spaces (not tabs or no-break spaces), inner runs made one."""
    return _SPACES.sub(" ", text.strip(" "))


def _spellings(text: str) -> set[str]:
    spellings = {text, strip_accents(text)}
    for apostrophe in _APOSTROPHES:
        spellings |= {s.replace(other, apostrophe) for s in list(spellings) for other in _APOSTROPHES}
    return spellings


def list_forms(spec: ListSpec) -> dict[str, str]:
    """Map each recognised spelling (case as written) to its canonical item, items first."""
    return _forms(spec.items, tuple(spec.synonyms.items()))


@functools.cache
def _forms(items: tuple[str, ...], synonyms: tuple[tuple[str, str], ...]) -> dict[str, str]:
    forms: dict[str, str] = {}
    keys: set[str] = set()
    for variant, canonical in [*((item, item) for item in items), *synonyms]:
        for spelling in sorted(_spellings(variant)):
            if spelling.casefold() not in keys:  # the workbook's MATCH would find the first one only
                keys.add(spelling.casefold())
                forms[spelling] = canonical
    return forms


@functools.cache
def _lookup(items: tuple[str, ...], synonyms: tuple[tuple[str, str], ...]) -> dict[str, str]:
    return {form.casefold(): canonical for form, canonical in _forms(items, synonyms).items()}


def recognise(text: str, spec: ListSpec) -> str | None:
    """Return the canonical item a typed text stands for, else None."""
    return _lookup(spec.items, tuple(spec.synonyms.items())).get(excel_trim(text).casefold())


def is_variant(text: str, canonical: str) -> bool:
    """Tell whether a recognised text is written otherwise than its item (case and spaces aside)."""
    return excel_trim(text).casefold() != canonical.casefold()
