"""File-system safety: atomic, non-clobbering writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
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
