"""Reports as a person opens and prints them: row heights, widths, print setup, charts, the checklist.

The workbooks are rendered by LibreOffice to PDF once per test module (one soffice call for
all of them); page counts are read from the PDF, each page naming its sheet in its header.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import SAMPLES
from libreoffice import convert_many, needs_libreoffice

from camf_excel.batch import CONFORMING, TO_CORRECT, UNREADABLE, check_files, checklist_frame, issues_frame
from camf_excel.consolidation import Consolidation, consolidate, status_key
from camf_excel.report import (
    BOLD_FACTOR,
    LINE_POINTS,
    consolidated_workbook,
    readable_label,
    wrapped_lines,
    write_issues_report,
)

TODAY = dt.date(2026, 1, 15)
FILLED = SAMPLES / "classeurs-remplis"
SHEETS = ("Synthèse par MRC", "Organisations", "Champs d'action", "Actions", "Obstacles", "Bons coups",
          "Complétude", "Tendances", "Validation", "Sources")
REPORT_SHEETS = ("Problèmes", "Par fichier")
QUEBEC_ORGANISATIONS, QUEBEC_MRCS = 1100, 100
REGIONS = ("Bas-Saint-Laurent", "Saguenay–Lac-Saint-Jean", "Capitale-Nationale", "Mauricie", "Estrie",
           "Montréal", "Outaouais", "Abitibi-Témiscamingue", "Côte-Nord", "Nord-du-Québec",
           "Gaspésie–Îles-de-la-Madeleine", "Chaudière-Appalaches", "Laval", "Lanaudière", "Laurentides",
           "Montérégie", "Centre-du-Québec")
STEMS = ("La Vallée-de-la-Gatineau", "Les Collines-de-l'Outaouais", "Le Domaine-du-Roy", "Maskinongé",
         "Les Chenaux", "La Haute-Côte-Nord", "Pierre-De Saurel", "Les Jardins-de-Napierville",
         "Le Haut-Saint-Laurent", "Témiscamingue", "Memphrémagog", "Lotbinière")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                   reason="pdftotext (poppler-utils) absent")


# --- inputs: the samples, and all of Quebec built from them ---------------------------------------

@pytest.fixture(scope="module")
def samples() -> Consolidation:
    return consolidate([FILLED], SAMPLES / "territoires.csv", today=TODAY)


@pytest.fixture(scope="module")
def quebec(samples: Consolidation) -> Consolidation:
    return quebec_scale(samples)


def quebec_scale(small: Consolidation, count: int = QUEBEC_ORGANISATIONS, mrcs: int = QUEBEC_MRCS,
                 seed: int = 2025) -> Consolidation:
    """Return the samples' consolidation grown to `count` organisations in `mrcs` MRCs (tables only).

    Rows are copies of the samples' rows with new names and random counts, so a column added to a
    table upstream is carried along.
    """
    rng = random.Random(seed)
    copies = [i % len(small.organisations) for i in range(count)]
    orgs = small.organisations.iloc[copies].reset_index(drop=True).copy()
    mrc_names = [f"MRC de {STEMS[i % len(STEMS)]}" + (f" {i // len(STEMS) + 1}" if i >= len(STEMS) else "")
                 for i in range(mrcs)]
    orgs["mrc"] = [mrc_names[i % mrcs] for i in range(count)]
    orgs["region"] = [REGIONS[(i % mrcs) % len(REGIONS)] for i in range(count)]
    orgs["organisation"] = [f"Saint-{rng.choice(STEMS).split()[-1]}-de-Test {i}" for i in range(count)]
    orgs["code_geo"] = [f"{10000 + i * 7:05d}" for i in range(count)]
    statuses = [status_key(s) for s in small.statuses]
    for key in statuses:
        orgs[key] = [rng.randint(0, 12) for _ in range(count)]
    orgs["actions"] = orgs[[*statuses, "sans_statut"]].sum(axis=1)
    orgs["pct_realisees"] = (100 * orgs[status_key(small.realised_status)] / orgs["actions"]).round(1)
    completeness = small.completeness.iloc[copies].reset_index(drop=True).copy()
    completeness[["organisation", "mrc", "region", "code_geo"]] = orgs[["organisation", "mrc", "region",
                                                                         "code_geo"]]
    return dataclasses.replace(small, organisations=orgs, mrcs=_grouped(orgs, small.mrcs, ["region", "mrc"]),
                               regions=_grouped(orgs, small.regions, ["region"]), completeness=completeness)


def _grouped(orgs: pd.DataFrame, like: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Organisations summed by MRC or région, with the columns of the samples' table."""
    group = orgs.groupby(by)
    summed = [c for c in like.columns if c in orgs.columns and c not in by and c != "pct_realisees"]
    table = group[summed].sum()
    table["organisations"] = group.size()
    table["pct_realisees"] = (100 * table["realisee"] / table["actions"]).round(1)
    table["attendues"] = table["organisations"] + 2
    table["recues"] = table["organisations"]
    table["remplies"] = table["organisations"] - 1
    table["taux_reponse"] = (100 * table["remplies"] / table["attendues"]).round(1)
    return table.reset_index().reindex(columns=list(like.columns))


