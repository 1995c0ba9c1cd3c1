"""The staff workbook as used (issue 12): opened on a laptop, filled far to the right, printed.

Workbooks are generated as the coordinator does (150 actions of an MRC plan, filled or fresh, and
a blank one), then opened and printed to PDF by LibreOffice in one run, formulas recalculated:
what is asserted about pages and computed figures is what a person sees on paper.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import MRC_PLAN
from filling import filled_workbook
from libreoffice import convert_many, needs_libreoffice
from xlsxwriter.utility import quote_sheetname

from camf_excel.figures import compute_figures
from camf_excel.generate import generate_workbook
from camf_excel.model import Template
from camf_excel.plan import read_plan
from camf_excel.reader import header_key, header_lookup
from camf_excel.templates import list_templates, load_template
from camf_excel.validation import check_workbook
from camf_excel.writer import (
    COMMITTEE_SHEET,
    DASHBOARD_SHEET,
    FIRST_DATA_ROW,
    LEGAL,
    PERIOD_MISSING_NOTE,
    PLAN_SHEET,
    PRINTED_SPARE_ROWS,
    README_SHEET,
    REQUIRED_MARK,
    SHEETS,
    axis_step,
    column_pixels,
    header_text,
)

MRC = load_template("pfm-mada")
ACTIONS = 150
ORGANISATION = "MRC de Mékinac"
IDENTIFICATION = {"organisation": ORGANISATION, "type": "MRC", "mrc": "Mékinac", "region": "Mauricie",
                  "annee_debut": 2025, "annee_fin": 2029, "periode": 2027,
                  "responsable_nom": "Marie Tremblay"}
LAPTOP_PIXELS = 1366
ROW_HEADER_PIXELS = 30  # the row numbers' column, left of A
PDFTOTEXT = shutil.which("pdftotext")
needs_poppler = pytest.mark.skipif(PDFTOTEXT is None,
                                   reason="poppler (pdftotext) absent : apt-get install poppler-utils")


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A filled 150-action workbook, the same plan fresh without période, and a blank one."""
    folder = tmp_path_factory.mktemp("classeurs")
    fresh = {k: str(v) for k, v in IDENTIFICATION.items() if k != "periode"}
    return {
        "rempli": filled_workbook(folder / "rempli.xlsx", "pfm-mada", MRC_PLAN, IDENTIFICATION),
        "neuf": generate_workbook(folder / "neuf.xlsx", "pfm-mada", fresh, MRC_PLAN),
        "vierge": generate_workbook(folder / "vierge.xlsx", "pfm"),
    }


