"""What the `kserve` target accepts: the KServe versions it renders for, the runtime that loads
each artifact format, and the name rules Kubernetes applies. The renderer
(`providers/kserve.py`) follows this table; `validate` checks specs against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, Field, WithJsonSchema

from mlops_gitops.spec.base import Strict

KSERVE_VERSIONS = ("0.15", "0.16", "0.17", "0.18", "0.19", "0.20", "0.21")
"""KServe releases the renderer targets: from 0.15 (the first with the logger's
`metadataAnnotations`, which the payload logger relies on) to the release whose CRDs the tests
check every rendered manifest against."""


def _known_version(value: str) -> str:
    if value not in KSERVE_VERSIONS:
        raise ValueError(
            f"{value!r} is not a KServe release the renderer knows; use one of"
            f" {', '.join(KSERVE_VERSIONS)}"
        )
    return value


KServeVersion = Annotated[
    str,
    AfterValidator(_known_version),
    WithJsonSchema({"type": "string", "enum": list(KSERVE_VERSIONS)}),
]
"""A string (so YAML's unquoted 0.20 is caught with a hint, not read as 0.2)."""

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_1035_MAX = 63


@dataclass(frozen=True)
class Runtime:
    """A serving runtime that loads one artifact format from a storageUri."""

    name: str
    """The (Cluster)ServingRuntime the InferenceService names."""
    model_format: str
    format_version: str
    protocol: str
    """The protocolVersion KServe routes with: v1 or v2."""
    description: str


RUNTIMES: dict[str, Runtime] = {
    "joblib": Runtime(
        "kserve-sklearnserver", "sklearn", "1", "v1", "KServe's sklearn server (model.joblib)"
    ),
    "pickle": Runtime(
        "kserve-sklearnserver", "sklearn", "1", "v1", "KServe's sklearn server (model.pkl)"
    ),
    "skops": Runtime(
        "mlops-gitops-skops", "skops", "1", "v1", "mlops-gitops' skops runtime (model.skops)"
    ),
    "onnx": Runtime("kserve-tritonserver", "onnx", "1", "v2", "Triton (<model>/1/model.onnx)"),
}
"""Formats the kserve target makes loadable; any other format is a validation error."""


def dns_1035_problem(name: str) -> str | None:
    """Why a name is not a DNS-1035 label (what Kubernetes requires of a Service name), or None."""
    if len(name) > DNS_1035_MAX:
        return f"is longer than {DNS_1035_MAX} characters"
    if DNS_1035.match(name):
        return None
    if not name[:1].isalpha():
        return "must start with a letter"
    if name.endswith("-"):
        return "must not end with '-'"
    return "may hold only lowercase letters, digits and '-'"


class KServeSettings(Strict):
    """The KServe installation the `kserve` target renders for."""

    version: KServeVersion = Field(
        description="KServe release of the cluster (" + ", ".join(KSERVE_VERSIONS) + ")."
    )


class TargetSettings(Strict):
    """Settings per target; `kserve` is required once a deployment uses that target."""

    kserve: KServeSettings | None = None
