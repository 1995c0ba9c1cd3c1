"""Shared fixtures: templates, sample plans and a generated workbook."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from camf_excel.generate import generate_workbook

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
PLANS = SAMPLES / "plans"
PFM_PLAN = PLANS / "plan-pfm-saint-elie-de-caxton.csv"
MADA_PLAN = PLANS / "plan-mada-shawinigan.csv"
MRC_PLAN = PLANS / "plan-pfm-mada-mrc-mekinac.csv"

IDENTIFICATION = {
    "organisation": "Saint-Élie-de-Caxton", "type": "Municipalité", "code_geo": "51008",
    "mrc": "Maskinongé", "region": "Mauricie", "annee_debut": "2024", "annee_fin": "2026",
    "periode": "2025", "responsable_nom": "Julie Gélinas",
    "responsable_courriel": "loisirs@st-elie-de-caxton.ca",
}


@pytest.fixture
def pfm_workbook(tmp_path: Path) -> Path:
    """A PFM workbook pre-filled from the sample plan."""
    return generate_workbook(tmp_path / "suivi.xlsx", "pfm", IDENTIFICATION, PFM_PLAN)
