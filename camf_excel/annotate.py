"""Annotated copy of a received workbook: each cell named by an issue gets a fill and a note.

The copy is made by editing the package's XML parts as bytes (styles, the sheets concerned,
their relationships, comments and VML drawings, [Content_Types].xml), at the places a real
XML parser reports (xmlparts); every other part is copied unchanged. Re-saving with
openpyxl would drop the dashboard chart and more, and a full XML round trip would rewrite
namespaces and extensions Excel cares about.

`annotate_files` makes the copies of a run, each in a child process with a memory cap and a
timeout (camf_excel.workers): an odd workbook costs its own copy, never the run, and no copy
is ever written onto a file the run read.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camf_excel.annotate_notes import AUTHOR, ShapeIds, extended_vml, merged_comments, new_comments, new_vml
from camf_excel.annotate_package import (
    Package,
    RelationshipsEditor,
    Workbook,
    add_content_type,
    read_workbook,
)
from camf_excel.annotate_sheet import LEGEND, LINE_PREFIXES, Layout, Note, Worksheet, parse_cell
from camf_excel.annotate_styles import COLOUR_NAMES, FILL_COLOURS, Styles
from camf_excel.errors import CamfError, InputError, OutputExistsError
from camf_excel.files import load_input
from camf_excel.model import ERROR, WARNING, Issue
from camf_excel.outputs import (
    MAX_PATH_CHARS,
    TEMPORARY_NAME_CHARS,
    name_room,
    path_length,
    refuse_existing,
    windows_name,
    write_atomically,
)
from camf_excel.package import check_zip_workbook
from camf_excel.workers import TIMEOUT_SECONDS, Failure, run_isolated
from camf_excel.xmlparts import shown

__all__ = ["ANNOTATED_KINDS", "AUTHOR", "FILL_COLOURS", "LINE_PREFIXES", "AnnotationOutcome",
           "annotate_files", "annotate_workbook", "annotation_targets"]

ANNOTATED_KINDS = frozenset({"xlsx", "xlsm"})
SUFFIX = "-annote"
PARALLEL_FROM = 4  # below this, one worker process does the job
# A follow-up workbook has a few thousand cells to fill at most; beyond, the report is the tool
# (and a copy of 100,000 notes would weigh hundreds of MB).
MAX_NOTES = 20_000
_COMMENTS_CONTENT = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
_VML_CONTENT = "application/vnd.openxmlformats-officedocument.vmlDrawing"


def annotate_workbook(source: Path, target: Path, issues: Sequence[Issue], force: bool = False,
                      inputs: Sequence[Path] = ()) -> Path:
    """Write to target a copy of source whose cells named by issues are highlighted and noted.

    Issues without a cell, or naming a sheet the workbook lacks, are left to the caller's
    report. Neither the source nor any of `inputs` is ever written, even with force; target
    is written atomically, never over an existing file without force.
    """
    source, target = Path(source), Path(target)
    _refuse_input_target(target, source, [Path(p) for p in inputs])
    data = _read_source(source)  # read once: sniffed, guarded and copied from the same bytes
    facts = check_zip_workbook(source, data, keep_all=True)  # the package read once, by the guard
    refuse_existing(target, force)
    package = Package(facts)
    book = read_workbook(package, facts)
    notes = _notes_by_sheet(book, issues)
    count = sum(map(len, notes.values()))
    if count > MAX_NOTES:
        raise InputError(f"{count} cellules à annoter : trop pour une copie annotée (au plus {MAX_NOTES}) ; "
                         "corrigez d'après le rapport de validation.")
    if notes:
        annotator = _Annotator(package, book, Styles(package, book), ShapeIds(package))
        for part, sheet_notes in notes.items():
            annotator.sheet(part, sheet_notes)
        annotator.styles.save()
    return write_atomically(target, package.to_bytes(), force)


_OTHER_FORMATS = {"ods": "un classeur OpenDocument (.ods)", "xls": "un ancien classeur Excel (.xls)",
                  "xlsb": "un classeur binaire Excel (.xlsb)", "xltx": "un modèle Excel (.xltx)"}


def _read_source(source: Path) -> bytes:
    """Return the source's bytes, refusing from them a source that is not an .xlsx (or .xlsm) package."""
    loaded = load_input(source)
    sniffed = loaded.sniffed
    if sniffed.kind in ANNOTATED_KINDS:
        return loaded.data
    if sniffed.kind in _OTHER_FORMATS:
        raise InputError(f"La copie annotée n'est offerte que pour les classeurs .xlsx : {source.name} est "
                         f"{_OTHER_FORMATS[sniffed.kind]}. Ouvrez-le et enregistrez-le au format .xlsx, "
                         "puis relancez la validation.")
    raise InputError(f"Copie annotée impossible pour {source.name} (seuls les classeurs .xlsx sont "
                     f"annotés) : {sniffed.message or 'format non reconnu'}.")


