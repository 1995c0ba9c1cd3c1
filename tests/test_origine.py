"""Actions added while the plan runs: marked in « Origine de l'action », counted apart, alike everywhere."""

from __future__ import annotations

from pathlib import Path

import openpyxl
from dashboard import _number
from filling import filled_workbook
from libreoffice import convert_many, needs_libreoffice

from camf_excel.batch import check_files
from camf_excel.bilan import build_bilans
from camf_excel.bilan_text import view
from camf_excel.consolidation import consolidate
from camf_excel.templates import load_template
from camf_excel.validation import check_workbook
from camf_excel.writer import FIRST_DATA_ROW, PLAN_SHEET

ADDED = ("Nouvelle halte-garderie estivale", "Ajoutée en cours de plan"), ("Marché public", "nouvelle")


def _with_added_actions(path: Path) -> Path:
    """Two actions typed below the plan's, one marked with the list's item, one with a variant."""
    template = load_template("pfm")
    column = {c.key: i + 1 for i, c in enumerate(template.columns)}
    book = openpyxl.load_workbook(path)
    sheet = book[PLAN_SHEET]
    row = FIRST_DATA_ROW + 1
    while sheet.cell(row, column["action"]).value:
        row += 1
    for offset, (action, origin) in enumerate(ADDED):
        sheet.cell(row + offset, column["action_id"], f"9.{offset + 1}")
        sheet.cell(row + offset, column["champ"], "Habitation")
        sheet.cell(row + offset, column["action"], action)
        sheet.cell(row + offset, column["statut"], "En cours")
        sheet.cell(row + offset, column["avancement"], 25)
        sheet.cell(row + offset, column["origine"], origin)
    book.save(path)
    return path


@needs_libreoffice
def test_added_actions__counted_apart__workbook_tool_consolidation_and_bilan_agree(tmp_path: Path) -> None:
    source = _with_added_actions(filled_workbook(tmp_path / "ajouts.xlsx"))
    result = check_workbook(source)
    assert result.figures is not None and result.figures.added == 2
    recalculated = convert_many([source], tmp_path / "lo")[source]
    book = openpyxl.load_workbook(recalculated, data_only=True)
    (sheet, ref), = book.defined_names["tdb_ajoutees"].destinations
    assert _number(book[sheet][ref.replace("$", "")].value) == 2  # the variant « nouvelle » recognised too
    assert consolidate([source]).organisations["ajoutees"].tolist() == [2]
    (bilan,) = [b for b in build_bilans(check_files([source])).bilans if b.kind == "organisation"]
    lines = {line["libelle"]: line["valeur"] for line in view(bilan)["indicateurs"]}
    assert lines["Actions ajoutées en cours de plan"] == "2"
