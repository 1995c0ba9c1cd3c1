"""`camf-excel bilan`: the council's bilan, its figures equal to each workbook's Tableau de bord.

The figures printed in each bilan (the PDF's text, the Word document's tables) are compared
with the dashboard LibreOffice computes when it opens the workbook, for the samples and for
seeded fillings typed as staff type them. The .docx is converted to PDF by LibreOffice Writer.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import re
from pathlib import Path

import docx
import openpyxl
import pytest
from bilan_read import (
    comparable,
    expected_from_dashboard,
    needs_pdftotext,
    pdf_text,
    plain,
    printed_from_docx,
    printed_from_pdf,
    without_errors,
)
from click.testing import CliRunner
from conftest import IDENTIFICATION, MADA_PLAN, MRC_PLAN, PFM_PLAN, SAMPLES
from dashboard import read_dashboard
from filling import edit, filled_workbook
from libreoffice import SOFFICE, convert_many, needs_libreoffice
from make_bilan_gabarit import build as build_gabarit
from openpyxl.utils import get_column_letter
from staff import fill_as_staff

from camf_excel.batch import check_files
from camf_excel.bilan import ALL, MRC, build_bilans
from camf_excel.bilan_docx import check_gabarit, default_gabarit
from camf_excel.bilan_run import check_default_gabarit, render_bilan, write_bilans
from camf_excel.bilan_text import FIELDS, NBSP, typography, view
from camf_excel.cli_bilan import bilan as bilan_command
from camf_excel.consolidation import consolidate, consolidate_run, status_key
from camf_excel.errors import InputError, OutputExistsError
from camf_excel.generate import generate_workbook
from camf_excel.templates import load_template
from camf_excel.validation import check_workbook

FILLED = SAMPLES / "classeurs-remplis"
TRUNCATED = "35035_herouxville_suivi-pfm-mada_2026.xlsx"
ERRORS_SAMPLE = FILLED / "mrc-de-mekinac_suivi-pfm-mada_2026_erreurs.xlsx"
CLEAN_SAMPLE = FILLED / "51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx"
TODAY = dt.date(2026, 11, 20)
# A sample whose own Tableau de bord, once LibreOffice recalculates it, disagrees with `validate`
# (152 actions against 150: rows damaged by hand on purpose). Not the bilan's doing: its bilan
# prints validate's figures and the « Données à vérifier » box (test below).
DASHBOARD_DIFFERS = {ERRORS_SAMPLE.name: "tableau de bord endommagé à dessein : 152 actions selon "
                                         "LibreOffice, 150 selon validate (signalé)"}
PLANS = {"pfm": (PFM_PLAN, 2024, 2026), "mada": (MADA_PLAN, 2023, 2027), "pfm-mada": (MRC_PLAN, 2025, 2029)}
WRITER = SOFFICE is not None and any((Path(SOFFICE).resolve().parent / name).exists()
                                     for name in ("libswlo.so", "swriter.exe", "swriter"))
needs_writer = pytest.mark.skipif(not WRITER, reason="LibreOffice Writer absent : .ci/run installe "
                                                     "libreoffice-writer-nogui")


def _samples() -> list[Path]:
    return sorted(p for p in FILLED.rglob("*") if p.suffix in (".xlsx", ".ods") and p.name != TRUNCATED
                  and not p.name.startswith(("~$", ".~lock")))


def _staff_filled(folder: Path, index: int) -> Path:
    template_id = list(PLANS)[index % len(PLANS)]
    plan, start, end = PLANS[template_id]
    identification = {**IDENTIFICATION, "organisation": f"Municipalité {index:02d}",
                      "code_geo": f"{90100 + index}", "annee_debut": str(start), "annee_fin": str(end),
                      "periode": str(start + 1)}
    path = generate_workbook(folder / f"aleatoire-{index:02d}.xlsx", template_id, identification, plan)
    fill_as_staff(path, load_template(template_id), start + 1, seed=100 + index)
    return path


@pytest.fixture(scope="module")
def workbooks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every readable sample, plus seeded staff fillings of each template."""
    folder = tmp_path_factory.mktemp("aleatoires")
    return [*_samples(), *(_staff_filled(folder, index) for index in range(4))]


@pytest.fixture(scope="module")
def recalculated(workbooks: list[Path], tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Path]:
    """Each workbook opened, recalculated and saved by LibreOffice (one run for all)."""
    return convert_many(workbooks, tmp_path_factory.mktemp("recalcule"))


