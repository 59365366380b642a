"""One root error type with structured fields, so every failure can be shown with its place."""

from __future__ import annotations

from dataclasses import dataclass, field

from mlops_gitops.urls import redact_text


@dataclass(frozen=True, slots=True)
class Problem:
    """A located problem in the repository: what is wrong and where."""

    message: str
    path: str = ""
    line: int | None = None
    column: int | None = None
    kind: str = ""
    name: str = ""
    field: str = ""
    context: str = ""
    """A source excerpt shown under the problem, such as `6 |   a0: &a0 [x, x]`."""

    def __post_init__(self) -> None:
        # Messages quote spec values; a URL among them may carry a credential.
        object.__setattr__(self, "message", redact_text(self.message))

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line or 0, self.column or 0, self.field, self.message)

    def render(self) -> str:
        """`path:line:col: Kind/name: field.path: message`, then the excerpt if any."""
        return "\n".join(self.render_lines())

    def render_lines(self) -> list[str]:
        """The problem's line and its excerpt's line: a renderer escapes each on its own,
        so a line break inside a path or message never starts a line of its own."""
        where = self.path or "<repository>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        parts = [where]
        if self.kind:
            parts.append(f"{self.kind}/{self.name}" if self.name else self.kind)
        if self.field:
            parts.append(self.field)
        parts.append(self.message)
        head = ": ".join(parts)
        return [head, f"    {self.context}"] if self.context else [head]

    @property
    def full_message(self) -> str:
        return f"{self.message}\n    {self.context}" if self.context else self.message

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "kind": self.kind or None,
            "name": self.name or None,
            "field": self.field or None,
            "message": self.full_message,
        }


class MlopsError(Exception):
    """Root of every error meant for a user; the CLI shows it without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        message = redact_text(message)  # a URL in a message may carry a credential
        super().__init__(message)
        self.message = message
        self.hint = redact_text(hint) if hint is not None else None

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class MlopsWarning(UserWarning):
    """Something a user should know that does not stop the run; the CLI shows each once."""


@dataclass
class ProblemCollector:
    """Gathers every problem so a run reports them all at once."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def sorted(self) -> list[Problem]:
        unique = {(p.sort_key(), p.kind, p.name): p for p in self.problems}
        return [unique[k] for k in sorted(unique)]


class SpecError(MlopsError):
    """The specs are invalid; carries every located problem."""

    def __init__(self, problems: list[Problem]) -> None:
        count = len(problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} found in the specs")
        self.problems = problems
