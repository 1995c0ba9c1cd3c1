"""The run's CSV inputs (organisations, territories) are read as every CSV is, in a capped child process."""

from __future__ import annotations

from pathlib import Path

import pytest

from camf_excel.csvfiles import read_csv_rows_isolated
from camf_excel.errors import InputError
from camf_excel.generate import read_organisations
from camf_excel.limits import MAX_CSV_FIELD_CHARS


def test_read_organisations__excel_french_csv__read_with_line_numbers_kept(tmp_path: Path) -> None:
    orgs = tmp_path / "organisations.csv"
    orgs.write_bytes("organisation;type;code_geo\r\nSainte-Thècle;municipalite;35027\r\n;;\r\n"
                     "Hérouxville;municipalite;35015\r\n".encode("cp1252"))
    rows = read_organisations(orgs)
    assert [row["organisation"] for row in rows] == ["Sainte-Thècle", "", "Hérouxville"]


def test_read_organisations__unclosed_quote__refused_naming_the_line(tmp_path: Path) -> None:
    orgs = tmp_path / "organisations.csv"
    orgs.write_text('organisation,type\nGrandes-Piles,"municipalite\n' + "x" * (MAX_CSV_FIELD_CHARS + 10),
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"organisations\.csv, ligne 2 : champ de plus de"):
        read_organisations(orgs)


def test_read_csv_rows_isolated__not_a_csv__refused_in_french(tmp_path: Path) -> None:
    binary = tmp_path / "territoires.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00" + bytes(range(256)))
    with pytest.raises(InputError, match=r"territoires\.csv"):
        read_csv_rows_isolated(binary)
