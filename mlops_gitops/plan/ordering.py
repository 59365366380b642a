"""Linking and ordering the steps: retirements wait for the deployments that move off a
version, and steps run in dependency order with a stable tie-break."""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import replace

from mlops_gitops.plan.draft import Draft
from mlops_gitops.plan.model import Step

_ACTION_RANK = {"register": 0, "update": 1, "deploy": 2, "promote": 3, "rollback": 4}
_ACTION_RANK |= {"undeploy": 5, "retire": 6}


def _model_of(draft: Draft, deployment: str) -> str | None:
    desired = draft.manifest.deployments.get(deployment)
    if desired is not None:
        return desired.spec.model
    record = draft.state.deployments.get(deployment)
    return record.model if record else None


def link_retirements(draft: Draft) -> None:
    """A version retires only after every deployment has moved off it."""
    retiring = [sid for sid, s in draft.steps.items() if s.action == "retire"]
    if not retiring:
        return
    touched: set[str] = set()
    users: dict[tuple[str | None, str], list[str]] = {}
    for other in draft.steps.values():
        if other.object.kind != "Deployment":
            continue
        touched.add(other.object.name)
        if other.before is None:
            continue
        # The model the deployment served before this step (it may switch models).
        model = other.before.get("model") or _model_of(draft, other.object.name)
        canary = other.before.get("canary") or {}
        for version in {other.before.get("version"), canary.get("version")} - {None}:
            users.setdefault((model, str(version)), []).append(other.id)
    serving: dict[tuple[str, str], list[str]] = {}
    for name, record in sorted(draft.state.deployments.items()):
        if record.status != "deployed" or name in touched:
            continue
        for version in {record.version} | ({record.canary.version} if record.canary else set()):
            serving.setdefault((record.model, version), []).append(name)
    for step_id in retiring:
        step = draft.steps[step_id]
        key = (step.object.name, step.object.version or "")
        blocked = list(step.blocked_by)
        blocked += [f"Deployment/{name} still serves {key[1]}" for name in serving.get(key, [])]
        draft.steps[step_id] = replace(
            step,
            depends_on=tuple(sorted(set(step.depends_on) | set(users.get(key, [])))),
            status="blocked" if blocked else step.status,
            blocked_by=tuple(blocked),
        )


def ordered(steps: Mapping[str, Step]) -> tuple[Step, ...]:
    """Dependency order; among ready candidates, by action rank then object name."""
    known = set(steps)
    pending = {sid: set(s.depends_on) & known for sid, s in steps.items()}
    children: dict[str, list[str]] = {sid: [] for sid in steps}
    for sid, deps in pending.items():
        for dep in deps:
            children[dep].append(sid)

    def key(sid: str) -> tuple[int, str, str]:
        step = steps[sid]
        return (_ACTION_RANK[step.action], str(step.object), sid)

    heap = [key(sid) for sid, deps in pending.items() if not deps]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        sid = heapq.heappop(heap)[2]
        order.append(sid)
        for child in children[sid]:
            pending[child].discard(sid)
            if not pending[child]:
                heapq.heappush(heap, key(child))
    assert len(order) == len(steps), "dependency cycle in plan"
    out: list[Step] = []
    blocked_ids: set[str] = set()
    for sid in order:
        step = steps[sid]
        failed = [d for d in step.depends_on if d in blocked_ids]
        if failed:
            step = replace(
                step,
                status="blocked",
                blocked_by=(
                    *step.blocked_by,
                    *(f"depends on blocked step {d}" for d in failed),
                ),
            )
        if step.status == "blocked":
            blocked_ids.add(sid)
        out.append(step)
    return tuple(out)
