"""Consolidation: every file accounted for, conflicts resolved by the rule, completeness, outputs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from conftest import MADA_PLAN, PFM_PLAN, SAMPLES
from filling import IDENT, PLAN, edit, filled_workbook
from libreoffice import convert, needs_libreoffice
from test_cli import run

from camf_excel.consolidation import Consolidation, consolidate
from camf_excel.generate import generate_workbook
from camf_excel.report import csv_bytes, write_consolidation

TODAY = dt.date(2026, 1, 15)
MADA_YEARS = (2023, 2027)  # the years of the sample MADA plan
CODES_TESTED_HERE = {"CLASSEUR_MIS_DE_COTE", "TERRITOIRE_INTROUVABLE", "CODE_GEO_DISCORDANT"}
TERRITORIES = """code,municipalite,mrc,region,courriel
01005,Alpha,MRC des Collines,Mauricie,alpha@exemple.qc.ca
01010,Bêta-sur-Mer,MRC des Collines,Mauricie,beta@exemple.qc.ca
01015,Gamma,MRC des Collines,Mauricie,gamma@exemple.qc.ca
02005,Saint-Delta,MRC du Fleuve,Estrie,delta@exemple.qc.ca
02010,Epsilon,MRC du Fleuve,Estrie,
"""


def _organisation(name: str, code: str, mrc: str, region: str, updated: dt.date,
                  years: tuple[int, int] = (2024, 2026)) -> dict[str, object]:
    return {"organisation": name, "type": "Municipalité", "code_geo": code, "mrc": mrc, "region": region,
            "annee_debut": years[0], "annee_fin": years[1], "periode": 2025, "responsable_nom": "Responsable",
            "date_maj_fichier": updated}


@pytest.fixture(scope="module")
def received(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two MRCs' workbooks as an advisor receives them, with every trap planted once."""
    folder = tmp_path_factory.mktemp("recus")
    (folder / "collines").mkdir()
    (folder / "fleuve").mkdir()
    collines, fleuve = ("MRC des Collines", "Mauricie"), ("MRC du Fleuve", "Estrie")
    filled_workbook(folder / "collines" / "alpha.xlsx", "pfm", PFM_PLAN,
                    _organisation("Alpha", "01005", *collines, dt.date(2025, 11, 1)), seed=1)
    alpha_v2 = filled_workbook(folder / "collines" / "alpha-corrige.xlsx", "pfm", PFM_PLAN,
                               _organisation("Alpha", "1005", *collines, dt.date(2025, 12, 1)), seed=2)
    beta_ident = _organisation("Ville de Beta-sur-Mer", "", *collines, dt.date(2025, 11, 2), MADA_YEARS)
    beta = filled_workbook(folder / "collines" / "beta.xlsx", "mada", MADA_PLAN, beta_ident, seed=3)
    edit(beta, {(PLAN, "L5"): "Fini"})
    gamma = filled_workbook(folder / "collines" / "gamma.xlsx", "pfm", PFM_PLAN,
                            _organisation("Gamma", "01015", *collines, dt.date(2025, 11, 3)), seed=4)
    gamma.write_bytes(gamma.read_bytes()[:5000])
    filled_workbook(folder / "fleuve" / "st-delta.xlsx", "mada", MADA_PLAN,
                    _organisation("St-Delta", "01005", *fleuve, dt.date(2025, 11, 4), MADA_YEARS), seed=5)
    filled_workbook(folder / "fleuve" / "inconnue.xlsx", "pfm", PFM_PLAN,
                    _organisation("Zêta", "", *fleuve, dt.date(2025, 11, 5)), seed=6)
    (folder / "fleuve" / "notes.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (folder / "collines" / "~$alpha.xlsx").write_bytes(b"\x05verrou")
    (folder / "territoires.csv").write_text(TERRITORIES, encoding="utf-8")
    assert alpha_v2.exists()
    return folder


@pytest.fixture(scope="module")
def result(received: Path) -> Consolidation:
    return _consolidate_received(received)


def _consolidate_received(received: Path) -> Consolidation:
    inputs = [received / "collines", received / "fleuve"]
    return consolidate(inputs, received / "territoires.csv", today=TODAY)


def _name(path: object) -> str:
    return Path(str(path)).name


def test_consolidate__planted_traps__every_file_has_its_fate(result) -> None:
    fates = {(_name(r.source_file), r.statut) for r in result.sources.itertuples()}
    assert fates == {("alpha.xlsx", "mis de côté"), ("alpha-corrige.xlsx", "consolidé"),
                     ("beta.xlsx", "consolidé"), ("gamma.xlsx", "refusé"), ("st-delta.xlsx", "consolidé"),
                     ("inconnue.xlsx", "consolidé"), ("notes.pdf", "ignoré"), ("~$alpha.xlsx", "ignoré")}


def test_consolidate__accounting__rows_read_equal_consolidated_plus_rejected(result) -> None:
    sources, summary = result.sources, result.summary
    assert (sources["lignes_lues"] == sources["lignes_consolidees"] + sources["lignes_rejetees"]).all()
    assert summary.rows_read == summary.rows_consolidated + summary.rows_rejected
    assert summary.rows_consolidated == len(result.actions) == int(sources["lignes_consolidees"].sum())
    assert summary.rows_rejected == 25  # the set-aside Alpha: the 25 actions of the PFM plan
    assert (summary.files_found, summary.files_consolidated, summary.files_refused, summary.files_set_aside,
            summary.files_ignored) == (8, 4, 1, 1, 2)
    kept = sources[sources["statut"] == "consolidé"]["source_file"]
    assert set(result.actions["source_file"]) == set(kept)
    assert sources["sha256"].str.len().fillna(64).eq(64).all()


def test_consolidate__completeness__expected_received_and_unmatched(result) -> None:
    lines = [(None if pd.isna(r.code_geo) else r.code_geo, r.organisation, r.etat, r.attendu,
              _name(r.source_file) if r.recu else None) for r in result.completeness.itertuples()]
    assert lines == [
        ("01005", "Alpha", "recu_valide", True, "alpha-corrige.xlsx"),
        ("01010", "Bêta-sur-Mer", "recu_avec_erreurs", True, "beta.xlsx"),
        ("01015", "Gamma", "recu_illisible", True, "gamma.xlsx"),  # unreadable: known by its file name
        ("02005", "Saint-Delta", "recu_valide", True, "st-delta.xlsx"),  # by name: its code was Alpha's
        ("02010", "Epsilon", "non_recu", True, None),
        (None, "Zêta", "recu_valide", False, "inconnue.xlsx"),
    ]
    gamma = result.completeness.set_index("organisation").loc["Gamma"]
    assert "illisible" in gamma["remarque"] and gamma["courriel"] == "gamma@exemple.qc.ca"
    summary = result.summary
    assert (summary.expected, summary.received, summary.unreadable, summary.filled) == (5, 4, 1, 3)
    by_mrc = result.mrcs.set_index("mrc")
    assert by_mrc.loc["MRC des Collines", ["attendues", "recues", "illisibles", "remplies"]].tolist() == [
        3, 3, 1, 2]


def test_consolidate__issues__planted_mistakes_and_nothing_else(result) -> None:
    found = {(_name(i.file), i.code, i.cell) for i in result.issues.itertuples()}
    assert found == {
        ("alpha.xlsx", "CLASSEUR_MIS_DE_COTE", ""),
        ("beta.xlsx", "STATUT_INCONNU", "L5"),
        ("gamma.xlsx", "FICHIER_ENDOMMAGE", ""),
        ("st-delta.xlsx", "CODE_GEO_DISCORDANT", "B6"),
        ("inconnue.xlsx", "TERRITOIRE_INTROUVABLE", "B4"),
        ("notes.pdf", "FICHIER_IGNORE", ""),
    }
    set_aside = result.issues[result.issues["code"] == "CLASSEUR_MIS_DE_COTE"]["message"].iloc[0]
    assert "2025-12-01 contre 2025-11-01" in set_aside and "alpha-corrige.xlsx" in set_aside


def test_consolidate__territory_names__reference_names_in_every_table(result) -> None:
    organisations = result.organisations.set_index("organisation")
    assert organisations.loc["Saint-Delta", ["code_geo", "mrc", "region"]].tolist() == [
        "02005", "MRC du Fleuve", "Estrie"]  # written « St-Delta » with Alpha's code
    assert organisations.loc["Bêta-sur-Mer", "code_geo"] == "01010"  # written « Ville de Beta-sur-Mer »
    assert organisations.loc["Bêta-sur-Mer", "sans_statut"] == 1  # « Fini » is no status
    assert result.actions.groupby("organisation")["code_geo"].first()["Saint-Delta"] == "02005"
    for table in (result.organisations, result.actions, result.completeness, result.sources):
        names = set(table["organisation"].dropna())
        assert {"Saint-Delta", "Bêta-sur-Mer"} <= names
        assert not names & {"St-Delta", "Ville de Beta-sur-Mer"}


def test_consolidate__same_date__template_version_then_file_name_decides(tmp_path: Path) -> None:
    ident = _organisation("Alpha", "01005", "MRC des Collines", "Mauricie", dt.date(2025, 11, 1))
    for name in ("alpha-b.xlsx", "alpha-a.xlsx"):
        filled_workbook(tmp_path / name, "pfm", PFM_PLAN, ident)
    sources = consolidate([tmp_path], today=TODAY).sources
    assert dict(zip(sources["source_file"].map(_name), sources["statut"], strict=True)) == {
        "alpha-a.xlsx": "mis de côté", "alpha-b.xlsx": "consolidé"}


def test_consolidate__two_periods__latest_reported_earlier_gives_the_change() -> None:
    folder = SAMPLES / "classeurs-remplis" / "mrc-mekinac"
    latest = consolidate([folder], today=dt.date(2026, 12, 1))
    piles = latest.organisations[latest.organisations["organisation"] == "Grandes-Piles"]
    assert piles[["periode", "periode_precedente"]].values.tolist() == [[2026, 2025]]
    assert piles["nouvellement_realisees"].iloc[0] >= 0
    assert (latest.sources["statut"] == "autre période").sum() == 1
    only = consolidate([folder], periode=2026, today=dt.date(2026, 12, 1))
    assert set(only.actions["periode"]) == {2026}
    assert (only.sources["statut"] == "autre période").sum() == 1
    again = only.organisations[only.organisations["organisation"] == "Grandes-Piles"]
    assert again["periode_precedente"].tolist() == [2025]


def test_consolidate__same_inputs__byte_identical_tables(result, received: Path, tmp_path: Path) -> None:
    again = _consolidate_received(received)
    for name in ("actions", "organisations", "completeness", "sources"):
        assert csv_bytes(getattr(again, name)) == csv_bytes(getattr(result, name)), name
    first = write_consolidation(result, tmp_path / "un")
    second = write_consolidation(again, tmp_path / "deux")
    for a, b in zip(first, second, strict=True):
        if a.suffix in (".csv", ".parquet"):
            assert a.read_bytes() == b.read_bytes(), a.name


FORMULA_TEXTS = ['=HYPERLINK("http://exemple.com","clic")', "+1 418 555-0199", "@SOMME(A1)", "-5 ans"]


@pytest.fixture(scope="module")
def formula_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("formules")
    (folder / "recu").mkdir()
    ident = _organisation("Alpha", "01005", "MRC des Collines", "Mauricie", dt.date(2025, 11, 1))
    path = filled_workbook(folder / "recu" / "alpha.xlsx", "pfm", PFM_PLAN, ident)
    # action (D), indicateur (K), commentaires (P), prochaines étapes (R), responsable du suivi (B15)
    cells = {(PLAN, "D4"): FORMULA_TEXTS[0], (PLAN, "K4"): FORMULA_TEXTS[1], (PLAN, "P5"): FORMULA_TEXTS[2],
             (PLAN, "R6"): FORMULA_TEXTS[3], (IDENT, "B15"): FORMULA_TEXTS[0]}
    book = openpyxl.load_workbook(path)
    for (sheet, ref), text in cells.items():
        book[sheet][ref].value = text
        book[sheet][ref].data_type = "s"  # typed as text, as Excel keeps a cell formatted as Text
    book.save(path)
    write_consolidation(consolidate([folder / "recu"], today=TODAY), folder / "sortie")
    return folder / "sortie"


def test_consolidate__formula_text__never_a_formula_in_xlsx(formula_outputs: Path) -> None:
    book = openpyxl.load_workbook(formula_outputs / "consolidation.xlsx")
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.value for c in cells if isinstance(c.value, str)}
    assert set(FORMULA_TEXTS) <= texts
    with zipfile.ZipFile(formula_outputs / "consolidation.xlsx") as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
        assert not any(b"<f>" in archive.read(n) or b"<f " in archive.read(n) for n in sheets)


