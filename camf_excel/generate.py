"""Generate follow-up workbooks: one from arguments, or a batch from an organisations file."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from camf_excel.csvfiles import read_csv_rows_isolated
from camf_excel.errors import CamfError, InputError
from camf_excel.model import ENTRY_YEARS, Template
from camf_excel.normalise import clean_text, fold, parse_date, parse_integer, parse_list_value
from camf_excel.outputs import (
    MAX_PATH_CHARS,
    TEMPORARY_NAME_CHARS,
    WINDOWS_RESERVED,
    name_room,
    refuse_existing,
    refuse_input_as_output,
    write_atomically,
)
from camf_excel.plan import read_plan, read_plan_isolated
from camf_excel.templates import resolve_template
from camf_excel.workers import Failure, default_jobs, run_isolated
from camf_excel.writer import build_workbook

PARALLEL_FROM = 40  # below this, starting worker processes costs more than it saves
NAME_CHARS = 120  # the longest batch file name (then the folder's depth may shorten it)


def parse_identification(values: Mapping[str, object], template: Template) -> dict[str, object]:
    """Check and normalise Identification values given on the command line or in ORGS.csv."""
    known = {f.key: f for f in template.identification}
    unknown = sorted(k for k in values if k not in known)
    if unknown:
        raise InputError(f"Renseignement inconnu : {', '.join(unknown)}.")
    result: dict[str, object] = {}
    for key, value in values.items():
        if clean_text(value) == "":
            continue
        field_ = known[key]
        if field_.kind == "list" and field_.list:
            parsed, note = parse_list_value(value, template.lists[field_.list])
        elif field_.kind == "integer":
            parsed, note = parse_integer(value)
        elif field_.kind == "date":
            parsed, note = parse_date(value)
        else:
            parsed, note = clean_text(value), None
        if note:
            raise InputError(f"{field_.label} : {note.detail}.")
        result[key] = parsed
    if key_code := result.get("code_geo"):
        result["code_geo"] = _code_geo(str(key_code))
    _check_years(result)
    return result


def _code_geo(code: str) -> str:
    digits = code.strip()
    if digits.isdigit() and len(digits) < 5:
        digits = digits.zfill(5)  # files re-saved by a spreadsheet program lose the leading zero
    if not (digits.isdigit() and len(digits) == 5):
        raise InputError(f"Code géographique : « {code} » n'a pas 5 chiffres (ex. 35027).")
    return digits


def _check_years(identification: Mapping[str, object]) -> None:
    start, end = identification.get("annee_debut"), identification.get("annee_fin")
    periode = identification.get("periode")
    if isinstance(start, int) and isinstance(end, int) and end < start:
        raise InputError(f"Année de fin du plan ({end}) antérieure à l'année de début ({start}).")
    for year in (start, end, periode):
        if isinstance(year, int) and not ENTRY_YEARS[0] <= year <= ENTRY_YEARS[1]:
            raise InputError(f"Année {year} invraisemblable (attendu entre {ENTRY_YEARS[0]} et "
                             f"{ENTRY_YEARS[1]}).")


def _plan_years(identification: Mapping[str, object]) -> tuple[int, int] | None:
    start, end = identification.get("annee_debut"), identification.get("annee_fin")
    if isinstance(start, int) and isinstance(end, int):
        return start, end
    return None


def _fill_years_from_plan(identification: dict[str, object], actions: list[dict[str, object]]) -> None:
    """Take the plan's first and last years when the coordinator did not give them."""
    for key, pick in (("annee_debut", min), ("annee_fin", max)):
        years = [year for a in actions if isinstance(year := a.get(key), int)]
        if key not in identification and years:
            identification[key] = pick(years)


