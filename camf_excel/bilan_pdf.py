"""A bilan as a PDF, laid out by typst (a self-contained wheel: no system library, fonts embedded).

The typst templates ship under workbook_templates/bilan/: `bilan.typ` (the document) and
`graphique.typ` (the chart, also compiled alone to a picture for the Word document). The
fields arrive as JSON through `sys.inputs`: typst shows them as text, never as markup, so a
comment holding `#` or `*` prints as typed. Only the fonts typst embeds are used: the same
PDF on every machine.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

import typst

from camf_excel.errors import CamfError
from camf_excel.templates import templates_dir

DOCUMENT, CHART = "bilan.typ", "graphique-seul.typ"
CHART_PPI = 220  # sharp in Word at 16.5 cm wide, about 100 KB


def bilan_templates() -> Path:
    """Return the folder of the bilan's templates (typst files and the Word template)."""
    return templates_dir() / "bilan"


@functools.cache
def _compiler(name: str) -> typst.Compiler:
    # One compiler per process and template: typst then keeps its fonts and parsed files.
    folder = bilan_templates()
    return typst.Compiler(folder / name, root=folder, font_paths=typst.Fonts(include_system_fonts=False),
                          ignore_system_fonts=True)


def _compile(name: str, data: object, produced: dt.date | None, **options: Any) -> bytes:
    inputs = {"donnees": json.dumps(data, ensure_ascii=False)}
    stamp = dt.datetime.combine(produced, dt.time(12), dt.UTC) if produced else None
    try:
        output = _compiler(name).compile(sys_inputs=inputs, timestamp=stamp, **options)
    except typst.TypstError as error:  # a template edited by hand, or a bug: say where
        raise CamfError(f"Mise en page du bilan impossible ({name}) : {error.message}") from error
    if not isinstance(output, bytes):
        raise CamfError(f"Mise en page du bilan impossible ({name}) : plusieurs pages au lieu d'une image")
    return output


def render_pdf(fields: dict[str, Any], produced: dt.date | None = None) -> bytes:
    """Return the PDF of a bilan from its fields (`bilan_text.view`)."""
    return _compile(DOCUMENT, fields, produced)


def render_chart_png(chart: dict[str, Any]) -> bytes:
    """Return the chart of actions by champ and statut as a PNG picture (`view()['graphique_donnees']`)."""
    return _compile(CHART, chart, None, format="png", ppi=CHART_PPI)
