"""A bilan as an editable Word document: a .docx template (docxtpl, Jinja fields) filled with its fields.

The template shipped is workbook_templates/bilan/bilan.docx; `--gabarit` gives a coordinator's
own (logo, colours, wording). A template is a document: its Jinja code runs in a sandbox (no
attribute of Python objects reachable), and every text is escaped as XML, so a comment that
holds `<`, `&` or `{{` prints as typed. A template is checked before any bilan is made: a field
the tool does not know, or a required one it lacks, is refused by name.
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from docx.shared import Cm
from docxtpl import DocxTemplate, InlineImage
from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from camf_excel.bilan_pdf import bilan_templates
from camf_excel.errors import InputError

DEFAULT_GABARIT = "bilan.docx"
CHART_WIDTH_CM = 16.5
GABARIT_MAX_BYTES = 20 * 1024 * 1024
GABARIT_MAX_UNPACKED = 100 * 1024 * 1024
# The fields a template may use: `bilan_text.view`'s, plus the chart picture.
PICTURE_FIELDS = frozenset({"graphique"})
# A template without these would hide what a bilan must say (the figures, the « Données à
# vérifier » box, the resolution): it is refused.
REQUIRED_FIELDS = ("organisation", "periode", "chiffres", "a_verifier", "resolution")


def default_gabarit() -> bytes:
    """Return the Word template shipped with the tool."""
    return (bilan_templates() / DEFAULT_GABARIT).read_bytes()


def load_gabarit(path: Path, known: Iterable[str]) -> bytes:
    """Read and check a coordinator's Word template; raise InputError naming what is wrong."""
    try:
        size = path.stat().st_size
        if size > GABARIT_MAX_BYTES:
            raise InputError(f"Gabarit trop volumineux : {path} ({size // 1_048_576} Mo, au plus 20 Mo).")
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"Gabarit illisible : {path} ({error.strerror or error}).") from error
    check_gabarit(data, str(path), known)
    return data


def check_gabarit(data: bytes, name: str, known: Iterable[str]) -> None:
    """Refuse a template that is no .docx, uses a field the tool does not know, or lacks a required one."""
    _check_package(data, name)
    try:
        used = DocxTemplate(io.BytesIO(data)).get_undeclared_template_variables(SandboxedEnvironment())
    except (TemplateError, ValueError, KeyError) as error:
        raise InputError(f"Gabarit {name} : champ mal formé ({error}). Vérifiez les {{{{ … }}}} et "
                         "{% … %} du document.") from error
    allowed = set(known) | PICTURE_FIELDS
    unknown = sorted(used - allowed)
    if unknown:
        raise InputError(f"Gabarit {name} : champ inconnu {_names(unknown)}. Champs possibles : "
                         f"{', '.join(sorted(allowed))}.")
    missing = [field for field in REQUIRED_FIELDS if field not in used]
    if missing:
        raise InputError(f"Gabarit {name} : champ obligatoire absent {_names(missing)} ; ajoutez-le "
                         "au document (voir le gabarit fourni, bilan.docx).")


def _names(names: list[str]) -> str:
    return ", ".join("{{ " + n + " }}" for n in names)


def _check_package(data: bytes, name: str) -> None:
    """A .docx is a zip holding word/document.xml; bounded before anything unpacks it."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            entries = package.infolist()
            names = {entry.filename for entry in entries}
            unpacked = sum(entry.file_size for entry in entries)
            document = package.read("word/document.xml")[:4096] if "word/document.xml" in names else b""
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise InputError(f"Gabarit {name} : ce n'est pas un document Word .docx ({error}). "
                         "Enregistrez-le au format .docx.") from error
    if "word/document.xml" not in names:
        raise InputError(f"Gabarit {name} : ce n'est pas un document Word .docx. "
                         "Enregistrez-le au format .docx.")
    if unpacked > GABARIT_MAX_UNPACKED or len(entries) != len(names):
        raise InputError(f"Gabarit {name} : document endommagé ou trop volumineux une fois décompressé.")
    if b"<!DOCTYPE" in document:
        raise InputError(f"Gabarit {name} : document refusé (déclaration DOCTYPE).")


@functools.cache
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=True)


def render_docx(fields: dict[str, Any], chart_png: bytes, gabarit: bytes | None = None) -> bytes:
    """Return the Word document of a bilan from its fields (`bilan_text.view`) and chart picture."""
    template = DocxTemplate(io.BytesIO(gabarit if gabarit is not None else default_gabarit()))
    context = {**fields, "graphique": InlineImage(template, io.BytesIO(chart_png), width=Cm(CHART_WIDTH_CM))}
    try:
        template.render(context, jinja_env=_environment(), autoescape=True)
    except TemplateError as error:
        raise InputError(f"Gabarit Word : champ impossible à remplir ({error}).") from error
    output = io.BytesIO()
    template.save(output)
    return output.getvalue()
