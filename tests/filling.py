"""Fill generated workbooks as staff would, and make the mistakes people make (openpyxl edits)."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Mapping
from pathlib import Path

import openpyxl
from conftest import IDENTIFICATION, PFM_PLAN

from camf_excel.plan import read_plan
from camf_excel.templates import load_template
from camf_excel.writer import build_workbook

Edits = Mapping[tuple[str, str], object]
PLAN, IDENT = "Plan d'action", "Identification"
COMMENTS = {"Abandonnée": "Projet remplacé par une entente avec la MRC.",
            "Reportée": "Reporté faute de subvention ; nouvelle demande en 2026."}


def clean_follow_up(count: int, periode: int, seed: int = 11) -> list[dict[str, object]]:
    """Return consistent follow-up values: every action has a status, progress matches it."""
    rng = random.Random(seed)
    statuses = load_template("pfm").lists["statut"].items
    values = []
    for _ in range(count):
        statut = rng.choice(statuses)
        progress = {"Réalisée": 100, "Non débutée": 0}.get(statut, rng.randrange(5, 100, 5))
        values.append({
            "statut": statut, "avancement": progress,
            "date_maj": dt.date(periode, rng.randint(1, 10), rng.randint(1, 28)),
            "budget_reel": rng.choice([None, 0, 250.5, 1200, 18_000]),
            "commentaires": COMMENTS.get(statut), "bon_coup": rng.choice(["Oui", "Non", None]),
            "obstacles": rng.choice([None, "Manque de bénévoles", "Délais de livraison"]),
        })
    return values


def filled_workbook(path: Path, template_id: str = "pfm", plan: Path = PFM_PLAN,
                    identification: Mapping[str, object] | None = None, seed: int = 11) -> Path:
    """Write a workbook pre-filled from the plan with clean follow-up values."""
    template = load_template(template_id)
    ident = dict(identification or IDENTIFICATION)
    for key in ("annee_debut", "annee_fin", "periode"):
        ident[key] = int(ident[key])  # type: ignore[call-overload]
    ident.setdefault("demarche", template.demarche)
    ident.setdefault("date_maj_fichier", dt.date(int(ident["periode"]), 11, 1))  # type: ignore[call-overload]
    actions = read_plan(plan, template)
    follow_up = clean_follow_up(len(actions), int(ident["periode"]), seed)  # type: ignore[call-overload]
    for action, values in zip(actions, follow_up, strict=True):
        action.update({k: v for k, v in values.items() if v is not None})
    path.write_bytes(build_workbook(template, ident, actions))
    return path


def edit(path: Path, edits: Edits = (), target: Path | None = None) -> Path:  # type: ignore[assignment]
    """Type values into cells as a person would (no dropdown stops openpyxl), and save."""
    book = openpyxl.load_workbook(path)
    for (sheet, cell), value in dict(edits).items():
        book[sheet][cell].value = value
    target = target or path
    book.save(target)
    return target
