"""Turn what people type into canonical values: each parser returns (value, problem), never raises.

`problem` is None when the value was accepted or recognised (both are None for a blank cell);
otherwise `value` is None and `problem` says why, as a catalogue code and a short French detail.
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import math
import numbers
import re
import unicodedata
from dataclasses import dataclass

from camf_excel.lists import recognise
from camf_excel.model import ListSpec


@dataclass(frozen=True)
class Problem:
    """Why a typed value cannot be used: a catalogue code and a short French detail."""

    code: str  # NOMBRE_INVALIDE, NOMBRE_AMBIGU, DATE_INVALIDE, DATE_ANNEE or VALEUR_HORS_LISTE
    detail: str  # e.g. « 1,500 » peut se lire 1,5 ou 1 500


Parsed = tuple[object, Problem | None]

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


_SHOWN_MAX = 80  # a pasted paragraph is cut in the detail; the issue keeps the whole value


def _clean_or_none(value: object) -> str | None:
    """Return clean_text(value), or None when the object cannot be written as text."""
    try:
        return clean_text(value)
    except Exception:  # any object may reach a parser; str() fails on ints over 4 300 digits
        return None


def _shown(value: object) -> str:
    """Return a value as quoted in a detail: VRAI/FAUX as Excel shows them, long text cut."""
    if isinstance(value, bool):
        return "VRAI" if value else "FAUX"
    text = _clean_or_none(value)
    if text is None:
        return "valeur illisible"
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


def parse_list_value(value: object, spec: ListSpec) -> Parsed:
    """Map a typed value to the list's canonical item, by the one rule of `lists.recognise`."""
    text = _clean_or_none(value)
    if text == "":
        return None, None
    canonical = None if text is None else recognise(text, spec)
    if canonical is None:
        choices = "; ".join(spec.items)
        return None, Problem("VALEUR_HORS_LISTE", f"« {_shown(value)} » n'est pas dans la liste ({choices})")
    return canonical, None


# --- Numbers -------------------------------------------------------------------------------------

_GROUP_SPACES = " \u00a0\u202f"  # space, no-break space, narrow no-break space
_CURRENCY = r"(?:\$\s*CAD|CAD\s*\$|\$|CAD)"
_AMOUNT = re.compile(
    rf"(?P<lead>-?)\s*(?P<before>{_CURRENCY})?\s*(?P<inner>-?)\s*"
    rf"(?P<body>[0-9.,]+(?:[{_GROUP_SPACES}][0-9.,]+)*)\s*(?P<after>{_CURRENCY})?",
    re.IGNORECASE,
)
_MAX_AMOUNT_CHARS = 100  # no amount is longer: a pasted paragraph is refused before any regex
_NumberRead = tuple[float | None, Problem | None]


def _not_a_number(value: object) -> Problem:
    return Problem("NOMBRE_INVALIDE", f"« {_shown(value)} » n'est pas un nombre")


def _finite_float(value: object) -> float | None:
    """Return a real number (int, float, Decimal, NumPy…) as a finite float, else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | decimal.Decimal):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):  # 10**400, Decimal("sNaN")
        return None
    # + 0.0 turns -0.0 into 0.0, so a cleared amount never shows as « -0 »
    return number + 0.0 if math.isfinite(number) else None


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _grouped_digits(whole: str, group_mark: str) -> str | None:
    """Return the digits of an integer part, checking its thousands groups; None if malformed."""
    for space in _GROUP_SPACES[1:]:
        whole = whole.replace(space, " ")
    if " " in whole:  # spaces group the thousands: the marks may not group them as well
        if group_mark and group_mark in whole:
            return None
        group_mark = " "
    groups = whole.split(group_mark) if group_mark else [whole]
    if len(groups) == 1:
        return whole if not whole or _is_digits(whole) else None
    head, tail = groups[0], groups[1:]
    # a first group of 0 (« 0,500 ») is never a thousands grouping: people write 500
    if not (_is_digits(head) and len(head) <= 3 and head[0] != "0"):
        return None
    return "".join(groups) if all(len(group) == 3 and _is_digits(group) for group in tail) else None


def _reading(body: str, decimal_mark: str, group_mark: str) -> tuple[float, ...]:
    """Read the body with one decimal and one thousands mark (either may be ""); () if it does not fit."""
    whole, _, fraction = body.partition(decimal_mark) if decimal_mark else (body, "", "")
    if decimal_mark and not _is_digits(fraction):
        return ()
    digits = _grouped_digits(whole, group_mark)
    if digits is None or not (digits or fraction):
        return ()
    return (float(f"{digits or 0}.{fraction or 0}"),)


def _body_readings(body: str) -> tuple[float, ...]:
    """Every reading of an amount's digits and marks: none, one, or two when it is ambiguous."""
    commas, points = body.count(","), body.count(".")
    if commas and points:  # the last mark is the decimal one: 1.500,50 and 1,500.50
        decimal_mark = "," if body.rfind(",") > body.rfind(".") else "."
        return _reading(body, decimal_mark, "." if decimal_mark == "," else ",")
    mark = "," if commas else "." if points else ""
    if commas + points > 1:  # 1,500,000: a repeated mark only groups thousands
        return _reading(body, "", mark)
    if mark and not any(space in body for space in _GROUP_SPACES):
        # « 1,500 » is 1,5 or 1 500; both readings are kept when both are well formed
        return _reading(body, mark, "") + _reading(body, "", mark)
    return _reading(body, mark, "")


