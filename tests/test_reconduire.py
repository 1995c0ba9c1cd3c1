"""Roll a plan forward 2025 → 2026 → 2027, filling each period as staff would: nothing lost, the
history kept, and the new dashboard's « since the previous period » as LibreOffice computes it."""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path

import openpyxl
import pytest
from dashboard import _number, expected_dashboard, read_dashboard
from libreoffice import convert_many, needs_libreoffice

from camf_excel.figures import HISTORY_KEYS, compute_figures, evolution_indicators, previous_figures
from camf_excel.history import read_history
from camf_excel.reconduire import roll_forward, write_rolled
from camf_excel.templates import load_template
from camf_excel.validation import check_workbook
from camf_excel.writer import DASHBOARD_SHEET, FIRST_DATA_ROW, PLAN_SHEET

SAMPLES = Path(__file__).parent.parent / "samples" / "classeurs-remplis"
SOURCE = SAMPLES / "51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx"  # 25 actions, no error
TODAY = dt.date(2026, 12, 1)


def _fill(path: Path, periode: int, seed: int) -> None:
    """A season of follow-up typed as staff do with the lists: a status, its progress, the day of update."""
    template = load_template("pfm")
    rng = random.Random(seed)
    column = {c.key: i + 1 for i, c in enumerate(template.columns)}
    book = openpyxl.load_workbook(path)
    sheet = book[PLAN_SHEET]
    row = FIRST_DATA_ROW + 1
    while sheet.cell(row, column["action"]).value:
        status = rng.choice(["Non débutée", "En cours", "Réalisée", "En continu", "Reportée"])
        progress = {"Non débutée": 0, "Réalisée": 100}.get(status, rng.choice([10, 25, 50, 75]))
        sheet.cell(row, column["statut"], status)
        sheet.cell(row, column["avancement"], progress)
        sheet.cell(row, column["date_maj"], dt.datetime(periode, rng.randint(1, 10), rng.randint(1, 28)))
        if status == "Reportée":
            sheet.cell(row, column["commentaires"], "Reportée faute de budget.")
        row += 1
    book.save(path)


def _roll(source: Path, folder: Path) -> Path:
    rolled, skipped = roll_forward([source])
    assert not skipped and [r.refusal for r in rolled] == [""]
    (written,) = write_rolled(rolled, folder)
    return written


@pytest.fixture(scope="module")
def periods(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("reconduire")
    first = folder / "2025" / SOURCE.name
    first.parent.mkdir()
    shutil.copy(SOURCE, first)
    second = _roll(first, folder / "2026")
    _fill(second, 2026, seed=26)
    third = _roll(second, folder / "2027")
    return {2025: first, 2026: second, 2027: third}


def test_reconduire__each_period__actions_carried_once_values_unchanged(periods: dict[int, Path]) -> None:
    before = check_workbook(periods[2026], today=TODAY)
    after = check_workbook(periods[2027], today=TODAY)
    assert after.identification["periode"] == 2027 and after.identification["date_maj_fichier"] is None
    assert len(after.actions) == len(before.actions) == 25
    for old, new in zip(before.actions, after.actions, strict=True):
        for key in ("action_id", "action", "champ", "statut", "avancement", "date_maj", "commentaires"):
            assert new[key] == old[key], key
    assert not [i.message for i in after.issues if i.severity == "erreur"]


def test_reconduire__history__one_row_per_action_per_earlier_period(periods: dict[int, Path]) -> None:
    history = read_history(periods[2027])
    assert sorted({row["periode"] for row in history}) == [2025, 2026]
    assert len(history) == 2 * 25
    rows_2026 = [row for row in history if row["periode"] == 2026]
    actions_2026 = check_workbook(periods[2026], today=TODAY).actions
    assert [row["statut"] for row in rows_2026] == [a["statut"] for a in actions_2026]
    assert set(history[0]) == set(HISTORY_KEYS)


@needs_libreoffice
def test_reconduire__dashboard_recalculated__same_figures_and_change_as_the_tool(periods: dict[int, Path],
                                                                                 tmp_path: Path) -> None:
    template = load_template("pfm")
    recalculated = convert_many([periods[2027]], tmp_path / "lo")[periods[2027]]
    result = check_workbook(periods[2027], today=TODAY)
    figures = compute_figures(result.actions, 2027, template)
    assert read_dashboard(recalculated, template) == expected_dashboard(figures, template)
    previous = previous_figures(read_history(periods[2027]), 2027, template)
    book = openpyxl.load_workbook(recalculated, data_only=True)
    shown = {}
    for indicator in evolution_indicators(template):
        (sheet, ref), = book.defined_names[indicator.cell_name].destinations
        assert sheet == DASHBOARD_SHEET
        shown[indicator.name] = _number(book[sheet][ref.replace("$", "")].value)
    assert shown == {"periode_precedente": 2026, "realisees_precedente": previous.realised,
                     "realisees_evolution": figures.realised - previous.realised,
                     "en_retard_precedente": previous.late}
    assert previous.realised == sum(1 for a in check_workbook(periods[2026]).actions
                                    if a["statut"] == "Réalisée")


def test_reconduire__template_1_0__rolled_into_the_current_version(tmp_path: Path) -> None:
    old = next((Path(__file__).parent / "fixtures" / "modele-1.0").glob("*.xlsx"))
    rolled, _ = roll_forward([old])
    (written,) = write_rolled(rolled, tmp_path)
    before, after = check_workbook(old), check_workbook(written)
    assert after.template_version == load_template(after.template_id).version != before.template_version
    assert [a["action"] for a in after.actions] == [a["action"] for a in before.actions]


def test_reconduire__newer_template_than_the_tool__refused_asking_for_an_update(tmp_path: Path) -> None:
    newer = tmp_path / "recent.xlsx"
    shutil.copy(SOURCE, newer)
    book = openpyxl.load_workbook(newer)
    for prop in book.custom_doc_props:
        if prop.name == "camf_template_version":
            prop.value = "9.0"
    book.save(newer)
    (rolled,), _ = roll_forward([newer])
    assert "mettez camf-excel à jour" in rolled.refusal and not rolled.data
