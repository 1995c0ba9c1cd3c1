"""Every real-world corpus file meets the reader as its MANIFEST says: read, or refused with a message."""

from __future__ import annotations

import csv

import pytest
from conftest import ROOT

from camf_excel.batch import check_files

CORPUS = ROOT.parent / "shared" / "corpus" / "realworld"
MANIFEST = CORPUS / "MANIFEST.csv"


def _manifest() -> list[dict[str, str]]:
    if not MANIFEST.is_file():
        return []
    with MANIFEST.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


ROWS = _manifest()
pytestmark = pytest.mark.skipif(not ROWS, reason=f"corpus absent : {CORPUS} (../shared non monté)")


@pytest.fixture(scope="module")
def results() -> dict[str, object]:
    run = check_files([CORPUS / row["file"] for row in ROWS], jobs=2)
    return {result.file.rsplit("/", 1)[-1]: result for result in run.results}


@pytest.mark.parametrize("row", ROWS, ids=[row["file"] for row in ROWS])
def test_corpus__each_file__behaves_as_manifest_says(row: dict[str, str], results: dict) -> None:
    result = results[row["file"]]
    assert result.issues, "every corpus file gets at least one message (none is a follow-up workbook)"
    assert all(issue.message and issue.file.endswith(row["file"]) for issue in result.issues)
    expected = "refused" if row["format"] == "csv" else row["expected"]
    if expected == "readable":
        assert result.readable, [i.message for i in result.issues]
        assert {i.code for i in result.issues} >= {"FEUILLE_MANQUANTE"}
    elif expected == "readable_or_refused":
        assert (result.readable and "FORMAT_NON_STANDARD" in {i.code for i in result.issues}) or (
            not result.readable and result.errors == 1)
    else:
        assert not result.readable
        assert [i.severity for i in result.issues] == ["erreur"]
        assert result.issues[0].code.startswith(("FICHIER_", "PAS_UN_CLASSEUR"))
