"""The planner's read-only view of recorded state: plain records, no file access."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mlops_gitops.state.records import DeploymentRecord, Meta, ModelRecord


@dataclass(frozen=True)
class StateView:
    """A read-only snapshot of the recorded state, the planner's only view of it."""

    models: Mapping[str, ModelRecord] = field(default_factory=dict)
    deployments: Mapping[str, DeploymentRecord] = field(default_factory=dict)
    meta: Meta | None = None

    @property
    def lineage(self) -> str | None:
        return self.meta.lineage if self.meta else None

    @property
    def serial(self) -> int:
        return self.meta.serial if self.meta else 0