def _notes_by_sheet(book: Workbook, issues: Sequence[Issue]) -> dict[str, list[Note]]:
    """Group the issues that name a cell of an existing worksheet: part → notes in cell order."""
    sheets = book.sheets
    folded = {name.casefold(): part for name, part in sheets.items()}
    found: dict[str, dict[tuple[int, int], Note]] = {}
    for issue in issues:
        part = sheets.get(issue.sheet) or folded.get(issue.sheet.casefold())
        position = parse_cell(issue.cell) if issue.cell else None
        if part is None or position is None:
            continue  # file- or sheet-level issue, or a sheet the workbook lacks: the report has it
        cells = found.setdefault(part, {})
        cells.setdefault(position, Note(*position)).add(issue)
    for cells in found.values():
        legend = cells.setdefault((1, 1), Note(1, 1, LEGEND))
        legend.explain(legend_lines(dt.date.today()))
    return {part: [cells[key] for key in sorted(cells)] for part, cells in found.items()}


def legend_lines(day: dt.date) -> list[str]:
    """The note at A1 of each annotated sheet: what the copy is and what its colours say."""
    return [f"Copie annotée par camf-excel le {day.isoformat()}.",
            f"En {COLOUR_NAMES[ERROR]} : une erreur à corriger ; en {COLOUR_NAMES[WARNING]} : un "
            "avertissement à vérifier. Chaque cellule colorée porte une note qui dit quoi faire.",
            "Corrigez le classeur, puis renvoyez-le. (Excel imprime ces notes à la fin de la feuille.)"]


@dataclass
class _Annotator:
    """Adds the notes of each sheet to one package; formats and shape ids are shared by the sheets."""

    package: Package
    book: Workbook
    styles: Styles
    ids: ShapeIds

    def sheet(self, part: str, notes: list[Note]) -> None:
        """Highlight the sheet's noted cells and give each a note (comments part and VML shape)."""
        sheet = Worksheet(self.package.get(part) or b"", part)
        layout = sheet.highlight(notes, self.styles)
        relations = RelationshipsEditor(self.package, part)
        had_comment = self._comments(relations, part, notes)
        self._drawing(relations, sheet, part, [n for n in notes if n.ref not in had_comment], layout)
        relations.save()
        self.package.put(part, sheet.edited())

    def _new_part(self, sheet_part: str, pattern: str) -> str:
        # Beside the workbook part, as Excel does: xl/comments1.xml, xl/drawings/vmlDrawing1.vml.
        return self.package.unused(posixpath.join(posixpath.dirname(posixpath.dirname(sheet_part)), pattern))

    def _comments(self, relations: RelationshipsEditor, part: str, notes: list[Note]) -> set[str]:
        """Write the notes into the sheet's comments part; return the cells that had a comment."""
        comments = relations.of_kind("comments")
        existing = self.package.get(comments.part) if comments is not None else None
        if comments is not None and existing is not None:
            merged, had_comment = merged_comments(existing, comments.part, notes)
            self.package.put(comments.part, merged)
            return had_comment
        target = self._new_part(part, "comments{}.xml")
        self.package.put(target, new_comments(notes, self.book.main))
        relations.add(self.book.relationship_type("comments"), target)
        add_content_type(self.package, target, None, _COMMENTS_CONTENT)
        return set()

    def _drawing(self, relations: RelationshipsEditor, sheet: Worksheet, part: str,
                 notes: list[Note], layout: Layout) -> None:
        """Give the new notes their VML shapes, in the sheet's legacy drawing (one per sheet)."""
        drawing = relations.existing.get(sheet.legacy_drawing() or "")
        existing = self.package.get(drawing.part) if drawing is not None and not drawing.external else None
        if drawing is not None and existing is not None:
            if notes:
                self.package.put(drawing.part, extended_vml(existing, notes, layout, self.ids))
            return
        target = self._new_part(part, "drawings/vmlDrawing{}.vml")
        self.package.put(target, new_vml(notes, layout, self.ids))
        rid = relations.add(self.book.relationship_type("vmlDrawing"), target)
        sheet.set_legacy_drawing(rid, self.book.namespaces[1])
        add_content_type(self.package, None, "vml", _VML_CONTENT)


# --- never onto an input -------------------------------------------------------------------------

def _shown_path(path: Path) -> str:
    """A path fit for a message: invisible characters of a received file's name escaped."""
    return shown(str(path), limit=None)


def _path_key(path: Path) -> str:
    return os.path.normcase(str(path)).casefold()


