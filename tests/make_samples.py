"""Rebuild samples/classeurs-remplis/: filled workbooks as they come back from staff.

Run `python tests/make_samples.py` (needs LibreOffice for the re-saved and .ods copies). The
files are committed, so the README's command and the tests use them without rebuilding.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import openpyxl

sys.path.insert(0, str(Path(__file__).parent))

from conftest import MADA_PLAN, MRC_PLAN, PFM_PLAN, SAMPLES
from filling import IDENT, PLAN, edit, filled_workbook
from libreoffice import convert

TARGET = SAMPLES / "classeurs-remplis"
SAINT_ELIE = {"organisation": "Saint-Élie-de-Caxton", "type": "Municipalité", "code_geo": "51008",
              "mrc": "Maskinongé", "region": "Mauricie", "annee_debut": 2024, "annee_fin": 2026,
              "periode": 2025, "responsable_nom": "Julie Gélinas",
              "responsable_courriel": "loisirs@st-elie-de-caxton.ca", "responsable_telephone": "819 221-2839"}
SHAWINIGAN = {"organisation": "Shawinigan", "type": "Municipalité", "code_geo": "36033",
              "mrc": "Shawinigan", "region": "Mauricie", "annee_debut": 2023, "annee_fin": 2027,
              "periode": 2025, "responsable_nom": "Marc Trudel",
              "responsable_courriel": "vie.communautaire@shawinigan.ca"}
MEKINAC = {"organisation": "MRC de Mékinac", "type": "MRC", "mrc": "MRC de Mékinac", "region": "Mauricie",
           "annee_debut": 2025, "annee_fin": 2029, "periode": 2026, "responsable_nom": "Annie Dessureault",
           "responsable_courriel": "developpement@mrcmekinac.com"}
# The mistakes people make, each on its own cell (Plan d'action header on row 3, data from row 4).
MISTAKES = {
    (PLAN, "L5"): "Fini", (PLAN, "L6"): "terminé", (PLAN, "M6"): 100,
    (PLAN, "L7"): "Réalisée", (PLAN, "M7"): 40,
    (PLAN, "L8"): "Non débutée", (PLAN, "M8"): 80,
    (PLAN, "L9"): "Abandonnée", (PLAN, "P9"): None,
    (PLAN, "J10"): "à confirmer", (PLAN, "N11"): "31/02/2026", (PLAN, "A12"): "1.1",
    (PLAN, "B13"): "Sports", (PLAN, "H14"): 2028, (PLAN, "I14"): 2026, (PLAN, "O15"): "#REF!",
    (PLAN, "U3"): "Notes du comité", (PLAN, "U16"): "Voir le courriel du 3 mars",
    (IDENT, "B16"): "annie.dessureault@",
}


def build(target: Path = TARGET) -> list[Path]:
    """Write the sample workbooks into target (replacing them)."""
    target.mkdir(parents=True, exist_ok=True)
    written = [filled_workbook(target / "51008_saint-elie-de-caxton_suivi-pfm_2025.xlsx", "pfm", PFM_PLAN,
                               SAINT_ELIE)]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        shawinigan = filled_workbook(work / "36033_shawinigan_suivi-mada_2025.xlsx", "mada", MADA_PLAN,
                                     SHAWINIGAN, seed=5)
        resaved = convert(shawinigan, work / "lo", "xlsx")
        written.append(_move(resaved, target / "36033_shawinigan_suivi-mada_2025_libreoffice.xlsx"))
        written.append(_move(convert(shawinigan, work / "ods", "ods"),
                             target / "36033_shawinigan_suivi-mada_2025.ods"))
        mekinac = filled_workbook(work / "mekinac.xlsx", "pfm-mada", MRC_PLAN, MEKINAC, seed=3)
        edit(mekinac, MISTAKES)
        book = openpyxl.load_workbook(mekinac)
        book[PLAN].insert_rows(1)  # a title line typed above the table: the header moves down
        book[PLAN]["A1"] = "Suivi 2026 — version du comité"
        book.save(mekinac)
        written.append(_move(mekinac, target / "mrc-de-mekinac_suivi-pfm-mada_2026_erreurs.xlsx"))
    return written


def _move(source: Path, target: Path) -> Path:
    shutil.move(source, target)
    return target


if __name__ == "__main__":
    for path in build():
        print(path.relative_to(SAMPLES.parent))
