"""Read back the figures a bilan prints: from its PDF's text (pdftotext) and its Word tables (python-docx).

What a person reads, parsed back to numbers: « 1 315 078,50 $ » is 1315078.5, « 15,6 % » is
15.6, « — » is NOT_SET. Tests compare these with the workbook's Tableau de bord as LibreOffice
computes it (`dashboard.read_dashboard`), rounded as the bilan prints.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from typing import Any

import docx
import pytest
from dashboard import NOT_SET, Snapshot

from camf_excel.bilan_text import NO_STATUS_LABEL
from camf_excel.figures import indicators
from camf_excel.model import Template

PDFTOTEXT = shutil.which("pdftotext")
needs_pdftotext = pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext absent : paquet poppler-utils")
NUMBER = r"-?\d{1,3}(?: \d{3})*(?:,\d+)?"
VALUE = rf"(?:{NUMBER} ?[%$]?|—)"


def pdf_text(pdf: bytes, layout: bool = True) -> str:
    """Return the PDF's text as pdftotext lays it out (else in the order it is drawn), spaces made plain."""
    assert PDFTOTEXT is not None
    mode = "-layout" if layout else "-raw"
    done = subprocess.run([PDFTOTEXT, mode, "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True,
                          check=True, timeout=60)
    return plain(done.stdout.decode("utf-8"))


def plain(text: str) -> str:
    """No-break spaces as spaces, typographic apostrophes as straight ones."""
    return text.replace("\u00a0", " ").replace("\u202f", " ").replace("’", "'")


def number(text: str) -> object:
    """A printed figure as a number (NOT_SET for « — »)."""
    text = plain(text).strip().rstrip("%$").strip()
    if text == "—":
        return NOT_SET
    return float(text.replace(" ", "").replace(",", "."))


def printed_from_pdf(pdf: bytes, template: Template) -> dict[str, Any]:
    """The status table, indicators and champ table as the PDF prints them."""
    text = pdf_text(pdf)
    statuses = {}
    for label in [*template.lists["statut"].items, NO_STATUS_LABEL]:
        found = re.search(rf"(?<!\w){re.escape(label)}\s+({NUMBER})\s+({VALUE})", text)
        assert found, f"{label} introuvable dans le PDF"
        statuses[label] = (number(found.group(1)), number(found.group(2)))
    values = {}
    for indicator in indicators(template):
        found = re.search(rf"{re.escape(plain(indicator.label))}\s+({VALUE})", text)
        assert found, f"{indicator.label} introuvable dans le PDF"
        values[indicator.name] = number(found.group(1))
    champs = {}
    for champ in template.lists["champ"].items:
        found = re.search(rf"(?<!\w){re.escape(plain(champ))}\s+({NUMBER})\s+({NUMBER})\s+({VALUE})", text)
        if found:
            champs[champ] = (number(found.group(1)), number(found.group(2)))
    return {"statuses": statuses, "indicators": values, "champs": champs, "text": text}


def printed_from_docx(data: bytes, template: Template) -> dict[str, Any]:
    """The same tables as the Word document holds them."""
    document = docx.Document(io.BytesIO(data))
    tables = {t.rows[0].cells[0].text: [[c.text for c in row.cells] for row in t.rows[1:]]
              for t in document.tables if t.rows}
    wanted = {*template.lists["statut"].items, NO_STATUS_LABEL}
    statuses = {row[0]: (number(row[1]), number(row[2])) for row in tables["Statut"] if row[0] in wanted}
    labels = {plain(i.label): i.name for i in indicators(template)}
    values = {labels[plain(row[0])]: number(row[1]) for row in tables["Indicateur"]}
    champs = {row[0]: (number(row[1]), number(row[2])) for row in tables["Champ d'action"]
              if row[0] in template.lists["champ"].items}
    text = "\n".join(p.text for p in document.paragraphs)
    return {"statuses": statuses, "indicators": values, "champs": champs, "text": plain(text)}


def expected_from_dashboard(board: Snapshot, template: Template) -> dict[str, Any]:
    """The dashboard's figures rounded as the bilan prints them (percent to 0.1, dollars to the cent)."""
    def share(value: object) -> object:
        if value == NOT_SET or is_error(value):
            return value
        return round(100 * float(value), 1)  # type: ignore[arg-type]

    statuses = {s: (count, share(part)) for s, (count, part) in board["statuses"].items()}  # type: ignore[union-attr]
    count, part = board["without_status"]  # type: ignore[misc]
    statuses[NO_STATUS_LABEL] = (count, share(part))
    values: dict[str, object] = {}
    for indicator in indicators(template):
        value = board["indicators"][indicator.name]  # type: ignore[index]
        if indicator.style == "share":
            values[indicator.name] = share(value)
        elif indicator.style == "money":
            values[indicator.name] = value if value == NOT_SET or is_error(value) else round(float(value), 2)
        else:
            values[indicator.name] = value
    realised = template.lists["statut"].items.index(template.realised_status)
    champs = {c: (row[-1], row[realised]) for c, row in board["matrix"].items()  # type: ignore[union-attr]
              if row[-1] not in (0, 0.0, NOT_SET)}
    return {"statuses": statuses, "indicators": values, "champs": champs}


def is_error(value: object) -> bool:
    """Tell whether a dashboard cell shows a spreadsheet error (« #REF! » in an amount propagates)."""
    return isinstance(value, str) and value.startswith("#")


def without_errors(expected: dict[str, Any], printed: dict[str, Any]) -> list[str]:
    """Drop, from both, the indicators the dashboard shows as an error; return their names."""
    names = [name for name, value in expected["indicators"].items() if is_error(value)]
    for name in names:
        expected["indicators"].pop(name)
        printed["indicators"].pop(name)
    return names


def comparable(printed: dict[str, Any]) -> dict[str, Any]:
    """The printed figures without the text, numbers as floats."""
    def as_float(value: object) -> object:
        return value if value == NOT_SET else float(value)  # type: ignore[arg-type]

    return {
        "statuses": {k: tuple(map(as_float, v)) for k, v in printed["statuses"].items()},
        "indicators": {k: as_float(v) for k, v in printed["indicators"].items()},
        "champs": {k: tuple(map(as_float, v)) for k, v in printed["champs"].items()},
    }