@pytest.fixture(scope="module")
def printed(workbooks: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Each workbook printed to PDF by LibreOffice (one run, formulas recalculated): its pages' text."""
    pdfs = convert_many(list(workbooks.values()), tmp_path_factory.mktemp("pdf"), "pdf")
    return {name: _pages(pdfs[path]) for name, path in workbooks.items()}


def _pages(pdf: Path) -> list[str]:
    assert PDFTOTEXT is not None
    text = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return text.split("\f")[:-1]  # each page ends with a form feed


def _sheet_of(page: str) -> str:
    """The sheet a printed page belongs to: the footer's first words (&A, the sheet's name)."""
    footer = [line for line in page.splitlines() if line.strip()][-1]
    return next(name for name in SHEETS if footer.strip().startswith(name))


def _plan_pages(pages: list[str]) -> list[str]:
    return [page for page in pages if _sheet_of(page) == PLAN_SHEET]


# --- on screen ----------------------------------------------------------------------------------

def test_workbook__opened__shows_lisez_moi_first(workbooks: dict[str, Path]) -> None:
    book = openpyxl.load_workbook(workbooks["rempli"])
    assert book.active.title == README_SHEET
    assert [s.title for s in book.worksheets if s.sheet_view.tabSelected] == [README_SHEET]


def test_plan__scrolled_to_follow_up__action_stays_in_view(workbooks: dict[str, Path]) -> None:
    sheet = openpyxl.load_workbook(workbooks["rempli"])[PLAN_SHEET]
    frozen = list(MRC.columns[: MRC.column_keys.index("action") + 1])
    assert sheet.freeze_panes == f"{openpyxl.utils.get_column_letter(len(frozen) + 1)}{FIRST_DATA_ROW + 1}"
    assert [c.key for c in frozen] == ["action_id", "champ", "objectif", "action"]
    pixels = ROW_HEADER_PIXELS + sum(column_pixels(c.width) for c in frozen)
    assert pixels <= 0.45 * LAPTOP_PIXELS, f"la partie figée occupe {pixels} pixels"
    # Scrolled right, Statut to Commentaires still fit beside the frozen part.
    keys = MRC.column_keys
    follow_up = MRC.columns[keys.index("statut"): keys.index("commentaires") + 1]
    shown = sum(column_pixels(c.width) for c in follow_up)
    assert pixels + shown <= LAPTOP_PIXELS - 20  # the vertical scroll bar


def test_plan__required_columns__marked_and_explained(workbooks: dict[str, Path]) -> None:
    book = openpyxl.load_workbook(workbooks["rempli"])
    headers = [cell.value for cell in book[PLAN_SHEET][FIRST_DATA_ROW]][: len(MRC.columns)]
    assert headers == [header_text(c) for c in MRC.columns]
    assert [h for h in headers if h.endswith(REQUIRED_MARK)] == [
        "No *", "Champ d'action *", "Action *", "Responsable *"]
    readme = " ".join(str(c.value) for c in book[README_SHEET]["B"] if c.value)
    assert f"«{REQUIRED_MARK} » marque une colonne obligatoire" in readme


@pytest.mark.parametrize("template", list_templates(), ids=lambda t: t.id)
def test_reader__marked_headers__each_read_as_its_column(template: Template) -> None:
    lookup = header_lookup(template)
    assert [header_key(header_text(c), lookup) for c in template.columns] == list(template.column_keys)


def test_reader__workbook_with_marked_headers__reads_every_action(workbooks: dict[str, Path]) -> None:
    result = check_workbook(workbooks["rempli"], today=dt.date(2028, 1, 1))
    assert result.issues == [], [(i.code, i.cell) for i in result.issues]
    assert len(result.actions) == ACTIONS
    assert all(action["action_id"] and action["responsable"] for action in result.actions)


def test_committee__meeting_date_header__one_line_in_its_column(workbooks: dict[str, Path]) -> None:
    sheet = openpyxl.load_workbook(workbooks["rempli"])[COMMITTEE_SHEET]
    (letter,) = [cell.column_letter for cell in sheet[3] if cell.value == "Date de la rencontre"]
    assert sheet.column_dimensions[letter].width >= len("Date de la rencontre") + 2  # and the filter button


# --- the dashboard --------------------------------------------------------------------------

def test_dashboard__chart__counts_on_a_whole_number_axis(workbooks: dict[str, Path]) -> None:
    with zipfile.ZipFile(workbooks["rempli"]) as archive:
        chart = archive.read("xl/charts/chart1.xml").decode()
    axis = chart.split("<c:valAx>", 1)[1].split("</c:valAx>", 1)[0]
    assert '<c:numFmt formatCode="0"' in axis and '<c:min val="0"/>' in axis
    largest = max(compute_figures(read_plan(MRC_PLAN, MRC), 2027, MRC).by_champ.values())
    assert f'<c:majorUnit val="{axis_step(largest)}"/>' in axis


def test_axis_step__counts__whole_steps_ten_gridlines_at_most() -> None:
    assert [axis_step(n) for n in (0, 1, 10, 11, 20, 21, 49, 51, 150)] == [1, 1, 1, 2, 2, 5, 5, 10, 20]


def test_fresh_workbook__no_periode__no_action_late_in_python() -> None:
    actions = read_plan(MRC_PLAN, MRC)
    assert compute_figures(actions, None, MRC).late == 0
    assert compute_figures(actions, 2030, MRC).late == ACTIONS  # every action ends by 2029


# --- printed ----------------------------------------------------------------------------------

def test_every_sheet__has_a_print_setup(workbooks: dict[str, Path]) -> None:
    book = openpyxl.load_workbook(workbooks["rempli"])
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert setup.paperSize and setup.orientation, sheet.title
        assert "Page &P de &N" in sheet.oddFooter.center.text, sheet.title
        assert ORGANISATION in (sheet.oddHeader.left.text or ""), sheet.title
        assert "Période de suivi : 2027" in (sheet.oddHeader.right.text or ""), sheet.title
        if sheet.sheet_state == "visible":
            assert sheet.print_area, sheet.title
    plan = book[PLAN_SHEET]
    assert (plan.page_setup.paperSize, plan.page_setup.orientation) == (LEGAL, "landscape")
    assert (plan.page_setup.fitToWidth, plan.page_setup.fitToHeight) == (2, 0)
    assert plan.print_title_rows == "$2:$3" and plan.print_title_cols == "$A:$D"
    last_row = FIRST_DATA_ROW + ACTIONS + PRINTED_SPARE_ROWS
    last_shown = max(i for i, c in enumerate(MRC.columns, start=1) if not c.hidden)
    assert plan.print_area == f"{quote_sheetname(PLAN_SHEET)}!$A$1:${_letter(last_shown)}${last_row}"


def _letter(col: int) -> str:
    return openpyxl.utils.get_column_letter(col)


@pytest.mark.parametrize("template", list_templates(), ids=lambda t: t.id)
def test_plan_widths__two_pages_wide__cut_falls_before_statut(template: Template) -> None:
    """Fitted two pages wide, the program cuts where the wider page is narrowest: before Statut."""
    keys = template.column_keys
    repeated = keys.index("action") + 1
    shown = [c for c in template.columns if not c.hidden]
    widths = [column_pixels(c.width) for c in shown]

    def widest_page(cut: int) -> int:
        return max(sum(widths[:cut]), sum(widths[:repeated]) + sum(widths[cut:]))

    best = min(range(repeated + 1, len(shown)), key=widest_page)
    assert shown[best].key == "statut"
    margin = min(widest_page(best - 1), widest_page(best + 1)) - widest_page(best)
    assert margin >= 0.05 * widest_page(best), "les deux pages imprimées ne sont plus équilibrées"


@needs_libreoffice
@needs_poppler
def test_plan__150_actions_printed__plan_then_follow_up_pages(printed: dict[str, list[str]]) -> None:
    pages = printed["rempli"]
    plan = _plan_pages(pages)
    # Measured: 20 pages with Calibri's metrics (Carlito), 16 with LibreOffice's fallback font.
    assert len(plan) % 2 == 0 and 12 <= len(plan) <= 24, len(plan)
    for adopted, follow_up in zip(plan[::2], plan[1::2], strict=True):
        assert "Indicateur / résultat attendu" in adopted and "Commentaires" not in adopted
        assert "Commentaires" in follow_up and "Indicateur" not in follow_up
        assert "Action *" in follow_up  # No to Action repeated on the follow-up page
        assert _first_action(adopted) == _first_action(follow_up)
    numbers = [n for page in plan[::2] for n in re.findall(r"^\s*(\d+\.\d+)\s", page, re.M)]
    assert len(numbers) == ACTIONS  # every action printed once, and no page without one
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} de {len(pages)}" in page
        assert ORGANISATION in page.splitlines()[0] and "Période de suivi : 2027" in page.splitlines()[0]


