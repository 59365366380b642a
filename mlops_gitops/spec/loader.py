"""Walks the repository from `mlops.yaml`, reads every spec file safely and builds typed objects.

Every problem is collected with its place; nothing stops at the first error.
"""

from __future__ import annotations

import difflib
import errno
import hashlib
import os
import re
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from mlops_gitops.errors import MlopsError, Problem
from mlops_gitops.gcpause import collector_paused
from mlops_gitops.safeio import TooLarge, file_kind, read_regular
from mlops_gitops.spec import models as m
from mlops_gitops.spec.cache import ParseCache, content_key, is_plain, values_key
from mlops_gitops.spec.templates import DEFAULT_BUDGET, Budget, TemplateProblem, render
from mlops_gitops.spec.types import NAME_PATTERN, SHA256_PATTERN, VERSION_PATTERN
from mlops_gitops.spec.yamlsource import Document, YamlProblem, parse

PROJECT_FILE = "mlops.yaml"
MAX_FILE_BYTES = 1024 * 1024
"""Spec files are small; anything bigger is a mistake or an attack."""
SPEC_SUFFIXES = (".yaml", ".yml", ".yaml.j2", ".yml.j2")
PARALLEL_MIN = 400
"""Files to parse before a second process helps (2 cores parse 10,000 files in half the time)."""
HELPER_SHARE = 0.55
"""The share (in bytes) of the files to parse that the helper process takes: the main
process also type-checks every object while the helper only parses."""

EXCERPT_CHARS = 160
"""Characters of a source line shown under a YAML error."""

FREEZE_MIN = 1000
"""Files loaded from which the loaded objects are exempted from garbage collection passes."""

Prefetched = tuple[bytes, str]
"""A file's bytes and their sha256."""


@dataclass(frozen=True)
class Source:
    """Where an object came from, with the position of every value."""

    path: str
    doc: Document

    def locate(self, path: tuple[str | int, ...]) -> tuple[int | None, int | None]:
        pos = self.doc.position(path)
        if pos is None and not path:
            return 1, 1  # an empty document: the file as a whole, from its start
        return (pos.line, pos.column) if pos else (None, None)


@dataclass(frozen=True)
class Loaded:
    obj: m.SpecObject
    source: Source


@dataclass
class Repository:
    """Everything read from a repository, valid or not."""

    root: Path
    project: Loaded | None = None
    objects: dict[tuple[str, str], Loaded] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    """Relative path -> sha256 of every file read, for the manifest's content hash."""
    problems: list[Problem] = field(default_factory=list)
    broken: set[tuple[str, str]] = field(default_factory=set)
    """Objects that exist but failed their own checks; references to them are not errors."""

    def of_kind(self, kind: str) -> list[Loaded]:
        names = sorted(name for k, name in self.objects if k == kind)
        return [self.objects[(kind, name)] for name in names]

    def get(self, kind: str, name: str) -> Loaded | None:
        return self.objects.get((kind, name))


def load_repository(root: Path | str) -> Repository:
    """Load and type-check every spec file; cross-object checks are in `validate`."""
    with collector_paused() as pause:
        repo = _load_repository(root)
        # A third of the time of a large `validate` went to collections walking the specs.
        pause.freeze = len(repo.inputs) >= FREEZE_MIN
        return repo


def _load_repository(root: Path | str) -> Repository:
    base = Path(root).resolve()
    project_path = base / PROJECT_FILE
    if not project_path.is_file() and os.path.lexists(project_path):
        try:
            what = file_kind(os.stat(project_path).st_mode)
        except OSError as exc:  # a symlink loop or a dangling symlink
            what = "a symlink loop" if exc.errno == errno.ELOOP else "a broken symlink"
        raise MlopsError(f"{PROJECT_FILE} in {base} is {what}, not a regular file")
    if not project_path.is_file():
        raise MlopsError(
            f"{PROJECT_FILE} not found in {base}",
            hint="run inside a mlops-gitops repository or pass --repo DIR",
        )
    repo = Repository(root=base)
    cache = ParseCache.open(base)
    try:
        _load_into(repo, project_path, cache)
    finally:
        if cache.pending is not None:  # reap the helper process whatever happened
            cache.pending(cache)
    cache.save()
    return repo


