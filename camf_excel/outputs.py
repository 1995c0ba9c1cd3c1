"""Outputs: atomic, non-clobbering writes of one file or of a set of files, never onto an input.

Written for Windows first, where the people who run the tool work: a file open in Excel
cannot be replaced (PermissionError) and is named so, nothing half-written; hard links and
a folder's fsync may be refused by the file system (FAT, exFAT, some network shares), so
neither is required; and every name the tool writes is one Windows accepts (no reserved
device name, no trailing dot or space, a whole path within MAX_PATH_CHARS).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

from filelock import FileLock, Timeout

from camf_excel.errors import InputError, OutputExistsError

# --- names Windows accepts -----------------------------------------------------------------------

# Device names Windows reserves with or without an extension (« NUL.xlsx » is the null device),
# in any case; COM0/LPT0 and the superscript digits are in Microsoft's « Naming files » list.
WINDOWS_RESERVED = frozenset({"con", "prn", "aux", "nul",
                              *(f"{port}{digit}" for port in ("com", "lpt") for digit in "0123456789¹²³")})
# Without the « long paths » setting (off by default), Windows refuses a path of 260 characters
# or more (MAX_PATH counts the final NUL).
MAX_PATH_CHARS = 259
# The longest temporary name beside an output: .camf-<pid>-<8 random>.tmp (pids up to 7 digits),
# and the folder swap's .camf-<pid>-ancien-<name>.
TEMPORARY_NAME_CHARS = 26
# A folder replaced with --force is first set aside as .camf-<pid>-ancien-<name>.
_SWAP_EXTRA_CHARS = 21
_FORBIDDEN = re.compile(r'[\x00-\x1f<>:"/\\|?*]')


def windows_reserved(name: str) -> bool:
    """Tell whether Windows takes a file name for a device (CON, NUL.xlsx, com1.tar.gz, « aux .txt »)."""
    return name.split(".", 1)[0].rstrip(" ").casefold() in WINDOWS_RESERVED


def windows_name(text: str, fallback: str = "_") -> str:
    """Return text as one file or folder name Windows accepts, as close to it as can be.

    Characters Windows forbids become « _ », trailing dots and spaces (which Windows drops,
    so two names would meet) are removed, and a device name gets « _ » after its stem.
    """
    name = _FORBIDDEN.sub("_", text).rstrip(". ") or fallback
    if windows_reserved(name):
        stem, dot, rest = name.partition(".")
        name = f"{stem.rstrip(' ')}_{dot}{rest}"
    return name


def path_length(path: Path) -> int:
    """Return the length of path made absolute, as Windows counts it against MAX_PATH_CHARS."""
    return len(os.path.normpath(Path(path).absolute()))  # ".." folded, as Windows does


def check_windows_path(path: Path, longest_name: int = 0) -> None:
    """Refuse an output path Windows would refuse: device name, trailing dot or space, too long.

    `longest_name` is the longest name the tool writes in path's folder on the way (temporary
    names); the check is the same on every system, so a run here says what it would do there.
    """
    name = path.name
    if windows_reserved(name):
        raise InputError(f"« {name} » est un nom réservé par Windows (CON, PRN, AUX, NUL, COM1…, LPT1…) : "
                         "choisissez un autre nom de fichier.")
    if name != name.rstrip(". "):
        raise InputError(f"« {name} » se termine par un point ou une espace, que Windows retire : "
                         "choisissez un autre nom de fichier.")
    length = path_length(path.parent) + 1 + max(len(name), longest_name)
    if length > MAX_PATH_CHARS:
        raise InputError(f"Chemin trop long pour Windows ({length} caractères, au plus {MAX_PATH_CHARS}) : "
                         f"{path}. Choisissez un dossier moins profond ou un nom plus court.")


def name_room(folder: Path) -> int:
    """Return how many characters a file name written in folder may have (MAX_PATH_CHARS in all)."""
    return MAX_PATH_CHARS - path_length(folder) - 1


# --- files open in another program ---------------------------------------------------------------

# Windows refuses to replace, rename or delete a file another program holds open (Excel holds
# the workbook it shows); an antivirus or a search indexer holds a new file for a moment.
RETRY_DELAYS = (0.1, 0.25, 0.5, 1.0)
T = TypeVar("T")


_EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".csv", ".ods"})


def opened_in(path: Path) -> str:
    """Name the program that most likely holds path open: Excel for what it opens, else « another »."""
    return "Excel" if path.suffix.lower() in _EXCEL_SUFFIXES else "un autre programme"


def open_elsewhere(path: Path) -> InputError:
    """The error for an output Windows will not replace: open in Excel, most likely."""
    return InputError(f"{path} : fichier ouvert dans {opened_in(path)} : fermez-le puis relancez (s'il "
                      "n'est ouvert nulle part, vérifiez qu'il n'est pas en lecture seule). "
                      "Rien n'a été écrit.")


def _retrying(action: Callable[[], T]) -> T:
    """Run action, again after short pauses while Windows says the file is busy; then raise."""
    for delay in RETRY_DELAYS:
        try:
            return action()
        except PermissionError:
            time.sleep(delay)
    return action()


# --- writing -------------------------------------------------------------------------------------

def refuse_existing(path: Path, force: bool) -> None:
    """Raise OutputExistsError when path exists without --force; InputError for a path Windows refuses."""
    check_windows_path(path, TEMPORARY_NAME_CHARS)
    if path.exists() and not force:
        raise _exists(path)


def refuse_input_as_output(output: Path, inputs: list[Path]) -> None:
    """Raise InputError when the output path is, or resolves to, one of the inputs."""
    for source in inputs:
        if output.exists() and source.exists() and output.samefile(source):
            raise InputError(f"La sortie {output} est aussi un fichier d'entrée : "
                             "choisissez un autre nom, l'entrée n'est jamais écrasée.")


def write_atomically(path: Path, data: bytes, force: bool = False) -> Path:
    """Write data to path through a temporary file in the same folder; a crash leaves no half file.

    Without force, an existing file is never replaced: the final step is a hard link, which
    fails if the name was taken meanwhile (where links are refused, the name is taken by an
    exclusive create, then the full file renamed over it). With force, one rename replaces the
    file; a file open in Excel is named, never half-written. The file gets the permissions the
    umask gives a new file (mkstemp would leave it private).
    """
    path = Path(path)
    refuse_existing(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    descriptor, name = tempfile.mkstemp(prefix=_temporary_prefix(), suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        temporary.chmod(_allowed(0o666))
        if force:
            _replace(temporary, path)
        else:
            _place_without_clobbering(temporary, path)
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
    _fsync_directory(path.parent)
    return path


def _replace(temporary: Path, path: Path) -> None:
    try:
        _retrying(lambda: temporary.replace(path))
    except PermissionError as error:
        raise open_elsewhere(path) from error


def _place_without_clobbering(temporary: Path, path: Path) -> None:
    try:
        os.link(temporary, path)
        return
    except FileExistsError as error:
        raise _exists(path) from error
    except OSError:
        pass  # no hard links here (FAT, exFAT, some network shares; EPERM on Linux, error 1 on Windows)
    try:
        with path.open("xb"):
            pass  # the name is ours now: no other run can take it, and the rename below cannot clobber
    except FileExistsError as error:
        raise _exists(path) from error
    except PermissionError as error:
        raise open_elsewhere(path) from error
    try:
        _replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()  # the empty file that held the name, never a file of anyone else
        raise


def _exists(path: Path) -> OutputExistsError:
    return OutputExistsError(f"Le fichier de sortie existe déjà : {path}. "
                             "Utilisez --force pour le remplacer.")


def refuse_existing_folder(folder: Path, force: bool) -> None:
    """Refuse an output folder that is a file, or that holds anything when --force was not given."""
    check_windows_path(folder, len(folder.name) + _SWAP_EXTRA_CHARS)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} existe et n'est pas un dossier : choisissez un autre nom de dossier.")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise OutputExistsError(f"Le dossier de sortie {folder} existe déjà et n'est pas vide. "
                                "Utilisez --force pour remplacer les fichiers qu'il contient.")


def write_directory(folder: Path, files: Mapping[str, bytes], force: bool = False) -> list[Path]:
    """Write a set of files into folder as a whole: all of them, or none, never mixed with another run's.

    Everything is written into a fresh hidden folder beside `folder`, which then takes its place
    (a new folder: one rename; an existing one, with --force: swapped, anything else it held
    carried over). A swap Windows refuses (a file of the folder open in Excel) is undone step by
    step and the open file named. A lock beside the folder refuses a second run writing there
    at the same time; what a killed run left behind is removed first.
    """
    folder = Path(folder)
    refuse_existing_folder(folder, force)
    for name in files:
        check_windows_path(folder / name)
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
    """Put the staging folder in place of folder, carrying over what folder held besides our outputs.

    Each rename is recorded; if Windows refuses one (a file inside is open), the ones done are
    undone in reverse order, so the folder is left as it was, the person's files in it.
    """
    done: list[tuple[Path, Path]] = []

    def move(source: Path, target: Path) -> None:
        _retrying(lambda: source.rename(target))
        done.append((source, target))

    try:
        if not folder.exists():
            move(staging, folder)
            return
        for entry in sorted(folder.iterdir()):
            if entry.name not in names:
                move(entry, staging / entry.name)  # the person's own files stay in the folder
        old = folder.with_name(f"{_temporary_prefix()}ancien-{folder.name}")
        move(folder, old)
        move(staging, folder)
    except OSError as error:
        for source, target in reversed(done):
            with contextlib.suppress(OSError):
                target.rename(source)
        if isinstance(error, PermissionError):
            raise _folder_in_use(folder) from error
        raise
    shutil.rmtree(old, ignore_errors=True)


def _folder_in_use(folder: Path) -> InputError:
    """Name the files of folder another program holds open (Windows refuses to move their folder)."""
    held = [entry for entry in sorted(folder.iterdir()) if entry.is_file() and _held_open(entry)] \
        if folder.is_dir() else []
    if held:
        others = f" (aussi ouverts : {', '.join(entry.name for entry in held[1:])})" if held[1:] else ""
        return InputError(f"{held[0]} : fichier ouvert dans {opened_in(held[0])} : fermez-le puis relancez"
                          + others
                          + f". Rien n'a été écrit ; le dossier {folder} est resté tel quel.")
    return InputError(f"Le dossier {folder} est utilisé par un autre programme (un fichier qu'il "
                      "contient est ouvert, ou une fenêtre y est placée) : fermez-le puis relancez. "
                      "Rien n'a été écrit.")


def _held_open(path: Path) -> bool:
    """Tell whether another program holds path so that it cannot be written (Excel does, on Windows)."""
    try:
        with path.open("r+b"):
            return False
    except PermissionError:
        return True
    except OSError:
        return False


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


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    _KERNEL32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _KERNEL32.OpenProcess.restype = wintypes.HANDLE
    _KERNEL32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    _KERNEL32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    _KERNEL32.CloseHandle.argtypes = (wintypes.HANDLE,)
    _QUERY_LIMITED_INFORMATION, _STILL_ACTIVE, _INVALID_PARAMETER = 0x1000, 259, 87

    def _windows_alive(pid: int) -> bool:
        handle = _KERNEL32.OpenProcess(_QUERY_LIMITED_INFORMATION, False, pid)
        if not handle:
            return ctypes.get_last_error() != _INVALID_PARAMETER  # 87: no such process; else (rights): alive
        try:
            code = wintypes.DWORD()
            return not _KERNEL32.GetExitCodeProcess(handle, ctypes.byref(code)) or code.value == _STILL_ACTIVE
        finally:
            _KERNEL32.CloseHandle(handle)


def _alive(pid: int) -> bool:
    """Tell whether a process runs (signal 0 on POSIX, its exit code on Windows); when unsure, alive."""
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return _windows_alive(pid)
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


def _fsync_directory(folder: Path) -> None:
    """Make a rename durable where the system allows it (Windows refuses to open a folder: skipped)."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
