"""Normalisers accept what people type, flag what they cannot read, and never raise."""

from __future__ import annotations

import datetime as dt
import decimal
import fractions
import math

import pandas as pd
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from camf_excel.normalise import (
    Problem,
    fold,
    format_number_fr,
    looks_like_number_text,
    parse_date,
    parse_integer,
    parse_list_value,
    parse_number,
    parse_percent,
)
from camf_excel.templates import load_template

STATUT = load_template("pfm-mada").lists["statut"]
NBSP = "\u00a0"
HUGE_INT = 10**400
HUGE = pytest.param(HUGE_INT, id="10**400")
UNPRINTABLE = pytest.param(10**5000, id="10**5000")  # str() refuses ints over 4 300 digits


def code(parsed: tuple[object, Problem | None]) -> str | None:
    """Return the problem's code, checking that a refused value comes back as None."""
    value, problem = parsed
    if problem is None:
        return None
    assert value is None
    return problem.code


# --- Lists ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "canonical"), [
    ("en cours", "En cours"), ("Réalisé", "Réalisée"), ("REALISEE", "Réalisée"),
    ("  terminé ", "Réalisée"), ("partiellement réalisée", "En cours"),
    ("Non débuté", "Non débutée"), ("en continue", "En continu"),
])
def test_parse_list_value__status_variants__canonical(typed: str, canonical: str) -> None:
    assert parse_list_value(typed, STATUT) == (canonical, None)


def test_parse_list_value__unknown__problem_lists_choices() -> None:
    choices = "; ".join(STATUT.items)
    assert parse_list_value("peut-être", STATUT) == (
        None, Problem("VALEUR_HORS_LISTE", f"« peut-être » n'est pas dans la liste ({choices})"))


@pytest.mark.parametrize("typed", [None, "", "   "])
def test_parse_list_value__blank__nothing(typed: object) -> None:
    assert parse_list_value(typed, STATUT) == (None, None)


@pytest.mark.parametrize("typed", [12, True, UNPRINTABLE, b"en cours"])
def test_parse_list_value__not_text__outside_list(typed: object) -> None:
    assert code(parse_list_value(typed, STATUT)) == "VALEUR_HORS_LISTE"


# --- Numbers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "number"), [
    # numbers as numbers
    (12, 12.0), (12.5, 12.5), (-3, -3.0), (1e20, 1e20), (decimal.Decimal("1.5"), 1.5),
    (fractions.Fraction(1, 4), 0.25), (-0.0, 0.0),
    # thousands grouped by spaces, plain or no-break
    ("1 500", 1500.0), (f"1{NBSP}500", 1500.0), ("1\u202f500", 1500.0), ("1 500 000", 1_500_000.0),
    # both marks: the last one is the decimal mark
    ("1.500,50", 1500.5), ("1,500.50", 1500.5), ("1,500.25", 1500.25), ("1.234.567,8", 1_234_567.8),
    # one mark repeated: thousands
    ("1,500,000", 1_500_000.0), ("1.500.000", 1_500_000.0),
    # one mark once, not followed by a thousands group: decimal
    ("1,5", 1.5), ("1,50", 1.5), ("0,500", 0.5), ("1.2345", 1.2345), ("1500,5", 1500.5), (",5", 0.5),
    # spaces already group the thousands, or the integer part cannot be a group: decimal
    ("1 500,500", 1500.5), ("1234,567", 1234.567),
    # currency, signs, surrounding spaces
    ("1 500,50 $", 1500.5), ("2 000 $", 2000.0), ("1500$", 1500.0), ("$1,500.50", 1500.5),
    ("$ 1500", 1500.0), ("1 500 CAD", 1500.0), ("1 500 $ CAD", 1500.0), ("cad 12", 12.0),
    ("-1 500,5", -1500.5), ("\u22121 500", -1500.0), ("-$ 15", -15.0), ("$-15", -15.0),
    ("  12  ", 12.0), (f"{NBSP}12{NBSP}", 12.0), ("-0", 0.0),
])
def test_parse_number__quebec_readings__number(typed: object, number: float) -> None:
    assert parse_number(typed) == (number, None)


@pytest.mark.parametrize("typed", ["1,500", "1.500", "12,345", "-1,500", "1,000 $", "999.999"])
def test_parse_number__one_mark_before_three_digits__ambiguous(typed: str) -> None:
    assert code(parse_number(typed)) == "NOMBRE_AMBIGU"


