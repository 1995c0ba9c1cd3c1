"""The command line: help with examples, exit codes, messages, nothing written on failure."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PFM_PLAN, PLANS, SAMPLES

from camf_excel.cli import main
from camf_excel.errors import PlanError
from camf_excel.generate import generate_batch, generate_workbook

HEADER = ("No,Champ d'action,Objectif,Action,Clientèle visée,Responsable,Partenaires,"
          "Début (année),Fin prévue (année),Budget prévu ($),Indicateur / résultat attendu\n")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.mark.parametrize("command", ["templates", "generate", "validate", "consolidate"])
def test_cli__every_command__has_help_with_example(command: str) -> None:
    code, output = run(command, "--help")
    assert code == 0 and "Exemple" in output


def test_cli__templates__lists_three() -> None:
    code, output = run("templates")
    assert code == 0
    assert all(t in output for t in ("pfm ", "mada ", "pfm-mada", "PFM-MADA"))


def test_cli__python_dash_m__works() -> None:
    completed = subprocess.run([sys.executable, "-m", "camf_excel", "templates"],
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0 and "pfm-mada" in completed.stdout


def test_cli__generate_from_plan__writes_workbook(tmp_path: Path) -> None:
    out = tmp_path / "suivi.xlsx"
    code, output = run("generate", "-o", str(out), "--template", "pfm", "--plan", str(PFM_PLAN),
                       "--organisation", "Saint-Élie-de-Caxton", "--periode", "2025")
    assert code == 0 and out.exists() and "Classeur écrit" in output


def test_cli__existing_output__exit_2_and_untouched(tmp_path: Path) -> None:
    out = tmp_path / "suivi.xlsx"
    out.write_bytes(b"x")
    code, output = run("generate", "-o", str(out))
    assert code == 2 and "--force" in output and out.read_bytes() == b"x"


def _plan(tmp_path: Path, body: str, name: str = "plan.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding=encoding)
    return path


BAD_PLANS = {
    "unknown_champ": ("1.1,Loisir sportif,,Action A,,Greffe,,2025,2025,,\n",
                      "ligne 2 (B2) : « Loisir sportif » n'est pas dans"),
    "duplicate_no": ("1.1,Habitation,,Action A,,Greffe,,2025,2025,,\n"
                     "1.1,Habitation,,Action B,,Greffe,,2025,2025,,\n",
                     "ligne 3 (A3) : le numéro « 1.1 » est déjà utilisé en A2"),
    "text_in_budget": ("1.1,Habitation,,Action A,,Greffe,,2025,2025,beaucoup,\n",
                       "ligne 2 (J2) : « Budget prévu ($) » : « beaucoup » n'est pas un nombre"),
    "negative_budget": ("1.1,Habitation,,Action A,,Greffe,,2025,2025,-500,\n",
                        "ligne 2 (J2) : « Budget prévu ($) » : montant négatif (-500)"),
    "end_before_start": ("1.1,Habitation,,Action A,,Greffe,,2026,2025,,\n",
                         "ligne 2 (I2) : la fin prévue (2025) précède le début (2026)"),
    "missing_action": ("1.1,Habitation,,,,Greffe,,2025,2025,,\n",
                       "ligne 2 (D2) : « Action » est obligatoire"),
}


@pytest.mark.parametrize("case", sorted(BAD_PLANS))
def test_cli__bad_plan__exit_2_named_and_nothing_written(tmp_path: Path, case: str) -> None:
    body, message = BAD_PLANS[case]
    out = tmp_path / "suivi.xlsx"
    code, output = run("generate", "-o", str(out), "--template", "pfm", "--debut", "2024",
                       "--fin", "2029", "--plan", str(_plan(tmp_path, body)))
    assert code == 2
    assert "plan.csv" in output and message in output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["plan.csv"]


def test_cli__plan_year_outside_the_plan__written_with_its_warning(tmp_path: Path) -> None:
    out = tmp_path / "suivi.xlsx"
    plan = _plan(tmp_path, "1.1,Habitation,,Action A,,Greffe,,2025,2031,,\n")
    code, output = run("generate", "-o", str(out), "--template", "pfm", "--debut", "2024", "--fin", "2029",
                       "--plan", str(plan))
    assert code == 0 and out.exists()
    assert "ligne 2 (I2) : « Fin prévue (année) » : l'année 2031 est hors" in output


def test_cli__missing_required_column__named(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("No;Objectif;Action\n1;Un;Deux\n", encoding="utf-8")
    code, output = run("generate", "-o", str(tmp_path / "o.xlsx"), "--plan", str(path))
    assert code == 2 and "colonne obligatoire « Champ d'action » introuvable" in output


def test_cli__excel_fr_csv__semicolon_cp1252_lenient_headers(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("  NUMÉRO ;champ d’action;ACTION;responsable\n"
                    "A-07;respect et inclusion sociale;Café-rencontre;Greffe\n", encoding="cp1252")
    out = tmp_path / "o.xlsx"
    code, output = run("generate", "-o", str(out), "--template", "mada", "--plan", str(path))
    assert code == 0, output


def test_cli__not_a_plan__exit_2(tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    path.write_bytes(b"PK\x03\x04 pas vraiment un zip")
    code, output = run("generate", "-o", str(tmp_path / "o.xlsx"), "--plan", str(path))
    assert code == 2 and "endommagé" in output and "Traceback" not in output


def test_cli__batch__writes_one_per_organisation(tmp_path: Path) -> None:
    out = tmp_path / "classeurs"
    code, output = run("generate", "--batch", str(SAMPLES / "organisations.csv"),
                       "--plans", str(PLANS), "-o", str(out))
    assert code == 0, output
    assert len(list(out.glob("*.xlsx"))) == 11
    assert (out / "35027_saint-tite_suivi-pfm-mada.xlsx").exists()


def test_cli__batch_with_bad_rows__exit_1_others_written(tmp_path: Path) -> None:
    orgs = tmp_path / "orgs.csv"
    orgs.write_text("organisation,type,code_geo,demarche,annee_debut,annee_fin,plan\n"
                    "Saint-Tite,Municipalité,35027,PFM,2025,2029,\n"
                    "Hérouxville,Municipalité,35035,PFM,2025,2029,absent.csv\n"
                    "Trois-Rives,Village,123456,MADA,2025,2029,\n"
                    ",Municipalité,,PFM,2025,2029,\n", encoding="utf-8-sig")
    out = tmp_path / "out"
    code, output = run("generate", "--batch", str(orgs), "-o", str(out))
    assert code == 1
    assert "ligne 3" in output and "absent.csv" in output
    assert "ligne 4" in output and "5 chiffres" in output
    assert "ligne 5" in output
    assert [p.name for p in out.iterdir()] == ["35027_saint-tite_suivi-pfm.xlsx"]


def test_batch__worker_processes__same_files_in_order(tmp_path: Path) -> None:
    serial = generate_batch(SAMPLES / "organisations.csv", tmp_path / "a", PLANS, workers=1)
    parallel = generate_batch(SAMPLES / "organisations.csv", tmp_path / "b", PLANS, workers=2)
    assert [p.name for p in parallel.written] == [p.name for p in serial.written]
    assert len(parallel.written) == 11 and not parallel.failed


def test_cli__output_without_xlsx_extension__exit_2(tmp_path: Path) -> None:
    code, output = run("generate", "-o", str(tmp_path / "suivi.ods"))
    assert code == 2 and ".xlsx" in output and not list(tmp_path.iterdir())


def test_batch__hostile_plans__cost_their_own_rows_only(tmp_path: Path) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    shutil.copy(PFM_PLAN, plans / "bon.csv")
    (plans / "tronque.xlsx").write_bytes(PFM_PLAN.read_bytes()[:40] + b"PK\x03\x04" + b"\x00" * 30)
    (plans / "binaire.csv").write_bytes(bytes(range(256)) * 40)
    rows = "organisation,type,mrc,demarche,annee_debut,annee_fin,periode,plan\n" + "".join(
        f"Municipalité {i},Municipalité,MRC X,PFM,2024,2026,2025,{plan}\n"
        for i, plan in enumerate(["bon.csv", "tronque.xlsx", "bon.csv", "binaire.csv", "bon.csv"]))
    organisations = tmp_path / "organisations.csv"
    organisations.write_text(rows, encoding="utf-8")
    result = generate_batch(organisations, tmp_path / "sortie", plans, workers=2)
    assert len(result.written) == 3 and [line for line, _ in result.failed] == [3, 5]
    assert all(path.exists() for path in result.written)


def test_generate__plan_refused_in_its_worker__issues_come_back(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "1.1,Loisir sportif,,Action A,,Greffe,,2025,2025,,\n")
    with pytest.raises(PlanError) as caught:
        generate_workbook(tmp_path / "suivi.xlsx", "pfm", {"periode": "2025"}, plan)
    assert [(i.code, i.cell) for i in caught.value.issues] == [("VALEUR_HORS_LISTE", "B2")]
