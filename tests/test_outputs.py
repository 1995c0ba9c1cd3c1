"""Outputs are written as a whole: never half, never mixed with another run's, never onto an input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from camf_excel import cli
from camf_excel.errors import OutputExistsError
from camf_excel.outputs import LOCK_SUFFIX, write_atomically, write_directory

FILES = {"consolidation.xlsx": b"classeur", "actions.csv": b"a,b\r\n"}


def test_write_directory__existing_with_force__swapped_and_own_files_kept(tmp_path: Path) -> None:
    folder = tmp_path / "rapport"
    write_directory(folder, {"consolidation.xlsx": b"ancien", "vieux.csv": b"x"})
    (folder / "notes-de-la-conseillere.txt").write_text("à garder", encoding="utf-8")
    write_directory(folder, FILES, force=True)
    assert (folder / "consolidation.xlsx").read_bytes() == b"classeur"
    assert (folder / "notes-de-la-conseillere.txt").read_text(encoding="utf-8") == "à garder"
    assert _leftovers(tmp_path) == ["rapport"]  # no staging left


def test_write_directory__another_run_writing__refused_then_free_once_it_is_killed(tmp_path: Path) -> None:
    folder = tmp_path / "rapport"
    lock = tmp_path / f".rapport{LOCK_SUFFIX}"
    holder = f"""
import sys, time
from filelock import FileLock
held = FileLock({str(lock)!r})
held.acquire()
print("pris", flush=True)
time.sleep(60)
"""
    with subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE) as other:
        try:
            assert other.stdout is not None and other.stdout.readline().strip() == b"pris"
            with pytest.raises(OutputExistsError, match="Une autre exécution"):
                write_directory(folder, FILES)
            assert not folder.exists()
        finally:
            other.kill()
    other.wait()
    write_directory(folder, FILES)  # killed, its lock went with it
    assert (folder / "actions.csv").exists()


def test_write_directory__killed_mid_write__old_set_whole_and_cleaned_next_time(tmp_path: Path) -> None:
    folder = tmp_path / "rapport"
    write_directory(folder, {"consolidation.xlsx": b"ancien"})
    script = f"""
import time
from pathlib import Path
from camf_excel.outputs import write_directory
class Slow(dict):
    def items(self):
        yield "consolidation.xlsx", b"nouveau"
        time.sleep(60)
        yield "actions.csv", b"x"
    def __iter__(self):
        return iter(["consolidation.xlsx", "actions.csv"])
write_directory(Path({str(folder)!r}), Slow(), force=True)
"""
    with subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parent.parent) as run:
        deadline = time.monotonic() + 20
        while not _staging(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        run.send_signal(signal.SIGKILL)
    assert (folder / "consolidation.xlsx").read_bytes() == b"ancien"  # the old set, whole
    assert _staging(tmp_path)  # what the killed run left
    write_directory(folder, FILES, force=True)
    assert _leftovers(tmp_path) == ["rapport"]
    assert (folder / "consolidation.xlsx").read_bytes() == b"classeur"


def _staging(folder: Path) -> bool:
    return any(p.name.startswith(".camf-") for p in folder.iterdir())


@pytest.mark.skipif(os.name != "posix", reason="permissions POSIX")
def test_outputs__permissions__follow_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_directory(tmp_path / "rapport", FILES)
        write_atomically(tmp_path / "seul.xlsx", b"x")
    finally:
        os.umask(previous)
    assert (tmp_path / "rapport").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "rapport" / "actions.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "seul.xlsx").stat().st_mode & 0o777 == 0o644


def test_cli__interrupted__french_message_and_exit_130(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "check_files", interrupted)
    result = CliRunner().invoke(cli.main, ["validate", str(tmp_path)])
    assert result.exit_code == 130 and "Interrompu" in result.output
    assert "Traceback" not in result.output


def test_consolidate__two_runs_at_once_into_one_folder__one_whole_set_never_mixed(tmp_path: Path) -> None:
    samples = Path(__file__).parent.parent / "samples" / "classeurs-remplis"
    one = sorted(samples.rglob("*.xlsx"))[0]
    folder = tmp_path / "consolidation"
    runs = [[sys.executable, "-m", "camf_excel", "consolidate", str(inputs), "-o", str(folder), "--force",
             "--quiet"] for inputs in (samples, one)]
    processes = [subprocess.Popen(run, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for run in runs]
    outcomes = [(p.communicate(timeout=120)[1].decode("utf-8"), p.returncode) for p in processes]
    for error, code in outcomes:  # done, or refused clearly because the other one writes there
        assert code in (0, 1) or (code == 2 and "verrou" in error.lower()), error
        assert "Traceback" not in error
    sources = (folder / "sources.csv").read_text(encoding="utf-8-sig").splitlines()
    organisations = (folder / "organisations.csv").read_text(encoding="utf-8-sig").splitlines()
    if len(sources) == 2:  # the one-file run's set, whole
        assert len(organisations) == 2
    else:  # the folder run's set, whole
        assert len(sources) > 2 and len(organisations) > 2
    assert _leftovers(tmp_path) == ["consolidation"]  # no staging left


def _leftovers(folder: Path) -> list[str]:
    """What a run left beside its output folder, the empty lock file aside (see outputs._folder_lock)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(LOCK_SUFFIX))