@pytest.mark.parametrize(("typed", "detail"), [
    ("1,500", f"« 1,500 » peut se lire 1,5 ou 1{NBSP}500"),
    ("-12.345", f"« -12.345 » peut se lire -12,345 ou -12{NBSP}345"),
])
def test_parse_number__ambiguous__detail_gives_both_readings(typed: str, detail: str) -> None:
    assert parse_number(typed) == (None, Problem("NOMBRE_AMBIGU", detail))


@pytest.mark.parametrize("typed", [
    # malformed groups and marks
    "1,50,0", "1 50", "1.500,50,3", "1,500.5.0", "1 500.000,5", "1  500", "01 500", "1.", "1,", ",", ".",
    # what Python's float() accepts but people do not type
    "1_000", "1e3", "1E3", "0x10", "nan", "NaN", "inf", "-inf", "Infinity",
    # signs and currency out of place
    "--5", "+5", "5-", "$ 5 $", "- -5", "50 %",
    # not numbers at all
    "douze", "12 pommes", "١٢", "1" * 200,
    # numbers no cell can hold, and things that are not numbers
    math.nan, math.inf, -math.inf, HUGE, pytest.param(-HUGE_INT, id="-10**400"), UNPRINTABLE,
    decimal.Decimal("NaN"),
    True, False, b"12", dt.date(2025, 3, 10), dt.time(12), dt.timedelta(days=1), [12], object(),
])
def test_parse_number__not_a_number__invalid(typed: object) -> None:
    assert code(parse_number(typed)) == "NOMBRE_INVALIDE"


@pytest.mark.parametrize(("typed", "detail"), [
    ("1_000", "« 1_000 » n'est pas un nombre"), (True, "« VRAI » n'est pas un nombre"),
    ("x" * 200, f"« {'x' * 79}… » n'est pas un nombre"),
])
def test_parse_number__invalid__detail_quotes_value(typed: object, detail: str) -> None:
    assert parse_number(typed) == (None, Problem("NOMBRE_INVALIDE", detail))


@pytest.mark.parametrize("typed", [None, "", "   ", NBSP])
def test_parse_number__blank__nothing(typed: object) -> None:
    assert parse_number(typed) == (None, None)


@pytest.mark.parametrize(("typed", "number"), [
    (2025, 2025), (2025.0, 2025), ("2025", 2025), ("1 500", 1500), ("-3", -3), (1e20, 10**20),
    (12_345_678_901_234_567, 12_345_678_901_234_567),
])
def test_parse_integer__whole_numbers__int(typed: object, number: int) -> None:
    value, problem = parse_integer(typed)
    assert (value, problem) == (number, None) and type(value) is int


def test_parse_integer__fraction__not_whole() -> None:
    assert parse_integer("2025,5") == (
        None, Problem("NOMBRE_INVALIDE", "« 2025,5 » n'est pas un nombre entier"))


@pytest.mark.parametrize(("typed", "problem"), [
    (2025.5, "NOMBRE_INVALIDE"), ("1,500", "NOMBRE_AMBIGU"), ("1e400", "NOMBRE_INVALIDE"),
    pytest.param(HUGE_INT, "NOMBRE_INVALIDE", id="10**400"), (math.inf, "NOMBRE_INVALIDE"),
    (math.nan, "NOMBRE_INVALIDE"),
    (True, "NOMBRE_INVALIDE"), ("deux", "NOMBRE_INVALIDE"),
])
def test_parse_integer__unusable__problem(typed: object, problem: str) -> None:
    assert code(parse_integer(typed)) == problem


# --- Percents ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "percent"), [
    (50, 50.0), (0.5, 50.0), (0.055, 5.5), ("50 %", 50.0), ("50%", 50.0), ("50,5 %", 50.5),
    (" 100 % ", 100.0), ("50\u202f%", 50.0), (f"50{NBSP}%", 50.0), ("0,5 %", 0.5),
    # kept as typed: 1 and 0 are percents, text is never scaled, no range check here
    (1, 1.0), (1.0, 1.0), (0, 0.0), (0.0, 0.0), ("0,5", 0.5), ("50", 50.0), (150, 150.0), (-10, -10.0),
])
def test_parse_percent__forms__zero_to_hundred_scale(typed: object, percent: float) -> None:
    assert parse_percent(typed) == (percent, None)