@pytest.fixture(scope="module")
def rendered(workbooks: list[Path]) -> dict[Path, dict[str, bytes]]:
    """The PDF and .docx of each workbook's own bilan (rendered in this process)."""
    out = {}
    for path in workbooks:
        bilans = build_bilans(check_files([path], jobs=1), today=TODAY).bilans
        assert len(bilans) == 1, path
        out[path] = render_bilan(bilans[0], ("pdf", "docx"), None)
    return out


# --- figures: the bilan prints the dashboard's -------------------------------------------------

@needs_libreoffice
@needs_pdftotext
@pytest.mark.parametrize("index", range(len(_samples()) + 4))
def test_bilan__pdf_and_docx_figures__equal_libreoffice_dashboard(
        index: int, workbooks: list[Path], recalculated: dict[Path, Path],
        rendered: dict[Path, dict[str, bytes]]) -> None:
    source = workbooks[index]
    if source.name in DASHBOARD_DIFFERS:
        pytest.skip(DASHBOARD_DIFFERS[source.name])
    saved = recalculated[source]
    template = load_template(check_workbook(saved).template_id)
    expected = expected_from_dashboard(read_dashboard(saved, template), template)
    files = rendered[source]
    for printed in (printed_from_pdf(files["pdf"], template), printed_from_docx(files["docx"], template)):
        figures, wanted = comparable(printed), copy.deepcopy(expected)
        if without_errors(wanted, figures):
            # The dashboard shows an error (#REF! typed in an amount): the bilan gives the figure of
            # the valid cells, and its « Données à vérifier » box says the workbook must be corrected.
            assert check_workbook(source).errors and "Données à vérifier" in printed["text"]
        assert figures == wanted


def test_bilan__seeded_fillings__exercise_statuses_without_list_and_late(workbooks: list[Path]) -> None:
    """The random fillings plant what the comparison must survive (else equality proves little)."""
    figures = [check_workbook(p).figures for p in workbooks[-4:]]
    assert all(f is not None for f in figures)
    assert sum(f.without_status for f in figures if f) > 0
    assert sum(f.late for f in figures if f) > 0


# --- Word: LibreOffice Writer opens and converts every .docx ------------------------------------

@needs_writer
@needs_pdftotext
def test_bilan__docx__converts_to_pdf_in_libreoffice_writer(rendered: dict[Path, dict[str, bytes]],
                                                            tmp_path: Path) -> None:
    chosen = [CLEAN_SAMPLE, ERRORS_SAMPLE]
    sources = []
    for path in chosen:
        target = tmp_path / f"{path.stem}.docx"
        target.write_bytes(rendered[path]["docx"])
        sources.append(target)
    converted = convert_many(sources, tmp_path / "pdf", extension="pdf", recalc=False)
    for source, pdf in converted.items():
        text = pdf_text(pdf.read_bytes())
        assert "Faits saillants" in text, source
        assert "Proposition de résolution" in text
    assert "Données à vérifier" in pdf_text(converted[sources[1]].read_bytes())


# --- contents ------------------------------------------------------------------------------------

@needs_pdftotext
def test_bilan__workbook_with_errors__shows_box_with_count_and_command(
        rendered: dict[Path, dict[str, bytes]]) -> None:
    errors = check_workbook(ERRORS_SAMPLE).errors
    assert errors > 0
    text = pdf_text(rendered[ERRORS_SAMPLE]["pdf"])
    assert f"Données à vérifier : ce classeur contient {errors} erreurs" in text
    assert "camf-excel validate" in text and ERRORS_SAMPLE.name in re.sub(r"\s+", "", text)
    figures = check_workbook(ERRORS_SAMPLE).figures
    assert figures is not None and f"Sur {figures.actions} actions" in text
    word = docx.Document(io.BytesIO(rendered[ERRORS_SAMPLE]["docx"]))
    assert any(f"contient {errors} erreurs" in p.text.replace(NBSP, " ") for p in word.paragraphs)
    assert "Données à vérifier" not in pdf_text(rendered[CLEAN_SAMPLE]["pdf"])


@needs_pdftotext
def test_bilan__pdf__letter_pages_numbered_espace_muni_and_resolution(
        rendered: dict[Path, dict[str, bytes]]) -> None:
    pdf = rendered[CLEAN_SAMPLE]["pdf"]
    text = pdf_text(pdf)
    pages = text.count("\f")
    assert pages >= 2
    assert f"Page 1 de {pages}" in text and f"Page {pages} de {pages}" in text
    assert "Espace MUNI (anciennement le CAMF)" in " ".join(text.split())
    assert "prenne acte du dépôt du bilan" in " ".join(text.split())
    assert "Sur 25 actions du plan d'action" in text
    assert re.search(rb"/MediaBox ?\[0 0 612 792\]", pdf)  # letter


