"""`validate --annoter`: copies for the files staff must correct, a word for each file left without one."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
from click.testing import CliRunner
from libreoffice import convert_many, needs_libreoffice

from camf_excel.cli import main

SAMPLES = Path(__file__).parent.parent / "samples" / "classeurs-remplis"
SHAWINIGAN = SAMPLES / "36033_shawinigan_suivi-mada_2025.ods"


def _validate(*arguments: str) -> str:
    result = CliRunner().invoke(main, ["validate", *arguments])
    assert result.exit_code in (0, 1), result.output
    return result.output


def test_annoter__other_period_only__no_copy_for_what_the_coordinator_asked(tmp_path: Path) -> None:
    output = _validate(str(SHAWINIGAN), "--periode", "2026", "--annoter", str(tmp_path / "annotes"))
    assert "PERIODE_DIFFERENTE" in output
    assert "aucun classeur n'a de cellule à corriger" in output
    assert not (tmp_path / "annotes").exists()


@needs_libreoffice
def test_annoter__ods_with_errors__named_left_without_its_copy(tmp_path: Path) -> None:
    source = tmp_path / "recus" / "sainte-thecle.xlsx"
    source.parent.mkdir()
    shutil.copy(SAMPLES / "mrc-mekinac" / "35050_sainte-thecle_suivi-pfm-mada_2026.xlsx", source)
    ods = convert_many([source], tmp_path / "ods", "ods")[source]
    output = _validate(str(source), str(ods), "--annoter", str(tmp_path / "annotes"))
    assert "copie annotée non écrite pour" in output and "OpenDocument" in output
    assert "Copies annotées : 1 écrite(s)" in output
    assert f"1 non écrite(s), à corriger d'après le rapport : {ods}" in output
    copy = next((tmp_path / "annotes").rglob("*-annote.xlsx"))
    legend = openpyxl.load_workbook(copy)["Plan d'action"]["A1"].comment.text
    assert legend.startswith("Copie annotée par camf-excel") and "violet" in legend
