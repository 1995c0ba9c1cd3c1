"""The generated workbook: structure, cached values, text kept as text, safe outputs."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import IDENTIFICATION, MRC_PLAN, PFM_PLAN
from dashboard import NOT_SET, expected_dashboard, follow_up_values, read_dashboard
from hypothesis import given
from hypothesis import strategies as st

from camf_excel.errors import OutputExistsError
from camf_excel.figures import compute_figures
from camf_excel.generate import generate_workbook, parse_identification, safe_file_name
from camf_excel.plan import read_plan
from camf_excel.templates import load_template
from camf_excel.writer import (
    FIRST_DATA_ROW,
    MIN_ROWS,
    PLAN_SHEET,
    SHEETS,
    USED_FUNCTIONS,
    build_workbook,
    header_text,
    row_height,
)

PFM = load_template("pfm")


def filled_actions(template_id: str = "pfm", plan: Path = PFM_PLAN) -> list[dict[str, object]]:
    """The sample plan's actions with follow-up values, as staff would have filled them."""
    template = load_template(template_id)
    actions = read_plan(plan, template)
    for action, values in zip(actions, follow_up_values(len(actions), template), strict=True):
        action.update(values)
    return actions


def test_workbook__sheets__in_contract_order(pfm_workbook: Path) -> None:
    book = openpyxl.load_workbook(pfm_workbook)
    assert book.sheetnames == list(SHEETS)
    assert book["Listes"].sheet_state == "hidden"


def test_workbook__named_ranges__hold_template_lists(pfm_workbook: Path) -> None:
    book = openpyxl.load_workbook(pfm_workbook)
    for spec in PFM.lists.values():
        (sheet, ref), = book.defined_names[spec.range_name].destinations
        cells = [row[0].value for row in book[sheet][ref.replace("$", "")]]
        assert cells[: len(spec.items)] == list(spec.items)
        assert all(c is None for c in cells[len(spec.items):])
        assert len(cells) == spec.size
    assert book.defined_names["liste_responsable"] is not None
    assert PFM.lists["responsable"].size == 40


def test_workbook__table__covers_every_input_row(pfm_workbook: Path) -> None:
    sheet = openpyxl.load_workbook(pfm_workbook)[PLAN_SHEET]
    table = sheet.tables["tbl_plan"]
    last_row = FIRST_DATA_ROW + max(25 + 100, MIN_ROWS)
    assert table.ref == f"A3:X{last_row}"
    assert [c.name for c in table.tableColumns] == [header_text(c) for c in PFM.columns]
    assert sheet.freeze_panes == "E4"  # No to Action stay in view
    assert sheet["U4"].value.startswith('=IF(LEN(TRIM(D4))=0,"",')  # En retard, after Origine
    recognised = f'=IF(LEN(TRIM(D{last_row}))=0,"",IFERROR(INDEX(liste_statut_canon'
    assert sheet[f"V{last_row}"].value.startswith(recognised)
    assert [sheet.column_dimensions[c].hidden for c in "UVWX"] == [False, True, True, True]


def test_workbook__list_columns__each_has_its_dropdown(pfm_workbook: Path) -> None:
    sheet = openpyxl.load_workbook(pfm_workbook)[PLAN_SHEET]
    by_formula = {dv.formula1: dv for dv in sheet.data_validations.dataValidation}
    last_row = FIRST_DATA_ROW + max(25 + 100, MIN_ROWS)
    for col, column in enumerate(PFM.columns):
        if column.kind != "list":
            continue
        dv = by_formula[f"liste_{column.list}"]
        letter = openpyxl.utils.get_column_letter(col + 1)
        assert str(dv.sqref) == f"{letter}4:{letter}{last_row}"
        assert dv.promptTitle and dv.prompt
        assert (dv.errorStyle or "stop") == column.error_style
    assert PFM.column("responsable").error_style == "information"
    assert PFM.column("statut").error_style == "stop"