def _read_amount(text: str, shown: str, *, currency: bool = True) -> _NumberRead:
    """Read an amount typed as text: signs, currency, Quebec or English separators."""
    match = _AMOUNT.fullmatch(text.replace("\u2212", "-")) if len(text) <= _MAX_AMOUNT_CHARS else None
    invalid = Problem("NOMBRE_INVALIDE", f"« {shown} » n'est pas un nombre")
    if match is None or (match["lead"] and match["inner"]) or (match["before"] and match["after"]):
        return None, invalid
    if not currency and (match["before"] or match["after"]):
        return None, invalid
    sign = -1.0 if match["lead"] or match["inner"] else 1.0
    readings = [sign * reading + 0.0 for reading in _body_readings(match["body"])]
    if len(readings) == 2:
        first, second = (format_number_fr(reading) for reading in readings)
        return None, Problem("NOMBRE_AMBIGU", f"« {shown} » peut se lire {first} ou {second}")
    if not readings or not math.isfinite(readings[0]):
        return None, invalid
    return readings[0], None


def _read_number(value: object) -> _NumberRead:
    if value is None:
        return None, None
    if isinstance(value, str):
        text = clean_text(value)
        return _read_amount(text, _shown(value)) if text else (None, None)
    number = _finite_float(value)
    return (number, None) if number is not None else (None, _not_a_number(value))


def parse_number(value: object) -> Parsed:
    """Read a number, or an amount typed as text: « 1 500,50 $ », « 1,500.50 », « −12 »."""
    return _read_number(value)


def parse_integer(value: object) -> Parsed:
    """Read a whole number such as a year or a count: 2025, 2025.0, « 2025 », « 1 500 »."""
    number, problem = _read_number(value)
    if number is None:
        return None, problem
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value), None  # exact: the float would round integers above 2**53
    if not number.is_integer():
        return None, Problem("NOMBRE_INVALIDE", f"« {_shown(value)} » n'est pas un nombre entier")
    try:
        return int(number), None
    except (OverflowError, ValueError):
        return None, _not_a_number(value)


def parse_percent(value: object, percent_format: bool = False) -> Parsed:
    """Read a percent on the 0–100 scale (not range-checked): 50, « 50 % », « 50,5 % », 0.5.

    `percent_format` says the cell had a percentage number format, so the number is a fraction
    (a person typed « 100 % », Excel stored 1). Without it, only a float strictly between 0 and 1
    is taken as a fraction, as other programs write them; text is never scaled.
    """
    if isinstance(value, str):
        text = clean_text(value)
        if text.endswith("%"):
            text = text[:-1].rstrip()
        elif not text:
            return None, None
        return _read_amount(text, _shown(value), currency=False)
    number, problem = _read_number(value)
    if number is None:
        return None, problem
    if percent_format or (isinstance(value, float) and 0 < number < 1):
        number = round(number * 100, 10)  # 0.055 * 100 is 5.500000000000001
        if not math.isfinite(number):
            return None, _not_a_number(value)
    return number, None


# --- Dates ---------------------------------------------------------------------------------------

_YEAR_SERIALS = (1900, 2100)  # whole serials read as years: nobody means a date in 1905
_YEAR_TEXT = re.compile(r"[0-9]{4}")
_TIME = r"(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"  # as other programs add it
_ISO_DATE = re.compile(
    rf"(?P<year>[0-9]{{4}})[-/](?P<month>[0-9]{{1,2}})(?:[-/](?P<day>[0-9]{{1,2}}){_TIME})?"
)
_FR_DATE = re.compile(r"(?P<day>[0-9]{1,2})[/.-](?P<month>[0-9]{1,2})[/.-](?P<year>[0-9]{4})")