def _load_into(repo: Repository, project_path: Path, cache: ParseCache) -> None:
    project_source = _parse_file(repo, project_path, {}, cache)
    project = _typed(repo, project_source) if project_source else None
    if project is not None:
        if isinstance(project.obj, m.Project):
            repo.project = project
        else:
            repo.problems.append(
                Problem(
                    f"{PROJECT_FILE} must hold kind Project, not {project.obj.kind}",
                    path=PROJECT_FILE,
                    line=1,
                    column=1,
                )
            )
    spec = repo.project.obj.spec if repo.project else m.ProjectSpec()
    assert isinstance(spec, m.ProjectSpec)
    values = spec.values if repo.project else _raw_values(project_source)
    budget = Budget(spec.security.template_cpu_seconds, spec.security.template_output_bytes)
    if project_source is not None:
        project_source.doc.data = None
    files = _spec_files(repo, spec.spec_dirs)
    contents = [_prefetch(path) for path, _ in files]
    templates = any(rel.endswith(".j2") for _, rel in files)
    # Budgets are part of the key: a render that fit a larger budget may not fit this one.
    template_key = f"{values_key(values)}/{budget.key()}" if templates else None
    _parse_ahead(cache, files, contents, values, template_key, budget)
    for (path, rel), content in zip(files, contents, strict=True):
        loaded = _load_file(repo, path, rel, values, cache, content, template_key, budget)
        if loaded is None:
            continue
        if isinstance(loaded.obj, m.Project):
            _problem(repo, loaded.source, ("kind",), "only mlops.yaml may hold the Project")
            continue
        key = (loaded.obj.kind, loaded.obj.metadata.name)
        first = repo.objects.get(key)
        if first is not None:
            line, _ = first.source.locate(("metadata", "name"))
            _problem(
                repo,
                loaded.source,
                ("metadata", "name"),
                f"{key[0]} {key[1]!r} is already defined in {first.source.path}:{line}",
                kind=key[0],
                name=key[1],
            )
            continue
        repo.objects[key] = loaded


def _raw_values(source: Source | None) -> dict[str, Any]:
    """Template values from an invalid Project, so its templates still render and get checked."""
    data = source.doc.data if source else None
    spec = data.get("spec") if isinstance(data, dict) else None
    values = spec.get("values") if isinstance(spec, dict) else None
    return values if isinstance(values, dict) else {}


def _relative(repo: Repository, path: Path) -> str:
    text = str(path)
    base = str(repo.root)
    if text.startswith(base + os.sep):
        return text[len(base) + 1 :].replace(os.sep, "/")
    return path.relative_to(repo.root).as_posix()


def _inside(root: Path, path: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _spec_files(repo: Repository, spec_dirs: list[str]) -> list[tuple[str, str]]:
    """Spec files under the spec folders (path, relative path), sorted by relative path;
    symlinks may not leave the repository."""
    found: dict[str, str] = {}
    visited: set[Path] = set()
    for folder in spec_dirs:
        top = repo.root / folder
        if not top.exists():
            continue
        real_top = top.resolve()
        if not _inside(repo.root, real_top):
            repo.problems.append(
                Problem(f"spec folder {folder!r} leads outside the repository", path=PROJECT_FILE)
            )
            continue
        for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
            here = Path(dirpath)
            real = here.resolve()
            if real in visited or not _inside(repo.root, real):
                if not _inside(repo.root, real):
                    repo.problems.append(
                        Problem(
                            f"symlinked folder points outside the repository ({real})",
                            path=_relative(repo, here),
                        )
                    )
                dirnames[:] = []
                continue
            visited.add(real)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            prefix = _relative(repo, here)
            prefix = "" if prefix == "." else prefix + "/"
            for name in filenames:
                if name.startswith(".") or not name.endswith(SPEC_SUFFIXES):
                    continue
                rel = prefix + name
                if rel not in found:
                    found[rel] = os.path.join(dirpath, name)
    return [(found[rel], rel) for rel in sorted(found)]


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
"""A FIFO must not block the prefetch: it is not a regular file, `_read_text` handles it."""


def _prefetch(path: str) -> Prefetched | None:
    """The bytes of a plain file of acceptable size; anything unusual is left to `_read_text`."""
    if not _NOFOLLOW:
        return None  # symlinks must be checked first: `_read_text` does
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK | _BINARY)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_FILE_BYTES:
            return None
        chunks = []
        size = 0
        while chunk := os.read(fd, MAX_FILE_BYTES + 1 - size):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                return None
    except OSError:
        return None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return data, hashlib.sha256(data).hexdigest()