# --- outputs, rendered once ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory, samples: Consolidation,
            quebec: Consolidation) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("mise-en-page")
    paths = {"samples": folder / "echantillons.xlsx", "quebec": folder / "quebec.xlsx",
             "report": folder / "rapport.xlsx"}
    paths["samples"].write_bytes(consolidated_workbook(samples, TODAY))
    paths["quebec"].write_bytes(consolidated_workbook(quebec, TODAY))
    stray = folder / "recus"
    stray.mkdir()
    (stray / "notes.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    run = check_files([FILLED, stray])
    write_issues_report(issues_frame(run.issues), paths["report"], files=checklist_frame(run), today=TODAY)
    return paths


@pytest.fixture(scope="module")
def pdfs(outputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("soffice") is None and shutil.which("libreoffice") is None:
        pytest.skip("LibreOffice (soffice) absent")
    converted = convert_many(list(outputs.values()), tmp_path_factory.mktemp("pdf"), "pdf", recalc=False)
    return {name: converted[path] for name, path in outputs.items()}


def pages_by_sheet(pdf: Path, sheets: tuple[str, ...]) -> dict[str, list[str]]:
    """Each page's text, grouped by the sheet its header names (« titre — feuille »)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    pages: dict[str, list[str]] = {}
    for page in text.split("\f"):
        if not page.strip():
            continue
        named = [sheet for sheet in sheets if re.search(rf"suivi — {re.escape(sheet)}\b", page)]
        pages.setdefault(named[0] if named else "?", []).append(page)
    return pages


# --- on paper -----------------------------------------------------------------------------------

@needs_libreoffice
@needs_poppler
def test_layout__quebec_scale__organisations_one_page_wide_few_dozen_pages(pdfs: dict[str, Path]) -> None:
    pages = pages_by_sheet(pdfs["quebec"], SHEETS)
    organisations = pages["Organisations"]
    assert 10 <= len(organisations) <= 36, len(organisations)
    # One page wide: every page shows the first and the last column (their headers are repeated).
    assert all("Organisation" in page and "Fichier source" in page for page in organisations)
    assert len(pages["Synthèse par MRC"]) <= 8 and len(pages["Complétude"]) <= 50
    assert "?" not in pages, "a page whose header names no sheet"


@needs_libreoffice
@needs_poppler
def test_layout__samples__few_pages_each_with_title_period_date_and_number(pdfs: dict[str, Path]) -> None:
    pages = pages_by_sheet(pdfs["samples"], SHEETS)
    assert set(pages) == set(SHEETS)
    total = sum(len(p) for p in pages.values())
    # 213 pages before issue 12; Validation holds most of them (each problem is a few lines)
    assert total <= 60, {sheet: len(p) for sheet, p in pages.items()}
    for page in (p for group in pages.values() for p in group):
        assert "périodes 2025 et 2026" in page and "Produit le 15 janvier 2026" in page
        assert re.search(rf"page \d+ de {total}", page)


@needs_libreoffice
@needs_poppler
def test_layout__validation_report__checklist_and_problems_printed(pdfs: dict[str, Path]) -> None:
    pages = pages_by_sheet(pdfs["report"], REPORT_SHEETS)
    assert set(pages) == set(REPORT_SHEETS) and len(pages["Par fichier"]) <= 2  # 15 files, long paths
    assert len(pages["Problèmes"]) <= 6
    checklist = pages["Par fichier"][0]
    assert "Courriel à qui écrire" in checklist and "loisirs@st-elie-de-caxton.ca" in checklist


# --- in the file ----------------------------------------------------------------------------------

def test_layout__every_sheet__print_setup_in_its_xml(outputs: dict[str, Path]) -> None:
    for name in ("samples", "report"):
        with zipfile.ZipFile(outputs[name]) as archive:
            sheets = sorted(n for n in archive.namelist() if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))
            workbook = archive.read("xl/workbook.xml").decode()
            for part in sheets:
                xml = archive.read(part).decode()
                assert '<pageSetUpPr fitToPage="1"/>' in xml, part
                assert re.search(r'<pageSetup paperSize="1"[^>]*fitToHeight="0"', xml), part
                assert "&amp;P de &amp;N" in xml and "Produit le 15 janvier 2026" in xml, part
        assert workbook.count("_xlnm.Print_Titles") == len(sheets) - (name == "samples")


def test_layout__wide_sheets__landscape(outputs: dict[str, Path]) -> None:
    book = openpyxl.load_workbook(outputs["quebec"])
    for name in ("Synthèse par MRC", "Organisations", "Actions", "Validation"):
        assert book[name].page_setup.orientation == "landscape", name
        assert book[name].page_setup.fitToWidth in (None, 1) and book[name].page_setup.fitToHeight == 0
        assert book[name].sheet_properties.pageSetUpPr.fitToPage


def test_layout__header_rows__tall_enough_for_wrapped_labels(outputs: dict[str, Path]) -> None:
    for name in ("samples", "report"):
        book = openpyxl.load_workbook(outputs[name])
        for sheet in book:
            header = _header_row(sheet)
            for cell in sheet[header]:
                if not isinstance(cell.value, str):
                    continue
                width = _width(sheet, cell.column)
                height = sheet.row_dimensions[header].height or LINE_POINTS
                # at least the lines of the plain character count, and those of the word-wrapped estimate
                lines = max(math.ceil(len(cell.value) / width), wrapped_lines(cell.value, width, BOLD_FACTOR))
                assert height >= LINE_POINTS * lines, (sheet.title, cell.value, width, height)
                longest = max(len(w) for w in cell.value.split())
                assert width >= longest, (sheet.title, cell.value, width)  # no word cut in two


def _width(sheet: openpyxl.worksheet.worksheet.Worksheet, column: int) -> float:
    """A column's width as saved (openpyxl keeps runs of equal columns as one dimension)."""
    for dimension in sheet.column_dimensions.values():
        if dimension.min <= column <= dimension.max:
            return float(dimension.width)
    return 8.43


def _header_row(sheet: openpyxl.worksheet.worksheet.Worksheet) -> int:
    """The row of the (first) table's header: the frozen row, else the first dark-filled row."""
    for row in sheet.iter_rows(min_row=1, max_row=200):
        if row[0].fill.fgColor.rgb in ("FF1F4E78",):
            return row[0].row
    raise AssertionError(f"pas d'en-tête dans {sheet.title}")


def test_layout__problem_rows__as_tall_as_their_message(outputs: dict[str, Path]) -> None:
    sheet = openpyxl.load_workbook(outputs["report"])["Problèmes"]
    widths = {c.column: _width(sheet, c.column) for c in sheet[1]}
    for row in sheet.iter_rows(min_row=2):
        lines = max(wrapped_lines(c.value, widths[c.column]) for c in row if isinstance(c.value, str))
        assert (sheet.row_dimensions[row[0].row].height or LINE_POINTS) >= LINE_POINTS * lines


def test_layout__synthesis__charts_at_the_top_shares_sorted_tall_enough(outputs: dict[str, Path],
                                                                          quebec: Consolidation) -> None:
    with zipfile.ZipFile(outputs["quebec"]) as archive:
        drawing = archive.read("xl/drawings/drawing1.xml").decode()
        status_chart = archive.read("xl/charts/chart1.xml").decode()
    anchors = re.findall(r"<xdr:from><xdr:col>(\d+)</xdr:col>.*?<xdr:row>(\d+)</xdr:row>", drawing)
    first_mrc_chart, region_chart = anchors[0], anchors[-1]
    assert int(first_mrc_chart[1]) < 10 and int(region_chart[1]) < 10  # in the first screen
    assert int(first_mrc_chart[0]) == 0 and int(region_chart[0]) < 6
    assert '<c:grouping val="percentStacked"/>' in status_chart and '<c:barDir val="bar"/>' in status_chart
    assert "périodes 2025 et 2026" in status_chart
    anchor = r"<xdr:from>.*?<xdr:row>(\d+)</xdr:row>.*?<xdr:to>.*?<xdr:row>(\d+)</xdr:row>"
    spans = re.findall(anchor, drawing, re.DOTALL)
    mrc_charts = spans[:-1]  # the last chart is the one by région
    assert len(mrc_charts) == math.ceil(QUEBEC_MRCS / 40)
    rows = sum(int(end) - int(start) for start, end in mrc_charts)
    assert rows * 20 >= 14 * QUEBEC_MRCS  # 20 px a row: each MRC's bar keeps ~14 px
    shown = pd.read_excel(outputs["quebec"], sheet_name="Synthèse par MRC", header=None, engine="openpyxl")
    header = shown.index[shown[1] == "MRC"][0]
    table = shown.iloc[header + 1: header + 1 + QUEBEC_MRCS]
    shares = table[list(shown.iloc[header]).index("Actions réalisées (%)")].astype(float).tolist()
    assert shares == sorted(shares, reverse=True)


def test_layout__synthesis__title_with_period_and_production_date(outputs: dict[str, Path]) -> None:
    sheet = openpyxl.load_workbook(outputs["samples"])["Synthèse par MRC"]
    assert sheet["A1"].value == "Consolidation des classeurs de suivi — périodes 2025 et 2026"
    assert sheet["A2"].value.startswith("Produit le 15 janvier 2026.")


def test_layout__actions__years_named_for_the_action(outputs: dict[str, Path]) -> None:
    book = openpyxl.load_workbook(outputs["samples"])
    actions = [c.value for c in book["Actions"][1]]
    organisations = [c.value for c in book["Organisations"][1]]
    assert "Début de l'action (année)" in actions and "Fin prévue de l'action (année)" in actions
    assert "Début du plan (année)" in organisations and "Début du plan" not in actions
    for sheet in book:
        header = [c.value for c in sheet[_header_row(sheet)] if isinstance(c.value, str)]
        assert not [h for h in header if "_" in h], (sheet.title, header)  # no bare key


def test_layout__column_added_upstream__shown_with_a_readable_label(samples: Consolidation,
                                                                    tmp_path: Path) -> None:
    grown = dataclasses.replace(samples, organisations=samples.organisations.assign(classeurs_recents=1))
    path = tmp_path / "c.xlsx"
    path.write_bytes(consolidated_workbook(grown, TODAY))
    header = [c.value for c in openpyxl.load_workbook(path)["Organisations"][1]]
    assert header[-1] == "Classeurs recents" == readable_label("classeurs_recents")


def test_layout__completeness__states_in_words(outputs: dict[str, Path]) -> None:
    sheet = openpyxl.load_workbook(outputs["samples"])["Complétude"]
    column = [c.value for c in sheet[1]].index("État du classeur") + 1
    states = {row[0] for row in sheet.iter_rows(min_row=2, min_col=column, max_col=column, values_only=True)}
    assert states <= {"non reçu", "reçu, illisible", "reçu, non rempli", "reçu, avec erreurs", "reçu, valide"}
    assert "non reçu" in states


# --- the validation report, a checklist -------------------------------------------------------------

def test_report__checklist__every_file_with_email_and_verdict(outputs: dict[str, Path]) -> None:
    sheet = openpyxl.load_workbook(outputs["report"])["Par fichier"]
    header = [c.value for c in sheet[4]]
    rows = [dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=5, values_only=True)]
    validated = [p for p in FILLED.rglob("*.[ox][dl]s*") if not p.name.startswith("~$")]
    assert len(rows) == len(validated)
    verdicts = [r["Verdict"] for r in rows]
    assert verdicts == sorted(verdicts, key=[UNREADABLE, TO_CORRECT, CONFORMING].index)
    assert {UNREADABLE, TO_CORRECT, CONFORMING} == set(verdicts)
    clean = next(r for r in rows if r["Fichier"].endswith("51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx"))
    assert (clean["Organisation"], clean["Période (année de suivi)"], clean["Courriel à qui écrire"],
            clean["Verdict"]) == ("Saint-Élie-de-Caxton", 2025, "loisirs@st-elie-de-caxton.ca", CONFORMING)
    counts = sheet["A2"].value
    assert f"{len(rows)} classeur(s) validé(s)" in counts
    assert f"conforme : {verdicts.count(CONFORMING)}" in counts
    assert re.search(r"\d+ fichier\(s\) laissé\(s\) de côté", counts)
    assert sheet.freeze_panes == "A5" and sheet.auto_filter.ref.startswith("A4:")


def test_report__old_call_without_files__checklist_from_issues(tmp_path: Path) -> None:
    run = check_files([FILLED / "mrc-de-mekinac_suivi-pfm-mada_2026_erreurs.xlsx"])
    path = write_issues_report(issues_frame(run.issues), tmp_path / "r.xlsx")
    sheet = openpyxl.load_workbook(path)["Par fichier"]
    rows = list(sheet.iter_rows(min_row=5, values_only=True))
    assert len(rows) == 1 and rows[0][5] == TO_CORRECT