class _Inputs:
    """The files a run reads, by resolved path and by file identity (a hard link is the same file)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths: dict[str, Path] = {}
        self.identities: dict[tuple[int, int], Path] = {}
        for path in paths:
            resolved = _resolved(path)
            if resolved is not None:
                self.paths.setdefault(os.path.normcase(str(resolved)), path)
            try:
                status = path.stat()
            except OSError:
                continue
            self.identities.setdefault((status.st_dev, status.st_ino), path)

    def which(self, target: Path) -> Path | None:
        """Return the input that target is, by name or by identity, or None."""
        resolved = _resolved(target)
        found = self.paths.get(os.path.normcase(str(resolved))) if resolved is not None else None
        if found is not None:
            return found
        try:
            status = target.stat()
        except OSError:
            return None  # nothing there: not an input
        return self.identities.get((status.st_dev, status.st_ino))

    def refusal(self, target: Path, source: Path | None = None) -> str:
        """Return why target may not be written (it is an input, or unverifiable), or ''."""
        if _resolved(target) is None:
            return (f"la copie annotée {_shown_path(target)} n'a pas pu être vérifiée (chemin illisible ou "
                    "boucle de liens) : choisissez un autre dossier pour --annoter.")
        found = self.which(target)
        if found is None:
            return ""
        if source is not None and found == source:
            return (f"la copie annotée {_shown_path(target)} serait le classeur reçu lui-même : choisissez "
                    "un autre nom, le classeur reçu n'est jamais modifié.")
        where = ("est elle-même un fichier d'entrée" if _resolved(found) == _resolved(target)
                 else f"serait écrite sur le fichier d'entrée {_shown_path(found)}")
        return (f"la copie annotée {_shown_path(target)} {where} : un fichier d'entrée n'est jamais "
                "modifié ni remplacé, même avec --force. Choisissez un autre dossier pour --annoter.")


def _resolved(path: Path) -> Path | None:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        return None


def _refuse_input_target(target: Path, source: Path, inputs: list[Path]) -> None:
    refusal = _Inputs([source, *inputs]).refusal(target, source)
    if refusal:
        raise InputError(refusal)


# --- where the copies go -------------------------------------------------------------------------

@dataclass(frozen=True)
class AnnotationOutcome:
    """What became of one annotated copy: where it was written, or why it was not (in French)."""

    source: Path
    target: Path | None  # the written copy; None when not written
    reason: str = ""  # why it was not written: refused, worker died, timeout, input would be overwritten…


def annotation_targets(sources: Sequence[Path], folder: Path,
                       inputs: Sequence[Path]) -> dict[Path, Path | str]:
    """Return each source's copy path, or the French reason it cannot be written (it would be an input).

    The sources' folders are mirrored inside folder, from their common parent (DIR/mrc-a/suivi-annote.xlsx
    and DIR/mrc-b/suivi-annote.xlsx); two sources never share a target: a second one gets a number.
    """
    sources = [Path(source) for source in sources]
    everyone = [*map(Path, inputs), *sources]
    known = _Inputs(everyone)
    root = _common_folder(everyone)
    taken: set[str] = set()
    targets: dict[Path, Path | str] = {}
    for source in sources:
        if source in targets:
            continue
        wanted = _copy_path(Path(folder), _mirrored(source, root), source)
        if isinstance(wanted, str):
            targets[source] = wanted
            continue
        refusal = known.refusal(wanted)
        if refusal:
            targets[source] = refusal
            continue
        target = _unique(wanted, taken, known)
        taken.add(_path_key(_resolved(target) or target))
        targets[source] = target
    return targets


_NUMBER_CHARS = 4  # room kept for « -2 », « -3 »… when two copies would share a name
_SHORTEST_STEM = 8


def _copy_path(folder: Path, mirrored: Path, source: Path) -> Path | str:
    """Return where source's copy goes, every name one Windows accepts and the whole path short enough.

    Folder and file names are made Windows-safe (a Linux folder « aux » or « notes. » would be
    refused or merged there). A path over MAX_PATH_CHARS first loses the end of the file's stem,
    then the mirrored folders; the French reason is returned when even that does not fit.
    """
    parts = [windows_name(part) for part in mirrored.parts]
    suffix = windows_name(source.suffix, "")
    stem = windows_name(f"{source.stem}{SUFFIX}")
    for kept in (parts, []):
        where = folder.joinpath(*kept)
        room = name_room(where) - _NUMBER_CHARS
        if room >= max(TEMPORARY_NAME_CHARS, len(suffix) + _SHORTEST_STEM):
            name = f"{stem[:room - len(suffix)]}{suffix}" if len(stem) + len(suffix) > room else stem + suffix
            return where / windows_name(name)
    return (f"la copie annotée de {_shown_path(source)} dépasserait {MAX_PATH_CHARS} caractères de chemin, "
            f"la limite de Windows ({path_length(folder)} pour le dossier {_shown_path(folder)}) : "
            "choisissez un dossier --annoter moins profond.")


def _common_folder(paths: Sequence[Path]) -> Path | None:
    """Return the deepest folder holding every path, or None (different drives)."""
    try:
        return Path(os.path.commonpath([_absolute(path.parent) for path in paths])) if paths else None
    except ValueError:
        return None


def _absolute(path: Path) -> Path:
    """Return path made absolute, "." and ".." folded, symbolic links kept (as the person named it)."""
    return Path(os.path.normpath(path.absolute()))


def _mirrored(source: Path, root: Path | None) -> Path:
    """Return source's folder relative to root: where its copy goes inside the copies' folder."""
    if root is None:
        return Path()
    try:
        return _absolute(source.parent).relative_to(root)
    except ValueError:
        return Path()


def _unique(wanted: Path, taken: set[str], known: _Inputs) -> Path:
    """Return wanted, or wanted numbered (-2, -3…) when another copy or an input holds the name."""
    candidate, number = wanted, 1
    while _path_key(_resolved(candidate) or candidate) in taken or (number > 1 and known.refusal(candidate)):
        number += 1
        candidate = wanted.with_name(f"{wanted.stem}-{number}{wanted.suffix}")
    return candidate


# --- the copies of a run, each in a capped child process -----------------------------------------

def annotate_files(jobs: Sequence[tuple[Path, Sequence[Issue]]], folder: Path, inputs: Sequence[Path],
                   force: bool = False, *, jobs_count: int | None = None,
                   timeout: float = TIMEOUT_SECONDS) -> list[AnnotationOutcome]:
    """Write the annotated copy of each (source, issues) in isolated workers; one outcome per job, in order.

    A copy whose worker dies, overruns its time or meets an odd part is not written and says why;
    the others go on. No copy is written onto any of `inputs` (every file the run read).
    """
    targets = annotation_targets([Path(source) for source, _ in jobs], folder, inputs)
    outcomes: dict[int, AnnotationOutcome] = {}
    tasks: list[tuple[Any, ...]] = []
    indexes: list[int] = []
    claimed: set[Path] = set()
    for index, (source, issues) in enumerate(jobs):
        target = targets[Path(source)]
        reason = target if isinstance(target, str) else _claim(target, claimed, force)
        if isinstance(target, str) or reason:
            outcomes[index] = AnnotationOutcome(Path(source), None, reason)
            continue
        tasks.append((str(source), str(target), list(issues), force, [str(path) for path in inputs]))
        indexes.append(index)
    workers = jobs_count if jobs_count is not None else (1 if len(tasks) < PARALLEL_FROM else None)
    for position, result in run_isolated(_annotate_task, tasks, jobs=workers, timeout=timeout):
        index = indexes[position]
        outcomes[index] = _as_outcome(Path(jobs[index][0]), result)
    return [outcomes[index] for index in range(len(jobs))]


def _as_outcome(source: Path, result: object) -> AnnotationOutcome:
    """Return a worker's outcome; a dead or late worker's Failure becomes the copy's reason."""
    if isinstance(result, AnnotationOutcome):
        return result
    detail = result.reason if isinstance(result, Failure) else str(result)
    return AnnotationOutcome(source, None, f"copie abandonnée : {detail}")


