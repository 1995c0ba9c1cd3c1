"""Load workbook_templates/*.toml into model.Template, refusing any mistake at load time."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from camf_excel.errors import TemplateError
from camf_excel.figures import REQUIRED_COLUMNS, REQUIRED_IDENTIFICATION, REQUIRED_LISTS
from camf_excel.model import KINDS, Column, IdentField, ListSpec, Rule, Template
from camf_excel.normalise import clean_text
from camf_excel.rules import REGISTRY

COMMON_FILE = "_commun.toml"
DEFAULT_TEMPLATE = "pfm-mada"  # the union of the PFM and MADA champs: reads any workbook
TEMPLATE_BY_DEMARCHE = {"PFM": "pfm", "MADA": "mada", "PFM-MADA": "pfm-mada"}
ERROR_STYLES = frozenset({"stop", "warning", "information"})

_TEMPLATE_KEYS = {"id": str, "version": str, "demarche": str, "language": str, "title": str,
                  "lists": dict}
_COMMON_KEYS = {"lists": dict, "identification": list, "columns": list, "indicators": dict,
                "rules": list}
_LIST_KEYS = {"items": list, "synonyms": dict, "editable": bool, "slots": int}
_COLUMN_KEYS = {"key": str, "header": str, "kind": str, "width": (int, float), "required": bool,
                "list": str, "group": str, "error_style": str, "aliases": list,
                "input_title": str, "input_message": str, "hidden": bool, "step": int, "since": str}
_IDENT_KEYS = {"key": str, "label": str, "kind": str, "required": bool, "list": str, "help": str}
_RULE_KEYS = {"check": str, "columns": list}
_INDICATOR_KEYS = {"realised": str, "not_late": list, "added": str}
_INPUT_MESSAGE_LIMIT = 255  # Excel refuses longer data-validation input messages


def templates_dir() -> Path:
    """Return the folder holding the template files (installed package, else the source tree)."""
    installed = resources.files("camf_excel") / "workbook_templates"
    if installed.is_dir():
        return Path(str(installed))
    return Path(__file__).resolve().parent.parent / "workbook_templates"


def list_templates() -> list[Template]:
    """Return every template shipped with the tool, sorted by id."""
    folder = templates_dir()
    paths = sorted(p for p in folder.glob("*.toml") if not p.name.startswith("_"))
    return sorted((load_template_file(p) for p in paths), key=lambda t: t.id)


def load_template(template_id: str) -> Template:
    """Return the shipped template with this id."""
    for template in list_templates():
        if template.id == template_id:
            return template
    known = ", ".join(t.id for t in list_templates())
    raise TemplateError(f"Gabarit inconnu : « {template_id} ». Gabarits offerts : {known}.")


def load_template_file(path: Path, common_path: Path | None = None) -> Template:
    """Load one template file and the common definitions beside it; raise TemplateError."""
    common_path = common_path or path.with_name(COMMON_FILE)
    return _load_template_cached(path, _mtime(path), common_path, _mtime(common_path))


@cache
def _load_template_cached(path: Path, _path_mtime: int, common_path: Path,
                          _common_mtime: int) -> Template:
    # Built once per file version: a batch resolves a template for every row, in every worker.
    return _build_template(_read_toml(path), _read_toml(common_path), path, common_path)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError as error:
        raise TemplateError(f"Gabarit introuvable : {path} ({error.strerror})") from error


def _read_toml(path: Path) -> Mapping[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except tomllib.TOMLDecodeError as error:
        raise TemplateError(f"Gabarit illisible : {path} : {error}") from error


def _check_keys(data: Mapping[str, Any], schema: Mapping[str, Any], where: str,
                required: tuple[str, ...]) -> None:
    for key, value in data.items():
        if key not in schema:
            raise TemplateError(f"{where} : clé inconnue « {key} » (clés permises : "
                                f"{', '.join(schema)}).")
        if not isinstance(value, schema[key]) or isinstance(value, bool) != (schema[key] is bool):
            raise TemplateError(f"{where} : la clé « {key} » a une valeur du mauvais type.")
    for key in required:
        if key not in data:
            raise TemplateError(f"{where} : clé obligatoire « {key} » absente.")


def _build_lists(raw: Mapping[str, Any], file: Path) -> dict[str, ListSpec]:
    lists = {}
    for name, data in raw.items():
        where = f"{file} : lists.{name}"
        if not isinstance(data, dict):
            raise TemplateError(f"{where} : une table est attendue.")
        _check_keys(data, _LIST_KEYS, where, ("items",))
        items = tuple(data["items"])
        if not items or not all(isinstance(i, str) and i.strip() for i in items):
            raise TemplateError(f"{where}.items : la liste doit contenir des textes non vides.")
        if len(set(items)) != len(items):
            raise TemplateError(f"{where}.items : élément en double.")
        synonyms = data.get("synonyms", {})
        for variant, canonical in synonyms.items():
            if canonical not in items:
                raise TemplateError(f"{where}.synonyms : « {variant} » renvoie à « {canonical} »,"
                                    " absent de la liste.")
        lists[name] = ListSpec(name, items, dict(synonyms), data.get("editable", False),
                               data.get("slots", 0))
    return lists


def _merge_lists(name: str, parts: list[Any], available: Mapping[str, ListSpec],
                 file: Path) -> ListSpec:
    missing = [p for p in parts if p not in available]
    if not parts or missing:
        raise TemplateError(f"{file} : lists.{name} : liste inconnue {missing or parts}.")
    items: dict[str, None] = {}
    synonyms: dict[str, str] = {}
    for part in parts:
        items.update(dict.fromkeys(available[part].items))
        synonyms.update(available[part].synonyms)
    # A variant that is itself a canonical item of the union keeps its own meaning.
    synonyms = {v: c for v, c in synonyms.items() if v not in items}
    return ListSpec(name, tuple(items), synonyms)


def _build_columns(raw: list[Any], lists: Mapping[str, ListSpec], file: Path) -> tuple[Column, ...]:
    columns = []
    for index, data in enumerate(raw):
        where = f"{file} : columns[{index}]"
        if not isinstance(data, dict):
            raise TemplateError(f"{where} : une table est attendue.")
        _check_keys(data, _COLUMN_KEYS, where, ("key", "header", "kind"))
        where = f"{file} : colonne « {data['key']} »"
        _check_kind(data, lists, where)
        if data.get("error_style", "stop") not in ERROR_STYLES:
            raise TemplateError(f"{where} : error_style doit être l'un de {sorted(ERROR_STYLES)}.")
        if len(data.get("input_message", "")) > _INPUT_MESSAGE_LIMIT:
            raise TemplateError(f"{where} : input_message dépasse {_INPUT_MESSAGE_LIMIT} caractères.")
        columns.append(Column(**{**data, "aliases": tuple(data.get("aliases", ()))}))
    _refuse_duplicates([c.key for c in columns], file, "colonne")
    _refuse_duplicates([c.header for c in columns], file, "en-tête")
    return tuple(columns)


def _check_kind(data: Mapping[str, Any], lists: Mapping[str, ListSpec], where: str) -> None:
    if data["kind"] not in KINDS:
        raise TemplateError(f"{where} : type « {data['kind']} » inconnu ({', '.join(sorted(KINDS))}).")
    if data["kind"] == "list" and data.get("list") not in lists:
        raise TemplateError(f"{where} : liste « {data.get('list')} » introuvable.")


def _refuse_duplicates(values: list[str], file: Path, what: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise TemplateError(f"{file} : {what} « {value} » en double.")
        seen.add(value)


def _build_identification(raw: list[Any], lists: Mapping[str, ListSpec],
                          file: Path) -> tuple[IdentField, ...]:
    fields = []
    for index, data in enumerate(raw):
        where = f"{file} : identification[{index}]"
        if not isinstance(data, dict):
            raise TemplateError(f"{where} : une table est attendue.")
        _check_keys(data, _IDENT_KEYS, where, ("key", "label", "kind"))
        _check_kind(data, lists, f"{file} : champ d'identification « {data['key']} »")
        fields.append(IdentField(**data))
    _refuse_duplicates([f.key for f in fields], file, "champ d'identification")
    return tuple(fields)


def _build_rules(raw: list[Any], column_keys: set[str], ident_keys: set[str],
                 file: Path) -> tuple[Rule, ...]:
    rules = []
    for index, data in enumerate(raw):
        where = f"{file} : rules[{index}]"
        if not isinstance(data, dict):
            raise TemplateError(f"{where} : une table est attendue.")
        _check_keys(data, _RULE_KEYS, where, ("check",))
        definition = REGISTRY.get(data["check"])
        if definition is None:
            raise TemplateError(f"{where} : vérification « {data['check']} » inconnue "
                                f"({', '.join(sorted(REGISTRY))}).")
        columns = tuple(data.get("columns", ()))
        if not (set(columns) <= column_keys or set(columns) <= ident_keys):
            unknown = [c for c in columns if c not in column_keys]
            raise TemplateError(f"{where} : colonne inconnue {unknown} (colonnes du Plan d'action ou "
                                "renseignements d'Identification, pas les deux).")
        if definition.columns is not None and len(columns) != definition.columns:
            raise TemplateError(f"{where} : « {definition.name} » porte sur {definition.columns} "
                                f"colonne(s), {len(columns)} donnée(s).")
        rules.append(Rule(definition.name, columns))
    return tuple(rules)


def _check_required_keys(columns: tuple[Column, ...], lists: Mapping[str, ListSpec],
                         identification: tuple[IdentField, ...], file: Path) -> None:
    """Refuse a template lacking a column, list or Identification field the code relies on."""
    kinds = {c.key: c.kind for c in columns}
    for key, kind in REQUIRED_COLUMNS.items():
        if kinds.get(key) != kind:
            found = f"de type « {kinds[key]} »" if key in kinds else "absente"
            raise TemplateError(f"{file} : colonne « {key} » de type « {kind} » requise ({found}).")
    for name in REQUIRED_LISTS:
        if name not in lists:
            raise TemplateError(f"{file} : liste « {name} » requise, absente.")
    known = {f.key for f in identification}
    for key in REQUIRED_IDENTIFICATION:
        if key not in known:
            raise TemplateError(f"{file} : renseignement d'identification « {key} » requis, absent.")


def _build_template(data: Mapping[str, Any], common: Mapping[str, Any], file: Path,
                    common_file: Path) -> Template:
    _check_keys(data, _TEMPLATE_KEYS, str(file), tuple(_TEMPLATE_KEYS))
    _check_keys(common, _COMMON_KEYS, str(common_file), tuple(_COMMON_KEYS))
    shared = _build_lists(common["lists"], common_file)
    lists = dict(shared)
    for name, parts in data["lists"].items():
        lists[name] = _merge_lists(name, parts if isinstance(parts, list) else [], shared, file)
    columns = _build_columns(common["columns"], lists, common_file)
    indicators = common["indicators"]
    _check_keys(indicators, _INDICATOR_KEYS, f"{common_file} : indicators", tuple(_INDICATOR_KEYS))
    statuses = set(lists["statut"].items) if "statut" in lists else set()
    bad = [s for s in [indicators["realised"], *indicators["not_late"]] if s not in statuses]
    if bad:
        raise TemplateError(f"{common_file} : indicators : statut inconnu {bad}.")
    if "origine" in lists and indicators["added"] not in lists["origine"].items:
        raise TemplateError(f"{common_file} : indicators : origine inconnue « {indicators['added']} ».")
    identification = _build_identification(common["identification"], lists, common_file)
    _check_required_keys(columns, lists, identification, common_file)
    return Template(
        id=data["id"], version=data["version"], demarche=data["demarche"],
        language=data["language"], title=data["title"], columns=columns,
        identification=identification,
        lists=lists, rules=_build_rules(common["rules"], {c.key for c in columns},
                                        {f.key for f in identification}, common_file),
        realised_status=indicators["realised"], not_late_statuses=tuple(indicators["not_late"]),
        added_origin=indicators["added"], source=str(file),
    )


def resolve_template(template: str | Template | None, demarche: object = None) -> Template:
    """Return the template asked for, else the one of the démarche, else PFM-MADA."""
    if isinstance(template, Template):
        return template
    if template:
        return load_template(template)
    return load_template(TEMPLATE_BY_DEMARCHE.get(clean_text(demarche).upper(), DEFAULT_TEMPLATE))
