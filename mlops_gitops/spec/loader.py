"""Walks the repository from `mlops.yaml`, reads every spec file safely and builds typed objects.

Every problem is collected with its place; nothing stops at the first error.
"""

from __future__ import annotations

import difflib
import errno
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlops_gitops.errors import MlopsError, Problem
from mlops_gitops.gcpause import collector_paused
from mlops_gitops.safeio import file_kind
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.cache import ParseCache, content_key, values_key
from mlops_gitops.spec.files import PROJECT_FILE, prefetch, read_text, relative, spec_files
from mlops_gitops.spec.parsehelper import parse_ahead
from mlops_gitops.spec.problems import from_pydantic, problem
from mlops_gitops.spec.repository import (
    Loaded,
    Prefetched,
    Repository,
    Source,
    mark_broken,
    mark_name_broken,
)
from mlops_gitops.spec.templates import DEFAULT_BUDGET, Budget, TemplateProblem, render
from mlops_gitops.spec.yamlsource import Document, YamlProblem, parse

EXCERPT_CHARS = 160
"""Characters of a source line shown under a YAML error."""
FREEZE_MIN = 1000
"""Files loaded from which the loaded objects are exempted from garbage collection passes."""


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
        if isinstance(project.obj, spec_models.Project):
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
    spec = repo.project.obj.spec if repo.project else spec_models.ProjectSpec()
    assert isinstance(spec, spec_models.ProjectSpec)
    values = spec.values if repo.project else _raw_values(project_source)
    budget = Budget(spec.security.template_cpu_seconds, spec.security.template_output_bytes)
    if project_source is not None:
        project_source.doc.data = None
    files = spec_files(repo, spec.spec_dirs)
    contents = [prefetch(path) for path, _ in files]
    templates = any(rel.endswith(".j2") for _, rel in files)
    # Budgets are part of the key: a render that fit a larger budget may not fit this one.
    template_key = f"{values_key(values)}/{budget.key()}" if templates else None
    parse_ahead(cache, files, contents, values, template_key, budget)
    for (path, rel), content in zip(files, contents, strict=True):
        loaded = _load_file(repo, path, rel, values, cache, content, template_key, budget)
        if loaded is None:
            continue
        if isinstance(loaded.obj, spec_models.Project):
            problem(repo, loaded.source, ("kind",), "only mlops.yaml may hold the Project")
            continue
        key = (loaded.obj.kind, loaded.obj.metadata.name)
        first = repo.objects.get(key)
        if first is not None:
            line, _ = first.source.locate(("metadata", "name"))
            problem(
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
    rel = relative(repo, Path(path)) if rel is None else rel
    text = read_text(repo, path, rel, content)
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
            mark_broken(repo, text)
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
        mark_broken(repo, text)
        return None
    if key is not None:
        cache.put(key, doc.data, text if template else None)
    return Source(rel, doc)


def _typed(repo: Repository, source: Source) -> Loaded | None:
    data = source.doc.data
    if not isinstance(data, dict):
        what = "empty" if data is None else f"a {type(data).__name__}"
        problem(repo, source, (), f"a spec file holds one object (a mapping); this one is {what}")
        return None
    kind = data.get("kind")
    meta = data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    name = name if isinstance(name, str) else ""
    if not isinstance(kind, str) or kind not in spec_models.KINDS:
        known = ", ".join(spec_models.KINDS)
        message = f"unknown kind {kind!r}; expected one of {known}"
        close = (
            difflib.get_close_matches(kind, list(spec_models.KINDS), n=1)
            if isinstance(kind, str)
            else []
        )
        if close:
            message += f" (did you mean {close[0]!r}?)"
        if kind is None:
            message = f"missing kind; expected one of {known}"
        problem(repo, source, ("kind",), message, name=name)
        if name:
            mark_name_broken(repo, None, name)
        return None
    if data.get("apiVersion") != spec_models.API_VERSION:
        problem(
            repo,
            source,
            ("apiVersion",),
            f"apiVersion must be {spec_models.API_VERSION!r}, got {data.get('apiVersion')!r}",
            kind=kind,
            name=name,
        )
        if name:
            mark_name_broken(repo, kind, name)
        return None
    try:
        obj = spec_models.KINDS[kind].model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            repo.problems.append(from_pydantic(source, error, kind, name))
        if name:
            repo.broken.add((kind, name))
        return None
    return Loaded(obj, source)
