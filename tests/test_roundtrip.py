"""A workbook re-saved by LibreOffice, as .xlsx and as .ods, reads back to the same DataFrame."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import MADA_PLAN
from filling import PLAN, edit, filled_workbook
from libreoffice import convert, needs_libreoffice

from camf_excel.batch import actions_frame
from camf_excel.validation import check_workbook

TODAY = dt.date(2025, 12, 1)
pytestmark = needs_libreoffice


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return filled_workbook(tmp_path_factory.mktemp("propre") / "propre.xlsx", template_id="mada",
                           plan=MADA_PLAN,
                           identification={"organisation": "Shawinigan", "type": "Municipalité",
                                           "mrc": "Shawinigan", "annee_debut": 2023, "annee_fin": 2027,
                                           "periode": 2025, "responsable_nom": "Marc Trudel"})


def _frame(path: Path) -> pd.DataFrame:
    result = check_workbook(path, today=TODAY)
    assert result.issues == [], [(i.code, i.cell, i.message) for i in result.issues]
    return actions_frame([result]).drop(columns=["source_file"])


@pytest.mark.parametrize("extension", ["xlsx", "ods"])
def test_roundtrip__libreoffice_resave__same_dataframe(clean: Path, tmp_path: Path, extension: str) -> None:
    resaved = convert(clean, tmp_path / "lo", extension)
    pd.testing.assert_frame_equal(_frame(resaved), _frame(clean))
    assert len(_frame(clean)) == 40


def test_roundtrip__error_and_merge_in_ods__reported_on_their_cells(clean: Path, tmp_path: Path) -> None:
    edited = edit(clean, {(PLAN, "J7"): "=1/0", (PLAN, "P9"): "=NA()"}, tmp_path / "erreurs.xlsx")
    book = openpyxl.load_workbook(edited)
    book[PLAN].merge_cells("B10:B12")
    book.save(edited)
    ods = convert(edited, tmp_path / "lo", "ods")
    found = [(i.code, i.cell) for i in check_workbook(ods, today=TODAY).issues]
    assert found == [("CELLULE_ERREUR", "J7"), ("CELLULE_ERREUR", "P9"), ("CELLULES_FUSIONNEES", "B10")]
    xlsx = convert(edited, tmp_path / "lo2", "xlsx")
    assert [(i.code, i.cell) for i in check_workbook(xlsx, today=TODAY).issues] == found