def _read_text(
    repo: Repository, path: Path | str, rel: str, content: Prefetched | None = None
) -> str | None:
    if content is not None:
        data, repo.inputs[rel] = content
        return _decode(repo, data, rel)
    try:
        real = os.path.realpath(path, strict=True)
    except OSError as exc:
        why = "a symlink loop" if exc.errno == errno.ELOOP else exc.strerror
        repo.problems.append(Problem(f"cannot read file: {why}", path=rel))
        return None
    if not _inside(repo.root, Path(real)):
        repo.problems.append(
            Problem(
                f"symlink points outside the repository ({real}); refusing to read it",
                path=rel,
            )
        )
        return None
    try:
        data = read_regular(real, MAX_FILE_BYTES)
    except TooLarge as exc:
        message = f"file is {exc.size} bytes; spec files may be at most {exc.limit} bytes"
        repo.problems.append(Problem(message, path=rel))
        return None
    except ValueError as exc:  # a FIFO, a device, a socket: reading could block forever
        repo.problems.append(Problem(f"cannot read file: it {exc}", path=rel))
        return None
    except OSError as exc:
        repo.problems.append(Problem(f"cannot read file: {exc.strerror}", path=rel))
        return None
    repo.inputs[rel] = hashlib.sha256(data).hexdigest()
    return _decode(repo, data, rel)


def _decode(repo: Repository, data: bytes, rel: str) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _mark_broken(repo, data.decode("utf-8", "replace"))
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        repo.problems.append(
            Problem(
                f"invalid UTF-8 (byte 0x{data[exc.start]:02x}); spec files must be UTF-8",
                path=rel,
                line=line,
                column=column,
            )
        )
        return None


def _load_file(
    repo: Repository,
    path: Path | str,
    rel: str,
    values: dict[str, Any],
    cache: ParseCache,
    content: Prefetched | None,
    template_key: str | None,
    budget: Budget = DEFAULT_BUDGET,
) -> Loaded | None:
    source = _parse_file(repo, path, values, cache, content, template_key, rel, budget)
    if source is None:
        return None
    loaded = _typed(repo, source)
    source.doc.data = None  # the typed object holds the values now; keep memory small
    return loaded