def test_consolidate__formula_text__neutralised_in_csv_raw_in_parquet(formula_outputs: Path) -> None:
    text = (formula_outputs / "actions.csv").read_text(encoding="utf-8-sig")
    fields = {field for row in csv.reader(io.StringIO(text, newline="")) for field in row}
    assert {f"'{formula}" for formula in FORMULA_TEXTS} <= fields
    assert not [field for field in fields if field.startswith(("=", "+", "-", "@"))]
    actions = pd.read_parquet(formula_outputs / "actions.parquet")
    assert FORMULA_TEXTS[0] in set(actions["action"]) and FORMULA_TEXTS[1] in set(actions["indicateur"])


def test_consolidate__workbook__sheets_filters_and_charts(formula_outputs: Path) -> None:
    book = openpyxl.load_workbook(formula_outputs / "consolidation.xlsx")
    assert book.sheetnames == ["Synthèse par MRC", "Organisations", "Champs d'action", "Actions", "Obstacles",
                               "Bons coups", "Complétude", "Tendances", "Validation", "Sources"]
    actions = book["Actions"]
    assert actions.freeze_panes == "A2" and actions.auto_filter.ref.startswith("A1:")
    with zipfile.ZipFile(formula_outputs / "consolidation.xlsx") as archive:
        assert {"xl/charts/chart1.xml", "xl/charts/chart2.xml"} <= set(archive.namelist())


