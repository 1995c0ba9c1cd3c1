"""Periods, said and handled (issue 12): the latest période by default, --periode chooses, the
période is chosen before duplicates are resolved, and every table that mixes périodes says so."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from conftest import PFM_PLAN, SAMPLES
from filling import filled_workbook

from camf_excel.consolidation import Consolidation, consolidate, periods_text

TODAY = dt.date(2026, 12, 1)
COLLINES = ("MRC des Collines", "Mauricie")
TERRITORIES = """code,municipalite,mrc,region
01005,Alpha,MRC des Collines,Mauricie
01010,Bêta,MRC des Collines,Mauricie
"""


def _ident(name: str, code: str, periode: int, updated: dt.date) -> dict[str, object]:
    return {"organisation": name, "type": "Municipalité", "code_geo": code, "mrc": COLLINES[0],
            "region": COLLINES[1], "annee_debut": 2024, "annee_fin": 2027, "periode": periode,
            "responsable_nom": "Responsable", "date_maj_fichier": updated}


@pytest.fixture(scope="module")
def received(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Alpha sent 2025 twice (a re-save and a fix) then 2026; Bêta sent 2025 only."""
    folder = tmp_path_factory.mktemp("periodes")
    filled_workbook(folder / "alpha-2025.xlsx", "pfm", PFM_PLAN,
                    _ident("Alpha", "01005", 2025, dt.date(2025, 11, 1)), seed=1)
    filled_workbook(folder / "alpha-2025-corrige.xlsx", "pfm", PFM_PLAN,
                    _ident("Alpha", "01005", 2025, dt.date(2025, 12, 1)), seed=2)
    filled_workbook(folder / "alpha-2026.xlsx", "pfm", PFM_PLAN,
                    _ident("Alpha", "01005", 2026, dt.date(2026, 11, 1)), seed=3)
    filled_workbook(folder / "beta-2025.xlsx", "pfm", PFM_PLAN,
                    _ident("Bêta", "01010", 2025, dt.date(2025, 11, 5)), seed=4)
    (folder / "territoires.csv").write_text(TERRITORIES, encoding="utf-8")
    return folder


def _run(folder: Path, periode: int | None = None) -> Consolidation:
    return consolidate([folder], folder / "territoires.csv", periode, today=TODAY)


def _fates(result: Consolidation) -> dict[str, str]:
    return {Path(str(r.source_file)).name: r.statut for r in result.sources.itertuples()}


@pytest.fixture(scope="module")
def latest(received: Path) -> Consolidation:
    return _run(received)


def test_periods__no_periode__each_organisation_its_latest_once(latest: Consolidation) -> None:
    assert _fates(latest) == {"alpha-2025.xlsx": "autre période", "alpha-2025-corrige.xlsx": "autre période",
                              "alpha-2026.xlsx": "consolidé", "beta-2025.xlsx": "consolidé",
                              "territoires.csv": "ignoré"}
    organisations = latest.organisations.set_index("organisation")
    assert organisations["periode"].to_dict() == {"Alpha": 2026, "Bêta": 2025}
    assert len(latest.organisations) == latest.summary.files_consolidated == 2
    assert set(zip(latest.actions["organisation"], latest.actions["periode"], strict=True)) == {
        ("Alpha", 2026), ("Bêta", 2025)}


def test_periods__no_periode__earlier_file_gives_the_change(latest: Consolidation) -> None:
    alpha = latest.organisations.set_index("organisation").loc["Alpha"]
    assert alpha["periode_precedente"] == 2025
    assert alpha["nouvellement_realisees"] >= 0 and alpha["nouvellement_en_retard"] >= 0
    assert pd.isna(latest.organisations.set_index("organisation").loc["Bêta", "periode_precedente"])
    motif = latest.sources.set_index(latest.sources["source_file"].map(lambda p: Path(str(p)).name))
    assert "2026" in motif.loc["alpha-2025.xlsx", "motif"]


def test_periods__no_periode__summary_says_which_periods(latest: Consolidation) -> None:
    summary = latest.summary
    assert summary.periods == (2025, 2026) and summary.periods_label == "2025, 2026"
    assert summary.requested_period is None
    assert (summary.files_other_period, summary.files_set_aside) == (2, 0)
    assert summary.rows_read == summary.rows_consolidated + summary.rows_rejected


