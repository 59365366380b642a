"""Validation results as text, JSON and GitHub workflow annotations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlops_gitops.errors import Problem
from mlops_gitops.render.base import Lines, Paint, document, plain, scrub, versioned
from mlops_gitops.spec.check import ValidationResult


def problems_text(problems: list[Problem], paint: Paint = plain) -> str:
    """Each problem's line in red, its source excerpt (if any) plain below it."""
    out = Lines(paint)
    for problem in problems:
        head, *context = problem.render_lines()
        out.add(head, "red")
        for line in context:
            out.add(line)
    return out.text()


def warnings_text(warnings: list[Problem], paint: Paint = plain) -> str:
    out = Lines(paint)
    for warning in warnings:
        head, *context = warning.render_lines()
        out.add(f"warning: {head}", "yellow")
        for line in context:
            out.add(line)
    return out.text()


def summary(result: ValidationResult) -> str:
    counts = result.counts()
    if result.valid:
        listed = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        total = sum(counts.values())
        return f"Valid: {total} object{'s' if total != 1 else ''} ({listed})."
    n = len(result.problems)
    return f"Invalid: {n} problem{'s' if n != 1 else ''} found."


def validation_json(result: ValidationResult) -> str:
    return document(
        versioned(
            valid=result.valid,
            errors=[p.to_json() for p in result.problems],
            warnings=[p.to_json() for p in result.warnings],
            objects=result.counts(),
        )
    )


def unreadable_json(problem: Problem) -> str:
    """The document for a repository that could not be opened at all."""
    return document(versioned(valid=False, errors=[problem.to_json()]))


def github_annotations(problems: list[Problem], warnings: Sequence[Problem] = ()) -> str:
    lines = [github_annotation(p.to_json()) for p in problems]
    lines += [github_annotation(p.to_json(), "warning") for p in warnings]
    return "".join(line + "\n" for line in lines)


def github_annotation(problem: dict[str, Any], level: str = "error") -> str:
    """A GitHub Actions workflow command that shows the problem on the file's line in a PR.

    Every value is escaped the way the runner decodes it, so nothing in a path or message
    can end the command early or start another one."""
    props = [f"file={_property(str(problem['path']))}"]
    if problem["line"]:
        props.append(f"line={int(problem['line'])}")
    if problem["column"]:
        props.append(f"col={int(problem['column'])}")
    where = "/".join(str(x) for x in (problem["kind"], problem["name"]) if x)
    title = ": ".join(str(x) for x in (where, problem["field"]) if x)
    if title:
        props.append(f"title={_property(title)}")
    return f"::{level} {','.join(props)}::{_data(str(problem['message']))}"


def _data(value: str) -> str:
    return scrub(value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _property(value: str) -> str:
    return _data(value).replace(":", "%3A").replace(",", "%2C")
