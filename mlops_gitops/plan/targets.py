"""`plan --target`: a plan limited to named objects and the steps they depend on.

Like Terraform's `-target`, for an urgent change to one deployment while other changes wait:
the steps of the named objects are kept with every step they depend on (transitively, e.g.
the register of the version a deployment moves to); the rest wait for a full plan. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from mlops_gitops.errors import MlopsError
from mlops_gitops.plan.model import Plan

KINDS = ("Deployment", "Model")
MAX_TARGETS = 256


def parse(targets: Sequence[str], known: Mapping[str, Iterable[str]]) -> list[tuple[str, str]]:
    """`Kind/NAME` strings as (kind, name); `known` maps each kind to the names the specs or
    the recorded state hold. An unknown target is an error, never an empty plan."""
    if len(targets) > MAX_TARGETS:
        raise MlopsError(f"at most {MAX_TARGETS} --target options, not {len(targets)}")
    parsed = []
    for target in targets:
        kind, slash, name = target.partition("/")
        if not slash or kind not in KINDS or not name:
            raise MlopsError(
                f"--target {target!r}: expected Deployment/NAME or Model/NAME",
            )
        names = sorted(set(known.get(kind, ())))
        if name not in names:
            shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise MlopsError(
                f"--target {target!r}: no {kind} {name!r} in the specs or the recorded state",
                hint=f"known: {shown}" if names else f"there is no {kind} yet",
            )
        parsed.append((kind, name))
    return parsed


def restrict(plan: Plan, targets: Sequence[tuple[str, str]]) -> Plan:
    """The plan's steps on `targets` and everything they depend on, in plan order."""
    if not targets:
        return plan
    wanted = set(targets)
    by_id = {step.id: step for step in plan.steps}
    keep: set[str] = set()
    todo = [s.id for s in plan.steps if (s.object.kind, s.object.name) in wanted]
    while todo:
        step_id = todo.pop()
        if step_id in keep or step_id not in by_id:
            continue
        keep.add(step_id)
        todo.extend(by_id[step_id].depends_on)
    steps = tuple(step for step in plan.steps if step.id in keep)
    left = len(plan.steps) - len(steps)
    shown = ", ".join(f"{kind}/{name}" for kind, name in targets)
    note = f"plan limited to --target {shown}"
    if left:
        note += f"; {left} other step{'s' if left != 1 else ''} wait for a full plan"
    return replace(
        plan,
        steps=steps,
        warnings=(*plan.warnings, note),
        targets=tuple(f"{kind}/{name}" for kind, name in targets),
    )