def _parse_file(
    repo: Repository,
    path: Path | str,
    values: dict[str, Any],
    cache: ParseCache,
    content: Prefetched | None = None,
    template_key: str | None = None,
    rel: str | None = None,
    budget: Budget = DEFAULT_BUDGET,
) -> Source | None:
    rel = _relative(repo, Path(path)) if rel is None else rel
    text = _read_text(repo, path, rel, content)
    if text is None:
        return None
    template = rel.endswith(".j2")
    key = None
    if not template or template_key is not None:
        key = content_key(repo.inputs[rel], template_key if template else None)
        hit = cache.get(key)
        if hit is not None and (hit[1] is not None) == template:
            data, rendered = hit
            return Source(rel, Document(data, rendered if rendered is not None else text))
    if template:
        try:
            text = render(text, rel, values, budget)
        except TemplateProblem as exc:
            repo.problems.append(Problem(exc.message, path=rel, line=exc.line))
            _mark_broken(repo, text)
            return None
    try:
        doc = parse(text)
    except YamlProblem as exc:
        context = ""
        if exc.line is not None:
            lines = text.splitlines()
            if 0 < exc.line <= len(lines):
                excerpt = lines[exc.line - 1]
                if len(excerpt) > EXCERPT_CHARS:  # a 1 MB line is not shown whole
                    excerpt = excerpt[:EXCERPT_CHARS] + "..."
                context = f"{exc.line} | {excerpt}"
        repo.problems.append(
            Problem(exc.message, path=rel, line=exc.line, column=exc.column, context=context)
        )
        _mark_broken(repo, text)
        return None
    if key is not None:
        cache.put(key, doc.data, text if template else None)
    return Source(rel, doc)


def _parse_ahead(
    cache: ParseCache,
    files: list[tuple[str, str]],
    contents: list[Prefetched | None],
    values: dict[str, Any],
    template_key: str | None,
    budget: Budget = DEFAULT_BUDGET,
) -> None:
    """Let a second process parse part of the files the cache does not know, when it helps.

    The helper's results only fill the cache of this run: every file still goes through the
    same steps in this process, so results and messages do not depend on who parsed what.
    """
    jobs = []
    for (_, rel), content in zip(files, contents, strict=True):
        template = rel.endswith(".j2")
        if content is None or (template and template_key is None):
            continue
        key = content_key(content[1], template_key if template else None)
        if not cache.known(key):
            jobs.append((key, content[0], rel, template))
    if len(jobs) < PARALLEL_MIN or not _can_fork():
        return
    # The helper takes the tail, so this process reaches its files last; by size, as a model
    # file with many versions is much more work than a deployment.
    left = sum(len(job[1]) for job in jobs) * HELPER_SHARE
    start = len(jobs)
    while start > 0 and left > 0:
        start -= 1
        left -= len(jobs[start][1])
    cache.pending = _spawn_helper(jobs[start:], values, budget)
    cache.awaited = {job[0] for job in jobs[start:]} if cache.pending else set()


def _can_fork() -> bool:
    """Only where forking a Python process is safe and there is a second core to run it."""
    import threading

    if not sys.platform.startswith("linux") or threading.active_count() != 1:
        return False
    return len(os.sched_getaffinity(0)) >= 2


Job = tuple[str, bytes, str, bool]
"""Cache key, bytes, relative path, whether the file is a template."""


def _parse_job(
    job: Job, values: dict[str, Any], budget: Budget
) -> tuple[str, Any, str | None] | None:
    """(key, data, rendered text) for a file that parses cleanly; None leaves it to the loader."""
    key, data, rel, template = job
    try:
        text = data.decode("utf-8")
        if template:
            text = render(text, rel, values, budget)
        return key, parse(text).data, text if template else None
    except (UnicodeDecodeError, TemplateProblem, YamlProblem):
        return None


def _spawn_helper(
    jobs: list[Job], values: dict[str, Any], budget: Budget
) -> Callable[[ParseCache], None] | None:
    """Fork a process that parses `jobs`; returns what collects its results into a cache.

    Results travel as JSON: only plain data (no dates, bytes or sets), the rest is parsed
    here again. Never pickle, even from our own child."""
    import json

    from mlops_gitops.safeio import dumps as json_dumps

    try:
        read_fd, write_fd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:  # pragma: no cover - the helper process; its results are checked in the parent
        code = 1
        try:
            os.close(read_fd)
            results = [
                found
                for job in jobs
                if (found := _parse_job(job, values, budget)) is not None and is_plain(found[1])
            ]
            payload = json_dumps(results, separators=(",", ":")).encode()
            with os.fdopen(write_fd, "wb") as pipe:
                pipe.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write_fd)

    def collect(cache: ParseCache) -> None:
        try:
            with os.fdopen(read_fd, "rb") as pipe:
                payload = pipe.read()
        finally:
            _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            return  # the files are parsed here instead
        try:
            results = json.loads(payload)
        except (ValueError, RecursionError):  # a helper that died mid-write: parse here
            return
        for key, data, text in results:
            cache.put(key, data, text, used=False)

    return collect


