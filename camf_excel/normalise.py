"""Turn what people type into canonical values: each parser returns (value, note), never raises.

`note` is None when the value was accepted as is or recognised; otherwise it is a short French
explanation of why the value could not be used (and `value` is None).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import unicodedata
from collections.abc import Mapping

from camf_excel.model import ListSpec

Parsed = tuple[object, str | None]

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'"})
_DASHES = str.maketrans({"–": "-", "—": "-", "‑": "-", "‐": "-"})
_SPACES = re.compile(r"\s+")
_EXCEL_EPOCH = dt.date(1899, 12, 30)
_MAX_SERIAL = 2_958_465  # 9999-12-31


def fold(text: object) -> str:
    """Return a comparison key: no accents, lower case, one kind of apostrophe and dash, single spaces."""
    if text is None:
        return ""
    return _fold_text(text if isinstance(text, str) else str(text))


@functools.lru_cache(maxsize=65_536)
def _fold_text(text: str) -> str:
    # Cached: a batch folds the same headers, statuses and champs thousands of times.
    if text.isascii():
        return _SPACES.sub(" ", text.translate(_APOSTROPHES)).strip().casefold()
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).translate(_DASHES))
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _SPACES.sub(" ", bare.replace("\u00a0", " ")).strip().casefold()


def clean_text(value: object) -> str:
    """Return a cell's text trimmed, CR/LF made LF, as written back to a workbook."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


def list_lookup(spec: ListSpec) -> Mapping[str, str]:
    """Map the folded form of every item and synonym to its canonical item."""
    lookup = {fold(variant): canonical for variant, canonical in spec.synonyms.items()}
    lookup.update({fold(item): item for item in spec.items})
    return lookup


def parse_list_value(value: object, spec: ListSpec, lookup: Mapping[str, str] | None = None) -> Parsed:
    """Map a typed value to the list's canonical item (case, accents and synonyms forgiven)."""
    text = clean_text(value)
    if not text:
        return None, None
    canonical = (lookup or list_lookup(spec)).get(fold(text))
    if canonical is None:
        return None, f"« {text} » n'est pas dans la liste ({'; '.join(spec.items)})"
    return canonical, None


_NUMBER_JUNK = re.compile(r"[\s\u00a0\u202f$]|CAD|\$", re.IGNORECASE)


def parse_number(value: object) -> Parsed:
    """Read a number written as a number or as French text ("1 500,50 $", "1500.5")."""
    if value is None or isinstance(value, bool):
        return None, None if value is None else "un nombre est attendu"
    if isinstance(value, int | float):
        return (float(value), None) if math.isfinite(value) else (None, "nombre invalide")
    text = _NUMBER_JUNK.sub("", clean_text(value))
    if not text:
        return None, None
    if "," in text and "." in text:
        text = text.replace(",", "")
    text = text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None, f"« {clean_text(value)} » n'est pas un nombre"
    return (number, None) if math.isfinite(number) else (None, "nombre invalide")


def parse_integer(value: object) -> Parsed:
    """Read a whole number such as a year (2025, "2025", 2025.0)."""
    number, note = parse_number(value)
    if number is None:
        return None, note
    if not float(number).is_integer():
        return None, f"« {clean_text(value)} » n'est pas un nombre entier"
    return int(number), None


def parse_percent(value: object) -> Parsed:
    """Read a progress percent as 0–100: 0.5, 50, "50 %", "50,5 %" (a fraction ≤ 1 is scaled)."""
    text = clean_text(value) if isinstance(value, str) else None
    had_sign = bool(text and text.endswith("%"))
    number, note = parse_number(text.rstrip("%") if text else value)
    if number is None:
        return None, note
    if not had_sign and isinstance(value, float) and 0 < number < 1:
        number *= 100
    if not 0 <= number <= 100:
        return None, f"« {clean_text(value)} » n'est pas un pourcentage entre 0 et 100"
    return number, None


_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?$")
_FR_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")


def parse_date(value: object) -> Parsed:
    """Read a date: a date, an Excel serial, ISO text (2025-03-10, 2025-03) or dd/mm/yyyy."""
    if value is None or value == "":
        return None, None
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    if isinstance(value, dt.time | dt.timedelta):
        # calamine turns a negative or fractional serial into a time of day: no calendar date
        return None, f"« {value} » n'est pas une date possible"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not (math.isfinite(value) and 1 <= value <= _MAX_SERIAL):
            return None, f"« {value} » n'est pas une date possible"
        return _EXCEL_EPOCH + dt.timedelta(days=int(value)), None
    text = clean_text(value)
    for pattern, order in ((_ISO_DATE, (0, 1, 2)), (_FR_DATE, (2, 1, 0))):
        match = pattern.match(text)
        if match:
            parts = match.groups()
            year, month, day = (parts[i] for i in order)
            try:
                return dt.date(int(year), int(month), int(day or 1)), None
            except ValueError:
                return None, f"« {text} » n'est pas une date possible"
    return None, f"« {text} » n'est pas une date (attendu : aaaa-mm-jj)"
