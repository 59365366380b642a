"""The Tombstone kind: a removed object whose removal is intended."""

from __future__ import annotations

from typing import Literal

from mlops_gitops.spec.base import Strict
from mlops_gitops.spec.kinds.common import Metadata


class TombstoneSpec(Strict):
    """Which kind of object named by metadata.name was removed on purpose."""

    kind: Literal["Deployment"]
    reason: str | None = None


class Tombstone(Strict):
    """Replaces a deleted object's file to say its removal is intended (e.g. undeploy)."""

    apiVersion: Literal["mlops-gitops/v1"]
    kind: Literal["Tombstone"]
    metadata: Metadata
    spec: TombstoneSpec
