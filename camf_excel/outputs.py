"""Outputs: atomic, non-clobbering writes of one file or of a set of files, never onto an input."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from camf_excel.errors import InputError, OutputExistsError


def refuse_existing(path: Path, force: bool) -> None:
    """Raise OutputExistsError when path exists and --force was not given."""
    if path.exists() and not force:
        raise OutputExistsError(f"Le fichier de sortie existe déjà : {path}. "
                                "Utilisez --force pour le remplacer.")


def refuse_input_as_output(output: Path, inputs: list[Path]) -> None:
    """Raise InputError when the output path is, or resolves to, one of the inputs."""
    for source in inputs:
        if output.exists() and source.exists() and output.samefile(source):
            raise InputError(f"La sortie {output} est aussi un fichier d'entrée : "
                             "choisissez un autre nom, l'entrée n'est jamais écrasée.")


def write_atomically(path: Path, data: bytes, force: bool = False) -> Path:
    """Write data to path through a temporary file in the same folder; a crash leaves no half file.

    Without force, an existing file is never replaced (the final step is a hard link, which
    fails if the name was taken meanwhile); with force it is replaced in one rename.
    """
    refuse_existing(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".camf-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if force:
            Path(temporary).replace(path)
        else:
            _link_without_clobbering(Path(temporary), path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            Path(temporary).unlink()
    _fsync_directory(path.parent)
    return path


def refuse_existing_folder(folder: Path, force: bool) -> None:
    """Refuse an output folder that is a file, or that holds anything when --force was not given."""
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} existe et n'est pas un dossier : choisissez un autre nom de dossier.")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise OutputExistsError(f"Le dossier de sortie {folder} existe déjà et n'est pas vide. "
                                "Utilisez --force pour remplacer les fichiers qu'il contient.")


def write_directory(folder: Path, files: Mapping[str, bytes], force: bool = False) -> list[Path]:
    """Write several files into folder as one step: all of them, or none.

    A folder that exists and holds anything is refused without force. The files are first
    written into a hidden temporary folder beside it; a new folder is then one rename, and an
    existing one receives each file by a rename (which replaces an older output at once).
    """
    refuse_existing_folder(folder, force)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".camf-", dir=folder.parent))
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        if not folder.exists():
            staging.rename(folder)
        else:
            for name in files:
                (staging / name).replace(folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _fsync_directory(folder)
    return [folder / name for name in files]


def _link_without_clobbering(temporary: Path, path: Path) -> None:
    try:
        os.link(temporary, path)
    except FileExistsError as error:
        raise OutputExistsError(f"Le fichier de sortie existe déjà : {path}. "
                                "Utilisez --force pour le remplacer.") from error
    except PermissionError as error:
        raise InputError(f"Impossible d'écrire {path} : fichier ouvert dans un autre programme "
                         "ou dossier protégé. Fermez-le puis recommencez.") from error
    except OSError:
        # File systems without hard links (some network shares): exclusive create instead.
        with path.open("xb") as target:
            target.write(temporary.read_bytes())


def _fsync_directory(folder: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
