"""JSON Schemas for every kind, generated from the pydantic models (one source of truth)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops_gitops import fsguard
from mlops_gitops.safeio import dumps
from mlops_gitops.spec import models as spec_models

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE = "https://mlops-gitops.dev/schemas/v1/"


def schema_for(kind: str) -> dict[str, Any]:
    model = spec_models.KINDS[kind]
    body = model.model_json_schema(mode="validation")
    return {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_BASE + spec_models.SCHEMA_FILES[kind], **body}


def render_schemas() -> dict[str, str]:
    """File name -> JSON text, deterministic so a stale checked-in copy is detectable."""
    return {
        spec_models.SCHEMA_FILES[kind]: dumps(schema_for(kind), indent=2, ensure_ascii=False) + "\n"
        for kind in spec_models.KINDS
    }


def export(directory: Path) -> list[Path]:
    written = []
    for name, text in render_schemas().items():
        path = directory / name
        fsguard.write(directory, path, text.encode("utf-8"))
        written.append(path)
    return written
