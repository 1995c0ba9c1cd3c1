"""Rebuild samples/classeurs-remplis/: filled workbooks as they come back from staff.

Run `python tests/make_samples.py` (needs LibreOffice for the re-saved and .ods copies). The
files are committed, so the README's command and the tests use them without rebuilding.

`mrc-mekinac/` holds what the MRC de Mékinac received from its municipalities for 2026: one
municipality never sent its workbook (Trois-Rives), one sent a damaged file (Hérouxville),
Saint-Tite sent two versions, Grandes-Piles sent 2025 too, Sainte-Thècle typed its name
« Ste-Thècle » without a code and made mistakes, Saint-Roch-de-Mékinac sent its workbook back
untouched (received, not filled); a PDF and an Office lock file lie beside them.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import shutil
import sys
import tempfile
from pathlib import Path

import openpyxl

sys.path.insert(0, str(Path(__file__).parent))

from conftest import MADA_PLAN, MRC_PLAN, PFM_PLAN, SAMPLES
from filling import IDENT, PLAN, edit, filled_workbook
from libreoffice import convert

from camf_excel.generate import read_organisations, safe_file_name
from camf_excel.plan import read_plan
from camf_excel.templates import TEMPLATE_BY_DEMARCHE, load_template
from camf_excel.writer import build_workbook

TARGET = SAMPLES / "classeurs-remplis"
SAINT_ELIE = {"organisation": "Saint-Élie-de-Caxton", "type": "Municipalité", "code_geo": "51075",
              "mrc": "Maskinongé", "region": "Mauricie", "annee_debut": 2024, "annee_fin": 2026,
              "periode": 2025, "responsable_nom": "Julie Gélinas",
              "responsable_courriel": "loisirs@st-elie-de-caxton.ca", "responsable_telephone": "819 221-2839"}
SHAWINIGAN = {"organisation": "Shawinigan", "type": "Municipalité", "code_geo": "36033",
              "mrc": "Shawinigan", "region": "Mauricie", "annee_debut": 2023, "annee_fin": 2027,
              "periode": 2025, "responsable_nom": "Marc Trudel",
              "responsable_courriel": "vie.communautaire@shawinigan.ca"}
MEKINAC = {"organisation": "MRC de Mékinac", "type": "MRC", "mrc": "MRC de Mékinac", "region": "Mauricie",
           "annee_debut": 2025, "annee_fin": 2029, "periode": 2026, "responsable_nom": "Annie Dessureault",
           "responsable_courriel": "developpement@mrcmekinac.com"}
# The mistakes people make, each on its own cell (Plan d'action header on row 3, data from row 4).
MISTAKES = {
    (PLAN, "L5"): "Fini", (PLAN, "L6"): "terminé", (PLAN, "M6"): 100,
    (PLAN, "L7"): "Réalisée", (PLAN, "M7"): 40,
    (PLAN, "L8"): "Non débutée", (PLAN, "M8"): 80,
    (PLAN, "L9"): "Abandonnée", (PLAN, "P9"): None,
    (PLAN, "J10"): "à confirmer", (PLAN, "N11"): "31/02/2026", (PLAN, "A12"): "1.1",
    (PLAN, "B13"): "Sports", (PLAN, "H14"): 2028, (PLAN, "I14"): 2026, (PLAN, "O15"): "#REF!",
    (PLAN, "Z3"): "Notes du comité", (PLAN, "Z16"): "Voir le courriel du 3 mars",
    (IDENT, "B16"): "annie.dessureault@",
}


def build(target: Path = TARGET) -> list[Path]:
    """Write the sample workbooks into target (replacing them)."""
    target.mkdir(parents=True, exist_ok=True)
    written = [filled_workbook(target / "51075_saint-elie-de-caxton_suivi-pfm_2025.xlsx", "pfm", PFM_PLAN,
                               SAINT_ELIE)]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        shawinigan = filled_workbook(work / "36033_shawinigan_suivi-mada_2025.xlsx", "mada", MADA_PLAN,
                                     SHAWINIGAN, seed=5)
        resaved = convert(shawinigan, work / "lo", "xlsx")
        written.append(_move(resaved, target / "36033_shawinigan_suivi-mada_2025_libreoffice.xlsx"))
        written.append(_move(convert(shawinigan, work / "ods", "ods"),
                             target / "36033_shawinigan_suivi-mada_2025.ods"))
        mekinac = filled_workbook(work / "mekinac.xlsx", "pfm-mada", MRC_PLAN, MEKINAC, seed=3)
        edit(mekinac, MISTAKES)
        book = openpyxl.load_workbook(mekinac)
        book[PLAN].insert_rows(1)  # a title line typed above the table: the header moves down
        book[PLAN]["A1"] = "Suivi 2026 — version du comité"
        book.save(mekinac)
        written.append(_move(mekinac, target / "mrc-de-mekinac_suivi-pfm-mada_2026_erreurs.xlsx"))
    return written


MEKINAC_FOLDER = TARGET / "mrc-mekinac"
NOT_SENT, DAMAGED, UNTOUCHED = "Trois-Rives", "Hérouxville", "Saint-Roch-de-Mékinac"
# (organisation, période, file date, file suffix): the versions each municipality sent.
SENT = {"Saint-Tite": [(2026, dt.date(2026, 10, 1), ""), (2026, dt.date(2026, 11, 12), "_v2")],
        "Grandes-Piles": [(2025, dt.date(2025, 11, 20), ""), (2026, dt.date(2026, 11, 3), "")]}
THECLE_MISTAKES = {(PLAN, "L4"): "terminé", (PLAN, "M4"): "100 %", (PLAN, "L5"): "REALISEE",
                   (PLAN, "L6"): "En attente", (PLAN, "N7"): "2027-02-30", (PLAN, "Q8"): "=HYPERLINK(\"x\")",
                   (IDENT, "B4"): "Ste-Thècle", (IDENT, "B6"): None}


def build_mekinac(folder: Path = MEKINAC_FOLDER) -> list[Path]:
    """Write what the MRC received from its member municipalities (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [r for r in read_organisations(SAMPLES / "organisations.csv") if r["type"] != "MRC"]
    written = []
    for number, row in enumerate(rows):
        if row["organisation"] == NOT_SENT:
            continue
        for periode, updated, suffix in SENT.get(row["organisation"], [(2026, dt.date(2026, 11, 5), "")]):
            written.append(_municipal_workbook(folder, row, periode, updated, suffix, seed=number))
    damaged = next(p for p in written if "herouxville" in p.name)
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # cut short in an e-mail
    thecle = next(p for p in written if "sainte-thecle" in p.name)
    edit(thecle, THECLE_MISTAKES)
    pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    (folder / "plan-adopte-saint-severin.pdf").write_bytes(pdf)
    lock = folder / f"~${written[0].name}"
    lock.write_bytes(b"\x0bAnnie Dessureault" + b" " * 40)
    return written


def _municipal_workbook(folder: Path, row: dict[str, str], periode: int, updated: dt.date, suffix: str,
                        seed: int) -> Path:
    template_id = TEMPLATE_BY_DEMARCHE[row["demarche"]]
    ident: dict[str, object] = {k: v for k, v in row.items() if v and k != "plan"}
    ident.update(periode=periode, date_maj_fichier=updated, annee_debut=int(row["annee_debut"]),
                 annee_fin=int(row["annee_fin"]))
    name = safe_file_name(row["organisation"], row["code_geo"], template_id).replace(
        ".xlsx", f"_{periode}{suffix}.xlsx")
    plan = _municipal_plan(template_id, seed)
    if row["organisation"] == UNTOUCHED:  # sent back as generated: received, not filled
        template = load_template(template_id)
        (folder / name).write_bytes(build_workbook(template, ident, read_plan(plan, template)))
        return folder / name
    return filled_workbook(folder / name, template_id, plan, ident, seed=seed + periode + len(suffix))


def _municipal_plan(template_id: str, seed: int) -> Path:
    """A plan of 15 to 40 actions drawn from the MRC's collective plan, in the template's champs."""
    template = load_template(template_id)
    champs = set(template.lists["champ"].items)
    actions = [a for a in read_plan(MRC_PLAN, load_template("pfm-mada")) if a.get("champ") in champs]
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(actions)), rng.randint(15, min(40, len(actions)))))
    path = Path(tempfile.mkdtemp()) / f"plan-{seed}.csv"
    keys = [c.key for c in template.columns if c.group == "plan"]
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow([template.column(k).header for k in keys])
        for number, index in enumerate(chosen, start=1):
            action = {**actions[index], "action_id": f"{number}"}
            writer.writerow(["" if action.get(k) is None else action[k] for k in keys])
    return path


def _move(source: Path, target: Path) -> Path:
    shutil.move(source, target)
    return target


if __name__ == "__main__":
    for path in [*build(), *build_mekinac()]:
        print(path.relative_to(SAMPLES.parent))
