"""Exceptions raised by the library; only the CLI turns them into messages and exit codes."""

from __future__ import annotations

from collections.abc import Sequence


class CamfError(Exception):
    """Base of every error the tool reports to a person (message in French)."""


class TemplateError(CamfError):
    """A template file is missing, malformed or inconsistent."""


class PlanError(CamfError):
    """An adopted plan cannot be imported; holds every problem found (lines, and issue records)."""

    def __init__(self, path: str, problems: list[str], issues: Sequence[object] = ()) -> None:
        self.path = path
        self.problems = problems
        self.issues = list(issues)
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"Plan refusé : {path}\n{lines}")


class OutputExistsError(CamfError):
    """The output already exists and --force was not given."""


class InputError(CamfError):
    """A bad argument or an input the tool cannot use; `code` names the catalogued issue, if any."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code
