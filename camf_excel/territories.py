"""The territories reference: who is expected to report, and matching workbooks to it.

Two inputs are read, mapped by their column names: a simple CSV (code, municipalité, MRC,
région) and the MAMH « Répertoire des municipalités » MUN.csv as published (`mcode`,
`munnom`, `regadm`, `mrc`, `divrec`, `mcourriel`…). A file whose columns are a workbook's
Identification (the `generate --batch` organisations file) is refused: it names organisations
that report, not the territories expected to. A code géographique is padded to five digits (a
re-saved MUN.csv loses the leading zero of 07025); names are compared by a key that ignores
accents, case, hyphens, « Saint-/St- » and designations such as « Ville de ».

A workbook is matched by its Identification; a file that could not be read, by its file name,
as a person reads « 35035_herouxville_suivi_2026.xlsx »: a known code, or a territory's name
written out in it (the longest such name, so « saint-tite-des-caps » is not « Saint-Tite »).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from camf_excel.csvfiles import read_csv_rows_isolated
from camf_excel.errors import InputError
from camf_excel.files import sniff_format
from camf_excel.normalise import clean_text, fold
from camf_excel.templates import DEFAULT_TEMPLATE, load_template

TERRITORY_COLUMNS = ("code_geo", "organisation", "mrc", "region", "courriel")
# Folded header -> key; MUN.csv's own names are among the variants.
_HEADERS = {
    "code_geo": ("code_geo", "code", "code geographique", "code geo", "mcode", "code municipal"),
    "organisation": ("organisation", "municipalite", "nom", "munnom", "nom de la municipalite"),
    "mrc": ("mrc", "mrc ou te", "territoire equivalent"),
    "divrec": ("divrec", "division de recensement"),
    "region": ("region", "regadm", "region administrative"),
    "courriel": ("courriel", "mcourriel", "email", "adresse courriel"),
}
_HEADER_KEYS = {fold(variant): key for key, variants in _HEADERS.items() for variant in variants}
_TRAILING_CODE = re.compile(r"\s*\(\s*\d+\s*\)\s*$")  # "Mauricie (04)", "MRC Mékinac (350)"
_DESIGNATIONS = re.compile(
    r"^(?:(?:ville|municipalite|paroisse|village|canton|cantons unis|municipalite regionale de comte"
    r"|mrc|agglomeration|territoire|gouvernement regional)(?: de la| de l'| des| du| de| d')?\s+)+")
_SAINTS = re.compile(r"\b(st|ste)\b\.?")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")
_WORD = re.compile(r"[0-9a-z]+")
_WORD_SAINTS = {"st": "saint", "ste": "sainte"}
# Columns of the simple territories CSV, as a refusal names them.
EXPECTED_COLUMNS = ("code, municipalite, mrc, region (courriel facultatif), "
                    "ou le MUN.csv du MAMH tel que publié")
# Identification keys that describe a workbook, not a territory: a file with such columns lists
# organisations that report (the batch file of `generate --batch`, a consolidation's output).
_TERRITORY_KEYS = frozenset({"organisation", "type", "code_geo", "mrc", "region"})


@dataclass(frozen=True)
class Territory:
    """One expected organisation of the reference file."""

    code_geo: str
    organisation: str
    mrc: str
    region: str
    courriel: str = ""


def pad_code(value: object) -> str:
    """Return a code géographique as five digits ("7025" -> "07025"), or "" when it is none."""
    text = clean_text(value)
    if text.endswith(".0"):
        text = text[:-2]
    return text.zfill(5) if text.isdigit() and len(text) <= 5 else ""


def name_key(name: object) -> str:
    """Return the key two spellings of one place share: « Ville de St-Tite » and « Saint Tite »."""
    folded = _TRAILING_CODE.sub("", fold(name))
    folded = _DESIGNATIONS.sub("", folded)
    folded = _SAINTS.sub(lambda m: "saint" if m.group(1) == "st" else "sainte", folded)
    return _NOT_ALNUM.sub("", folded)


def display_label(text: object) -> str:
    """Return a reference label without its trailing code: "MRC Mékinac (350)" -> "MRC Mékinac"."""
    return _TRAILING_CODE.sub("", clean_text(text))


def region_label(text: object) -> str:
    """Return the official name of a région ("Saguenay--Lac-Saint-Jean (02)" -> "Saguenay–Lac-Saint-Jean")."""
    label = display_label(text)
    return _official_regions().get(name_key(label), label)


@functools.lru_cache(maxsize=1)
def _official_regions() -> dict[str, str]:
    return {name_key(name): name for name in load_template(DEFAULT_TEMPLATE).lists["region"].items}


def name_words(name: object) -> tuple[str, ...]:
    """Return a name's words as a file name spells them: « Ste-Thècle » -> ("sainte", "thecle")."""
    return tuple(_WORD_SAINTS.get(word, word) for word in _WORD.findall(fold(name)))