def test_consolidate_cli__samples__report_written_and_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "rapport"
    code, output = run("consolidate", str(SAMPLES / "classeurs-remplis"), "-o", str(out),
                       "--territories", str(SAMPLES / "territoires.csv"))
    assert code == 1, output
    assert "9 remplie(s) sur 12 attendue(s)" in output
    assert "reçu, non rempli : Saint-Roch-de-Mékinac" in output
    assert "sans classeur : Trois-Rives" in output and "trois-rives@regionmekinac.com" in output
    assert "sans classeur : Hérouxville" not in output  # its file arrived, unreadable
    assert "Organisations : 11" in output  # Grandes-Piles once: its latest période
    assert "refusé : " in output and "mis de côté : " in output and "ignoré : " in output
    names = ("actions", "organisations", "validation", "completude", "tendances")
    tables = [f"{name}.{extension}" for name in names for extension in ("csv", "parquet")]
    assert sorted(p.name for p in out.iterdir()) == sorted(["consolidation.xlsx", "sources.csv", *tables])


def test_consolidate_cli__existing_output__refused_before_reading(tmp_path: Path) -> None:
    out = tmp_path / "rapport"
    out.mkdir()
    (out / "ancien.txt").write_text("garder", encoding="utf-8")
    code, output = run("consolidate", str(SAMPLES / "classeurs-remplis"), "-o", str(out))
    assert code == 2 and "--force" in output
    assert [p.name for p in out.iterdir()] == ["ancien.txt"]