def test_periods__mixed_periods__synthesis_and_champs_say_so(latest: Consolidation) -> None:
    assert latest.mrcs.set_index("mrc").loc["MRC des Collines", "periodes"] == "2025, 2026"
    assert latest.regions["periodes"].tolist() == ["2025, 2026"]
    assert set(latest.champs["periodes"]) <= {"2025, 2026", "2025", "2026"}
    assert (latest.champs["periodes"] == "2025, 2026").any()
    for table in (latest.organisations, latest.actions, latest.obstacles, latest.successes,
                  latest.completeness, latest.sources):
        assert "periode" in table.columns


def test_periods__periode_asked__only_that_one_and_no_duplicate_of_an_excluded_file(received: Path) -> None:
    result = _run(received, 2026)
    assert _fates(result) == {"alpha-2025.xlsx": "autre période", "alpha-2025-corrige.xlsx": "autre période",
                              "alpha-2026.xlsx": "consolidé", "beta-2025.xlsx": "autre période",
                              "territoires.csv": "ignoré"}
    assert not (result.issues["code"] == "CLASSEUR_MIS_DE_COTE").any()
    assert result.summary.periods == (2026,) and result.summary.requested_period == 2026
    assert result.organisations["periode_precedente"].tolist() == [2025]
    beta = result.completeness.set_index("organisation").loc["Bêta"]
    assert beta["etat"] == "non_recu" and "2025" in beta["remarque"]
    assert result.mrcs["periodes"].tolist() == ["2026"]


def test_periods__periode_asked_with_duplicates__conflict_rule_within_it(received: Path) -> None:
    result = _run(received, 2025)
    fates = _fates(result)
    assert (fates["alpha-2025-corrige.xlsx"], fates["alpha-2025.xlsx"]) == ("consolidé", "mis de côté")
    assert fates["alpha-2026.xlsx"] == "autre période"
    assert result.summary.periods == (2025,)


def test_periods__change__compares_with_the_kept_one_of_two_earlier_files(received: Path) -> None:
    corrected = consolidate([received / "alpha-2025-corrige.xlsx", received / "alpha-2026.xlsx"],
                            today=TODAY)
    both = _run(received)
    columns = ["periode_precedente", "nouvellement_realisees", "nouvellement_en_retard"]
    alpha = both.organisations[both.organisations["organisation"] == "Alpha"]
    assert alpha[columns].values.tolist() == corrected.organisations[columns].values.tolist()


def test_periods_text__years_and_missing__as_read() -> None:
    assert periods_text([2026, 2025, 2026]) == "2025, 2026"
    assert periods_text([2026, None]) == "2026, non indiquée"
    assert periods_text([]) == ""


def test_periods__samples__grandes_piles_once_and_mrc_apart() -> None:
    result = consolidate([SAMPLES / "classeurs-remplis"], SAMPLES / "territoires.csv", today=TODAY)
    assert result.organisations["organisation"].tolist().count("Grandes-Piles") == 1
    summary = result.summary
    assert (summary.files_consolidated, summary.municipal_workbooks, summary.mrc_workbooks) == (11, 10, 1)
    assert summary.periods == (2025, 2026)
    only = consolidate([SAMPLES / "classeurs-remplis"], SAMPLES / "territoires.csv", 2026, today=TODAY)
    fates = {Path(str(r.source_file)).name: r.statut for r in only.sources.itertuples()}
    assert fates["36033_shawinigan_suivi-mada_2025.ods"] == "autre période"
    mekinac = only.mrcs.set_index("mrc").loc["MRC Mékinac"]
    assert (mekinac["organisations"], mekinac["classeurs_mrc"]) == (8, 1)
    assert mekinac["recues"] == mekinac["organisations"] + mekinac["illisibles"]


def test_trends__samples__each_period_per_organisation_mrc_and_whole() -> None:
    trends = consolidate([SAMPLES / "classeurs-remplis"], SAMPLES / "territoires.csv").trends
    piles = trends[(trends["niveau"] == "organisation") & (trends["organisation"] == "Grandes-Piles")]
    assert piles["periode"].tolist() == [2025, 2026]  # the earlier file gives a period of its own
    organisations = trends[trends["niveau"] == "organisation"]
    for level, keys in (("MRC", ["mrc", "periode"]), ("ensemble", ["periode"])):
        sums = organisations.groupby(keys)[["actions", "realisees", "en_retard"]].sum()
        rows = trends[trends["niveau"] == level].set_index(keys)[["actions", "realisees", "en_retard"]]
        assert rows.sort_index().equals(sums.sort_index().astype(rows.dtypes.to_dict())), level
    whole = trends[trends["niveau"] == "ensemble"]
    assert [round(100 * r / a, 1) for r, a in zip(whole["realisees"], whole["actions"], strict=True)] \
        == whole["pct_realisees"].tolist()