def load_territories(path: str | Path) -> tuple[Territory, ...]:
    """Read a territories reference file (simple CSV or MAMH MUN.csv); raise InputError if unusable."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"Fichier des territoires introuvable : {path}")
    sniffed = sniff_format(path)
    if not sniffed.text:
        raise InputError(f"Fichier des territoires {path.name} : un fichier CSV est attendu "
                         f"({sniffed.message or sniffed.kind}).")
    try:
        rows = read_csv_rows_isolated(path)
    except InputError as error:
        raise InputError(f"Fichier des territoires {path.name} : {error}") from error
    columns = _columns(rows[0] if rows else [], path)
    territories = [_territory(row, columns) for row in rows[1:]]
    found = tuple(t for t in territories if t.code_geo or t.organisation)
    if not found:
        raise InputError(f"Fichier des territoires {path.name} : aucune municipalité lue.")
    return found


def _columns(header: Sequence[str], path: Path) -> dict[str, int]:
    _refuse_workbook_columns(header, path)
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        key = _HEADER_KEYS.get(fold(name))
        if key and key not in columns:
            columns[key] = index
    if "organisation" not in columns and "code_geo" not in columns:
        raise InputError(f"Fichier des territoires {path.name} : colonnes « code » ou « municipalité » "
                         f"introuvables dans la première ligne (attendu : {EXPECTED_COLUMNS}).")
    return columns


def _refuse_workbook_columns(header: Sequence[str], path: Path) -> None:
    """Refuse a file whose columns are a workbook's Identification: it is no territories file."""
    fields = load_template(DEFAULT_TEMPLATE).identification
    workbook_keys = {fold(f.key): f.key for f in fields if f.key not in _TERRITORY_KEYS}
    workbook_keys.update({fold(f.label): f.key for f in fields if f.key not in _TERRITORY_KEYS})
    found = [key for key in dict.fromkeys(workbook_keys.get(fold(name)) for name in header) if key]
    if found:
        shown = ", ".join(found[:4]) + (", …" if len(found) > 4 else "")
        raise InputError(f"Fichier des territoires {path.name} : ce n'est pas un fichier des territoires, "
                         f"ses colonnes ({shown}) décrivent des classeurs de suivi (fichier "
                         "d'organisations de « generate --batch » ou table d'une consolidation ?). "
                         f"Attendu : une ligne par municipalité attendue, colonnes {EXPECTED_COLUMNS}.")


def _territory(row: Sequence[str], columns: Mapping[str, int]) -> Territory:
    def cell(key: str) -> str:
        index = columns.get(key)
        return clean_text(row[index]) if index is not None and index < len(row) else ""

    return Territory(pad_code(cell("code_geo")), clean_text(cell("organisation")),
                     display_label(cell("mrc") or cell("divrec")), region_label(cell("region")),
                     cell("courriel"))


def territories_frame(territories: Sequence[Territory]) -> pd.DataFrame:
    """Return the reference as a table (one row per expected organisation)."""
    return pd.DataFrame([[getattr(t, k) for k in TERRITORY_COLUMNS] for t in territories],
                        columns=list(TERRITORY_COLUMNS))


@dataclass(frozen=True)
class Match:
    """Where a workbook's organisation was found in the reference, and what to tell about it."""

    territory: Territory | None
    level: str  # "municipalite", "mrc" or "" when unmatched
    note: str = ""


