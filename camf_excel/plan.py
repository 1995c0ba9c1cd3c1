"""Read an adopted action plan (CSV, .xlsx or .ods) into canonical action rows, or refuse it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from python_calamine import CalamineError, CalamineWorkbook

from camf_excel.errors import InputError, PlanError
from camf_excel.files import check_zip_workbook, read_csv_rows, sniff_format
from camf_excel.model import Column, Template
from camf_excel.normalise import (
    clean_text,
    fold,
    list_lookup,
    parse_date,
    parse_integer,
    parse_number,
    parse_percent,
)

MAX_TEXT = 32_767  # Excel's limit for one cell
HEADER_SCAN_ROWS = 20
PLAN_SHEET_NAMES = ("plan d'action", "plan", "actions")
# A plan holds no macros we would run and no formulas we would trust: any format calamine
# reads its values from will do.
SPREADSHEET_KINDS = frozenset({"xlsx", "ods", "xlsm", "xltx", "xlsb"})
_PARSERS = {"integer": parse_integer, "number": parse_number, "percent": parse_percent,
            "date": parse_date}

Action = dict[str, object]


def header_lookup(template: Template) -> dict[str, str]:
    """Map the folded form of every header, alias and key to its column key."""
    lookup: dict[str, str] = {}
    for column in template.columns:
        for name in (column.key, column.header, *column.aliases):
            lookup.setdefault(fold(name), column.key)
    return lookup


def read_plan(path: Path, template: Template, years: tuple[int, int] | None = None) -> list[Action]:
    """Return the plan's actions with canonical keys and values; raise PlanError listing every problem."""
    rows, sheet = _read_rows(path)
    header_index, mapping = _find_header(rows, template, path)
    missing = [c.header for c in template.columns
               if c.required and c.group == "plan" and c.key not in mapping.values()]
    if missing:
        raise PlanError(str(path), [f"{where(sheet, header_index)}colonne obligatoire absente : "
                                    f"« {name} »" for name in missing])
    problems: list[str] = []
    actions = []
    for index in range(header_index + 1, len(rows)):
        raw = {key: rows[index][col] for col, key in mapping.items() if col < len(rows[index])}
        if all(clean_text(v) == "" for v in raw.values()):
            continue
        actions.append(_parse_row(raw, template, where(sheet, index), problems))
    _check_rules(actions, template, years, problems)
    if problems:
        raise PlanError(str(path), problems)
    if not actions:
        raise PlanError(str(path), ["aucune action trouvée sous la ligne d'en-têtes"])
    return [{k: v for k, v in a.items() if not k.startswith("_") and v not in (None, "")}
            for a in actions]


def where(sheet: str | None, row_index: int) -> str:
    """Say where a problem is, in the words of the file's own program (row numbers from 1)."""
    prefix = f"feuille « {sheet} », " if sheet else ""
    return f"{prefix}ligne {row_index + 1} : "


def _read_rows(path: Path) -> tuple[list[list[object]], str | None]:
    """Return the plan's rows: a workbook by calamine, anything else as CSV text."""
    if not path.is_file():
        raise PlanError(str(path), ["fichier introuvable"])
    sniffed = sniff_format(path)
    if sniffed.kind in SPREADSHEET_KINDS:
        return _read_spreadsheet(path)
    if sniffed.text:
        try:
            return read_csv_rows(path), None
        except InputError as error:
            raise PlanError(str(path), [str(error)]) from error
    raise PlanError(str(path), [sniffed.message or sniffed.kind])


def _read_spreadsheet(path: Path) -> tuple[list[list[object]], str]:
    try:
        check_zip_workbook(path)
    except InputError as error:
        raise PlanError(str(path), [f"classeur refusé : {error}"]) from error
    try:
        book = CalamineWorkbook.from_path(str(path))
        names = book.sheet_names
        chosen = next((n for n in names if fold(n) in PLAN_SHEET_NAMES), names[0])
        sheet = book.get_sheet_by_name(chosen)
        rows = sheet.to_python(skip_empty_area=False)
    except (CalamineError, ValueError, IndexError, OSError) as error:
        raise PlanError(str(path), [f"classeur illisible ou endommagé ({error}) : ouvrez-le et "
                                    "enregistrez-le de nouveau en .xlsx"]) from error
    return [list(r) for r in rows], chosen


