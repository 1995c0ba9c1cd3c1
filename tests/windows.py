"""Windows, simulated on Linux: each fixture makes one thing behave here as it does there.

The product has no Windows code path to switch on: these fixtures change what the operating
system does under it (streams, start method, missing `resource`, refused hard links and folder
fsync, files held open by Excel or another program, OneDrive placeholders), and the product's
one code path meets them. A test module uses them with `pytest_plugins = ["windows"]`.

The whole suite, or any part, runs under every simulation but the streams' (tests read the
symbols themselves) with `CAMF_SIMULER_WINDOWS=1 PYTHONPATH=tests pytest -p windows …`.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

# --- streams: a redirected stdout gets the ANSI code page ----------------------------------------


@pytest.fixture(params=["cp1252", "ascii"])
def narrow_console(request: pytest.FixtureRequest) -> CliRunner:
    """A runner whose stdout is strict in cp1252 (Windows, output redirected to a log) or ASCII.

    click's runner opens stdout strict and stderr with backslashreplace, as Python on Windows does.
    """
    return CliRunner(charset=request.param)


# --- workers: spawned, without `resource` --------------------------------------------------------


@pytest.fixture
def spawn_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offer only the spawn start method, as Windows does (no fork, no forkserver)."""
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])


@pytest.fixture
def no_resource(spawn_only: None, monkeypatch: pytest.MonkeyPatch,
                tmp_path_factory: pytest.TempPathFactory) -> None:
    """Make `import resource` fail in spawned workers, the only place the product imports it.

    They receive this process's sys.path, whose first folder now holds a `resource` that
    refuses to import. (The tests' own process keeps its `resource`: some measure with it.)
    """
    shadow = tmp_path_factory.mktemp("sans-resource")
    refusal = 'raise ImportError("simulation de Windows : pas de module resource")\n'
    (shadow / "resource.py").write_text(refusal, encoding="utf-8")
    monkeypatch.syspath_prepend(str(shadow))


def address_space_limit() -> str:
    """In a worker: its RLIMIT_AS, or « absent » where `resource` cannot be imported."""
    try:
        import resource  # noqa: PLC0415 - the point is whether it imports
    except ImportError:
        return "absent"
    return str(resource.getrlimit(resource.RLIMIT_AS)[0])


