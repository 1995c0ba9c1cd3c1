"""Templates load, carry their lists, and a template with a mistake is refused by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from camf_excel.errors import TemplateError
from camf_excel.templates import list_templates, load_template, load_template_file, templates_dir


def test_templates__shipped__three_with_id_version_and_champs() -> None:
    templates = {t.id: t for t in list_templates()}
    assert sorted(templates) == ["mada", "pfm", "pfm-mada"]
    assert len(templates["mada"].lists["champ"].items) == 9
    assert len(templates["pfm"].lists["champ"].items) == 11
    union = set(templates["pfm"].lists["champ"].items) | set(templates["mada"].lists["champ"].items)
    assert set(templates["pfm-mada"].lists["champ"].items) == union
    assert all(t.version for t in templates.values())


def test_templates__older_mada_wording__is_a_synonym() -> None:
    champ = load_template("mada").lists["champ"]
    assert champ.synonyms["Respect et inclusion sociale"] == "Respect et inclusion"
    assert champ.synonyms["Engagement social et citoyen"] == "Participation sociale"


def test_templates__unknown_id__names_the_known_ones() -> None:
    with pytest.raises(TemplateError, match="pfm-mada"):
        load_template("famille")


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    """Copy the shipped templates into tmp_path, replacing one text of _commun.toml."""
    for path in templates_dir().glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    common = tmp_path / "_commun.toml"
    text = common.read_text(encoding="utf-8")
    assert old in text
    common.write_text(text.replace(old, new, 1), encoding="utf-8")
    return tmp_path / "pfm.toml"


@pytest.mark.parametrize(("old", "new", "message"), [
    ('kind = "integer"', 'kind = "entier"', "type « entier » inconnu"),
    ('list = "statut"', 'list = "statuts"', "liste « statuts » introuvable"),
    ('check = "unique"', 'check = "unicite"', "vérification « unicite » inconnue"),
    ('width = 6', 'largeur = 6', "clé inconnue « largeur »"),
    ('"Réalisé" = "Réalisée"', '"Réalisé" = "Finie"', "renvoie à « Finie »"),
    ('items = ["Oui", "Non"]', 'items = ["Oui", "Oui"]', "élément en double"),
])
def test_template_file__mistake__refused_with_file_and_key(tmp_path: Path, old: str, new: str,
                                                           message: str) -> None:
    with pytest.raises(TemplateError, match=message) as caught:
        load_template_file(broken_copy(tmp_path, old, new))
    assert "_commun.toml" in str(caught.value)


def test_template_file__not_toml__refused_with_file(tmp_path: Path) -> None:
    path = broken_copy(tmp_path, "[indicators]", "[indicators")
    with pytest.raises(TemplateError, match=r"illisible.*_commun\.toml"):
        load_template_file(path)