@pytest.mark.parametrize(("typed", "percent"), [
    (1, 100.0), (1.0, 100.0), (0.5, 50.0), (0.055, 5.5), (0.07, 7.0), (0, 0.0), (1.25, 125.0),
    ("50 %", 50.0), ("0,5", 0.5),
])
def test_parse_percent__percent_format__fraction_scaled(typed: object, percent: float) -> None:
    assert parse_percent(typed, percent_format=True) == (percent, None)


@pytest.mark.parametrize(("typed", "problem"), [
    ("1,500 %", "NOMBRE_AMBIGU"), ("50 $", "NOMBRE_INVALIDE"), ("cinquante", "NOMBRE_INVALIDE"),
    ("%", "NOMBRE_INVALIDE"), ("50 %%", "NOMBRE_INVALIDE"), (True, "NOMBRE_INVALIDE"),
    (math.nan, "NOMBRE_INVALIDE"), pytest.param(HUGE_INT, "NOMBRE_INVALIDE", id="10**400"),
])
def test_parse_percent__unusable__problem(typed: object, problem: str) -> None:
    assert code(parse_percent(typed)) == problem


def test_parse_percent__ambiguous__detail_quotes_whole_text() -> None:
    assert parse_percent("1,500 %") == (
        None, Problem("NOMBRE_AMBIGU", f"« 1,500 % » peut se lire 1,5 ou 1{NBSP}500"))


def test_parse_percent__percent_format_overflow__invalid() -> None:
    assert code(parse_percent(1e308, percent_format=True)) == "NOMBRE_INVALIDE"


@pytest.mark.parametrize("typed", [None, "", "  "])
def test_parse_percent__blank__nothing(typed: object) -> None:
    assert parse_percent(typed) == (None, None)


# --- Dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "date"), [
    ("2025-03-10", dt.date(2025, 3, 10)), ("2025-03", dt.date(2025, 3, 1)),
    ("2025/03/10", dt.date(2025, 3, 10)), ("10/03/2025", dt.date(2025, 3, 10)),
    ("10-03-2025", dt.date(2025, 3, 10)), ("10.03.2025", dt.date(2025, 3, 10)),
    ("1/3/2025", dt.date(2025, 3, 1)), (" 2025-03-10 ", dt.date(2025, 3, 10)),
    ("2025-03-10 00:00:00", dt.date(2025, 3, 10)), ("2025-03-10T08:15", dt.date(2025, 3, 10)),
    (45726, dt.date(2025, 3, 10)), (45726.75, dt.date(2025, 3, 10)), (1, dt.date(1899, 12, 31)),
    (2_958_465, dt.date(9999, 12, 31)), (1899, dt.date(1905, 3, 13)), (2101, dt.date(1905, 10, 1)),
    (dt.date(2025, 3, 10), dt.date(2025, 3, 10)), (dt.datetime(2025, 3, 10, 14, 30), dt.date(2025, 3, 10)),
    (pd.Timestamp("2025-03-10 14:30"), dt.date(2025, 3, 10)),
])
def test_parse_date__forms__date(typed: object, date: dt.date) -> None:
    value, problem = parse_date(typed)
    assert (value, problem) == (date, None) and type(value) is dt.date


@pytest.mark.parametrize(("typed", "year"), [
    (2025, "2025"), (2025.0, "2025"), (1900, "1900"), (2100, "2100"), ("2025", "2025"), (" 2030 ", "2030"),
])
def test_parse_date__bare_year__refused_as_year(typed: object, year: str) -> None:
    assert parse_date(typed) == (None, Problem("DATE_ANNEE", f"{year} est une année, pas une date"))


@pytest.mark.parametrize("typed", [
    # impossible calendar days, two-digit years, words
    "31/02/2026", "2024-02-30", "2025-13-01", "00/01/2025", "10/03/25", "25-03-10", "demain", "2025-3-10-1",
    # serials outside Excel's calendar, and what calamine makes of negative or fractional serials
    -1, 0, 0.5, 3_000_000, math.nan, math.inf, HUGE, UNPRINTABLE, dt.time(12), dt.timedelta(days=-1),
    # not dates at all
    True, b"2025-03-10", pd.NaT, object(),
])
def test_parse_date__not_a_date__invalid(typed: object) -> None:
    assert code(parse_date(typed)) == "DATE_INVALIDE"


