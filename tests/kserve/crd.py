"""KServe's published CRD schemas as strict validators, the way an API server checks objects.

The schemas are in ../shared/kserve/ (beside the checkout); tests skip, saying why, without it.
Unknown fields are errors: `additionalProperties: false` wherever the schema has properties
and no `x-kubernetes-preserve-unknown-fields`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
CRD_DIRS = (PROJECT.parent / "shared" / "kserve", PROJECT.parents[1] / "shared" / "kserve")
CRD_FILES = {
    "InferenceService": "serving.kserve.io_inferenceservices.yaml",
    "ServingRuntime": "serving.kserve.io_servingruntimes.yaml",
    "ClusterServingRuntime": "serving.kserve.io_clusterservingruntimes.yaml",
}


def crd_dir() -> Path:
    for folder in CRD_DIRS:
        if (folder / CRD_FILES["InferenceService"]).is_file():
            return folder
    pytest.skip(f"KServe's CRD schemas are not beside the checkout (looked in {CRD_DIRS[0]})")


def _strict(node: Any) -> Any:
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _strict(value) for key, value in node.items()}
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator:
    # libyaml when present: the CRDs are megabytes, 20 s for the pure-Python parser.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((crd_dir() / CRD_FILES[kind]).read_text(), Loader=loader)
    group = crd["spec"]["group"]
    for version in crd["spec"]["versions"]:
        if f"{group}/{version['name']}" == api_version:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
            return cls(schema)
    raise AssertionError(f"{kind} has no version {api_version} in its CRD")


def crd_errors(obj: dict[str, Any]) -> list[str]:
    """Every way `obj` breaks its CRD's schema (empty when an API server would accept it)."""
    validator = _validator(obj["kind"], obj["apiVersion"])
    return sorted(
        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(obj)
    )


def assert_valid(obj: dict[str, Any]) -> None:
    errors = crd_errors(obj)
    assert not errors, "\n".join(errors)
