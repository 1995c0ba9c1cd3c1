"""The same numbers everywhere: the Tableau de bord LibreOffice computes = validate's figures = consolidation.

Workbooks are filled as staff fill them (seeded: statuses picked and typed in variants, progress
from the list and typed as text, amounts as numbers and as text, rows emptied, actions added at
the bottom of the table), then opened, recalculated and saved by LibreOffice in one run. For each
one, every figure of its dashboard must equal what `validate` computes for the file and what the
consolidation's Organisations row says.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import MADA_PLAN, MRC_PLAN, PFM_PLAN
from dashboard import NOT_SET, expected_dashboard, read_dashboard
from libreoffice import convert_many, needs_libreoffice
from staff import fill_as_staff

from camf_excel.consolidation import Consolidation, consolidate, status_key
from camf_excel.generate import generate_workbook
from camf_excel.templates import load_template
from camf_excel.validation import WorkbookResult, check_workbook

PLANS = {"pfm": PFM_PLAN, "mada": MADA_PLAN, "pfm-mada": MRC_PLAN}
YEARS = {"pfm": (2024, 2026), "mada": (2023, 2027), "pfm-mada": (2025, 2029)}
WORKBOOKS = 12


def _generate(folder: Path, index: int) -> Path:
    template_id = list(PLANS)[index % len(PLANS)]
    start, end = YEARS[template_id]
    identification = {"organisation": f"Municipalité {index:02d}", "type": "Municipalité",
                      "code_geo": f"{90000 + index}", "mrc": "MRC d'essai", "region": "Mauricie",
                      "annee_debut": str(start), "annee_fin": str(end), "periode": str(start + 1),
                      "responsable_nom": "Personne responsable"}
    path = generate_workbook(folder / f"classeur-{index:02d}.xlsx", template_id, identification,
                             PLANS[template_id])
    fill_as_staff(path, load_template(template_id), start + 1, seed=index)
    return path


@pytest.fixture(scope="module")
def recalculated(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Path]:
    """The staff-filled workbooks and their copies recalculated and saved by LibreOffice (one run)."""
    folder = tmp_path_factory.mktemp("rempli")
    sources = [_generate(folder, index) for index in range(WORKBOOKS)]
    return convert_many(sources, tmp_path_factory.mktemp("libreoffice"))


@pytest.fixture(scope="module")
def consolidated(recalculated: dict[Path, Path]) -> Consolidation:
    return consolidate(list(recalculated.values()), jobs=1)


def _check(path: Path) -> WorkbookResult:
    result = check_workbook(path)
    assert result.figures is not None, result.issues
    return result


@needs_libreoffice
@pytest.mark.parametrize("index", range(WORKBOOKS))
def test_dashboard__recalculated_by_libreoffice__equals_validate(recalculated: dict[Path, Path],
                                                                 index: int) -> None:
    source, saved = list(recalculated.items())[index]
    template = load_template(_check(saved).template_id)
    assert read_dashboard(saved, template) == expected_dashboard(_check(saved).figures, template)
    assert _check(source).figures == _check(saved).figures  # the staff's file and LibreOffice's copy


@needs_libreoffice
def test_consolidation__organisations_row__equals_each_dashboard(recalculated: dict[Path, Path],
                                                                 consolidated: Consolidation) -> None:
    rows = {Path(r.source_file).name: r for r in consolidated.organisations.itertuples(index=False)}
    assert len(rows) == WORKBOOKS
    for saved in recalculated.values():
        template = load_template(_check(saved).template_id)
        board = read_dashboard(saved, template)
        row = rows[saved.name]._asdict()
        shown = board["indicators"]
        assert row["actions"] == shown["actions"]
        assert row["en_retard"] == shown["en_retard"]
        assert row["budget_prevu"] == pytest.approx(shown["budget_prevu"])
        assert row["budget_reel"] == pytest.approx(shown["budget_reel"])
        assert _percent(row["pct_realisees"]) == _rounded(shown["realisees"])
        assert _percent(row["avancement_moyen"]) == _rounded(shown["avancement_moyen"])
        for status, (count, _share) in board["statuses"].items():
            assert row[status_key(status)] == count
        assert row["sans_statut"] == board["without_status"][0]


def _percent(value: object) -> object:
    """A consolidation percentage (0–100, one decimal) as the dashboard's fraction, to 3 places."""
    if value is None or pd.isna(value):
        return NOT_SET
    return round(float(value) / 100, 3)


def _rounded(value: object) -> object:
    return value if value == NOT_SET else round(float(value), 3)  # type: ignore[arg-type]


@needs_libreoffice
def test_differential__fills__exercise_every_reading_case(recalculated: dict[Path, Path]) -> None:
    """The seeded fills do plant what the test claims to compare (else equality proves little)."""
    codes = {issue.code for saved in recalculated.values() for issue in _check(saved).issues}
    assert {"VALEUR_VARIANTE", "NOMBRE_EN_TEXTE", "NOMBRE_AMBIGU", "STATUT_INCONNU",
            "POURCENTAGE_INVALIDE", "MONTANT_NEGATIF"} <= codes
    late = sum(_check(saved).figures.late for saved in recalculated.values())  # type: ignore[union-attr]
    assert late > 0