def test_consolidate_cli__output_inside_input__refused(tmp_path: Path) -> None:
    code, output = run("consolidate", str(tmp_path), "-o", str(tmp_path / "rapport"))
    assert code == 2 and "relu" in output


def test_consolidate_cli__nothing_readable__exit_2_nothing_written(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "vide.xlsx").write_bytes(b"")
    code, output = run("consolidate", str(tmp_path / "in"), "-o", str(tmp_path / "out"))
    assert code == 2 and "Aucun classeur consolidé" in output
    assert not (tmp_path / "out").exists()


@needs_libreoffice
def test_consolidate__workbook_resaved_by_libreoffice__same_numbers(tmp_path: Path) -> None:
    outputs = write_consolidation(consolidate([SAMPLES / "classeurs-remplis"], SAMPLES / "territoires.csv",
                                              today=dt.date(2026, 12, 1)), tmp_path / "sortie")
    original = tmp_path / "sortie" / "consolidation.xlsx"
    resaved = convert(original, tmp_path / "lo", "xlsx")
    assert original in outputs
    for sheet in ("Synthèse par MRC", "Organisations", "Champs d'action", "Complétude", "Sources"):
        assert _values(resaved, sheet) == _values(original, sheet), sheet
    with zipfile.ZipFile(resaved) as archive:
        assert any(name.startswith("xl/charts/chart") for name in archive.namelist())