class TerritoryIndex:
    """Look up organisations by code, by name within their MRC, and MRCs by name."""

    def __init__(self, territories: Sequence[Territory]) -> None:
        self.territories = tuple(territories)
        self.by_code = {t.code_geo: t for t in territories if t.code_geo}
        self.by_name: dict[str, list[Territory]] = {}
        self.mrcs: dict[str, Territory] = {}
        for territory in territories:
            self.by_name.setdefault(name_key(territory.organisation), []).append(territory)
            if territory.mrc:
                self.mrcs.setdefault(name_key(territory.mrc),
                                     Territory("", territory.mrc, territory.mrc, territory.region))
        self._spelled = [(_bare_words(t.organisation), t) for t in self.territories]
        self._mrcs_spelled = [(_bare_words(t.mrc), t) for t in self.mrcs.values()]

    def match(self, organisation: object, code_geo: object, mrc: object, kind: object) -> Match:
        """Find one workbook's organisation: an MRC by its name, a municipality by code, else name."""
        if fold(kind) == "mrc":
            found = self.mrcs.get(name_key(organisation)) or self.mrcs.get(name_key(mrc))
            return Match(found, "mrc") if found else Match(None, "", "MRC introuvable dans le fichier "
                                                                     "des territoires")
        code, key = pad_code(code_geo), name_key(organisation)
        by_code = self.by_code.get(code)
        if by_code is not None and (not key or name_key(by_code.organisation) == key):
            return Match(by_code, "municipalite")
        by_name = self._by_name(key, mrc)
        if by_code is not None and by_name is None:
            return Match(by_code, "municipalite", f"le code {code} est celui de « {by_code.organisation} » "
                                                  f"dans le fichier des territoires")
        if by_name is not None:
            return Match(by_name, "municipalite", self._code_note(code, by_code, by_name))
        return Match(None, "", self._unmatched_note(key, code))

    def match_file_name(self, file_name: str) -> Match:
        """Find whose file this is from its name alone (for a file that could not be read)."""
        words = name_words(Path(file_name).stem)
        coded = {self.by_code[w] for w in words if len(w) == 5 and w.isdigit() and w in self.by_code}
        named = _longest_spelled(self._spelled, words)
        if len(coded) > 1 or (coded and named and not coded & named):
            return Match(None, "", "le nom du fichier désigne plusieurs municipalités")
        found = coded or named
        if len(found) == 1:
            return Match(found.pop(), "municipalite", "rattaché par le nom du fichier")
        if found:
            return Match(None, "", "plusieurs municipalités portent le nom écrit dans le nom du fichier")
        mrcs = _longest_spelled(self._mrcs_spelled, words) if "mrc" in words else set()
        if len(mrcs) == 1:
            return Match(mrcs.pop(), "mrc", "rattaché par le nom du fichier")
        return Match(None, "", "aucun territoire reconnu dans le nom du fichier")

    def _by_name(self, key: str, mrc: object) -> Territory | None:
        candidates = self.by_name.get(key, []) if key else []
        if len(candidates) > 1:
            candidates = [t for t in candidates if name_key(t.mrc) == name_key(mrc)]
        return candidates[0] if len(candidates) == 1 else None

    @staticmethod
    def _code_note(code: str, by_code: Territory | None, by_name: Territory) -> str:
        if by_code is not None:
            return (f"le code {code} est celui de « {by_code.organisation} » : classeur rattaché par son "
                    f"nom au code {by_name.code_geo}")
        if code:
            return f"code {code} inconnu : classeur rattaché par son nom au code {by_name.code_geo}"
        return ""

    def _unmatched_note(self, key: str, code: str) -> str:
        if key and len(self.by_name.get(key, [])) > 1:
            return "plusieurs municipalités portent ce nom : inscrivez le code géographique"
        if code:
            return f"code {code} et nom introuvables dans le fichier des territoires"
        return "nom introuvable dans le fichier des territoires"


def _bare_words(name: str) -> tuple[str, ...]:
    """A reference name's words without its designation: « MRC de Mékinac » -> ("mekinac",)."""
    return name_words(_DESIGNATIONS.sub("", _TRAILING_CODE.sub("", fold(name))))


Spelled = Sequence[tuple[tuple[str, ...], Territory]]


def _longest_spelled(spelled: Spelled, words: Sequence[str]) -> set[Territory]:
    """The territories whose name is written out in words (only the longest names, when several)."""
    found = [(len(name), t) for name, t in spelled if name and _contains(words, name)]
    longest = max((size for size, _ in found), default=0)
    return {t for size, t in found if size == longest}


def _contains(words: Sequence[str], part: Sequence[str]) -> bool:
    size = len(part)
    return any(tuple(words[i:i + size]) == tuple(part) for i in range(len(words) - size + 1))
