"""Run LibreOffice headless as a person's spreadsheet program would, with a throwaway profile."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
needs_libreoffice = pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice (soffice) absent : .ci/run l'installe avec apt-get")

# LibreOffice never recalculates an .xlsx on load by default (it shows the cached values);
# OOXMLRecalcMode 0 ("always") makes it compute every formula as Excel would on open.
_RECALC_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def convert(source: Path, target_dir: Path, extension: str = "xlsx", recalc: bool = True) -> Path:
    """Open source in LibreOffice and save it as `extension` into target_dir; return the new file."""
    return convert_many([source], target_dir, extension, recalc)[source]


def convert_many(sources: list[Path], target_dir: Path, extension: str = "xlsx",
                 recalc: bool = True) -> dict[Path, Path]:
    """Open every source in one LibreOffice run and save each as `extension`; map source to result.

    One soffice start costs about two seconds: a test session converts its files together. A
    fresh profile's first start now and then exits without converting: one more try then.
    """
    assert SOFFICE is not None
    assert len({s.stem for s in sources}) == len(sources), "sources must have distinct names"
    results = {source: target_dir / f"{source.stem}.{extension}" for source in sources}
    stderr = ""
    for _attempt in range(2):
        stderr = _run_soffice(sources, target_dir, extension, recalc)
        if all(result.exists() for result in results.values()):
            return results
    missing = [str(s) for s, r in results.items() if not r.exists()]
    raise AssertionError(f"LibreOffice n'a pas converti {missing}: {stderr}")


def _run_soffice(sources: list[Path], target_dir: Path, extension: str, recalc: bool) -> str:
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        user = Path(profile) / "user"
        user.mkdir()
        if recalc:
            (user / "registrymodifications.xcu").write_text(_RECALC_PROFILE, encoding="utf-8")
        target_dir.mkdir(parents=True, exist_ok=True)
        filters = {"xlsx": "xlsx:Calc MS Excel 2007 XML", "ods": "ods"}
        completed = subprocess.run(
            [SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             "--convert-to", filters.get(extension, extension), "--outdir", str(target_dir),
             *map(str, sources)],
            capture_output=True, text=True, timeout=120 + 10 * len(sources), check=False)
    return completed.stderr
