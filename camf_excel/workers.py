"""Run a function over many files in child processes, each with a memory cap and a timeout (R6).

python-calamine aborts the whole process on some hostile files (a Rust allocation failure is
`abort()`, no exception to catch). Each worker caps its own address space, so a bomb that got
past the guards kills one worker, not the batch: that file is reported, the worker replaced,
and the other files go on. `concurrent.futures` is not used because one dead worker breaks
every pending future of a ProcessPoolExecutor.

Windows first: there workers are spawned (each re-imports the package; its start is not
counted in a task's time) and `resource` does not exist, so a worker that could not cap
itself says so and the parent watches it instead: every POLL_SECONDS it measures the worker's
memory (committed bytes on Windows, address space from /proc on Linux) and kills it past the
same budget. The watchdog is slower than a cap (a jump within one poll is seen after it), so
the guards in `files` and `package` stay the first defence.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

TIMEOUT_SECONDS = 20.0
MEMORY_BUDGET = 400 * 1024 * 1024  # bytes a worker may map above its size at start
# A spawned worker imports the package before its first task (seconds on a cold Windows laptop,
# antivirus included); that start has its own, longer, limit.
START_SECONDS = 120.0
POLL_SECONDS = 0.1  # how often the parent measures a worker that could not cap its own memory
_STOP = None
_READY = "prêt"
OVER_BUDGET = "mémoire insuffisante pour lire ce fichier (trop volumineux ou malveillant)"


@dataclass(frozen=True)
class Failure:
    """A task whose worker died, overran its time or raised: what happened, in French."""

    reason: str


def _context() -> Any:
    # forkserver: workers are forked from a small server that imported our modules once, so
    # each start is cheap and never inherits the parent's threads.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["camf_excel.validation"])
        return context
    return multiprocessing.get_context("spawn")


def default_jobs() -> int:
    """Return the number of worker processes worth starting on this machine."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _cap_memory(budget: int) -> bool:
    """Limit this process's address space to its current size plus `budget`; tell whether it could.

    POSIX only: `resource` does not exist on Windows, where the parent's watchdog bounds the worker.
    """
    try:
        import resource  # noqa: PLC0415 - absent on Windows

        current = memory_in_use(os.getpid())
        if current is None:
            return False
        resource.setrlimit(resource.RLIMIT_AS, (current + budget, current + budget))
    except (ImportError, OSError, ValueError):
        return False
    return True


def memory_in_use(pid: int) -> int | None:
    """Return the memory a process holds as the budget counts it, or None where it cannot be measured.

    Linux: its address space (what RLIMIT_AS caps); Windows: its committed private bytes
    (what a failed allocation is measured against there).
    """
    if sys.platform == "win32":
        return _windows_commit(pid)
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


if sys.platform == "win32":
    import ctypes
    from ctypes import wintypes

    class _MemoryCounters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD),
                    *((name, ctypes.c_size_t) for name in (
                        "PeakWorkingSetSize", "WorkingSetSize", "QuotaPeakPagedPoolUsage",
                        "QuotaPagedPoolUsage", "QuotaPeakNonPagedPoolUsage", "QuotaNonPagedPoolUsage",
                        "PagefileUsage", "PeakPagefileUsage", "PrivateUsage"))]

    _KERNEL32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _KERNEL32.OpenProcess.restype = wintypes.HANDLE
    _KERNEL32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    _KERNEL32.K32GetProcessMemoryInfo.argtypes = (wintypes.HANDLE, ctypes.POINTER(_MemoryCounters),
                                                  wintypes.DWORD)
    _KERNEL32.CloseHandle.argtypes = (wintypes.HANDLE,)
    _QUERY_LIMITED_INFORMATION, _VM_READ = 0x1000, 0x0010

    def _windows_commit(pid: int) -> int | None:
        handle = _KERNEL32.OpenProcess(_QUERY_LIMITED_INFORMATION | _VM_READ, False, pid)
        if not handle:
            return None
        try:
            counters = _MemoryCounters()
            counters.cb = ctypes.sizeof(counters)
            if not _KERNEL32.K32GetProcessMemoryInfo(handle, ctypes.byref(counters), counters.cb):
                return None
            return int(counters.PrivateUsage)
        finally:
            _KERNEL32.CloseHandle(handle)