def generate_workbook(output: str | Path, template: str | Template | None = None,
                      identification: Mapping[str, object] | None = None,
                      plan: str | Path | None = None, password: str | None = None,
                      force: bool = False, warnings: list[str] | None = None) -> Path:
    """Write one follow-up workbook, blank or pre-filled from an adopted plan; return its path.

    The plan's warnings (not refusing it) are appended to `warnings` when given. The plan is
    read in a capped child process, as every file from outside.
    """
    return _generate(output, template, identification, plan, password, force, warnings, read_plan_isolated)


PlanReader = Callable[[Path, Template, "tuple[int, int] | None", "list[str] | None"], list[dict[str, object]]]


def _generate(output: str | Path, template: str | Template | None,
              identification: Mapping[str, object] | None, plan: str | Path | None, password: str | None,
              force: bool, warnings: list[str] | None, read: PlanReader) -> Path:
    output = Path(output)
    if output.suffix.lower() != ".xlsx":
        raise InputError(f"Le classeur doit porter l'extension .xlsx : {output}")
    raw = dict(identification or {})
    chosen = resolve_template(template, raw.get("demarche"))
    values = parse_identification(raw, chosen)
    values.setdefault("demarche", chosen.demarche)
    inputs = [Path(plan)] if plan else []
    refuse_input_as_output(output, inputs)
    refuse_existing(output, force)
    actions = read(Path(plan), chosen, _plan_years(values), warnings) if plan else []
    _fill_years_from_plan(values, actions)
    return write_atomically(output, build_workbook(chosen, values, actions, password), force)