def _exists_message(target: Path) -> str:
    return f"{_shown_path(target)} existe déjà : utilisez --force pour la remplacer"


def _claim(target: Path, claimed: set[Path], force: bool) -> str:
    """Return why target cannot be taken by this job ('' when it can), and take it."""
    if target in claimed:
        return "classeur donné deux fois : une seule copie annotée est écrite"
    if not force and os.path.lexists(target):
        return _exists_message(target)
    claimed.add(target)
    return ""


def _annotate_task(source: str, target: str, issues: list[Issue], force: bool,
                   inputs: list[str]) -> AnnotationOutcome:
    """Make one copy, in a worker; every refusal comes back as a French reason."""
    try:
        written = annotate_workbook(Path(source), Path(target), issues, force, [Path(p) for p in inputs])
    except OutputExistsError:
        reason = _exists_message(Path(target))
    except CamfError as error:
        reason = str(error)
    except OSError as error:
        reason = f"écriture de la copie impossible ({error.strerror or error.__class__.__name__})"
    except Exception as error:  # an odd part met no check: that copy is refused, the run goes on
        reason = f"partie inattendue dans ce classeur, copie annotée impossible ({error.__class__.__name__})"
    else:
        return AnnotationOutcome(Path(source), written)
    return AnnotationOutcome(Path(source), None, reason)