def test_typography__french_spaces__no_break_before_colon_percent_dollar_and_inside_guillemets() -> None:
    assert typography("Budget : 1 200 $ soit 40 % « bien »") == (
        f"Budget{NBSP}: 1 200{NBSP}$ soit 40{NBSP}% «{NBSP}bien{NBSP}»")
    assert typography("https://exemple.ca 10:30") == "https://exemple.ca 10:30"
    bilan = build_bilans(check_files([CLEAN_SAMPLE], jobs=1), today=TODAY).bilans[0]
    texts = _strings(view(bilan))
    assert not [t for t in texts if any(bad in t for bad in (" :", " %", " $", "« ", " »"))]
    assert any(f"{NBSP}%" in t for t in texts) and any(f"{NBSP}$" in t for t in texts)


def _letter(key: str) -> str:
    keys = [c.key for c in load_template("pfm").columns]
    return get_column_letter(keys.index(key) + 1)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_view__fields__are_the_documented_ones() -> None:
    bilan = build_bilans(check_files([CLEAN_SAMPLE], jobs=1), today=TODAY).bilans[0]
    assert tuple(view(bilan)) == FIELDS


@needs_pdftotext
def test_bilan__text_that_looks_like_markup__prints_as_typed(tmp_path: Path) -> None:
    path = filled_workbook(tmp_path / "balises.xlsx")
    hostile = '#set page(width: 1cm) *gras* <w:t>&amp; {{ organisation }} {% if x %} ]'
    edit(path, {("Plan d'action", f"{_letter('commentaires')}4"): hostile,
                ("Plan d'action", f"{_letter('statut')}4"): "Réalisée",
                ("Plan d'action", f"{_letter('avancement')}4"): 100})
    bilan = build_bilans(check_files([path], jobs=1), today=TODAY).bilans[0]
    files = render_bilan(bilan, ("pdf", "docx"), None)
    assert hostile in " ".join(pdf_text(files["pdf"], layout=False).split())
    word = docx.Document(io.BytesIO(files["docx"]))
    cells = [plain(c.text) for t in word.tables for row in t.rows for c in row.cells]
    assert hostile in cells  # typed as is (« %» got its no-break space: typography, not markup)


# --- comité de suivi, change since the previous période -------------------------------------------

def test_bilan__committee_meetings__of_the_period_only(tmp_path: Path) -> None:
    path = filled_workbook(tmp_path / "comite.xlsx")
    edit(path, {("Comité de suivi", "A4"): "Julie Gélinas",
                ("Comité de suivi", "F4"): dt.datetime(2025, 3, 12),
                ("Comité de suivi", "G4"): "Bilan annuel", ("Comité de suivi", "H4"): "Adopté : relancer",
                ("Comité de suivi", "F5"): "2024-11-02", ("Comité de suivi", "G5"): "Rencontre de l'an passé",
                ("Comité de suivi", "F6"): "14/10/2025", ("Comité de suivi", "G6"): "Parc"})
    result = check_workbook(path)
    assert [m["date"] for m in result.meetings] == [dt.date(2025, 3, 12), dt.date(2024, 11, 2),
                                                   dt.date(2025, 10, 14)]
    assert result.members[0]["nom"] == "Julie Gélinas"
    rows = view(build_bilans(check_files([path], jobs=1), today=TODAY).bilans[0])["rencontres"]
    assert [(r["date"], r["sujets"]) for r in rows] == [("12 mars 2025", "Bilan annuel"),
                                                        ("14 octobre 2025", "Parc")]
    assert rows[0]["decisions"] == f"Adopté{NBSP}: relancer"


def test_bilan__precedent__change_equals_consolidation_columns(tmp_path: Path) -> None:
    current = sorted((FILLED / "mrc-mekinac").glob("35040_grandes-piles*2026*.xlsx"))
    earlier = sorted((FILLED / "mrc-mekinac").glob("35040_grandes-piles*2025*.xlsx"))
    assert current and earlier
    bilans = build_bilans(check_files(current, jobs=1), check_files(earlier, jobs=1), today=TODAY)
    (bilan,) = bilans.bilans
    assert bilan.change is not None and bilan.change.previous_periode == 2025
    row = consolidate([*current, *earlier], jobs=1).organisations.iloc[0]
    assert len(bilan.change.newly_realised) == row["nouvellement_realisees"]
    assert len(bilan.change.newly_late) == row["nouvellement_en_retard"]
    assert "Depuis la période 2025" in view(bilan)["changement"]