def _values(path: Path, sheet: str) -> list[list[object]]:
    book = openpyxl.load_workbook(path, read_only=True)  # read-only keeps the file open: close it
    try:
        rows = book[sheet].iter_rows(values_only=True)
        return [[round(v, 6) if isinstance(v, float) else v for v in row] for row in rows if any(row)]
    finally:
        book.close()


def test_completeness__untouched_workbook__received_not_filled_and_out_of_the_rate() -> None:
    result = consolidate([SAMPLES / "classeurs-remplis" / "mrc-mekinac"], SAMPLES / "territoires.csv", jobs=1)
    states = dict(zip(result.completeness["organisation"], result.completeness["etat"], strict=True))
    assert states["Saint-Roch-de-Mékinac"] == "recu_non_rempli"
    assert states["Trois-Rives"] == "non_recu"
    assert states["Sainte-Thècle"] == "recu_avec_erreurs" and states["Saint-Séverin"] == "recu_valide"
    assert states["Hérouxville"] == "recu_illisible"  # truncated, known by its file name
    mekinac = result.mrcs[result.mrcs["mrc"] == "MRC Mékinac"].iloc[0]
    counts = ("attendues", "recues", "illisibles", "remplies")
    assert mekinac[list(counts)].tolist() == [10, 9, 1, 7]
    assert mekinac["taux_reponse"] == 70.0
    summary = result.summary
    assert (summary.filled, summary.received, summary.unreadable) == (7, 9, 1)


def _truncated(path: Path, ident: dict[str, object]) -> Path:
    """A workbook cut short in transit, as Hérouxville's arrived."""
    filled_workbook(path, "pfm", PFM_PLAN, ident)
    path.write_bytes(path.read_bytes()[:5000])
    return path


def test_completeness__mrc_workbook__counted_apart_from_municipalities(tmp_path: Path) -> None:
    collines = ("MRC des Collines", "Mauricie")
    (tmp_path / "in").mkdir()
    mrc = {**_organisation("MRC des collines", "", *collines, dt.date(2025, 11, 1)), "type": "MRC"}
    filled_workbook(tmp_path / "in" / "mrc.xlsx", "pfm", PFM_PLAN, mrc, seed=1)
    filled_workbook(tmp_path / "in" / "alpha.xlsx", "pfm", PFM_PLAN,
                    _organisation("Alpha", "01005", *collines, dt.date(2025, 11, 1)), seed=2)
    (tmp_path / "territoires.csv").write_text(TERRITORIES, encoding="utf-8")
    result = consolidate([tmp_path / "in"], tmp_path / "territoires.csv", today=TODAY)
    summary = result.summary
    assert (summary.municipal_workbooks, summary.mrc_workbooks, summary.expected, summary.received) == (
        1, 1, 5, 1)
    row = result.mrcs.set_index("mrc").loc["MRC des Collines"]
    assert row[["organisations", "classeurs_mrc", "attendues", "recues"]].tolist() == [1, 1, 3, 1]
    assert row["actions"] == 2 * 25  # the MRC's own actions stay in its figures
    own = result.completeness[result.completeness["type"] == "MRC"]
    assert own[["organisation", "attendu", "etat"]].values.tolist() == [
        ["MRC des Collines", False, "recu_valide"]]
    expected = result.completeness[result.completeness["attendu"] == True]  # noqa: E712
    assert set(expected["type"]) == {"Municipalité"}


