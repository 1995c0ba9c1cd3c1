"""Input walking (R1) and content-based format sniffing (R2)."""

from __future__ import annotations

import csv
import os
import threading
import zipfile
from pathlib import Path

import hostile
import pytest
import xlsxwriter

from camf_excel.csvfiles import read_csv_rows
from camf_excel.errors import InputError
from camf_excel.files import sniff_format
from camf_excel.limits import MAX_CSV_FIELD_CHARS
from camf_excel.walk import Skipped, walk_inputs

REALWORLD = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "realworld"
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")


def make_xlsx(path: Path) -> Path:
    """Write a small real workbook with xlsxwriter."""
    workbook = xlsxwriter.Workbook(str(path))
    workbook.add_worksheet("Plan d'action").write(0, 0, "No")
    workbook.close()
    return path


def reasons(skipped: list[Skipped]) -> dict[str, Skipped]:
    """Index skipped entries by file name."""
    return {entry.path.name: entry for entry in skipped}


# --- walk_inputs -----------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="os.mkfifo absent (Windows)")
def test_walk_inputs__fifo__skipped_without_blocking(tmp_path: Path) -> None:
    make_xlsx(tmp_path / "bon.xlsx")
    os.mkfifo(tmp_path / "piege.xlsx")
    result: list[tuple[list[Path], list[Skipped]]] = []
    # Run in a thread so that a regression (opening the FIFO) fails instead of hanging the suite.
    worker = threading.Thread(target=lambda: result.append(walk_inputs([tmp_path])), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert result, "walk_inputs blocked on a FIFO"
    kept, skipped = result[0]
    assert kept == [tmp_path / "bon.xlsx"]
    assert "pas un fichier ordinaire" in reasons(skipped)["piege.xlsx"].reason
    assert not reasons(skipped)["piege.xlsx"].silent


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="os.mkfifo absent (Windows)")
def test_walk_inputs__explicit_fifo__skipped(tmp_path: Path) -> None:
    fifo = tmp_path / "piege.xlsx"
    os.mkfifo(fifo)
    kept, skipped = walk_inputs([fifo])
    assert kept == []
    assert skipped[0].path == fifo


def test_walk_inputs__symlink_out_of_root__skipped(tmp_path: Path) -> None:
    outside = make_xlsx(tmp_path / "secret.xlsx")
    root = tmp_path / "entrees"
    root.mkdir()
    (root / "lien.xlsx").symlink_to(outside)
    kept, skipped = walk_inputs([root])
    assert kept == []
    assert "hors du dossier" in reasons(skipped)["lien.xlsx"].reason


def test_walk_inputs__symlink_inside_root__kept(tmp_path: Path) -> None:
    (tmp_path / "sous").mkdir()
    target = make_xlsx(tmp_path / "sous" / "vrai.xlsx")
    (tmp_path / "lien.xlsx").symlink_to(target)
    kept, skipped = walk_inputs([tmp_path])
    # The link is kept; the file it points to is then the same workbook, listed once only.
    assert kept == [tmp_path / "lien.xlsx"]
    assert [entry.path for entry in skipped] == [target]


def test_walk_inputs__explicit_file_and_its_folder__listed_once(tmp_path: Path) -> None:
    plan = make_xlsx(tmp_path / "plan.xlsx")
    kept, skipped = walk_inputs([plan, tmp_path])
    assert kept == [plan]
    assert len(skipped) == 1


def test_walk_inputs__symlink_to_folder__not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "ailleurs"
    outside.mkdir()
    make_xlsx(outside / "x.xlsx")
    root = tmp_path / "entrees"
    root.mkdir()
    (root / "dossier").symlink_to(outside, target_is_directory=True)
    kept, skipped = walk_inputs([root])
    assert kept == []
    assert "non suivi" in reasons(skipped)["dossier"].reason


def test_walk_inputs__symlink_loop__skipped(tmp_path: Path) -> None:
    (tmp_path / "a.xlsx").symlink_to(tmp_path / "b.xlsx")
    (tmp_path / "b.xlsx").symlink_to(tmp_path / "a.xlsx")
    kept, skipped = walk_inputs([tmp_path])
    assert kept == []
    assert {entry.path.name for entry in skipped} == {"a.xlsx", "b.xlsx"}


