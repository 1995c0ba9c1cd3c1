"""Arbitrary bytes as workbooks and plans, arbitrary bytes as file names: no traceback, good files kept,
inputs untouched — through validate, consolidate and generate --batch, as a person runs them."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PFM_PLAN, SAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camf_excel.cli import main

GOOD = SAMPLES / "classeurs-remplis" / "51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx"
NAME_BYTES = st.binary(min_size=1, max_size=24).map(lambda b: b.replace(b"/", b"_").replace(b"\x00", b"_"))
SUFFIXES = st.sampled_from([b".xlsx", b".ods", b".xls", b".csv", b""])
CONTENTS = st.one_of(
    st.binary(max_size=2_000),
    st.binary(max_size=600).map(lambda b: b"PK\x03\x04" + b),  # looks like a zip, is not one
    st.binary(max_size=600).map(lambda b: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b),  # looks like OLE2
    st.just(GOOD.read_bytes()[:5_000]),  # a workbook cut short
)
pytestmark = pytest.mark.skipif(os.name != "posix", reason="noms de fichiers en octets : POSIX")


def _name(raw: bytes, suffix: bytes) -> str:
    name = raw.lstrip(b".~$") or b"f"  # hidden and lock files are skipped by design: keep them visible
    return os.fsdecode(name + suffix)


def _digests(folder: Path) -> dict[str, str]:
    return {os.fsencode(p.name).hex(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(NAME_BYTES, SUFFIXES, CONTENTS), min_size=1, max_size=4))
def test_validate_and_consolidate__arbitrary_files__no_traceback_good_files_kept(
        tmp_path_factory: pytest.TempPathFactory, files: list[tuple[bytes, bytes, bytes]]) -> None:
    folder = tmp_path_factory.mktemp("recus")
    shutil.copy(GOOD, folder / "bon.xlsx")
    for raw, suffix, content in files:
        path = folder / _name(raw, suffix)
        if path.name != "bon.xlsx" and not path.exists():
            path.write_bytes(content)
    before = _digests(folder)
    runner = CliRunner()
    outputs = tmp_path_factory.mktemp("sortie")
    checked = runner.invoke(main, ["validate", str(folder), "--report", str(outputs / "v.xlsx"),
                                   "--annoter", str(outputs / "annotes")])
    reported = runner.invoke(main, ["validate", str(folder), "--report", str(outputs / "v.csv")])
    out = outputs / "rapport"
    consolidated = runner.invoke(main, ["consolidate", str(folder), "-o", str(out), "-q"])
    bilans = runner.invoke(main, ["bilan", str(folder), "-o", str(outputs / "bilans"), "-q", "--format",
                                  "pdf"])
    rolled = runner.invoke(main, ["reconduire", str(folder), "-o", str(outputs / "reconduits")])
    for result in (checked, reported, consolidated, bilans, rolled):
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert "Traceback" not in result.output and "inattendu" not in result.output, result.output
        assert result.exit_code in (0, 1), result.output
    assert "Saint-Élie-de-Caxton" in (out / "organisations.csv").read_text(encoding="utf-8-sig")
    assert _digests(folder) == before


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(SUFFIXES, CONTENTS)
def test_generate_batch__arbitrary_plan_bytes__row_refused_others_written(
        tmp_path_factory: pytest.TempPathFactory, suffix: bytes, content: bytes) -> None:
    folder = tmp_path_factory.mktemp("lot")
    plans = folder / "plans"
    plans.mkdir()
    shutil.copy(PFM_PLAN, plans / "bon.csv")
    hostile = "hostile" + suffix.decode()
    (plans / hostile).write_bytes(content)
    organisations = folder / "organisations.csv"
    lines = ["organisation,type,mrc,demarche,annee_debut,annee_fin,periode,plan",
             "Première,Municipalité,MRC X,PFM,2024,2026,2025,bon.csv",
             f"Deuxième,Municipalité,MRC X,PFM,2024,2026,2025,{hostile}",
             "Troisième,Municipalité,MRC X,PFM,2024,2026,2025,bon.csv"]
    organisations.write_text("\n".join(lines), encoding="utf-8")
    result = CliRunner().invoke(main, ["generate", "--batch", str(organisations), "--plans", str(plans),
                                       "-o", str(folder / "classeurs")])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output and result.exit_code in (0, 1, 2)
    written = sorted(p.name for p in (folder / "classeurs").iterdir())
    assert "premiere_suivi-pfm.xlsx" in written and "troisieme_suivi-pfm.xlsx" in written