def hog(megabytes: int, step: int = 8, pause: float = 0.005) -> int:
    """In a worker: take memory step by step, touched (as a parser building cells does); return MB taken."""
    chunks = []
    for _ in range(megabytes // step):
        chunks.append(b"x" * (step * 2**20))
        time.sleep(pause)
    return len(chunks) * step


# --- files: no hard links, no folder fsync ---------------------------------------------------------


def refuse_hard_links(monkeypatch: pytest.MonkeyPatch, how: str = "windows-fat",
                      only_product: bool = False) -> None:
    """Make os.link fail as FAT/exFAT keys and some shares make it fail (Windows error 1; EPERM on Linux).

    `only_product`: links the tests make to set a scene (on NTFS, where they work) still work.
    """
    real_link = os.link

    def refuse(source: Any, target: Any, *args: Any, **kwargs: Any) -> None:
        if only_product and not sys._getframe(1).f_globals.get("__name__", "").startswith("camf_excel"):
            return real_link(source, target, *args, **kwargs)
        if how == "windows-fat":
            raise OSError(errno.EINVAL, "Fonction incorrecte", os.fspath(target), 1)
        raise PermissionError(errno.EPERM, "Operation not permitted", os.fspath(source))

    monkeypatch.setattr(os, "link", refuse)


@pytest.fixture(params=["windows-fat", "linux-vfat"])
def no_hard_links(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.link refused, as on a FAT or exFAT key (both ways a system says it)."""
    refuse_hard_links(monkeypatch, request.param)


@pytest.fixture
def no_directory_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a folder refused, as on Windows (so no fsync of it); rmtree without fd functions, as there."""
    real_open = os.open

    def windows_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if kwargs.get("dir_fd") is None and Path(path).is_dir():
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", windows_open)
    monkeypatch.setattr(shutil, "_use_fd_functions", False)


# --- files held open by another program ------------------------------------------------------------

SHARING_VIOLATION = 32  # ERROR_SHARING_VIOLATION
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_TRUNC | os.O_CREAT


def _key(path: Any) -> str:
    return os.path.normcase(os.path.normpath(Path(os.fspath(path)).absolute())).casefold()  # case ignored


class Locks:
    """Paths held open by another program, and the os/io functions that meet them as Windows does.

    « excel »: Excel holds the workbook it shows — others may read it, not write, replace,
    rename or delete it, nor rename a folder holding it. « exclusive »: not even read (a sync
    client or an antivirus at work). « onedrive »: a placeholder whose content cannot come.
    """

    def __init__(self) -> None:
        self.held: dict[str, str] = {}

    def hold(self, path: Path, how: str = "excel") -> None:
        self.held[_key(path)] = how

    def _refuse(self, path: Any, reading: bool) -> None:
        key = _key(path)
        how = self.held.get(key)
        if how == "onedrive" and reading:
            raise OSError(errno.EINVAL, "Argument non valide", os.fspath(path), 362)
        if how == "exclusive" or (how == "excel" and not reading):
            raise PermissionError(errno.EACCES, "Le processus ne peut pas accéder au fichier car ce fichier "
                                  "est utilisé par un autre processus", os.fspath(path), SHARING_VIOLATION)

    def _refuse_move(self, source: Any, target: Any) -> None:
        for path in (source, target):
            self._refuse(path, reading=False)
        prefix = _key(source) + os.sep
        if any(key.startswith(prefix) and how != "onedrive" for key, how in self.held.items()):
            raise PermissionError(errno.EACCES, "Accès refusé", os.fspath(source), 5)

    def patches(self) -> list[tuple[Any, str, Callable[..., Any]]]:
        """Return (module, name, replacement) for every function that opens, moves or removes a file."""
        real_open, real_os_open = io.open, os.open
        real = {name: getattr(os, name) for name in ("replace", "rename", "unlink", "remove")}

        def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, str | bytes | os.PathLike):
                self._refuse(file, reading=not any(flag in mode for flag in "wax+"))
            return real_open(file, mode, *args, **kwargs)

        def os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
            if kwargs.get("dir_fd") is None:
                self._refuse(path, reading=not flags & _WRITE_FLAGS)
            return real_os_open(path, flags, *args, **kwargs)

        def mover(name: str) -> Callable[..., Any]:
            def move(source: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
                self._refuse_move(source, target)
                return real[name](source, target, *args, **kwargs)
            return move

        def remover(name: str) -> Callable[..., Any]:
            def remove(path: Any, *args: Any, **kwargs: Any) -> Any:
                if kwargs.get("dir_fd") is None:
                    self._refuse(path, reading=False)
                return real[name](path, *args, **kwargs)
            return remove

        return [(io, "open", open_), (builtins, "open", open_), (os, "open", os_open),
                (os, "replace", mover("replace")), (os, "rename", mover("rename")),
                (os, "unlink", remover("unlink")), (os, "remove", remover("remove"))]


@pytest.fixture
def held_open(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path, str], None]]:
    """Return hold(path, how): from then on, path behaves as a file another program holds open."""
    locks = Locks()
    for module, name, replacement in locks.patches():
        monkeypatch.setattr(module, name, replacement)
    yield locks.hold


HELD_ENVIRONMENT = "CAMF_TEST_FICHIERS_OUVERTS"


def hold_in_workers(monkeypatch: pytest.MonkeyPatch, held: dict[Path, str]) -> None:
    """Have spawned workers (they inherit the environment) see these files held open."""
    monkeypatch.setenv(HELD_ENVIRONMENT, json.dumps({str(path): how for path, how in held.items()}))


def check_workbook_held(path: str, periode: int | None = None, today: Any = None) -> Any:
    """In a worker: the product's check_workbook, with the files of HELD_ENVIRONMENT held open."""
    from camf_excel.validation import check_workbook  # noqa: PLC0415 - imported in the worker

    locks = Locks()
    for held, how in json.loads(os.environ.get(HELD_ENVIRONMENT, "{}")).items():
        locks.hold(Path(held), how)
    saved = [(module, name, getattr(module, name)) for module, name, _ in locks.patches()]
    for module, name, replacement in locks.patches():
        setattr(module, name, replacement)
    try:
        return check_workbook(path, periode, today)
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


# --- every simulation at once, for any test, on request ---------------------------------------------

SIMULATE_ENVIRONMENT = "CAMF_SIMULER_WINDOWS"


@pytest.fixture(autouse=True)
def windows_everywhere(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """With CAMF_SIMULER_WINDOWS set: spawn only, no `resource`, no hard links, no folder fsync."""
    if not os.environ.get(SIMULATE_ENVIRONMENT):
        return
    request.getfixturevalue("no_resource")
    request.getfixturevalue("no_directory_fsync")
    refuse_hard_links(monkeypatch, only_product=True)