def test_workbook__protection__locks_structure_leaves_inputs_open(pfm_workbook: Path) -> None:
    book = openpyxl.load_workbook(pfm_workbook)
    sheet = book[PLAN_SHEET]
    assert all(book[name].protection.sheet for name in SHEETS)
    assert sheet["A3"].protection.locked  # header
    assert sheet["U4"].protection.locked  # formula
    assert not sheet["D4"].protection.locked  # action written from the plan
    last_row = FIRST_DATA_ROW + max(25 + 100, MIN_ROWS)
    # Empty input cells take their column's format, unlocked, in Excel and LibreOffice...
    assert not sheet.column_dimensions["L"].protection.locked
    assert sheet.column_dimensions["U"].protection.locked
    # ...but a row's format comes first: below the table (and above it) rows are locked, so
    # nothing is typed there that neither the dashboard nor the tool would count.
    with zipfile.ZipFile(pfm_workbook) as archive:
        xml = archive.read("xl/worksheets/sheet3.xml").decode()
        styles = re.findall(r"<xf [^>]*?(?:/>|>.*?</xf>)", archive.read("xl/styles.xml").decode().split(
            "<cellXfs", 1)[1], re.S)
    for row in (1, last_row + 1, last_row + 1000):
        style = int(re.search(rf'<row r="{row}"[^>]* s="(\d+)" customFormat="1"', xml).group(1))
        assert 'locked="0"' not in styles[style]
    assert not book["Identification"]["B4"].protection.locked
    assert book["Identification"]["A4"].protection.locked
    assert book[PLAN_SHEET].protection.password is None


def test_workbook__password_option__sets_it(tmp_path: Path) -> None:
    path = generate_workbook(tmp_path / "p.xlsx", "pfm", password="secret")
    assert openpyxl.load_workbook(path)[PLAN_SHEET].protection.password


def test_workbook__document_properties__carry_template_identity(pfm_workbook: Path) -> None:
    book = openpyxl.load_workbook(pfm_workbook)
    custom = {p.name: p.value for p in book.custom_doc_props.props}
    assert custom["camf_template_id"] == "pfm"
    assert custom["camf_template_version"] == PFM.version
    assert "Saint-Élie-de-Caxton" in book.properties.title
    readme = [c.value for c in book["Lisez-moi"]["B"] if c.value]
    assert "Identifiant du modèle : pfm" in readme


def test_workbook__formula_looking_text__stored_as_text(tmp_path: Path) -> None:
    texts = ['=HYPERLINK("http://exemple.com","clic")', "+1 418 555-0199", "@x", "-5",
             "=cmd|' /C calc'!A0"]
    actions = [{"action_id": str(i), "champ": "Habitation", "action": t, "partenaires": t,
                "responsable": "Greffe"} for i, t in enumerate(texts, start=1)]
    path = tmp_path / "f.xlsx"
    path.write_bytes(build_workbook(PFM, {"periode": 2025}, actions))
    sheet = openpyxl.load_workbook(path)[PLAN_SHEET]
    for offset, text in enumerate(texts):
        cell = sheet.cell(FIRST_DATA_ROW + 1 + offset, 4)
        assert (cell.value, cell.data_type) == (text, "s")
        assert cell.quotePrefix
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/worksheets/sheet3.xml").decode()
    assert "HYPERLINK" not in xml.split("<f>", 1)[-1] or "<f>HYPERLINK" not in xml


def test_workbook__cached_values__match_python_figures(tmp_path: Path) -> None:
    actions = filled_actions()
    identification = {"periode": 2025}
    path = tmp_path / "c.xlsx"
    path.write_bytes(build_workbook(PFM, identification, actions))
    expected = expected_dashboard(compute_figures(actions, 2025, PFM), PFM)
    assert read_dashboard(path, PFM) == expected
    assert expected["indicators"]["actions"] == 25
    assert expected["indicators"]["en_retard"] > 0, "the sample must have late actions"


def test_workbook__blank__dashboard_of_zeros(tmp_path: Path) -> None:
    template = load_template("mada")
    path = generate_workbook(tmp_path / "vierge.xlsx", template)
    figures = read_dashboard(path, template)
    assert figures["indicators"] == {"actions": 0, "realisees": NOT_SET, "en_retard": 0, "budget_prevu": 0,
                                     "budget_reel": 0, "budget_utilise": NOT_SET,
                                     "avancement_moyen": NOT_SET, "ajoutees": 0}


