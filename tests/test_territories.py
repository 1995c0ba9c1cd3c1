"""The territories reference: MUN.csv as published and as re-saved, simple CSV, matching by code and name."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLES
from hypothesis import given
from hypothesis import strategies as st
from test_cli import run

from camf_excel.errors import InputError
from camf_excel.territories import Territory, TerritoryIndex, load_territories, name_key, pad_code

CORPUS = ROOT.parent / "shared" / "corpus" / "realworld"
MUN_2023, MUN_RESAVED, MUN_2022 = (CORPUS / f"mamh-repertoire__MUN_{name}.csv"
                                   for name in ("2023-11", "2023-11_resaved", "2022-03"))
needs_corpus = pytest.mark.skipif(not MUN_2023.is_file(), reason=f"corpus absent : {CORPUS}")


@needs_corpus
def test_territories__mun_editions__codes_padded_and_regions_official() -> None:
    published, resaved, older = (load_territories(p) for p in (MUN_2023, MUN_RESAVED, MUN_2022))
    assert (len(published), len(resaved), len(older)) == (1130, 1130, 1131)
    assert [t.code_geo for t in resaved] == [t.code_geo for t in published]  # 7025 -> 07025
    assert all(len(t.code_geo) == 5 for t in older)
    assert {t.region for t in older} == {t.region for t in published}
    assert "Saguenay–Lac-Saint-Jean" in {t.region for t in older}
    assert next(t for t in published if t.code_geo == "36033").mrc == "Shawinigan"  # a territoire équivalent


@needs_corpus
@pytest.mark.parametrize(("organisation", "code", "mrc", "kind", "expected"), [
    ("St-Élie-de-Caxton", "", "", "Municipalité", "51075"),
    ("Saint-Élie-de-Caxton", "51008", "Maskinongé", "Municipalité", "51075"),  # the code of Maskinongé
    ("Ville de Saint-Tite", "", "MRC de Mékinac", "Municipalité", "35027"),
    ("Saint-Tite", "35027", "", "Municipalité", "35027"),
    ("Shawinigan", "36033", "", "Municipalité", "36033"),
])
def test_territories__match__by_code_else_by_name(organisation: str, code: str, mrc: str, kind: str,
                                                  expected: str) -> None:
    match = TerritoryIndex(load_territories(MUN_2023)).match(organisation, code, mrc, kind)
    assert match.territory is not None and match.territory.code_geo == expected
    assert bool(match.note) == (code not in ("", expected))


@needs_corpus
def test_territories__homonyms__need_the_code() -> None:
    index = TerritoryIndex(load_territories(MUN_2023))
    match = index.match("Saint-Célestin", "", "", "Municipalité")
    assert match.territory is None and "plusieurs" in match.note
    assert index.match("Saint-Célestin", "50030", "", "Municipalité").territory.code_geo == "50030"


@needs_corpus
def test_territories__mrc_workbook__matches_the_mrc() -> None:
    match = TerritoryIndex(load_territories(MUN_2023)).match("MRC de Mékinac", "", "MRC de Mékinac", "MRC")
    assert match.level == "mrc" and match.territory.mrc == "MRC Mékinac"


@needs_corpus
def test_territories__match_file_name__samples_against_the_whole_repertoire() -> None:
    index = TerritoryIndex(load_territories(MUN_2023))
    found = {path.name: index.match_file_name(path.name).territory
             for path in (SAMPLES / "classeurs-remplis").rglob("*.xls*") if not path.name.startswith("~$")}
    assert {name: t.code_geo or t.mrc for name, t in found.items() if t is not None} == {
        name: name[:5] if name[:5].isdigit() else "MRC Mékinac" for name in found}


def test_territories__simple_csv__sample_reads() -> None:
    territories = load_territories(SAMPLES / "territoires.csv")
    assert len(territories) == 12 and territories[0].courriel == "information@shawinigan.ca"


@pytest.mark.parametrize("content", [b"", b"\x00\x01binary", b"courriel;telephone\nx;y\n"])
def test_territories__unusable_file__clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "territoires.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match="territoires"):
        load_territories(path)


def test_territories__organisations_batch_file__refused_saying_what_is_expected() -> None:
    with pytest.raises(InputError) as caught:
        load_territories(SAMPLES / "organisations.csv")
    message = str(caught.value)
    assert "organisations.csv" in message and "pas un fichier des territoires" in message
    assert "demarche" in message and "code, municipalite, mrc, region" in message


def test_territories_cli__organisations_batch_file__exit_2_nothing_written(tmp_path: Path) -> None:
    code, output = run("consolidate", str(SAMPLES / "classeurs-remplis"), "-o", str(tmp_path / "out"),
                       "--territories", str(SAMPLES / "organisations.csv"))
    assert code == 2 and "pas un fichier des territoires" in output and "Traceback" not in output
    assert not (tmp_path / "out").exists()


MEKINAC = (Territory("35027", "Saint-Tite", "MRC Mékinac", "Mauricie"),
           Territory("35035", "Hérouxville", "MRC Mékinac", "Mauricie"),
           Territory("35050", "Sainte-Thècle", "MRC Mékinac", "Mauricie"),
           Territory("16055", "Saint-Tite-des-Caps", "MRC La Côte-de-Beaupré", "Capitale-Nationale"),
           Territory("99001", "Lac-Vert", "MRC du Nord", "Nord-du-Québec"),
           Territory("99002", "Lac-Vert", "MRC du Sud", "Estrie"))


@pytest.mark.parametrize(("file_name", "expected", "level"), [
    ("35035_herouxville_suivi-pfm-mada_2026.xlsx", "35035", "municipalite"),  # code and name agree
    ("HEROUXVILLE suivi 2026.xlsx", "35035", "municipalite"),  # name alone, any case
    ("35035.xlsx", "35035", "municipalite"),  # code alone
    ("suivi_ste-thecle_2026.xlsx", "35050", "municipalite"),  # « Ste- » for « Sainte- »
    ("saint-tite-des-caps_2026.xlsx", "16055", "municipalite"),  # the longest name written
    ("saint-tite_2026.xlsx", "35027", "municipalite"),
    ("99002_lac-vert.xlsx", "99002", "municipalite"),  # a homonym told apart by its code
    ("mrc-de-mekinac_suivi-pfm-mada_2026_erreurs.xlsx", "MRC Mékinac", "mrc"),
    ("lac-vert_2026.xlsx", None, ""),  # two Lac-Vert: not guessed
    ("35027_herouxville.xlsx", None, ""),  # code and name disagree: not guessed
    ("suivi-2026.xlsx", None, ""),
    ("mekinac.xlsx", None, ""),  # an MRC's name without « MRC »: not guessed
])
def test_territories__match_file_name__as_a_person_reads_it(file_name: str, expected: str | None,
                                                           level: str) -> None:
    match = TerritoryIndex(MEKINAC).match_file_name(file_name)
    found = None if match.territory is None else (match.territory.code_geo or match.territory.mrc)
    assert (found, match.level) == (expected, level)
    assert match.note


def test_territories_cli__missing_file__exit_2(tmp_path: Path) -> None:
    code, output = run("consolidate", str(SAMPLES / "classeurs-remplis"), "-o", str(tmp_path / "out"),
                       "--territories", str(tmp_path / "absent.csv"))
    assert code == 2 and "territoires introuvable" in output and "Traceback" not in output


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


NAMES = st.lists(st.sampled_from(["Lac", "Rivière", "Érables", "Pointe", "Îles", "Mont", "Loup", "Anne"]),
                 min_size=1, max_size=3).map("-".join)


@given(NAMES, st.sampled_from(["", "Ville de ", "Municipalité de ", "Paroisse de "]))
def test_name_key__spellings_of_one_place__same_key(name: str, designation: str) -> None:
    key = name_key(f"Saint-{name}")
    assert name_key(f"{designation}St-{name}") == key
    assert name_key(_strip_accents(f"saint {name}").upper()) == key
    assert name_key(f" Saint–{name} ") == key


@given(st.integers(min_value=0, max_value=99_999))
def test_pad_code__any_code__five_digits(code: int) -> None:
    assert pad_code(str(code)) == f"{code:05d}" == pad_code(float(code))
