"""What every kind shares: the API version, metadata and the small value types."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from mlops_gitops.spec.base import Strict
from mlops_gitops.spec.types import Name

API_VERSION = "mlops-gitops/v1"

Stage = Literal["development", "staging", "canary", "production"]
Format = Literal["skops", "onnx", "joblib", "pickle", "python", "safetensors", "pytorch"]
DriftMethod = Literal["auto", "ks", "psi", "js", "wasserstein", "chi2"]
Percent = Annotated[int, Field(ge=0, le=100)]
LoggerUrl = Annotated[
    str, StringConstraints(pattern=r"^https?://[^\s/?#]+[^\s]*$", max_length=2048)
]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
INT32 = 2**31 - 1
"""Upper bound of counts that end up in Kubernetes manifests (int32 there)."""


class Metadata(Strict):
    """Name and free-form labels of an object."""

    name: Name
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
