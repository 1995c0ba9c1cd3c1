"""Normalisers accept what people type and never raise."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camf_excel.normalise import (
    fold,
    parse_date,
    parse_integer,
    parse_list_value,
    parse_number,
    parse_percent,
)
from camf_excel.templates import load_template

STATUT = load_template("pfm-mada").lists["statut"]


@pytest.mark.parametrize(("typed", "canonical"), [
    ("en cours", "En cours"), ("Réalisé", "Réalisée"), ("REALISEE", "Réalisée"),
    ("  terminé ", "Réalisée"), ("partiellement réalisée", "En cours"),
    ("Non débuté", "Non débutée"), ("en continue", "En continu"),
])
def test_parse_list_value__status_variants__canonical(typed: str, canonical: str) -> None:
    assert parse_list_value(typed, STATUT) == (canonical, None)


def test_parse_list_value__unknown__note_lists_choices() -> None:
    value, note = parse_list_value("peut-être", STATUT)
    assert value is None and note and "Non débutée" in note


@pytest.mark.parametrize(("typed", "number"), [
    ("1 500,50 $", 1500.5), ("1\u00a0500", 1500.0), ("1,500.25", 1500.25), (12, 12.0),
    ("2 000 $", 2000.0),
])
def test_parse_number__french_formats(typed: object, number: float) -> None:
    assert parse_number(typed) == (number, None)


@pytest.mark.parametrize(("typed", "percent"), [
    (0.5, 50.0), (50, 50.0), ("50 %", 50.0), ("50%", 50.0), ("50,5 %", 50.5), (1, 1.0),
])
def test_parse_percent__forms(typed: object, percent: float) -> None:
    assert parse_percent(typed) == (percent, None)


@pytest.mark.parametrize(("typed", "date"), [
    ("2025-03-10", dt.date(2025, 3, 10)), ("10/03/2025", dt.date(2025, 3, 10)),
    ("2025-03", dt.date(2025, 3, 1)), (45726, dt.date(2025, 3, 10)),
])
def test_parse_date__forms(typed: object, date: dt.date) -> None:
    assert parse_date(typed) == (date, None)


@pytest.mark.parametrize("typed", ["31/02/2024", "2024-02-30", -1, 3_000_000, "demain"])
def test_parse_date__impossible__note(typed: object) -> None:
    value, note = parse_date(typed)
    assert value is None and note


def test_parse_integer__fraction__note() -> None:
    assert parse_integer("2025,5")[0] is None


anything = st.one_of(st.none(), st.text(), st.integers(), st.floats(), st.booleans(),
                     st.dates())


@given(anything)
def test_parsers__any_input__never_raise(value: object) -> None:
    for parser in (parse_number, parse_integer, parse_percent, parse_date):
        _value, note = parser(value)
        assert note is None or isinstance(note, str)
    assert isinstance(fold(value), str)


@given(st.sampled_from(STATUT.items), st.sampled_from([str.upper, str.lower, str.title]))
def test_parse_list_value__case_and_accents__canonical(status: str, change: object) -> None:
    typed = change(status)  # type: ignore[operator]
    assert parse_list_value(f"  {typed} ", STATUT) == (status, None)


@given(st.integers(min_value=0, max_value=100))
def test_parse_percent__whole_numbers__kept(value: int) -> None:
    assert parse_percent(value) == (float(value), None)