def _slug(text: str) -> str:
    """Return text as lower-case ASCII letters, digits and hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()


def safe_file_name(organisation: str, code_geo: object, template_id: str, room: int = NAME_CHARS) -> str:
    """Return a Windows-safe, ASCII, lower-case file name derived from the organisation.

    Lower case, so two organisations differing only by case get the same name (refused as a
    duplicate by the batch) rather than two files Windows would take for one. `room` is the
    longest name allowed (the organisation's part is shortened to fit); never a device name.
    """
    code = _slug(clean_text(code_geo))[:10]
    tail = f"_suivi-{template_id}.xlsx"
    head = f"{code}_" if code else ""
    slug = _slug(organisation)[:max(1, min(80, room - len(head) - len(tail)))].strip("-") or "organisation"
    if slug in WINDOWS_RESERVED:
        slug += "-org"  # « con_suivi.xlsx » is allowed, but a name is never a device name at a glance
    return f"{head}{slug}{tail}"


@dataclass
class BatchResult:
    """What a batch wrote and which rows failed (row number in ORGS.csv, message)."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def read_organisations(path: Path) -> list[dict[str, str]]:
    """Read ORGS.csv as every CSV input is read (`csvfiles`), in a capped child process."""
    rows = read_csv_rows_isolated(path)
    fields = [fold(name).replace(" ", "_") for name in (rows[0] if rows else [])]
    if "organisation" not in fields:
        raise InputError(f"{path} : colonne « organisation » absente (colonnes attendues : "
                         "organisation, type, code_geo, mrc, region, demarche, annee_debut, "
                         "annee_fin, periode…, plan).")
    # Blank rows are kept (and skipped by the batch) so that each row keeps its line number.
    return [{key: clean_text(value) for key, value in zip(fields, row, strict=False) if key}
            for row in rows[1:]]


@dataclass(frozen=True)
class _Job:
    """One workbook of a batch, checked in the parent process, written by a worker."""

    line: int
    organisation: str
    output: Path
    template_id: str
    identification: dict[str, str]
    plan: Path | None
    password: str | None
    force: bool


def generate_batch(organisations: str | Path, output_dir: str | Path,
                   plans_dir: str | Path | None = None, template: str | None = None,
                   password: str | None = None, force: bool = False,
                   progress: Callable[[str], None] | None = None,
                   workers: int | None = None) -> BatchResult:
    """Write one workbook per row of ORGS.csv into output_dir; a bad row is named and skipped.

    Each workbook is written in a capped child process (its plan is a file from outside): a
    hostile plan costs its own row, named, and the others are written. Large batches use one
    process per core (`workers`, default: every core from PARALLEL_FROM rows on); results
    come back in the file's order.
    """
    result = BatchResult()
    jobs = _prepare_jobs(read_organisations(Path(organisations)), Path(output_dir), plans_dir,
                         template, password, force, result)
    if workers is None:
        workers = default_jobs() if len(jobs) >= PARALLEL_FROM else 1
    outcomes: dict[int, tuple[Path | None, str | None]] = {}
    for index, outcome in run_isolated(_write_job, [(job,) for job in jobs], jobs=workers):
        outcomes[index] = (None, outcome.reason) if isinstance(outcome, Failure) else outcome
    for index, job in enumerate(jobs):
        path, error = outcomes[index]
        if path is None:
            result.failed.append((job.line, f"{job.organisation} : {error}"))
        else:
            result.written.append(path)
            if progress:
                progress(str(path))
    result.failed.sort()
    return result


def _prepare_jobs(rows: list[dict[str, str]], output_dir: Path, plans_dir: str | Path | None,
                  template: str | None, password: str | None, force: bool,
                  result: BatchResult) -> list[_Job]:
    jobs: list[_Job] = []
    taken: set[str] = set()
    room = min(NAME_CHARS, name_room(output_dir))
    if room < max(TEMPORARY_NAME_CHARS, 40):
        raise InputError(f"Dossier de sortie trop profond pour Windows ({output_dir}) : les chemins des "
                         f"classeurs dépasseraient {MAX_PATH_CHARS} caractères. Choisissez un dossier moins "
                         "profond.")
    for line, row in enumerate(rows, start=2):
        if not any(row.values()):
            continue  # a blank line, or one Excel exported as ;;;;
        organisation = row.get("organisation") or "(sans nom)"
        try:
            plan_name = row.pop("plan", "")
            chosen = resolve_template(template, row.get("demarche"))
            if not row.get("organisation"):
                raise InputError("nom d'organisation vide.")
            name = _batch_name(row, chosen.id, room, taken)
            plan = _plan_path(plan_name, plans_dir) if plan_name else None
        except CamfError as error:
            result.failed.append((line, f"{organisation} : {error}"))
            continue
        jobs.append(_Job(line, organisation, output_dir / name, chosen.id, row, plan, password,
                         force))
    return jobs


def _batch_name(row: dict[str, str], template_id: str, room: int, taken: set[str]) -> str:
    """Return the row's file name, never one taken by an earlier row, case aside (Windows ignores it).

    The same organisation twice is refused; two names made equal only by shortening them to
    fit the folder are told apart by a number.
    """
    full = safe_file_name(row["organisation"], row.get("code_geo"), template_id)
    if full.casefold() in taken:
        raise InputError(f"organisation en double dans le fichier ({full}).")
    name = safe_file_name(row["organisation"], row.get("code_geo"), template_id, room)
    number = 1
    while name.casefold() in taken:
        number += 1
        name = safe_file_name(row["organisation"], row.get("code_geo"), f"{template_id}-{number}", room)
    taken.update({full.casefold(), name.casefold()})
    return name


def _write_job(job: _Job) -> tuple[Path | None, str | None]:
    """Write one workbook of a batch; return its path, or None and the reason."""
    try:
        # Already in a capped child process: the plan is read here, not in one more.
        return _generate(job.output, job.template_id, job.identification, job.plan, job.password,
                         job.force, None, read_plan), None
    except (CamfError, OSError) as error:
        return None, str(error)


def _plan_path(name: str, plans_dir: str | Path | None) -> Path:
    folder = Path(plans_dir) if plans_dir else Path()
    path = folder / name
    if Path(name).name != name or not path.is_file():
        raise InputError(f"plan « {name} » introuvable dans {folder}.")
    return path
