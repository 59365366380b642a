"""A version's digest: what tells a metadata edit of a registered version from no change."""

from __future__ import annotations

import hashlib
from typing import Any

from mlops_gitops.safeio import dumps
from mlops_gitops.spec import models as spec_models

_NEWER_FIELDS: dict[str, Any] = {"tags": [], "parent": None, "dependencies": {}}


def version_digest(version: spec_models.ModelVersion) -> str:
    """Hash of a version entry, so metadata edits to a registered version are noticed."""
    data = version.model_dump(mode="json")
    for key, empty in _NEWER_FIELDS.items():
        if data.get(key) == empty:
            del data[key]  # versions registered before these fields existed keep their digest
    return hashlib.sha256(dumps(data, sort_keys=True).encode()).hexdigest()


class VersionDigests:
    """The digests of one manifest's versions, each computed once per plan.

    Keyed by (model, version), which names one entry of a manifest: one instance serves one
    manifest, so a digest never outlives the plan it was computed for. A caller that knows
    digests from an earlier run (its cache keyed by file content and this code) seeds them.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], str] = {}

    def of(self, model: str, version: spec_models.ModelVersion) -> str:
        key = (model, version.version)
        digest = self._known.get(key)
        if digest is None:
            digest = self._known[key] = version_digest(version)
        return digest

    def remember(self, model: str, version: str, digest: str) -> None:
        self._known[(model, version)] = digest