def test_walk_inputs__lock_and_hidden_files__skipped_silently(tmp_path: Path) -> None:
    make_xlsx(tmp_path / "plan.xlsx")
    (tmp_path / "~$plan.xlsx").write_bytes(b"verrou")
    (tmp_path / ".~lock.plan.xlsx#").write_bytes(b"verrou")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    kept, skipped = walk_inputs([tmp_path])
    assert kept == [tmp_path / "plan.xlsx"]
    by_name = reasons(skipped)
    assert by_name["~$plan.xlsx"] == Skipped(tmp_path / "~$plan.xlsx", "fichier de verrouillage", True)
    assert by_name[".~lock.plan.xlsx#"].reason == "fichier de verrouillage"
    assert by_name[".DS_Store"].reason == "fichier caché"
    assert all(entry.silent for entry in skipped)


def test_walk_inputs__stray_pdf__notice(tmp_path: Path) -> None:
    make_xlsx(tmp_path / "plan.xlsx")
    (tmp_path / "rapport.pdf").write_bytes(b"%PDF-1.7\n")
    kept, skipped = walk_inputs([tmp_path])
    assert kept == [tmp_path / "plan.xlsx"]
    notice = reasons(skipped)["rapport.pdf"]
    assert notice.reason.startswith("pas un classeur : rapport.pdf")
    assert not notice.silent


def test_walk_inputs__workbooks_without_workbook_extension__kept_by_content(tmp_path: Path) -> None:
    make_xlsx(tmp_path / "plan")
    (tmp_path / "copie.bak").write_bytes(hostile.ods())
    (tmp_path / "notes.txt").write_text("No;Action\n", encoding="utf-8")
    (tmp_path / "protege").write_bytes(hostile.encrypted_ooxml())
    (tmp_path / "rapport.docx").write_bytes(hostile.encrypted_ooxml())  # an encrypted .docx looks the same
    kept, skipped = walk_inputs([tmp_path])
    assert [path.name for path in kept] == ["copie.bak", "plan", "protege"]
    assert {entry.path.name for entry in skipped} == {"notes.txt", "rapport.docx"}
    assert reasons(skipped)["notes.txt"].reason.startswith("pas un classeur : notes.txt")


@pytest.mark.skipif(os.name != "posix", reason="noms de fichiers en octets : POSIX")
def test_walk_inputs__name_not_utf8__walked_and_sniffed(tmp_path: Path) -> None:
    path = hostile.write(tmp_path, hostile.NON_UTF8_NAME, hostile.xlsx())
    no_extension = hostile.write(tmp_path, b"Th\xe8cle", hostile.xlsx())
    kept, skipped = walk_inputs([tmp_path])
    assert sorted(kept) == sorted([path, no_extension])
    assert skipped == []
    assert sniff_format(no_extension).kind == "xlsx"


def test_walk_inputs__explicit_file_other_extension__kept(tmp_path: Path) -> None:
    renamed = make_xlsx(tmp_path / "plan.zip")
    kept, skipped = walk_inputs([renamed])
    assert kept == [renamed]
    assert skipped == []


def test_walk_inputs__deterministic_order(tmp_path: Path) -> None:
    for name in ["b/z.xlsx", "b/a.ods", "a/m.xlsx", "c.xlsx", "A.xlsx"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"PK")
    kept, _ = walk_inputs([tmp_path])
    names = [path.relative_to(tmp_path).as_posix() for path in kept]
    assert names == ["A.xlsx", "c.xlsx", "a/m.xlsx", "b/a.ods", "b/z.xlsx"]
    assert walk_inputs([tmp_path]) == walk_inputs([tmp_path])


def test_walk_inputs__missing_path__introuvable(tmp_path: Path) -> None:
    missing = tmp_path / "absent.xlsx"
    kept, skipped = walk_inputs([missing])
    assert kept == []
    assert skipped == [Skipped(missing, "introuvable", silent=False, missing=True)]


