"""What a training run records about where its version came from, and its failed runs.

One kind of hash throughout: the sha256 of bytes. A data file's hash is the sha256 of the
file, the same number users pin as `training_data.sha256`; rows from a database or an HTTP
source are hashed as the CSV they make (there is no file to hash).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import os
from pathlib import Path
from typing import Any

import pandas as pd

from mlops_gitops import git
from mlops_gitops.providers.artifacts import hash_file
from mlops_gitops.spec import models as spec_models

LIBRARIES = ("scikit-learn", "skops", "numpy", "pandas", "scipy")
"""The packages a trained artifact is loaded with, pinned in the version's dependencies."""


def data_source(
    source: Any, frame: pd.DataFrame, where: str, root: Path, security: spec_models.SecuritySettings
) -> dict[str, Any]:
    if isinstance(source, spec_models.FileSource):
        sha256, _ = hash_file(source.path, root, security)
        kind = "file"
    else:
        sha256 = hashlib.sha256(frame.to_csv(index=False).encode()).hexdigest()
        kind = "database" if isinstance(source, spec_models.DatabaseSource) else "http"
    return {"source": where, "kind": kind, "sha256": sha256, "rows": len(frame)}


def training_data(sources: list[Any], data: list[dict[str, Any]]) -> dict[str, Any] | None:
    """`training_data` of the new version when one file is the whole training set."""
    if len(sources) == 1 and isinstance(sources[0], spec_models.FileSource):
        return {"uri": sources[0].path, "sha256": data[0]["sha256"]}
    return None


def trainer(entrypoint: str, function: Any, root: Path) -> dict[str, Any]:
    """The trainer's entrypoint and the sha256 of the file that defines it (in the repo)."""
    found: dict[str, Any] = {"entrypoint": entrypoint, "sha256": None}
    try:
        path = Path(inspect.getfile(function)).resolve()
    except (TypeError, OSError):
        return found
    if path.is_relative_to(root.resolve()) and path.is_file() and not os.path.islink(path):
        found["file"] = path.relative_to(root.resolve()).as_posix()
        found["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def library_pins() -> dict[str, str]:
    pins = {}
    for name in LIBRARIES:
        try:
            pins[name] = f"=={importlib.metadata.version(name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return pins


def record_failure(
    root: Path,
    pipeline: str,
    model: str,
    failures: list[str],
    data: list[dict[str, Any]],
    author: str | None,
) -> str | None:
    """A commit of no files whose trailers record the failed run: `history` lists it, and
    no version is added."""
    if not git.is_repo(root):
        return None
    lines = [f"mlops-gitops: train {pipeline} failed", ""]
    lines += [f"- {failure}" for failure in failures]
    lines += [f"- data {d['source']} sha256 {d['sha256']} ({d['rows']} rows)" for d in data]
    lines += ["", f"Mlops-Train: {pipeline}", "Mlops-Train-Status: failed", f"Mlops-Model: {model}"]
    lines.append(f"Mlops-Reason: {git.one_line('; '.join(failures))[:500]}")
    return git.record(root, "\n".join(lines) + "\n", author)