_KIND_LINE = re.compile(r"^kind:[ \t]*[\"']?([A-Za-z]+)", re.MULTILINE)
_NAME_LINE = re.compile(
    r"^metadata:[ \t]*(?:\{[^}\n]*?\bname:"
    r"|\n(?:[ \t]*#.*\n|[ \t]*\n|[ \t]+[^\s#].*\n)*?[ \t]+name:)"
    r"[ \t]*[\"']?([a-z0-9][a-z0-9-]{0,62})[\"']?[ \t]*(?:[,}#]|$)",
    re.MULTILINE,
)


def _mark_broken(repo: Repository, text: str) -> None:
    """Remember which object an unreadable file was meant to hold, found by a plain text scan.

    A file that is not even YAML still says `kind:` and `metadata: name:` on their own lines;
    references to that object are then not reported as missing on top of the file's own error.
    """
    name = _NAME_LINE.search(text)
    if name is None:
        return
    kind = _KIND_LINE.search(text)
    _mark_name_broken(repo, kind.group(1) if kind else None, name.group(1))


def _mark_name_broken(repo: Repository, kind: Any, name: str) -> None:
    """Without a known kind, we cannot tell which kind was meant: every kind is spared."""
    kinds = [kind] if isinstance(kind, str) and kind in m.KINDS else list(m.KINDS)
    repo.broken.update((k, name) for k in kinds)


def _typed(repo: Repository, source: Source) -> Loaded | None:
    data = source.doc.data
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}"
        _problem(repo, source, (), f"a spec file holds one object (a mapping); this one is {what}")
        return None
    kind = data.get("kind")
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    name = name if isinstance(name, str) else ""
    if not isinstance(kind, str) or kind not in m.KINDS:
        known = ", ".join(m.KINDS)
        message = f"unknown kind {kind!r}; expected one of {known}"
        close = difflib.get_close_matches(kind, list(m.KINDS), n=1) if isinstance(kind, str) else []
        if close:
            message += f" (did you mean {close[0]!r}?)"
        if kind is None:
            message = f"missing kind; expected one of {known}"
        _problem(repo, source, ("kind",), message, name=name)
        if name:
            _mark_name_broken(repo, None, name)
        return None
    if data.get("apiVersion") != m.API_VERSION:
        _problem(
            repo,
            source,
            ("apiVersion",),
            f"apiVersion must be {m.API_VERSION!r}, got {data.get('apiVersion')!r}",
            kind=kind,
            name=name,
        )
        if name:
            _mark_name_broken(repo, kind, name)
        return None
    try:
        obj = m.KINDS[kind].model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            repo.problems.append(_from_pydantic(source, error, kind, name))
        if name:
            repo.broken.add((kind, name))
        return None
    return Loaded(obj, source)


def _problem(
    repo: Repository,
    source: Source,
    path: tuple[str | int, ...],
    message: str,
    *,
    kind: str = "",
    name: str = "",
) -> None:
    line, column = source.locate(path)
    repo.problems.append(
        Problem(
            message,
            path=source.path,
            line=line,
            column=column,
            kind=kind,
            name=name,
            field=field_path(path),
        )
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
    candidates: list[type[BaseModel]] = [m.KINDS[kind]]
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


def _from_pydantic(source: Source, error: Any, kind: str, name: str) -> Problem:
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
    line, column = source.locate(path) if complete or path else (None, None)
    if not complete:
        line, column = source.locate(path[:-1])
    return Problem(
        message,
        path=source.path,
        line=line,
        column=column,
        kind=kind,
        name=name,
        field=field_path(path),
    )


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