def test_generate__existing_output__refused_then_forced(tmp_path: Path) -> None:
    path = tmp_path / "s.xlsx"
    path.write_bytes(b"ancien")
    with pytest.raises(OutputExistsError):
        generate_workbook(path, "pfm")
    assert path.read_bytes() == b"ancien"
    generate_workbook(path, "pfm", force=True)
    assert zipfile.is_zipfile(path)
    assert [p.name for p in tmp_path.iterdir()] == ["s.xlsx"]


def test_generate__mrc_plan__150_actions_fit(tmp_path: Path) -> None:
    template = load_template("pfm-mada")
    path = generate_workbook(tmp_path / "mrc.xlsx", template, {"periode": "2026"}, MRC_PLAN)
    figures = read_dashboard(path, template)
    assert figures["indicators"]["actions"] == 150
    assert openpyxl.load_workbook(path)[PLAN_SHEET].tables["tbl_plan"].ref == "A3:X253"


def test_identification__code_lost_its_zero__padded() -> None:
    assert parse_identification({"code_geo": "7025"}, PFM)["code_geo"] == "07025"


def test_safe_file_name__windows_hostile_names() -> None:
    assert safe_file_name("Saint-Élie-de-Caxton", "51008", "pfm") == \
        "51008_saint-elie-de-caxton_suivi-pfm.xlsx"
    assert safe_file_name('CON', "", "mada") == "con-org_suivi-mada.xlsx"
    assert safe_file_name('a/b\\c:d*?"<>|', "", "pfm") == "a-b-c-d_suivi-pfm.xlsx"
    assert IDENTIFICATION["organisation"]


def test_workbook__formulas__use_only_excel_2007_functions(pfm_workbook: Path) -> None:
    """The writer skips xlsxwriter's _xlfn. expansion: a newer function would break in Excel."""
    book = openpyxl.load_workbook(pfm_workbook)
    found = set()
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    found |= set(re.findall(r"([A-Z][A-Z0-9.]*)\(", cell.value))
        for cf in sheet.conditional_formatting:
            for rule in cf.rules:
                for formula in rule.formula or ():
                    found |= set(re.findall(r"([A-Z][A-Z0-9.]*)\(", formula))
    assert found and found <= USED_FUNCTIONS


@given(st.text(min_size=1, max_size=200), st.one_of(st.just(""), st.text(max_size=12)))
def test_safe_file_name__any_organisation__windows_safe(organisation: str, code: str) -> None:
    name = safe_file_name(organisation, code, "pfm-mada")
    stem = name.removesuffix("_suivi-pfm-mada.xlsx")
    assert re.fullmatch(r"[a-z0-9_-]+_suivi-pfm-mada\.xlsx", name)
    assert stem.split("_")[-1] not in {"con", "prn", "aux", "nul"} and len(name) < 120


def test_row_height__wrapped_text__tall_enough() -> None:
    assert row_height([]) == 15
    assert row_height([("court", 30)]) == 15
    assert row_height([("x" * 100, 30), ("y", 10)]) == 15 * 3  # 34 characters a line
    assert row_height([("a\nb\nc", 30)]) == 45
    assert row_height([("z" * 100_000, 10)]) == 150


def test_workbook__progress__chosen_from_steps_so_a_typed_percent_is_refused(pfm_workbook: Path) -> None:
    """« 50 % » typed becomes 0.5 in Excel and LibreOffice: not a step of the list, so refused."""
    book = openpyxl.load_workbook(pfm_workbook)
    sheet = book[PLAN_SHEET]
    (dv,) = [dv for dv in sheet.data_validations.dataValidation if dv.formula1 == "liste_avancement"]
    assert dv.type == "list" and (dv.errorStyle or "stop") == "stop" and str(dv.sqref).startswith("M4:")
    (listes, ref), = book.defined_names["liste_avancement"].destinations
    steps = [row[0].value for row in book[listes][ref.replace("$", "")]]
    assert steps == list(range(0, 101, 5))