def _find_header(rows: Sequence[Sequence[object]], template: Template,
                 path: Path) -> tuple[int, dict[int, str]]:
    lookup = header_lookup(template)
    best: tuple[int, dict[int, str]] = (-1, {})
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        mapping: dict[int, str] = {}
        for col, cell in enumerate(row):
            key = lookup.get(fold(cell))
            if key and key not in mapping.values():
                mapping[col] = key
        if len(mapping) > len(best[1]):
            best = (index, mapping)
    if len(best[1]) < 2:
        raise PlanError(str(path), ["ligne d'en-têtes introuvable dans les 20 premières lignes : "
                                    "la première ligne doit porter les en-têtes du Plan d'action "
                                    "(No, Champ d'action, Action, Responsable…)"])
    return best


def _parse_row(raw: Mapping[str, object], template: Template, place: str,
               problems: list[str]) -> Action:
    action: Action = {"_place": place}
    for key, value in raw.items():
        column = template.column(key)
        if column.kind == "formula":
            continue
        parsed, note = _parse_cell(value, column, template)
        if note:
            problems.append(f"{place}colonne « {column.header} » : {note}")
        elif column.required and column.group == "plan" and parsed in (None, ""):
            problems.append(f"{place}colonne « {column.header} » : valeur obligatoire manquante")
        action[key] = parsed
    return action


def _parse_cell(value: object, column: Column, template: Template) -> tuple[object, str | None]:
    if column.kind == "list":
        spec = template.lists[column.list]  # type: ignore[index]
        text = clean_text(value)
        canonical = _lookup(template, column.list).get(fold(text))  # type: ignore[arg-type]
        if text and canonical is None and not spec.editable:
            return None, f"« {text} » n'est pas dans la liste ({'; '.join(spec.items)})"
        return canonical or text, None
    if column.kind in _PARSERS:
        return _PARSERS[column.kind](value)
    text = clean_text(value)
    if len(text) > MAX_TEXT:
        return None, f"texte de plus de {MAX_TEXT} caractères (limite d'une cellule Excel)"
    return text, None


_LOOKUPS: dict[tuple[str, str, str], Mapping[str, str]] = {}


def _lookup(template: Template, list_name: str) -> Mapping[str, str]:
    key = (template.id, template.version, list_name)
    if key not in _LOOKUPS:
        _LOOKUPS[key] = list_lookup(template.lists[list_name])
    return _LOOKUPS[key]


def _check_rules(actions: list[Action], template: Template, years: tuple[int, int] | None,
                 problems: list[str]) -> None:
    """Apply the template's rules that an adopted plan can break, in the template's order."""
    for rule in template.rules:
        check = _PLAN_CHECKS.get(rule.check)
        if check:  # the other rules concern follow-up values, checked by `validate`
            check(actions, [template.column(key) for key in rule.columns], years, problems)


def _end_after_start(actions: list[Action], columns: list[Column], _years: object,
                     problems: list[str]) -> None:
    for action in actions:
        start, end = (action.get(c.key) for c in columns)
        if isinstance(start, int) and isinstance(end, int) and end < start:
            problems.append(f"{action['_place']}colonne « {columns[1].header} » : la fin ({end}) "
                            f"précède le début ({start})")


def _within_plan_years(actions: list[Action], columns: list[Column],
                       years: tuple[int, int] | None, problems: list[str]) -> None:
    if years is None:
        return
    first, last = years
    for action in actions:
        for column in columns:
            year = action.get(column.key)
            if isinstance(year, int) and not first <= year <= last:
                problems.append(f"{action['_place']}colonne « {column.header} » : l'année {year} "
                                f"est hors des années du plan ({first}–{last})")


def _non_negative(actions: list[Action], columns: list[Column], _years: object,
                  problems: list[str]) -> None:
    for action in actions:
        for column in columns:
            value = action.get(column.key)
            if isinstance(value, float) and value < 0:
                problems.append(f"{action['_place']}colonne « {column.header} » : montant "
                                f"négatif ({value:g})")


def _unique(actions: list[Action], columns: list[Column], _years: object,
            problems: list[str]) -> None:
    for column in columns:
        seen: dict[str, str] = {}
        for action in actions:
            value = clean_text(action.get(column.key))
            if value in seen:
                problems.append(f"{action['_place']}colonne « {column.header} » : « {value} » en "
                                f"double (déjà utilisé {seen[value].rstrip(' :')})")
            elif value:
                seen[value] = str(action["_place"])


_PLAN_CHECKS = {"end_after_start": _end_after_start, "within_plan_years": _within_plan_years,
                "non_negative": _non_negative, "unique": _unique}
