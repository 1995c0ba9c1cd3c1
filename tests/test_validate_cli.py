"""`camf-excel validate`: per-file summary, exit codes, reports that a coordinator can send back."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import openpyxl
import pytest
from conftest import SAMPLES
from test_cli import run

FILLED = SAMPLES / "classeurs-remplis"
CLEAN = FILLED / "51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx"
MISTAKES = FILLED / "mrc-de-mekinac_suivi-pfm-mada_2026_erreurs.xlsx"
EXPECTED_MISTAKES = [
    ("IDENTIFICATION_INVALIDE", "B16"), ("COLONNE_SUPPLEMENTAIRE", "Z4"), ("STATUT_INCONNU", "L6"),
    ("VALEUR_VARIANTE", "L7"), ("STATUT_AVANCEMENT_INCOHERENT", "M8"), ("STATUT_AVANCEMENT_INCOHERENT", "M9"),
    ("COMMENTAIRE_MANQUANT", "P10"), ("NOMBRE_INVALIDE", "J11"), ("DATE_INVALIDE", "N12"),
    ("NO_EN_DOUBLE", "A13"), ("VALEUR_HORS_LISTE", "B14"), ("FIN_AVANT_DEBUT", "I15"),
    ("CELLULE_ERREUR", "O16"),
]


def test_validate_cli__clean_samples__exit_0() -> None:
    code, output = run("validate", str(CLEAN), str(FILLED / "36033_shawinigan_suivi-mada_2025.ods"),
                       str(FILLED / "36033_shawinigan_suivi-mada_2025_libreoffice.xlsx"))
    assert code == 0, output
    assert output.count("aucun problème") == 3
    assert "25 action(s) : 1 réalisée(s) (4 %), 3 en retard, avancement moyen 44 %" in output


def test_validate_cli__samples_folder__every_mistake_named_with_its_cell(tmp_path: Path) -> None:
    report = tmp_path / "rapport.json"
    top_level = [str(path) for path in sorted(FILLED.iterdir()) if path.is_file()]  # not mrc-mekinac/
    code, output = run("validate", *top_level, "--report", str(report))
    assert code == 1
    issues = json.loads(report.read_text(encoding="utf-8"))
    assert [(i["code"], i["cell"]) for i in issues] == EXPECTED_MISTAKES
    assert all(Path(i["file"]) == MISTAKES for i in issues)
    assert "'Plan d''action'!L6  STATUT_INCONNU" in output
    assert "10 erreur(s), 3 avertissement(s)" in output


def test_validate_cli__csv_report__bom_quoted_and_formulas_neutralised(tmp_path: Path) -> None:
    report = tmp_path / "rapport.csv"
    run("validate", str(MISTAKES), "--report", str(report))
    data = report.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf\"severity\"")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [(r["code"], r["cell"]) for r in rows] == EXPECTED_MISTAKES
    assert all(not value.startswith(("=", "+", "-", "@")) for r in rows for value in r.values())


def test_validate_cli__xlsx_report__filterable_sheet_sorted_by_cell(tmp_path: Path) -> None:
    report = tmp_path / "rapport.xlsx"
    code, _ = run("validate", str(MISTAKES), str(CLEAN), "--report", str(report))
    assert code == 1
    sheet = openpyxl.load_workbook(report)["Problèmes"]
    assert sheet.auto_filter.ref and sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [(r[1], r[4]) for r in rows] == EXPECTED_MISTAKES
    assert rows[0][0] == "erreur" and "adresse courriel" in rows[0][8]


def test_validate_cli__existing_report__refused_without_force(tmp_path: Path) -> None:
    report = tmp_path / "rapport.csv"
    report.write_text("déjà là", encoding="utf-8")
    code, output = run("validate", str(CLEAN), "--report", str(report))
    assert code == 2 and "--force" in output
    assert report.read_text(encoding="utf-8") == "déjà là"
    code, _ = run("validate", str(CLEAN), "--report", str(report), "--force")
    assert code == 0 and report.read_text(encoding="utf-8-sig").startswith('"severity"')


@pytest.mark.parametrize("suffix", [".txt", ""])
def test_validate_cli__unknown_report_format__exit_2(tmp_path: Path, suffix: str) -> None:
    code, output = run("validate", str(CLEAN), "--report", str(tmp_path / f"rapport{suffix}"))
    assert code == 2 and ".xlsx, .csv ou .json" in output


def test_validate_cli__nothing_readable__exit_2(tmp_path: Path) -> None:
    (tmp_path / "vide.xlsx").write_bytes(b"")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.7")
    (tmp_path / "~$vide.xlsx").write_bytes(b"\x05owner")
    code, output = run("validate", str(tmp_path))
    assert code == 2
    assert "FICHIER_VIDE" in output and "ignoré" in output and "notes.pdf" in output
    assert "~$" not in output


def test_validate_cli__missing_path__named_as_error_exit_1(tmp_path: Path) -> None:
    code, output = run("validate", str(tmp_path / "absent.xlsx"), str(CLEAN))
    assert code == 1  # DOMAIN §8: the other input is read, the exit code says one was refused
    assert f"Erreur : Introuvable : {tmp_path / 'absent.xlsx'}" in output and "aucun problème" in output


def test_validate_cli__annotated_into_the_input_folder__inputs_never_touched(tmp_path: Path) -> None:
    received = tmp_path / "recus"
    (received / "a").mkdir(parents=True)
    (received / "b").mkdir()
    shutil.copy(MISTAKES, received / "a" / "suivi.xlsx")
    shutil.copy(MISTAKES, received / "b" / "suivi.xlsx")
    shutil.copy(MISTAKES, received / "suivi.xlsx")
    shutil.copy(MISTAKES, received / "suivi-annote.xlsx")  # last week's copy, sent back corrected
    before = {p: p.read_bytes() for p in received.rglob("*.xlsx")}
    code, output = run("validate", str(received), "--annoter", str(received), "--force")
    assert code == 1 and "Traceback" not in output
    assert all(p.read_bytes() == data for p, data in before.items())
    copies = sorted(p.relative_to(received).as_posix() for p in received.rglob("*-annote*.xlsx")
                    if p not in before)
    assert copies == ["a/suivi-annote.xlsx", "b/suivi-annote.xlsx", "suivi-annote-annote.xlsx"]
    assert "jamais modifié" in output  # suivi.xlsx's copy would have replaced an input: refused
