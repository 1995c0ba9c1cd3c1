"""Outputs: atomic, non-clobbering writes of one file or of a set of files, never onto an input."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from filelock import FileLock, Timeout

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
    fails if the name was taken meanwhile); with force it is replaced in one rename. The file
    gets the permissions the umask gives a new file (mkstemp would leave it private).
    """
    refuse_existing(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    descriptor, temporary = tempfile.mkstemp(prefix=_temporary_prefix(), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        Path(temporary).chmod(_allowed(0o666))
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
    """Write a set of files into folder as a whole: all of them, or none, never mixed with another run's.

    Everything is written into a fresh hidden folder beside `folder`, which then takes its place
    (a new folder: one rename; an existing one, with --force: swapped, anything else it held
    carried over). A lock beside the folder refuses a second run writing there at the same time;
    what a killed run left behind is removed first.
    """
    refuse_existing_folder(folder, force)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _folder_lock(folder):
        remove_stale_temporaries(folder.parent)
        staging = Path(tempfile.mkdtemp(prefix=_temporary_prefix(), dir=folder.parent))
        try:
            for name, data in files.items():
                _write_file(staging / name, data)
            staging.chmod(_allowed(0o777))
            _swap_in(staging, folder, set(files))
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _fsync_directory(folder.parent)
    return [folder / name for name in files]


def _write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    path.chmod(_allowed(0o666))


def _swap_in(staging: Path, folder: Path, names: set[str]) -> None:
    """Put the staging folder in place of folder, carrying over what folder held besides our outputs."""
    if not folder.exists():
        staging.rename(folder)
        return
    for entry in folder.iterdir():
        if entry.name not in names:
            entry.rename(staging / entry.name)  # the person's own files stay in the folder
    old = folder.with_name(f"{_temporary_prefix()}ancien-{folder.name}")
    folder.rename(old)
    staging.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


LOCK_SUFFIX = ".camf-verrou"


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold an OS lock beside folder while writing into it; refuse when another run holds it.

    The operating system releases the lock when its process ends, killed or not: a lock is
    never stale. (The empty lock file may stay beside the folder: removing it while another
    run opens it would let a third run take a second lock.)
    """
    lock = FileLock(folder.with_name(f".{folder.name}{LOCK_SUFFIX}"), timeout=0, mode=_allowed(0o666))
    try:
        lock.acquire()
    except Timeout:
        raise OutputExistsError(f"Une autre exécution de camf-excel écrit en ce moment dans {folder} : "
                                "attendez qu'elle finisse, puis relancez.") from None
    except OSError as error:
        raise InputError(f"Impossible d'écrire dans {folder.parent} : dossier protégé ou en lecture "
                         f"seule ({error.strerror or error}).") from error
    try:
        yield
    finally:
        lock.release()


def _alive(pid: int) -> bool:
    """Tell whether a process runs (POSIX: signal 0; elsewhere assumed alive: never break a live lock)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


_TEMPORARY = ".camf-"


def _temporary_prefix() -> str:
    """Temporary names carry the writer's process id, so a later run knows which ones are stale."""
    return f"{_TEMPORARY}{os.getpid()}-"


def remove_stale_temporaries(folder: Path) -> None:
    """Remove the temporary files and folders that killed runs left in folder."""
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            pid = entry.name.removeprefix(_TEMPORARY).split("-", 1)[0]
            if entry.name.startswith(_TEMPORARY) and pid.isdigit() and not _alive(int(pid)):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    with contextlib.suppress(OSError):
                        entry.unlink()


def _allowed(mode: int) -> int:
    """The permissions the umask leaves of mode (what a plain open() or mkdir() would give)."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


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