def test_completeness__unreadable_files__attributed_by_their_names(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    alpha = _organisation("Alpha", "01005", "MRC des Collines", "Mauricie", dt.date(2025, 11, 1))
    _truncated(tmp_path / "in" / "01005_suivi_2025.xlsx", alpha)  # its code
    _truncated(tmp_path / "in" / "suivi-st-delta-2025.xlsx", alpha)  # the name, spelled « St- »
    _truncated(tmp_path / "in" / "document.xlsx", alpha)  # nothing to go by
    (tmp_path / "territoires.csv").write_text(TERRITORIES, encoding="utf-8")
    result = consolidate([tmp_path / "in"], tmp_path / "territoires.csv", today=TODAY)
    lines = [(r.organisation if isinstance(r.organisation, str) else None, r.etat, r.attendu,
              _name(r.source_file) if r.recu else None) for r in result.completeness.itertuples()]
    assert lines == [
        ("Alpha", "recu_illisible", True, "01005_suivi_2025.xlsx"),
        ("Bêta-sur-Mer", "non_recu", True, None),
        ("Gamma", "non_recu", True, None),
        ("Saint-Delta", "recu_illisible", True, "suivi-st-delta-2025.xlsx"),
        ("Epsilon", "non_recu", True, None),
        (None, "recu_illisible", False, "document.xlsx"),
    ]
    assert (result.summary.received, result.summary.unreadable, result.summary.filled) == (2, 2, 0)
    refused = result.sources.set_index(result.sources["source_file"].map(_name))
    assert refused.loc["01005_suivi_2025.xlsx", ["statut", "organisation"]].tolist() == ["refusé", "Alpha"]
    later = consolidate([tmp_path / "in"], tmp_path / "territoires.csv", 2026, today=TODAY)
    states = dict(zip(later.completeness["organisation"], later.completeness["etat"], strict=True))
    assert states["Alpha"] == states["Saint-Delta"] == "non_recu"  # their names say 2025


def test_completeness__readable_beats_unreadable__remark_names_the_other(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    alpha = _organisation("Alpha", "01005", "MRC des Collines", "Mauricie", dt.date(2025, 11, 1))
    filled_workbook(tmp_path / "in" / "alpha.xlsx", "pfm", PFM_PLAN, alpha)
    _truncated(tmp_path / "in" / "alpha-v2.xlsx", alpha)
    (tmp_path / "territoires.csv").write_text(TERRITORIES, encoding="utf-8")
    result = consolidate([tmp_path / "in"], tmp_path / "territoires.csv", today=TODAY)
    row = result.completeness.set_index("organisation").loc["Alpha"]
    assert row["etat"] == "recu_valide" and "alpha-v2.xlsx" in row["remarque"]


def test_consolidate__workbooks_without_action__report_written_without_empty_charts(tmp_path: Path) -> None:
    folder = tmp_path / "recus"
    folder.mkdir()
    for name in ("a.xlsx", "b.xlsx"):
        generate_workbook(folder / name, "pfm")  # blank workbooks: read, no action
    written = write_consolidation(consolidate([folder]), tmp_path / "sortie")
    assert any(path.name == "consolidation.xlsx" for path in written)