def test_parse_date__impossible_day__detail() -> None:
    assert parse_date("31/02/2026") == (
        None, Problem("DATE_INVALIDE", "« 31/02/2026 » n'est pas une date possible"))


@pytest.mark.parametrize("typed", [None, "", "  "])
def test_parse_date__blank__nothing(typed: object) -> None:
    assert parse_date(typed) == (None, None)


# --- Text helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "expected"), [
    ("1 500", True), ("1,500", True), ("12 $", True), ("-3,5", True), ("0,5", True),
    ("douze", False), ("", False), ("50 %", False), ("2025-03-10", False), ("1e3", False),
    (12, False), (None, False), (1.5, False),
])
def test_looks_like_number_text(typed: object, expected: bool) -> None:
    assert looks_like_number_text(typed) is expected


@pytest.mark.parametrize(("number", "text"), [
    (1500.5, f"1{NBSP}500,5"), (1500.0, f"1{NBSP}500"), (12.0, "12"), (0.5, "0,5"), (-0.0, "0"),
    (-1_234_567.25, f"-1{NBSP}234{NBSP}567,25"), (1e-7, "0,0000001"), (999.0, "999"),
    (1e20, NBSP.join(["100"] + ["000"] * 6)), (55.00000000000001, "55,00000000000001"),
])
def test_format_number_fr(number: float, text: str) -> None:
    assert format_number_fr(number) == text


readable = st.floats(min_value=-1e15, max_value=1e15).filter(
    lambda x: x == 0 or abs(x) >= 1000 or (1e-6 <= abs(x) < 1) or x.is_integer())


@given(readable)
def test_format_number_fr__unambiguous__reads_back(number: float) -> None:
    # between 1 and 1000 « 1,001 » is ambiguous as typed: only the unambiguous range reads back
    assert parse_number(format_number_fr(number)) == (number + 0.0, None)


# --- Never raise ---------------------------------------------------------------------------------

amount_like = st.from_regex(r"[-\u2212+$ 0-9.,%/\u00a0\u202fCADe]{0,24}", fullmatch=True)
anything = st.one_of(
    st.none(), st.text(), amount_like, st.floats(), st.integers(),
    st.integers(min_value=10**300, max_value=10**500), st.booleans(), st.binary(max_size=8),
    st.dates(), st.datetimes(), st.times(), st.timedeltas(), st.decimals(), st.fractions(),
)
KINDS = {parse_number: float, parse_integer: int, parse_percent: float, parse_date: dt.date}


@given(anything)
@example(10**5000)
@example("9" * 10_000)
@example(pd.NaT)
def test_parsers__any_input__never_raise(value: object) -> None:
    for parser, kind in KINDS.items():
        parsed, problem = parser(value)
        assert problem is None or (parsed is None and isinstance(problem, Problem) and problem.detail)
        assert parsed is None or isinstance(parsed, kind)
    assert isinstance(parse_percent(value, percent_format=True), tuple)
    assert code(parse_list_value(value, STATUT)) in {None, "VALEUR_HORS_LISTE"}
    assert isinstance(looks_like_number_text(value), bool)


@given(st.one_of(st.none(), st.text(), st.integers(), st.floats(), st.booleans(), st.dates()))
def test_fold__any_printable_input__text(value: object) -> None:
    assert isinstance(fold(value), str)


@given(st.sampled_from(STATUT.items), st.sampled_from([str.upper, str.lower, str.title]))
def test_parse_list_value__case_and_accents__canonical(status: str, change: object) -> None:
    typed = change(status)  # type: ignore[operator]
    assert parse_list_value(f"  {typed} ", STATUT) == (status, None)


@given(st.integers(min_value=0, max_value=100))
def test_parse_percent__whole_numbers__kept(value: int) -> None:
    assert parse_percent(value) == (float(value), None)


def test_parse_date__year_typed_in_a_date_formatted_cell__bare_year() -> None:
    # Excel stores 2025 typed in a date cell as the serial 2025, which readers give as 1905-07-17.
    value, problem = parse_date(dt.datetime(1905, 7, 17))
    assert value is None and problem is not None and problem.code == "DATE_ANNEE"
    assert "2025" in problem.detail
    assert parse_date(dt.datetime(1905, 7, 17, 10, 30))[0] == dt.date(1905, 7, 17)  # a time: a real date
