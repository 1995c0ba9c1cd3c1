"""One rule registry: templates name registered rules, every named rule is enforced, nothing else is."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from filling import PLAN, edit, filled_workbook
from test_templates import broken_copy

from camf_excel.errors import PlanError, TemplateError
from camf_excel.plan import read_plan
from camf_excel.rules import REGISTRY
from camf_excel.templates import list_templates, load_template_file, templates_dir
from camf_excel.validation import check_workbook

TODAY = dt.date(2025, 12, 15)
HEADER = ("No,Champ d'action,Objectif,Action,Clientèle visée,Responsable,Partenaires,Début (année),"
          "Fin prévue (année),Budget prévu ($),Indicateur / résultat attendu\n")


def test_registry__every_shipped_rule__is_registered_and_every_registered_rule_is_used() -> None:
    named = {rule.check for template in list_templates() for rule in template.rules}
    assert named == set(REGISTRY)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('key = "en_retard"', 'key = "retard"', "colonne « en_retard » de type « formula » requise"),
    ('key = "statut_lu"', 'key = "statut_calcule"', "colonne « statut_lu »"),
    ('key = "avancement"\nheader = "Avancement (%)"\nkind = "percent"',
     'key = "avancement"\nheader = "Avancement (%)"\nkind = "number"', "« avancement » de type « percent »"),
    ('key = "periode"', 'key = "annee_suivie"', "renseignement d'identification « periode » requis"),
    ('check = "end_after_start"\ncolumns = ["annee_debut", "annee_fin"]',
     'check = "end_after_start"\ncolumns = ["annee_fin"]', r"porte sur 2 colonne\(s\), 1 donnée\(s\)"),
    ('columns = ["date_maj"]', 'columns = ["date_maj", "periode"]', "colonne inconnue"),
])
def test_template__missing_key_or_bad_rule__refused_at_load(tmp_path: Path, old: str, new: str,
                                                             message: str) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        load_template_file(broken_copy(tmp_path, old, new))
    assert "_commun.toml" in str(caught.value)


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("regles")
    path = filled_workbook(folder / "propre.xlsx")
    return edit(path, {(PLAN, "L5"): "Fini", (PLAN, "M6"): 150, (PLAN, "F7"): None, (PLAN, "D8"): None},
                folder / "fautes.xlsx")


def _codes(path: Path, template_file: Path) -> list[tuple[str, str]]:
    template = load_template_file(template_file)
    return [(i.code, i.cell) for i in check_workbook(path, today=TODAY, template=template).issues]


def test_rules__shipped_template__each_mistake_reported(tmp_path: Path, mistakes: Path) -> None:
    assert _codes(mistakes, broken_copy(tmp_path, "", "")) == [
        ("STATUT_INCONNU", "L5"), ("POURCENTAGE_INVALIDE", "M6"), ("VALEUR_OBLIGATOIRE", "F7"),
        ("VALEUR_OBLIGATOIRE", "D8")]


def test_rules__in_list_and_percent_range_not_named__not_enforced(tmp_path: Path, mistakes: Path) -> None:
    template = broken_copy(tmp_path, '[[rules]]\ncheck = "in_list"\n', "")
    text = (tmp_path / "_commun.toml").read_text(encoding="utf-8")
    (tmp_path / "_commun.toml").write_text(
        text.replace('[[rules]]\ncheck = "percent_range"\ncolumns = ["avancement"]\n', ""), encoding="utf-8")
    assert _codes(mistakes, template) == [("VALEUR_OBLIGATOIRE", "F7"), ("VALEUR_OBLIGATOIRE", "D8")]


def test_rules__required_with_columns__only_those_columns(tmp_path: Path, mistakes: Path) -> None:
    template = broken_copy(tmp_path, '[[rules]]\ncheck = "required"\n',
                              '[[rules]]\ncheck = "required"\ncolumns = ["action"]\n')
    assert ("VALEUR_OBLIGATOIRE", "F7") not in _codes(mistakes, template)
    assert ("VALEUR_OBLIGATOIRE", "D8") in _codes(mistakes, template)


def test_rules__plan_import_and_validate__same_issue_records(tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text(HEADER + "1.1,Habitation,,Action A,,Greffe,,2024,2025,,\n"
                    "1.1,Habitation,,Action B,,Greffe,,2025,2024,-5,\n", encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        read_plan(plan, load_template_file(templates_dir() / "pfm.toml"), (2024, 2026))
    from_plan = [(i.code, i.cell, i.column) for i in caught.value.issues]  # type: ignore[attr-defined]
    assert from_plan == [("NO_EN_DOUBLE", "A3", "action_id"), ("FIN_AVANT_DEBUT", "I3", "annee_fin"),
                         ("MONTANT_NEGATIF", "J3", "budget_prevu")]
    assert {i.file for i in caught.value.issues} == {str(plan)}  # type: ignore[attr-defined]


def test_plan_import__text_longer_than_a_cell__refused_on_its_cell(tmp_path: Path) -> None:
    plan = tmp_path / "plan.csv"
    plan.write_text(HEADER + f"1.1,Habitation,,{'x' * 33_000},,Greffe,,2024,2025,,\n", encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        read_plan(plan, load_template_file(templates_dir() / "pfm.toml"))
    assert [(i.code, i.cell) for i in caught.value.issues] == [("TEXTE_TROP_LONG", "D2")]  # type: ignore[attr-defined]
