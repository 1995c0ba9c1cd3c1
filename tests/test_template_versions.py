"""Workbooks of the earlier template version (1.0, kept as fixtures) are still read, every figure defined."""

from __future__ import annotations

from pathlib import Path

import pytest

from camf_excel.templates import load_template
from camf_excel.validation import check_workbook

FIXTURES = Path(__file__).parent / "fixtures" / "modele-1.0"


@pytest.mark.parametrize("name", ["51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx",
                                  "36033_shawinigan_suivi-mada_2025.ods"])
def test_template_1_0__clean_workbook__read_without_issue(name: str) -> None:
    result = check_workbook(FIXTURES / name)
    assert result.template_version == "1.0" and load_template(result.template_id).version != "1.0"
    assert result.issues == []
    assert result.figures is not None and result.figures.actions == len(result.actions) > 0
    assert result.figures.filled


def test_template_1_0__mistakes__same_cells_as_before() -> None:
    result = check_workbook(FIXTURES / "mrc-de-mekinac_suivi-pfm-mada_2026_erreurs.xlsx")
    assert [(i.code, i.cell) for i in result.issues if i.severity == "erreur"] == [
        ("IDENTIFICATION_INVALIDE", "B16"), ("STATUT_INCONNU", "L6"), ("STATUT_AVANCEMENT_INCOHERENT", "M8"),
        ("STATUT_AVANCEMENT_INCOHERENT", "M9"), ("NOMBRE_INVALIDE", "J11"), ("DATE_INVALIDE", "N12"),
        ("NO_EN_DOUBLE", "A13"), ("VALEUR_HORS_LISTE", "B14"), ("FIN_AVANT_DEBUT", "I15"),
        ("CELLULE_ERREUR", "O16")]