def _quiet() -> None:
    """Keep a worker's own messages off the person's terminal, and Ctrl-C to the parent.

    What a library prints as it fails (a Rust panic's message and backtrace, an abort) is not
    for the person: the parent names the file and the reason. The parent handles Ctrl-C and
    stops its workers; a worker that also got it would print a traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)


def _serve(connection: Connection, function: Callable[..., Any], budget: int) -> None:
    _quiet()
    # Imports done: the parent starts the task's clock, and watches the worker if it could not cap
    # itself (its size is measured here, before any task: measured by the parent, it could be late).
    capped = _cap_memory(budget)
    connection.send((_READY, capped, memory_in_use(os.getpid())))
    while True:
        task = connection.recv()
        if task is _STOP:
            return
        index, args = task
        try:
            result: Any = function(*args)
        except MemoryError:
            result = Failure(OVER_BUDGET)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as error:  # the file is reported; the worker must live on (a Rust panic too)
            result = Failure(f"erreur inattendue du lecteur ({error.__class__.__name__})")
        connection.send((index, result))


class _Worker:
    """A child process and the tasks sent to it, oldest first (the one it is working on)."""

    def __init__(self, context: Any, function: Callable[..., Any], budget: int) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child, function, budget), daemon=True)
        self.process.start()
        child.close()
        self.tasks: deque[int] = deque()
        self.deadline = 0.0
        self.ready = False
        self.limit: int | None = None  # memory the parent lets it hold (when it could not cap itself)
        self.budget = budget

    def give(self, index: int, args: tuple[Any, ...], timeout: float) -> None:
        if not self.tasks:
            self.deadline = time.monotonic() + timeout + (0.0 if self.ready else START_SECONDS)
        self.tasks.append(index)
        self.connection.send((index, args))

    def started(self, capped: bool, baseline: int | None, timeout: float) -> None:
        """The worker has imported what it runs: its first task's clock starts now."""
        self.ready = True
        self.deadline = time.monotonic() + timeout
        if not capped and baseline is not None:
            self.limit = baseline + self.budget

    def over_budget(self) -> bool:
        """Tell whether a worker the parent watches holds more memory than its budget."""
        if self.limit is None or not self.tasks:
            return False
        used = memory_in_use(self.process.pid)
        return used is not None and used > self.limit

    def finished(self, timeout: float) -> int:
        """Drop the current task; the next one (already sent) starts its clock now."""
        self.deadline = time.monotonic() + timeout
        return self.tasks.popleft()

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.connection.send(_STOP)
            except OSError:
                self.process.kill()
        self.process.join(timeout=5)
        self.connection.close()


def run_isolated(function: Callable[..., Any], tasks: Sequence[tuple[Any, ...]], jobs: int | None = None,
                 timeout: float = TIMEOUT_SECONDS, budget: int = MEMORY_BUDGET) -> Iterator[tuple[int, Any]]:
    """Yield (task index, result or Failure) as tasks finish, each call in a capped child process.

    `function` must be importable by name (a module-level function); results must pickle. Each
    worker has one task queued behind the current one, so it never waits for the parent.
    """
    if not tasks:
        return
    context = _context()
    pending = deque(range(len(tasks)))
    workers = [_Worker(context, function, budget) for _ in range(min(jobs or default_jobs(), len(tasks)))]
    try:
        yield from _dispatch(context, function, budget, tasks, pending, workers, timeout)
    finally:
        for worker in workers:
            worker.stop(kill=bool(worker.tasks))


def _dispatch(context: Any, function: Callable[..., Any], budget: int, tasks: Sequence[tuple[Any, ...]],
              pending: deque[int], workers: list[_Worker], timeout: float) -> Iterator[tuple[int, Any]]:
    for worker in workers:
        _feed(worker, pending, tasks, timeout)
    while any(worker.tasks for worker in workers):
        busy = [w for w in workers if w.tasks]
        wake = min(w.deadline for w in busy) - time.monotonic()
        if any(w.limit is not None or not w.ready for w in busy):
            wake = min(wake, POLL_SECONDS)  # watched workers are measured at every poll
        ready = wait([w.connection for w in busy], timeout=max(0.0, wake))
        for position, worker in enumerate(workers):
            if not worker.tasks:
                continue
            outcome = _outcome(worker, ready, timeout)
            if outcome is None:
                continue
            index, result, healthy = outcome
            if not healthy:
                # The task it was working on failed; the one queued behind it is innocent: retry it.
                pending.extendleft(reversed(list(worker.tasks)[1:]))
                worker.stop(kill=True)
                workers[position] = _Worker(context, function, budget)
            else:
                worker.finished(timeout)
            yield index, result
            _feed(workers[position], pending, tasks, timeout)


def _outcome(worker: _Worker, ready: list[Any], timeout: float) -> tuple[int, Any, bool] | None:
    """Return (task, result, worker still usable), or None while the task is still running."""
    task = worker.tasks[0]
    if worker.connection in ready:
        try:
            message = worker.connection.recv()
        except (EOFError, OSError):
            worker.process.join(timeout=5)
            code = worker.process.exitcode
            detail = f"signal {-code}" if code is not None and code < 0 else f"code {code}"
            return task, Failure(f"le lecteur s'est arrêté brutalement ({detail}) : fichier trop "
                                 "volumineux, endommagé ou malveillant"), False
        if message[0] == _READY:
            worker.started(message[1], message[2], timeout)
            return None
        index, result = message
        return index, result, True
    if worker.over_budget():
        return task, Failure(OVER_BUDGET), False
    if time.monotonic() >= worker.deadline:
        limit = timeout if worker.ready else START_SECONDS + timeout
        return task, Failure(f"lecture interrompue après {limit:g} s (fichier trop lourd ou "
                             "malveillant)"), False
    return None


def _feed(worker: _Worker, pending: deque[int], tasks: Sequence[tuple[Any, ...]], timeout: float) -> None:
    """Keep two tasks with the worker: the one it works on and the next."""
    while pending and len(worker.tasks) < 2:
        index = pending.popleft()
        worker.give(index, tasks[index], timeout)
