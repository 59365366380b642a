"""Problems with their place: pydantic's validation errors turned into messages a user can act
on, with the file, line, column and field path of the offending value."""

from __future__ import annotations

import difflib
from typing import Any, get_args

from pydantic import BaseModel

from mlops_gitops.errors import Problem
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.repository import Repository, Source
from mlops_gitops.spec.types import NAME_PATTERN, SHA256_PATTERN, VERSION_PATTERN


def problem(
    repo: Repository,
    source: Source,
    path: tuple[str | int, ...],
    message: str,
    *,
    kind: str = "",
    name: str = "",
) -> None:
    repo.problems.append(_at(source, path, message, source.locate(path), kind, name))


def _at(
    source: Source,
    path: tuple[str | int, ...],
    message: str,
    place: tuple[int | None, int | None],
    kind: str,
    name: str,
) -> Problem:
    line, column = place
    return Problem(
        message,
        path=source.path,
        line=line,
        column=column,
        kind=kind,
        name=name,
        field=field_path(path),
    )


def field_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return isinstance(part, str) and part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _data_path(data: Any, loc: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], bool]:
    """Follow a pydantic error location through the data, skipping union tags.

    Returns the path and whether it reached the end (False for a missing key).
    """
    out: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        if _has(node, part):
            node = node[part]
            out.append(part)
        elif isinstance(node, dict) and index == len(loc) - 1:
            out.append(part)
            return tuple(out), False
        # otherwise a union tag or validator name: not part of the data
    return tuple(out), True


def _fields_at(kind: str, loc: tuple[str | int, ...]) -> set[str]:
    """Field names allowed where an unknown key was found, following the error location."""
    candidates: list[type[BaseModel]] = [spec_models.KINDS[kind]]
    for part in loc:
        if isinstance(part, int):
            continue
        inner = [
            arg
            for model in candidates
            if part in model.model_fields
            for arg in _model_args(model.model_fields[part].annotation)
        ]
        if inner:
            candidates = inner
            continue
        tagged = [c for c in candidates if part in _literal_values(c, "type")]
        if tagged:
            candidates = tagged
    return {name for model in candidates for name in model.model_fields}


def _literal_values(model: type[BaseModel], name: str) -> tuple[Any, ...]:
    info = model.model_fields.get(name)
    return get_args(info.annotation) if info is not None else ()


def _model_args(annotation: Any) -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = []
    stack = [annotation]
    while stack:
        item = stack.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            out.append(item)
        stack.extend(get_args(item))
    return out


def _suggest(kind: str, loc: tuple[str | int, ...]) -> str:
    allowed = _fields_at(kind, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), sorted(allowed), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def from_pydantic(source: Source, error: Any, kind: str, name: str) -> Problem:
    loc = tuple(error["loc"])
    path, complete = _data_path(source.doc.data, loc)
    kind_of = error["type"]
    value = error.get("input")
    message = str(error["msg"])
    if kind_of == "missing":
        message = "required field is missing"
    elif kind_of == "extra_forbidden":
        message = f"unknown field {path[-1]!r}{_suggest(kind, loc)}"
    elif kind_of.startswith("value_error"):
        message = message.removeprefix("Value error, ")
    elif kind_of == "string_type" and (raw := source.doc.raw_scalar(path)) is not None:
        message = (
            f"expected a string, but YAML read the unquoted {raw} as "
            f'{_yaml_type(value)} {value!r}; quote it: "{raw}"'
        )
    elif kind_of.startswith(("date_", "datetime_")):
        message = f"{value!r} is not a real date (YYYY-MM-DD): {message[0].lower()}{message[1:]}"
    elif kind_of == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        message = f"{value!r} {_pattern_help(pattern)}"
    elif kind_of in ("literal_error", "enum"):
        message = f"{value!r} is not allowed: {message[0].lower()}{message[1:]}"
    elif kind_of == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        message = f"unknown type {error.get('ctx', {}).get('tag')!r}; expected one of {expected}"
    elif kind_of == "union_tag_not_found":
        message = "missing 'type' to say which kind of entry this is"
    if complete:
        place = source.locate(path) if path else (None, None)
    else:
        place = source.locate(path[:-1])
    return _at(source, path, message, place, kind, name)


def _yaml_type(value: Any) -> str:
    if isinstance(value, bool):
        return "the boolean"
    if isinstance(value, int | float):
        return "the number"
    return f"a {type(value).__name__}"


def _pattern_help(pattern: str) -> str:
    if pattern == NAME_PATTERN:
        return "is not a valid name: use lowercase letters, digits and dashes (at most 63)"
    if pattern == VERSION_PATTERN:
        return "is not a valid version: use letters, digits, '.', '_', '+', '-' (e.g. \"1.2.0\")"
    if pattern == SHA256_PATTERN:
        return "is not a sha256: expected 64 lowercase hex digits"
    return f"does not match the pattern {pattern}"