def test_check_files__missing_path__an_error_in_the_report_refused_in_sources(tmp_path: Path) -> None:
    from camf_excel.batch import check_files, issues_frame  # noqa: PLC0415
    from camf_excel.consolidation import consolidate  # noqa: PLC0415

    missing = tmp_path / "absent.xlsx"
    frame = issues_frame(check_files([missing]).issues)
    assert list(zip(frame["code"], frame["severity"], strict=True)) == [("ENTREE_INTROUVABLE", "erreur")]
    summary = consolidate([missing]).summary
    assert (summary.files_refused, summary.files_ignored, summary.complete) == (1, 0, False)


# --- sniff_format ----------------------------------------------------------------------------


def test_sniff_format__xlsxwriter_workbook__xlsx(tmp_path: Path) -> None:
    assert sniff_format(make_xlsx(tmp_path / "plan.xlsx")).kind == "xlsx"
    assert sniff_format(tmp_path / "plan.xlsx").message is None


def test_sniff_format__xlsx_renamed_ods__still_xlsx(tmp_path: Path) -> None:
    assert sniff_format(make_xlsx(tmp_path / "plan.ods")).kind == "xlsx"


def test_sniff_format__zip_of_text__not_spreadsheet(tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("lisezmoi.txt", "bonjour")
    result = sniff_format(path)
    assert result.kind == "not_spreadsheet"
    assert result.message and ".xlsx" in result.message


def test_sniff_format__docx_like__not_spreadsheet(tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    content_types = ('<Types><Override PartName="/word/document.xml" ContentType="application/'
                     'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("word/document.xml", "<w:document/>")
    assert sniff_format(path).kind == "not_spreadsheet"


def test_sniff_format__truncated_xlsx__damaged(tmp_path: Path) -> None:
    data = make_xlsx(tmp_path / "plein.xlsx").read_bytes()
    path = tmp_path / "tronque.xlsx"
    path.write_bytes(data[: len(data) // 2])
    result = sniff_format(path)
    assert result.kind == "damaged"
    assert result.message


def test_sniff_format__empty_file__empty(tmp_path: Path) -> None:
    (tmp_path / "vide.xlsx").write_bytes(b"")
    assert sniff_format(tmp_path / "vide.xlsx").kind == "empty"


def test_sniff_format__too_big__too_big(tmp_path: Path) -> None:
    path = tmp_path / "gros.xlsx"
    with path.open("wb") as stream:
        stream.truncate(21 * 1024 * 1024)  # sparse: no real disk use
    assert sniff_format(path).kind == "too_big"


def test_sniff_format__pdf_header__not_spreadsheet(tmp_path: Path) -> None:
    (tmp_path / "plan.xlsx").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    result = sniff_format(tmp_path / "plan.xlsx")
    assert result.kind == "not_spreadsheet"
    assert result.message and "PDF" in result.message


def test_sniff_format__text_named_xlsx__not_spreadsheet(tmp_path: Path) -> None:
    (tmp_path / "plan.xlsx").write_text("No;Action\n1;Parc\n", encoding="utf-8")
    assert sniff_format(tmp_path / "plan.xlsx").kind == "not_spreadsheet"


@pytest.mark.parametrize(("data", "kind", "hint"), [
    (hostile.encrypted_ooxml(), "encrypted", "mot de passe"),
    (hostile.encrypted_xls("xor"), "encrypted", "mot de passe"),
    (hostile.encrypted_xls("rc4"), "encrypted", "mot de passe"),
    (hostile.encrypted_xls("cryptoapi"), "encrypted", "mot de passe"),
    (hostile.encrypted_xls("biff5_xor"), "encrypted", "mot de passe"),
    (hostile.legacy_xls(), "xls", ".xlsx"),
    (hostile.cfb({"WordDocument": b"\xec\xa5"}), "not_spreadsheet", "Word"),
    (OLE2_MAGIC + bytes(504) + "EncryptedPackage".encode("utf-16-le"), "damaged", "OLE2"),
], ids=["ooxml", "xls-xor", "xls-rc4", "xls-cryptoapi", "xls-biff5-xor", "xls", "doc", "broken"])
def test_sniff_format__ole2_container__encrypted_xls_or_other(tmp_path: Path, data: bytes, kind: str,
                                                              hint: str) -> None:
    path = tmp_path / "ancien.xlsx"
    path.write_bytes(data)
    result = sniff_format(path)
    assert result.kind == kind
    assert result.message and hint in result.message


def test_sniff_format__missing_file__unopenable_without_raising(tmp_path: Path) -> None:
    result = sniff_format(tmp_path / "absent.xlsx")
    assert result.kind == "unopenable"
    assert result.message


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="os.mkfifo absent (Windows)")
def test_sniff_format__fifo__not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "piege.xlsx")
    assert sniff_format(tmp_path / "piege.xlsx").kind == "not_spreadsheet"


# --- real-world corpus -----------------------------------------------------------------------

needs_corpus = pytest.mark.skipif(not REALWORLD.is_dir(), reason=f"corpus absent : {REALWORLD}")


@needs_corpus
def test_sniff_format__realworld_corpus__never_raises() -> None:
    files = sorted(path for path in REALWORLD.iterdir() if path.is_file())
    assert files
    for path in files:
        result = sniff_format(path)
        assert result.kind in {"xlsx", "xlsm", "xltx", "xlsb", "ods", "xls", "encrypted", "empty",
                               "too_big", "not_spreadsheet", "damaged"}, path.name
        assert (result.message is None) == (result.kind in {"xlsx", "ods"}), path.name


@needs_corpus
@pytest.mark.parametrize(("name", "kind"), [
    ("python-calamine__password.xlsx", "encrypted"),
    ("calamine__pass_protected.ods", "encrypted"),
    ("xlsxwriter__macro01.xlsm", "xlsm"),
    ("poi__test.xltx", "xltx"),
    ("calamine__date.xlsb", "xlsb"),
    ("sheetjs__minimal_112.numbers", "not_spreadsheet"),
    ("python-calamine__base.ods", "ods"),
    ("openpyxl__null_file.xlsx", "empty"),
    ("poi__crash-274d6342-truncated.xlsx", "damaged"),
    ("poi__49609.xlsx", "xlsx"),
    ("sheetjs__wtf_path.xlsx", "xlsx"),
    ("poi__testEXCEL_4.xls", "xls"),
    ("calamine__too_small.xls", "not_spreadsheet"),
])
def test_sniff_format__realworld_file__expected_kind(name: str, kind: str) -> None:
    path = REALWORLD / name
    if not path.exists():
        pytest.skip(f"absent du corpus : {name}")
    assert sniff_format(path).kind == kind


def test_sniff_format__text_and_pdf__only_text_offered_as_csv(tmp_path: Path) -> None:
    (tmp_path / "plan.csv").write_text("No;Action\n1;Parc\n", encoding="utf-8")
    (tmp_path / "plan.pdf").write_bytes(b"%PDF-1.7\n...")
    assert sniff_format(tmp_path / "plan.csv").text
    assert not sniff_format(tmp_path / "plan.pdf").text



# --- read_csv_rows ---------------------------------------------------------------------------


def test_read_csv_rows__field_of_200_000_characters__read(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_bytes(hostile.csv_long_field(200_000))
    limit = csv.field_size_limit()
    assert read_csv_rows(path)[1] == ["1", "x" * 200_000]
    assert csv.field_size_limit() == limit  # the process-wide limit is put back


def test_read_csv_rows__field_over_the_cap__input_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_bytes(b"No;Action\n1;court\n2;" + b"x" * (MAX_CSV_FIELD_CHARS + 1) + b"\n")
    with pytest.raises(InputError, match=r"plan\.csv, ligne 3 : champ de plus de 1.000.000 caractères"):
        read_csv_rows(path)


@pytest.mark.parametrize(("data", "expected"), [
    (hostile.csv_with_nul(), r"plan\.csv, ligne 2 : caractère nul"),
    (hostile.csv_undefined_bytes(), r"plan\.csv : encodage non reconnu"),
    (b"", r"plan\.csv : fichier vide"),
], ids=["nul", "undefined-bytes", "empty"])
def test_read_csv_rows__unreadable_text__input_error(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "plan.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match=expected):
        read_csv_rows(path)


def test_read_csv_rows__utf16_and_windows_1252__decoded(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes("No\tAction\n1\tÉcole\n".encode("utf-16"))
    (tmp_path / "b.csv").write_bytes("No;Action\n1;Été\n".encode("cp1252"))
    assert read_csv_rows(tmp_path / "a.csv")[1] == ["1", "École"]
    assert read_csv_rows(tmp_path / "b.csv")[1] == ["1", "Été"]