# --- territories: from the consolidation -----------------------------------------------------------

def test_bilan__par_mrc__figures_equal_consolidation_synthesis_and_organisations() -> None:
    run = check_files([FILLED], jobs=2)
    bilans = build_bilans(run, par_mrc=True, today=TODAY)
    tables = consolidate_run(run).consolidation
    mrcs = {row["mrc"]: row for _, row in tables.mrcs.iterrows()}
    territories = [b for b in bilans.bilans if b.kind == MRC]
    assert {b.organisation for b in territories} == set(mrcs)
    statuses = tables.statuses
    for bilan in territories:
        row = mrcs[bilan.organisation]
        assert bilan.figures.actions == row["actions"]
        assert bilan.figures.late == row["en_retard"]
        assert [bilan.figures.by_status[s] for s in statuses] == [row[status_key(s)] for s in statuses]
        assert bilan.figures.without_status == row["sans_statut"]
    organisations = {r["source_file"]: r for _, r in tables.organisations.iterrows()}
    mekinac = next(b for b in territories if "Mékinac" in b.organisation)
    assert len(mekinac.members) == 9  # the MRC, 8 municipalities (Hérouxville unreadable, Trois-Rives absent)
    for member in mekinac.members:
        assert member.figures.actions == organisations[member.source_file]["actions"]
        assert member.figures.late == organisations[member.source_file]["en_retard"]
    (everything,) = [b for b in bilans.bilans if b.kind == ALL]
    assert everything.figures.actions == tables.organisations["actions"].sum()


def test_consolidate_run__same_tables_as_consolidate() -> None:
    tables = consolidate_run(check_files([FILLED], jobs=2)).consolidation
    reference = consolidate([FILLED], jobs=2)
    assert tables.organisations.equals(reference.organisations)
    assert tables.mrcs.equals(reference.mrcs)
    assert tables.summary == reference.summary


# --- Word templates ------------------------------------------------------------------------------

def test_gabarit__shipped__is_the_generator_output_and_passes_the_check(tmp_path: Path) -> None:
    check_default_gabarit()
    rebuilt = build_gabarit(tmp_path / "bilan.docx").read_bytes()
    assert _paragraph_texts(rebuilt) == _paragraph_texts(default_gabarit())


def _paragraph_texts(data: bytes) -> list[str]:
    document = docx.Document(io.BytesIO(data))
    cells = [c.text for t in document.tables for row in t.rows for c in row.cells]
    return [p.text for p in document.paragraphs] + cells


def _gabarit_variant(tmp_path: Path, old: str, new: str) -> Path:
    document = docx.Document(io.BytesIO(default_gabarit()))
    for paragraph in document.paragraphs:
        for run in paragraph.runs:
            run.text = run.text.replace(old, new)
    target = tmp_path / "notre-gabarit.docx"
    document.save(str(target))
    return target


def test_gabarit__replacement_with_same_fields__is_used(tmp_path: Path) -> None:
    gabarit = _gabarit_variant(tmp_path, "Faits saillants", "Le bilan en bref (notre gabarit)")
    report = write_bilans([CLEAN_SAMPLE], tmp_path / "out", formats=("docx",), gabarit=gabarit, jobs=1,
                          today=TODAY)
    (written,) = report.written
    text = "\n".join(p.text for p in docx.Document(str(written)).paragraphs)
    assert "Le bilan en bref (notre gabarit)" in text and "Saint-Élie-de-Caxton" in text


@pytest.mark.parametrize(("old", "new", "named"), [
    ("{{ resolution }}", "", "{{ resolution }}"),
    ("{{ phrase_bilan }}", "{{ phrase_bilans }}", "{{ phrase_bilans }}"),
])
def test_gabarit__missing_or_unknown_field__refused_by_name(tmp_path: Path, old: str, new: str,
                                                           named: str) -> None:
    gabarit = _gabarit_variant(tmp_path, old, new)
    with pytest.raises(InputError, match=named.replace("{", r"\{").replace("}", r"\}")):
        check_gabarit(gabarit.read_bytes(), gabarit.name, FIELDS)
    result = CliRunner().invoke(bilan_command, [str(CLEAN_SAMPLE), "-o", str(tmp_path / "out"),
                                                "--gabarit", str(gabarit)])
    assert result.exit_code == 2
    assert named in result.output and not (tmp_path / "out").exists()


