"""R1: input folders walked safely: regular files only, links kept inside the root, the rest listed."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from camf_excel.files import SPREADSHEET_KINDS, sniff_format, unopenable

# --- R1: walking the inputs -------------------------------------------------------------------

WORKBOOK_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xltx", ".xlsb", ".xls", ".ods"})


@dataclass(frozen=True)
class Skipped:
    """An input entry left aside, with the reason shown to the user (unless silent)."""

    path: Path
    reason: str
    silent: bool = False
    missing: bool = False  # an input named on the command line that does not exist: an error


def walk_inputs(paths: Sequence[Path]) -> tuple[list[Path], list[Skipped]]:
    """Expand files and folders into the workbooks to read, and the entries left aside."""
    kept: list[Path] = []
    skipped: list[Skipped] = []
    seen: set[Path] = set()
    for given in paths:
        for path in _expand(Path(given), skipped):
            identity = _identity(path)
            if identity in seen:
                skipped.append(Skipped(path, "même fichier déjà pris en compte (autre chemin ou lien)"))
                continue
            seen.add(identity)
            kept.append(path)
    return kept, skipped


def _identity(path: Path) -> Path:
    # The same file reached twice (folder + explicit name, or through a link) is read once.
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        return path.absolute()


def _expand(given: Path, skipped: list[Skipped]) -> list[Path]:
    """Return the candidate files under one command-line argument, recording what is skipped."""
    try:
        # An explicit argument is the user's own choice: a link given by name is followed.
        mode = given.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        skipped.append(Skipped(given, _missing_or_broken(given), missing=True))
        return []
    except (OSError, RuntimeError) as error:
        skipped.append(Skipped(given, _unreadable_reason(error)))
        return []
    if stat.S_ISDIR(mode):
        return _walk_folder(given, skipped)
    if stat.S_ISREG(mode):
        return [given]  # explicit file: kept whatever its extension, the content decides later
    skipped.append(Skipped(given, _SPECIAL_FILE))
    return []


_SPECIAL_FILE = "pas un fichier ordinaire (tube, socket ou périphérique) : ignoré"


def _missing_or_broken(path: Path) -> str:
    if path.is_symlink():
        return "introuvable (lien symbolique brisé)"
    return "introuvable"


def _unreadable_reason(error: BaseException) -> str:
    if isinstance(error, RuntimeError) or getattr(error, "errno", None) == errno.ELOOP:
        return "boucle de liens symboliques : ignoré"
    return f"illisible : {unopenable(error)}"


def _walk_folder(folder: Path, skipped: list[Skipped]) -> list[Path]:
    """Walk a folder without following links to folders, in a sorted, repeatable order."""
    root = folder.resolve()
    found: list[Path] = []

    def report(error: OSError) -> None:
        name = Path(error.filename) if error.filename else folder
        skipped.append(Skipped(name, _unreadable_reason(error)))

    for current, dirnames, filenames in os.walk(folder, followlinks=False, onerror=report):
        here = Path(current)
        dirnames[:] = _enterable_folders(here, dirnames, skipped)
        for name in sorted(filenames):
            path = here / name
            reason = _entry_skip(path, root)
            if reason is None:
                found.append(path)
            else:
                skipped.append(reason)
    return found


def _enterable_folders(here: Path, dirnames: list[str], skipped: list[Skipped]) -> list[str]:
    """Keep the sub-folders to descend into; links to folders and hidden folders are left aside."""
    enterable = []
    for name in sorted(dirnames):
        path = here / name
        if name.startswith("."):
            skipped.append(Skipped(path, "dossier caché", silent=True))
        elif path.is_symlink():
            # os.walk lists links to folders among dirnames; following them could leave the root.
            skipped.append(Skipped(path, "lien symbolique vers un dossier : non suivi"))
        else:
            enterable.append(name)
    return enterable


def _entry_skip(path: Path, root: Path) -> Skipped | None:
    """Return why a file found in a folder is left aside, or None to keep it."""
    name = path.name
    if name.startswith("~$") or (name.startswith(".~lock.") and name.endswith("#")):
        return Skipped(path, "fichier de verrouillage", silent=True)
    if name.startswith("."):
        return Skipped(path, "fichier caché", silent=True)
    try:
        mode = path.lstat().st_mode  # lstat before anything opens it: a FIFO blocks any reader
    except OSError as error:
        return Skipped(path, _unreadable_reason(error))
    if stat.S_ISLNK(mode):
        reason = _link_skip(path, root)
        if reason is not None:
            return reason
    elif not stat.S_ISREG(mode):
        return Skipped(path, _SPECIAL_FILE)
    if path.suffix.lower() not in WORKBOOK_SUFFIXES and not _is_workbook(path):
        return Skipped(path, f"pas un classeur : {name} (ignoré)")
    return None


def _is_workbook(path: Path) -> bool:
    """Tell from its bytes whether a file without a workbook extension is a workbook all the same.

    A workbook saved without extension, or as « plan.bak », is read; a protected one only when
    it has no extension at all (an encrypted .docx looks the same).
    """
    kind = sniff_format(path).kind
    return kind in SPREADSHEET_KINDS or (kind == "encrypted" and not path.suffix)


def _link_skip(path: Path, root: Path) -> Skipped | None:
    """Keep a symbolic link only when it points to a regular file inside the input folder."""
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        return Skipped(path, "lien symbolique brisé : ignoré")
    except (OSError, RuntimeError) as error:  # Python 3.11 raises RuntimeError on a loop
        return Skipped(path, _unreadable_reason(error))
    if not target.is_relative_to(root):
        return Skipped(path, f"lien symbolique vers {target}, hors du dossier d'entrée : ignoré")
    try:
        mode = target.stat().st_mode
    except OSError as error:
        return Skipped(path, _unreadable_reason(error))
    if not stat.S_ISREG(mode):
        return Skipped(path, f"lien symbolique vers un élément qui n'est pas un fichier ordinaire : {target}")
    return None




