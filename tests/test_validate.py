"""Each catalogued rule, planted in a generated workbook as a person would, gives exactly its (code, cell)."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest
from conftest import IDENTIFICATION, ROOT
from filling import IDENT, PLAN, edit, filled_workbook
from test_consolidate import CODES_TESTED_HERE

from camf_excel.issues import CATALOGUE, catalogue_markdown
from camf_excel.rules import rules_markdown
from camf_excel.templates import load_template
from camf_excel.validation import check_workbook
from camf_excel.writer import build_workbook

TODAY = dt.date(2025, 12, 1)
# Plan d'action columns: A No, B Champ, D Action, F Responsable, H Début, I Fin, J Budget prévu,
# L Statut, M Avancement, N Date de mise à jour, O Budget utilisé, P Commentaires, T En retard.
# Data starts on row 4 (title, band, header). Row 5 holds action 1.2, started in 2024.


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return filled_workbook(tmp_path_factory.mktemp("propre") / "propre.xlsx")


def codes_and_cells(path: Path, periode: int | None = None) -> list[tuple[str, str]]:
    return [(i.code, i.cell) for i in check_workbook(path, periode, TODAY).issues]


def planted(clean: Path, tmp_path: Path, edits: dict) -> Path:
    return edit(clean, edits, tmp_path / "classeur.xlsx")


def test_validate__clean_workbook__no_issue(clean: Path) -> None:
    result = check_workbook(clean, today=TODAY)
    assert result.issues == []
    assert len(result.actions) == 25
    assert [a["source_row"] for a in result.actions] == list(range(4, 29))


def test_validate__clean_workbook_saved_by_openpyxl__still_no_issue(clean: Path, tmp_path: Path) -> None:
    assert codes_and_cells(planted(clean, tmp_path, {})) == []


CELL_CASES = {
    "statut typed over the dropdown": ({(PLAN, "L5"): "Fini"}, [("STATUT_INCONNU", "L5")]),
    "status variants recognised, the unaccented one named": (
        {(PLAN, "L5"): "  en COURS ", (PLAN, "M5"): 50, (PLAN, "L6"): "REALISEE", (PLAN, "M6"): 100},
        [("VALEUR_VARIANTE", "L6")]),
    "status synonym recognised and named": ({(PLAN, "L6"): "terminé", (PLAN, "M6"): 100},
                                            [("VALEUR_VARIANTE", "L6")]),
    "percent typed as text, not counted": ({(PLAN, "M5"): "50 %"}, [("NOMBRE_EN_TEXTE", "M5")]),
    "champ outside the list": ({(PLAN, "B7"): "Sports d'hiver"}, [("VALEUR_HORS_LISTE", "B7")]),
    "bon coup outside Oui/Non": ({(PLAN, "S8"): "Peut-être"}, [("VALEUR_HORS_LISTE", "S8")]),
    "text in a budget cell": ({(PLAN, "J9"): "environ mille"}, [("NOMBRE_INVALIDE", "J9")]),
    "amount typed as text, read but not counted": ({(PLAN, "J9"): "1 500,50 $"}, [("NOMBRE_EN_TEXTE", "J9")]),
    "ambiguous amount": ({(PLAN, "J9"): "1,500"}, [("NOMBRE_AMBIGU", "J9")]),
    "bare year in a date cell": ({(PLAN, "N11"): 2025}, [("DATE_ANNEE", "N11")]),
    "update date before the plan": ({(PLAN, "N11"): dt.datetime(2019, 5, 1)},
                                    [("DATE_INVRAISEMBLABLE", "N11")]),
    "file update date in the future": ({(IDENT, "B14"): dt.datetime(2099, 12, 31)},
                                       [("DATE_FUTURE", "B14")]),
    "text in a year cell": ({(PLAN, "H9"): "printemps"}, [("NOMBRE_INVALIDE", "H9")]),
    "year out of any plausible range": ({(PLAN, "I9"): 1e20, (IDENT, "B13"): 20250},
                                        [("ANNEE_INVRAISEMBLABLE", "B13"), ("ANNEE_INVRAISEMBLABLE", "I9")]),
    "progress over 100": ({(PLAN, "L10"): "En cours", (PLAN, "M10"): 150},
                          [("POURCENTAGE_INVALIDE", "M10")]),
    "impossible date": ({(PLAN, "N11"): "31/02/2025"}, [("DATE_INVALIDE", "N11")]),
    "date in the future": ({(PLAN, "N12"): dt.datetime(2026, 3, 1)}, [("DATE_FUTURE", "N12")]),
    "year outside the plan": ({(PLAN, "I13"): 2030}, [("ANNEE_HORS_PLAN", "I13")]),
    "end before start": ({(PLAN, "H14"): 2026, (PLAN, "I14"): 2025}, [("FIN_AVANT_DEBUT", "I14")]),
    "duplicate No": ({(PLAN, "A6"): "1.2"}, [("NO_EN_DOUBLE", "A6")]),
    "Réalisée with 40 %": ({(PLAN, "L15"): "Réalisée", (PLAN, "M15"): 40},
                           [("STATUT_AVANCEMENT_INCOHERENT", "M15")]),
    "Non débutée with 80 %": ({(PLAN, "L15"): "Non débutée", (PLAN, "M15"): 80},
                              [("STATUT_AVANCEMENT_INCOHERENT", "M15")]),
    "Abandonnée without comment": ({(PLAN, "L16"): "Abandonnée", (PLAN, "M16"): 10, (PLAN, "P16"): None},
                                   [("COMMENTAIRE_MANQUANT", "P16")]),
    "Reportée without comment": ({(PLAN, "L16"): "Reportée", (PLAN, "M16"): 10, (PLAN, "P16"): None},
                                 [("COMMENTAIRE_MANQUANT", "P16")]),
    "action text erased": ({(PLAN, "D17"): None}, [("VALEUR_OBLIGATOIRE", "D17")]),
    "status erased on a started action": ({(PLAN, "L5"): None, (PLAN, "M5"): None},
                                          [("STATUT_MANQUANT", "L5")]),
    "negative amount": ({(PLAN, "O18"): -250}, [("MONTANT_NEGATIF", "O18")]),
    "Excel error in an input cell": ({(PLAN, "J19"): "#REF!"}, [("CELLULE_ERREUR", "J19")]),
    "Excel error in the En retard formula": ({(PLAN, "U19"): "#N/A"}, [("FORMULE_ERREUR", "U19")]),
    "Identification name erased": ({(IDENT, "B15"): None}, [("IDENTIFICATION_MANQUANTE", "B15")]),
    "Identification year as words": ({(IDENT, "B13"): "deux mille vingt-cinq"},
                                     [("NOMBRE_INVALIDE", "B13")]),
    "Identification year typed as text": ({(IDENT, "B13"): "2025"}, [("NOMBRE_EN_TEXTE", "B13")]),
    "Identification type outside list": ({(IDENT, "B5"): "Organisme"}, [("IDENTIFICATION_INVALIDE", "B5")]),
    "plan years inverted": ({(IDENT, "B11"): 2023}, [("ANNEES_PLAN_INVERSEES", "B11")]),
    "period outside the plan": ({(IDENT, "B13"): 2027}, [("PERIODE_HORS_PLAN", "B13")]),
    "extra column": ({(PLAN, "Z3"): "Notes internes", (PLAN, "Z6"): "à voir"},
                     [("COLONNE_SUPPLEMENTAIRE", "Z3")]),
    "header typed twice": ({(PLAN, "Z3"): "STATUT"}, [("COLONNE_EN_DOUBLE", "Z3")]),
    "required header renamed": ({(PLAN, "D3"): "Description"},
                                [("COLONNE_OBLIGATOIRE_MANQUANTE", ""), ("COLONNE_SUPPLEMENTAIRE", "D3")]),
    "optional header erased": ({(PLAN, "G3"): None}, [("COLONNE_MANQUANTE", "")]),
}


@pytest.mark.parametrize(("edits", "expected"), CELL_CASES.values(), ids=CELL_CASES.keys())
def test_validate__planted_mistake__reported_on_its_cell(clean: Path, tmp_path: Path, edits: dict,
                                                         expected: list) -> None:
    assert codes_and_cells(planted(clean, tmp_path, edits)) == expected


def test_validate__header_moved_down__same_issue_one_row_lower(clean: Path, tmp_path: Path) -> None:
    path = planted(clean, tmp_path, {(PLAN, "L5"): "Fini"})
    book = openpyxl.load_workbook(path)
    book[PLAN].insert_rows(1)
    book.save(path)
    assert codes_and_cells(path) == [("STATUT_INCONNU", "L6")]
    assert len(check_workbook(path, today=TODAY).actions) == 25


def test_validate__merged_champ__filled_down_and_reported(clean: Path, tmp_path: Path) -> None:
    path = planted(clean, tmp_path, {})
    book = openpyxl.load_workbook(path)
    book[PLAN].merge_cells("B4:B6")
    book.save(path)
    result = check_workbook(path, today=TODAY)
    assert [(i.code, i.cell, i.value) for i in result.issues] == [("CELLULES_FUSIONNEES", "B4", "")]
    assert "B4:B6" in result.issues[0].message
    assert len({a["champ"] for a in result.actions[:3]}) == 1


def test_validate__extra_column__kept_with_the_action(clean: Path, tmp_path: Path) -> None:
    path = planted(clean, tmp_path, {(PLAN, "Z3"): "Notes internes", (PLAN, "Z6"): "à voir"})
    actions = check_workbook(path, today=TODAY).actions
    assert actions[2]["colonnes_supplementaires"] == '{"Notes internes": "à voir"}'


def test_validate__plan_sheet_renamed__found_by_content(clean: Path, tmp_path: Path) -> None:
    path = planted(clean, tmp_path, {})
    book = openpyxl.load_workbook(path)
    book[PLAN].title = "Actions 2025"
    book.save(path)
    assert codes_and_cells(path) == [("FEUILLE_RENOMMEE", "")]
    assert len(check_workbook(path, today=TODAY).actions) == 25


def test_validate__identification_deleted__sheet_missing(clean: Path, tmp_path: Path) -> None:
    path = planted(clean, tmp_path, {})
    book = openpyxl.load_workbook(path)
    del book[IDENT]
    book.save(path)
    assert codes_and_cells(path) == [("FEUILLE_MANQUANTE", "")]


def test_validate__other_periode_asked__reported_on_identification(clean: Path) -> None:
    assert codes_and_cells(clean, periode=2026) == [("PERIODE_DIFFERENTE", "B13")]


@pytest.mark.parametrize(("version", "expected"), [("9.0", "MODELE_VERSION_RECENTE"), ("1.0", None)])
def test_validate__template_version__newer_is_reported(clean: Path, tmp_path: Path, version: str,
                                                       expected: str | None) -> None:
    path = planted(clean, tmp_path, {})
    book = openpyxl.load_workbook(path)
    props = book.custom_doc_props
    for prop in list(props):
        if prop.name == "camf_template_version":
            prop.value = version
    book.save(path)
    assert codes_and_cells(path) == ([(expected, "")] if expected else [])


def test_validate__control_characters__removed_and_reported(tmp_path: Path) -> None:
    template = load_template("pfm")
    ident = {**IDENTIFICATION, "annee_debut": 2024, "annee_fin": 2026, "periode": 2025, "demarche": "PFM"}
    action = {"action_id": "1", "champ": "Habitation", "action": "Texte\x07 avec\x1b[31m ESC",
              "responsable": "Greffe", "annee_debut": 2025, "statut": "En cours", "avancement": 10}
    path = tmp_path / "controle.xlsx"
    path.write_bytes(build_workbook(template, ident, [action]))
    result = check_workbook(path, today=TODAY)
    assert [(i.code, i.cell) for i in result.issues] == [("TEXTE_NETTOYE", "D4")]
    assert result.actions[0]["action"] == "Texte avec[31m ESC"
    assert "\x1b" not in result.issues[0].value


def test_validate__blank_workbook__no_action_warning(tmp_path: Path) -> None:
    path = tmp_path / "vierge.xlsx"
    ident = {**IDENTIFICATION, "annee_debut": 2024, "annee_fin": 2026, "periode": 2025, "demarche": "PFM"}
    path.write_bytes(build_workbook(load_template("pfm"), ident, []))
    assert codes_and_cells(path) == [("AUCUNE_ACTION", "")]


def test_catalogue__every_code__has_a_rule_test_or_a_corpus_case() -> None:
    tested = {code for _edits, expected in CELL_CASES.values() for code, _cell in expected}
    tested |= {"STATUT_INCONNU", "CELLULES_FUSIONNEES", "FEUILLE_RENOMMEE", "FEUILLE_MANQUANTE",
               "PERIODE_DIFFERENTE", "MODELE_VERSION_RECENTE", "TEXTE_NETTOYE", "AUCUNE_ACTION",
               "ENTETE_INTROUVABLE",
               # test_reader_facts: read as typed, nothing read as empty without a word
               "POURCENTAGE_FORMAT", "FORMULE_SANS_VALEUR", "LIGNE_HORS_TABLEAU",
               "FEUILLE_PLAN_SUPPLEMENTAIRE",
               "TEXTE_TRONQUE",  # test_validate__text_longer_than_excel_holds
               "TEXTE_TROP_LONG"}  # test_rules: an adopted plan
    tested |= CODES_TESTED_HERE  # consolidation's codes, in test_consolidate
    file_level = {code for code, entry in CATALOGUE.items() if entry.scope == "fichier"}
    assert set(CATALOGUE) - tested - file_level == set()


def test_validate__headers_erased__header_not_found(clean: Path, tmp_path: Path) -> None:
    path = planted(clean, tmp_path, {(PLAN, f"{letter}3"): None for letter in "ABCDEFGHIJKLMNOPQRST"})
    assert codes_and_cells(path) == [("ENTETE_INTROUVABLE", "")]


def test_readme__lists_the_catalogue_and_the_rules() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert catalogue_markdown() in readme
    assert rules_markdown() in readme


def test_validate__text_longer_than_excel_holds__truncated_and_reported(clean: Path, tmp_path: Path) -> None:
    marked = planted(clean, tmp_path, {(PLAN, "P5"): "MARQUE-LONGUE"})
    long_text = tmp_path / "long.xlsx"
    with zipfile.ZipFile(marked) as source, zipfile.ZipFile(long_text, "w") as target:
        for entry in source.infolist():
            data = source.read(entry).replace(b"MARQUE-LONGUE", b"x" * 40_000)
            target.writestr(entry, data)
    result = check_workbook(long_text, today=TODAY)
    assert [(i.code, i.cell) for i in result.issues] == [("TEXTE_TRONQUE", "P5")]
    assert len(result.actions[1]["commentaires"]) == 32_767