def test_gabarit__not_a_docx__refused(tmp_path: Path) -> None:
    fake = tmp_path / "gabarit.docx"
    fake.write_text("pas un document", encoding="utf-8")
    with pytest.raises(InputError, match="pas un document Word"):
        check_gabarit(fake.read_bytes(), fake.name, FIELDS)


# --- command line ----------------------------------------------------------------------------------

def test_cli_bilan__samples__writes_every_bilan_names_the_unreadable_exit_1(tmp_path: Path) -> None:
    out = tmp_path / "bilans"
    result = CliRunner().invoke(bilan_command, [str(FILLED), "-o", str(out), "--par-mrc", "-q"])
    assert result.exit_code == 1, result.output
    assert TRUNCATED in result.output and "aucun bilan pour ce fichier" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert "bilan_51075_saint-elie-de-caxton_2025.pdf" in names
    assert "bilan_territoire_mrc-de-mekinac_2026.docx" in names
    assert "bilan_ensemble_2025-2026.pdf" in names
    assert len(names) == 2 * 15  # 11 organisations, 3 MRC, all the inputs; PDF and Word each
    again = CliRunner().invoke(bilan_command, [str(FILLED), "-o", str(out), "-q"])
    assert again.exit_code == 2 and "--force" in again.output
    forced = CliRunner().invoke(bilan_command, [str(FILLED), "-o", str(out), "-q", "--force",
                                                "--format", "pdf"])
    assert forced.exit_code == 1


def test_cli_bilan__clean_input__exit_0_and_help_has_example(tmp_path: Path) -> None:
    result = CliRunner().invoke(bilan_command, [str(CLEAN_SAMPLE), "-o", str(tmp_path / "b"),
                                                "--format", "pdf"])
    assert result.exit_code == 0, result.output
    assert [p.suffix for p in (tmp_path / "b").iterdir()] == [".pdf"]
    help_text = CliRunner().invoke(bilan_command, ["--help"]).output
    assert "Exemples" in help_text and "camf-excel bilan" in help_text


def test_cli_bilan__nothing_readable__exit_2(tmp_path: Path) -> None:
    broken = tmp_path / "vide.xlsx"
    broken.write_bytes(b"")
    result = CliRunner().invoke(bilan_command, [str(broken), "-o", str(tmp_path / "b")])
    assert result.exit_code == 2 and "Aucun classeur lisible" in result.output
    bad = CliRunner().invoke(bilan_command, [str(CLEAN_SAMPLE), "-o", str(tmp_path / "b"), "--format", "odt"])
    assert bad.exit_code == 2 and "Format inconnu" in bad.output


def test_write_bilans__existing_folder__refused_before_reading(tmp_path: Path) -> None:
    out = tmp_path / "b"
    out.mkdir()
    (out / "autre.txt").write_text("x", encoding="utf-8")
    with pytest.raises(OutputExistsError):
        write_bilans([CLEAN_SAMPLE], out, jobs=1)


def test_bilan__unfilled_sheet_of_150_actions__renders(tmp_path: Path) -> None:
    """A workbook sent back untouched (150 actions, no follow-up) still gets a bilan that says so."""
    path = generate_workbook(tmp_path / "vide.xlsx", "pfm-mada", {**IDENTIFICATION, "annee_debut": "2025",
                                                                    "annee_fin": "2029", "periode": "2026"},
                             MRC_PLAN)
    (bilan,) = build_bilans(check_files([path], jobs=1), today=TODAY).bilans
    fields = view(bilan)
    assert fields["nb_actions"] == "150" and fields["nb_sans_statut"] == "150"
    assert render_bilan(bilan, ("pdf",), None)["pdf"].startswith(b"%PDF")


def test_reader__committee_sheet_absent__no_meetings(tmp_path: Path) -> None:
    path = filled_workbook(tmp_path / "sans-comite.xlsx")
    book = openpyxl.load_workbook(path)
    del book["Comité de suivi"]
    book.save(path)
    result = check_workbook(path)
    assert result.meetings == [] and result.readable and result.figures is not None


def test_bilan_templates__ship_in_the_package() -> None:
    root = Path(__file__).resolve().parent.parent
    setup = (root / "setup.cfg").read_text(encoding="utf-8")
    assert "bilan/*.typ" in setup and "bilan/*.docx" in setup
