"""The plan's data: frozen steps with gates, reasons and dependencies."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Action = Literal["register", "deploy", "promote", "rollback", "retire", "update", "undeploy"]
ACTIONS: tuple[Action, ...] = (
    "register",
    "deploy",
    "promote",
    "rollback",
    "retire",
    "update",
    "undeploy",
)
Status = Literal["ready", "blocked"]
PLAN_FORMAT_VERSION = "1"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    kind: str
    name: str
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" + (f" {self.version}" if self.version else "")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate checked against a number, and where the number came from."""

    metric: str
    op: str
    threshold: float
    value: float | None
    source: str
    passed: bool
    version: str | None = None
    policy: str | None = None
    """Set when the gate comes from a Project policy rather than the deployment."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric": self.metric,
            "op": self.op,
            "threshold": self.threshold,
            "value": self.value,
            "source": self.source,
            "passed": self.passed,
            "version": self.version,
        }
        if self.policy:
            out["policy"] = self.policy
        return out

    def describe(self) -> str:
        shown = "no value" if self.value is None else f"{self.value:g}"
        mark = "OK" if self.passed else "FAILED"
        origin = f" [policy {self.policy}]" if self.policy else ""
        return f"{self.metric} {self.op} {self.threshold:g}: {shown} ({self.source}) {mark}{origin}"


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    action: Action
    object: ObjectRef
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    status: Status = "ready"
    blocked_by: tuple[str, ...] = ()
    """Why the step cannot run: failed gates, policies, missing artifacts, blocked dependencies."""
    gates: tuple[GateResult, ...] = ()
    depends_on: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "object": self.object.to_json(),
            "status": self.status,
            "reason": self.reason,
            "blocked_by": list(self.blocked_by),
            "before": self.before,
            "after": self.after,
            "gates": [g.to_json() for g in self.gates],
            "depends_on": list(self.depends_on),
            "warnings": list(self.warnings),
        }

    def trailer(self) -> str:
        return f"{self.action} {self.object}"


@dataclass(frozen=True)
class Plan:
    """What apply would do, computed from specs, recorded state, the clock and observations."""

    steps: tuple[Step, ...]
    base_commit: str | None
    inputs_sha256: str
    lineage: str | None
    serial: int
    now: str
    warnings: tuple[str, ...] = field(default=())
    targets: tuple[str, ...] = field(default=())
    """`plan --target`: the objects the plan was limited to (empty: every object)."""

    @property
    def empty(self) -> bool:
        return not self.steps

    def ready(self) -> list[Step]:
        return [s for s in self.steps if s.status == "ready"]

    def blocked(self) -> list[Step]:
        return [s for s in self.steps if s.status == "blocked"]

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {action: 0 for action in ACTIONS}
        for step in self.steps:
            counts[step.action] += 1
        counts["blocked"] = len(self.blocked())
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": PLAN_FORMAT_VERSION,
            "base_commit": self.base_commit,
            "inputs_sha256": self.inputs_sha256,
            "now": self.now,
            "state": {"lineage": self.lineage, "serial": self.serial},
            "steps": [s.to_json() for s in self.steps],
            "summary": self.summary(),
            "warnings": list(self.warnings),
        } | ({"targets": list(self.targets)} if self.targets else {})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        steps = []
        for raw in data["steps"]:
            steps.append(
                Step(
                    id=raw["id"],
                    action=raw["action"],
                    object=ObjectRef(**raw["object"]),
                    reason=raw["reason"],
                    before=raw["before"],
                    after=raw["after"],
                    status=raw["status"],
                    blocked_by=tuple(raw.get("blocked_by", ())),
                    gates=tuple(GateResult(**g) for g in raw.get("gates", ())),
                    depends_on=tuple(raw.get("depends_on", ())),
                    warnings=tuple(raw.get("warnings", ())),
                )
            )
        return cls(
            steps=tuple(steps),
            base_commit=data["base_commit"],
            inputs_sha256=data["inputs_sha256"],
            lineage=data["state"]["lineage"],
            serial=data["state"]["serial"],
            now=data["now"],
            warnings=tuple(data.get("warnings", ())),
            targets=tuple(str(t) for t in data.get("targets", ())),
        )
