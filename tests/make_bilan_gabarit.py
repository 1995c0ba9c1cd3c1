"""Write the Word template of the bilan (workbook_templates/bilan/bilan.docx) with python-docx.

The shipped .docx is this script's output (run it again after changing it:
`python tests/make_bilan_gabarit.py`); a test checks that the shipped file holds the same
fields. A coordinator's own template is the same file opened and restyled in Word (logo,
colours, wording): the `{{ … }}` and `{% … %}` fields are all the tool needs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Inches, Pt, RGBColor
from docx.table import Table
from docx.text.paragraph import Paragraph

TARGET = Path(__file__).resolve().parent.parent / "workbook_templates" / "bilan" / "bilan.docx"
BLUE = RGBColor(0x1F, 0x4E, 0x78)
NUMBERS = frozenset({"nombre", "part", "valeur", "actions", "realisees", "pct_realisees", "en_retard",
                     "sans_statut", "erreurs", "fin"})
WHO = "{{ (r.organisation ~ ' — ' ~ r.no) if r.organisation else r.no }}"


def _lang(element: object) -> None:
    """Give a style's runs the Canadian French language (spelling, and Word's own typography)."""
    rpr = element.get_or_add_rPr()
    lang = OxmlElement("w:lang")
    lang.set(qn("w:val"), "fr-CA")
    rpr.append(lang)


def _shade(paragraph: Paragraph, fill: str, border: str) -> None:
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    for side in ("top", "left", "bottom", "right"):
        edge = OxmlElement(f"w:{side}")
        for key, value in (("val", "single"), ("sz", "8"), ("space", "4"), ("color", border)):
            edge.set(qn(f"w:{key}"), value)
        borders.append(edge)
    ppr.append(borders)
    shading = OxmlElement("w:shd")
    for key, value in (("val", "clear"), ("color", "auto"), ("fill", fill)):
        shading.set(qn(f"w:{key}"), value)
    ppr.append(shading)


def _fill(cell: Any, colour: str) -> None:
    shading = OxmlElement("w:shd")
    for key, value in (("val", "clear"), ("color", "auto"), ("fill", colour)):
        shading.set(qn(f"w:{key}"), value)
    cell._tc.get_or_add_tcPr().append(shading)


def _field(paragraph: Paragraph, instruction: str) -> None:
    simple = OxmlElement("w:fldSimple")
    simple.set(qn("w:instr"), instruction)
    run = OxmlElement("w:r")
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    simple.append(run)
    paragraph._p.append(simple)


def _table(document: Any, columns: list[tuple[str, str]], loop: str, widths: list[float]) -> Table:
    """A table: a header row, a `{%tr for %}` row, the row of fields, a `{%tr endfor %}` row."""
    table = document.add_table(rows=4, cols=len(columns))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for col, (header, field) in enumerate(columns):
        table.cell(0, col).text = header
        table.cell(0, col).paragraphs[0].runs[0].bold = True
        _fill(table.cell(0, col), "DDEBF7")
        table.cell(2, col).text = "{{ " + field + " }}" if not field.startswith("{{") else field
        if field.split(".")[-1] in NUMBERS:
            table.cell(0, col).paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
            table.cell(2, col).paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
        table.columns[col].width = Cm(widths[col])
        for row in range(4):
            table.cell(row, col).width = Cm(widths[col])
    table.cell(1, 0).text = "{%tr for r in " + loop + " %}"
    table.cell(3, 0).text = "{%tr endfor %}"
    header = table.rows[0]._tr.get_or_add_trPr()
    repeat = OxmlElement("w:tblHeader")
    header.append(repeat)
    return table


def _section(document: Any, title: str, loop: str, columns: list[tuple[str, str]], widths: list[float],
             empty: str) -> None:
    document.add_heading(title, level=1)
    document.add_paragraph("{%p if " + loop + " %}")
    _table(document, columns, loop, widths)
    document.add_paragraph("{%p else %}")
    document.add_paragraph(empty).runs[0].italic = True
    document.add_paragraph("{%p endif %}")


def build(target: Path = TARGET) -> Path:
    """Write the template; return its path."""
    document = Document()
    _page(document)
    _title_block(document)
    _figures(document)
    _lists(document)
    _closing(document)
    target.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(target))
    return target


def _page(document: Any) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = Cm(21.59), Cm(27.94)  # letter
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(2))
    styles = document.styles
    styles["Normal"].font.name = "Calibri"
    styles["Normal"].font.size = Pt(10)
    styles["Normal"].paragraph_format.space_after = Pt(2)
    for name in ("Normal", "Title", "Heading 1", "Heading 2"):
        _lang(styles[name].element)
    styles["Title"].font.size = Pt(20)
    styles["Title"].font.color.rgb = BLUE
    styles["Heading 1"].font.color.rgb = BLUE
    styles["Heading 1"].font.size = Pt(13)
    footer = section.footer.paragraphs[0]
    stops = footer.paragraph_format.tab_stops
    for inherited in (Inches(3.25), Inches(6.5)):  # the Footer style's centre and right stops
        stops.add_tab_stop(inherited, WD_TAB_ALIGNMENT.CLEAR)
    stops.add_tab_stop(Cm(17.59), WD_TAB_ALIGNMENT.RIGHT)
    footer.text = "{{ organisation }} — période {{ periode }}\tPage "
    _field(footer, "PAGE")
    footer.add_run(" de ")
    _field(footer, "NUMPAGES")


def _title_block(document: Any) -> None:
    document.add_paragraph("{{ titre }}", style="Title")
    document.add_paragraph("Période de suivi {{ periode }}").runs[0].bold = True
    ident = document.add_table(rows=0, cols=2)
    ident.autofit = False
    for label, field in (("Organisation", "organisation"), ("Type", "type_organisation"), ("MRC", "mrc"),
                         ("Région", "region"), ("Démarche", "demarche"), ("Plan d'action", "plan"),
                         ("Date d'adoption", "date_adoption"), ("Période de suivi", "periode"),
                         ("Responsable du suivi", "responsable"), ("Date de production", "date_production")):
        cells = ident.add_row().cells
        cells[0].text = label
        cells[0].paragraphs[0].runs[0].bold = True
        cells[1].text = "{{ " + field + " }}"
        cells[0].width, cells[1].width = Cm(5), Cm(12)
        for cell in cells:
            cell.paragraphs[0].paragraph_format.space_after = Pt(0)
    ident.columns[0].width, ident.columns[1].width = Cm(5), Cm(12)
    document.add_paragraph("{%p if a_verifier %}")
    box = document.add_paragraph()
    run = box.add_run("{{ a_verifier }}")
    run.bold = True
    run.font.color.rgb = RGBColor(0x9B, 0x1C, 0x1C)
    box.add_run(" {{ commande_verification }}").font.name = "Consolas"
    _shade(box, "FDECEA", "C0392B")
    document.add_paragraph("{%p endif %}")


def _figures(document: Any) -> None:
    document.add_heading("Faits saillants", level=1)
    document.add_paragraph("{{ phrase_bilan }}")
    _table(document, [("Statut", "r.libelle"), ("Actions", "r.nombre"), ("Part", "r.part")], "chiffres",
           [9, 3, 3])
    document.add_paragraph()
    _table(document, [("Indicateur", "r.libelle"), ("Valeur", "r.valeur")], "indicateurs", [9, 4])
    document.add_heading("Actions par champ d'action et statut", level=1)
    chart = document.add_paragraph("{{ graphique }}")
    chart.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _table(document, [("Champ d'action", "r.champ"), ("Actions", "r.actions"), ("Réalisées", "r.realisees"),
                      ("% réalisées", "r.pct_realisees")], "champs", [9, 2.5, 2.5, 2.5])
    document.add_paragraph("{%p if municipalites %}")
    document.add_heading("Résultats par organisation", level=1)
    _table(document, [("Organisation", "r.organisation"), ("Période", "r.periode"), ("Actions", "r.actions"),
                      ("Réalisées", "r.realisees"), ("% réalisées", "r.pct_realisees"),
                      ("En retard", "r.en_retard"), ("Sans statut", "r.sans_statut"),
                      ("Erreurs", "r.erreurs")],
           "municipalites", [4.5, 1.6, 1.6, 1.8, 1.9, 1.7, 1.8, 1.6])
    document.add_paragraph("{%p endif %}")


def _lists(document: Any) -> None:
    two = [2.2, 7.4, 7.4]
    _section(document, "Réalisations de la période", "realisations",
             [("No", WHO), ("Champ d'action", "r.champ"), ("Action", "r.action"),
              ("Résultat ou commentaire", "r.detail")], [2.2, 3.5, 6, 5.3],
             "Aucune action n'est encore réalisée.")
    _section(document, "Bons coups", "bons_coups",
             [("No", WHO), ("Action", "r.action"), ("Commentaire", "r.detail")], two,
             "Aucun bon coup n'a été signalé.")
    _section(document, "Actions en retard", "retards",
             [("No", WHO), ("Action", "r.action"), ("Fin prévue", "r.fin"), ("Statut", "r.statut"),
              ("Obstacles", "r.detail")], [2.2, 6, 2, 2.3, 4.5], "Aucune action n'est en retard.")
    _section(document, "Obstacles rencontrés", "obstacles",
             [("No", WHO), ("Action", "r.action"), ("Obstacle", "r.detail")], two,
             "Aucun obstacle n'a été signalé.")
    _section(document, "Prochaines étapes", "prochaines_etapes",
             [("No", WHO), ("Action", "r.action"), ("Prochaine étape", "r.detail")], two,
             "Aucune prochaine étape n'a été inscrite.")
    _section(document, "Rencontres du comité de suivi", "rencontres",
             [("Date", "{{ (r.organisation ~ ' — ' ~ r.date) if r.organisation else r.date }}"),
              ("Sujets", "r.sujets"), ("Décisions", "r.decisions")], [3.5, 6.7, 6.8],
             "Aucune rencontre du comité de suivi n'est inscrite pour la période.")


def _closing(document: Any) -> None:
    document.add_heading("Évolution depuis la période précédente", level=1)
    document.add_paragraph("{{ changement }}")
    document.add_paragraph("{%p if changements %}")
    _table(document, [("Changement", "r.changement"), ("No", "r.no"), ("Action", "r.action")], "changements",
           [4, 2, 11])
    document.add_paragraph("{%p endif %}")
    document.add_heading("Proposition de résolution", level=1)
    resolution = document.add_paragraph()
    resolution.add_run("{{ resolution }}").italic = True
    resolution.paragraph_format.left_indent = Cm(0.5)
    document.add_paragraph()
    document.add_paragraph().add_run("{{ pied }}").font.size = Pt(8)


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET))