def _first_action(page: str) -> str:
    found = re.search(r"^\s*(\d+\.\d+)\s", page, re.M)
    assert found, page[:500]
    return found.group(1)


@needs_libreoffice
@needs_poppler
def test_every_sheet__printed__one_page_each_but_the_plan(printed: dict[str, list[str]]) -> None:
    for name in ("rempli", "vierge"):
        sheets = [_sheet_of(page) for page in printed[name]]
        assert [s for s in sheets if s != PLAN_SHEET] == [
            README_SHEET, SHEETS[1], COMMITTEE_SHEET, DASHBOARD_SHEET], name  # Listes, hidden, not printed
    assert len(_plan_pages(printed["vierge"])) == 2  # a blank form: the headers and a few empty rows


@needs_libreoffice
@needs_poppler
def test_fresh_workbook__no_periode__dashboard_says_why_none_is_late(printed: dict[str, list[str]]) -> None:
    pages = printed["neuf"]
    (dashboard,) = [page for page in pages if _sheet_of(page) == DASHBOARD_SHEET]
    assert re.search(r"Actions en retard\s+0\b", dashboard)
    assert " ".join(PERIOD_MISSING_NOTE.split()[:4]) in dashboard
    assert not any(re.search(r"\bOui\s*$", page, re.M) for page in _plan_pages(pages))
    (filled_dashboard,) = [page for page in printed["rempli"] if _sheet_of(page) == DASHBOARD_SHEET]
    assert "Période de suivi non inscrite" not in filled_dashboard