def _impossible_date(value: object) -> Problem:
    return Problem("DATE_INVALIDE", f"« {_shown(value)} » n'est pas une date possible")


def _bare_year(year: str) -> Problem:
    return Problem("DATE_ANNEE", f"{year} est une année, pas une date")


def _calendar_date(value: dt.date) -> Parsed:
    """Return a date or datetime's calendar day as a plain date."""
    try:
        day = dt.date(value.year, value.month, value.day)
    except (TypeError, ValueError):  # pandas' NaT is a datetime whose fields are NaN
        return None, _impossible_date(value)
    # A year typed in a date-formatted cell comes back from the reader already as a date of 1905.
    serial = (day - _EXCEL_EPOCH).days
    if _YEAR_SERIALS[0] <= serial <= _YEAR_SERIALS[1] and not _has_time(value):
        return None, _bare_year(str(serial))
    return day, None


def _has_time(value: dt.date) -> bool:
    return isinstance(value, dt.datetime) and value.time() != dt.time()


def _serial_date(value: object) -> Parsed:
    """Read an Excel serial (1900 system); a fraction is the time of day, dropped."""
    number = _finite_float(value)
    if number is not None and number.is_integer() and _YEAR_SERIALS[0] <= number <= _YEAR_SERIALS[1]:
        return None, _bare_year(str(int(number)))  # typed 2025, stored as the serial 2025
    if number is None or not 1 <= number <= _MAX_SERIAL:
        return None, _impossible_date(value)
    return _EXCEL_EPOCH + dt.timedelta(days=int(number)), None


def _text_date(value: str) -> Parsed:
    """Read ISO (2025-03-10, 2025-03, 2025/03/10) or Quebec day-first (10/03/2025) text."""
    text = clean_text(value)
    if not text:
        return None, None
    if _YEAR_TEXT.fullmatch(text):
        return None, _bare_year(text)
    match = _ISO_DATE.fullmatch(text) or _FR_DATE.fullmatch(text)
    if match is None:
        detail = f"« {_shown(value)} » n'est pas une date (attendu : aaaa-mm-jj ou jj/mm/aaaa)"
        return None, Problem("DATE_INVALIDE", detail)
    try:
        return dt.date(int(match["year"]), int(match["month"]), int(match["day"] or 1)), None
    except ValueError:
        return None, _impossible_date(value)


def parse_date(value: object) -> Parsed:
    """Read a date: a date or datetime, an Excel serial, ISO or dd/mm/yyyy text; a bare year is refused."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return _text_date(value)
    if isinstance(value, dt.time | dt.timedelta):
        # calamine turns a negative or fractional serial into a time of day: no calendar date
        return None, _impossible_date(value)
    if isinstance(value, dt.date):
        return _calendar_date(value)
    if isinstance(value, numbers.Real | decimal.Decimal) and not isinstance(value, bool):
        return _serial_date(value)
    return None, Problem("DATE_INVALIDE", f"« {_shown(value)} » n'est pas une date")


# --- Text helpers --------------------------------------------------------------------------------


def looks_like_number_text(value: object) -> bool:
    """Tell a number typed as text (« 1 500 », « 1,500 ») from other text."""
    if not isinstance(value, str):
        return False
    number, problem = _read_number(value)
    return number is not None or (problem is not None and problem.code == "NOMBRE_AMBIGU")


def _thousands(digits: str) -> str:
    return f"{int(digits):,}".replace(",", "\u00a0")


MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def french_date(day: dt.date) -> str:
    """A date as French writes it in a text: « 1er janvier 2026 », « 15 janvier 2026 »."""
    return f"{'1er' if day.day == 1 else day.day} {MONTHS[day.month - 1]} {day.year}"


def format_number_fr(value: float) -> str:
    """Write a number as people read it in Quebec: « 1 500,5 », « 1 500 » (no-break space groups)."""
    if not math.isfinite(value):
        return str(value)
    sign = "-" if value < 0 else ""
    if float(value).is_integer():
        return sign + _thousands(str(abs(int(value))))
    # repr is the shortest text that reads back as the same float; Decimal writes it without exponent
    whole, _, fraction = format(decimal.Decimal(repr(abs(float(value)))), "f").partition(".")
    return f"{sign}{_thousands(whole)},{fraction}"
