"""Which deployment steps of a plan will run, and so which stages each version enters in it.

A step that needs a version to have served a stage (`promotion.requires_stage`), and a deploy
that becomes a promote because its version enters a lower stage earlier in the plan, both depend
on steps of other deployments. Deciding them while building deployments one by one made the
answer depend on the order the deployments were built in: a production deployment built before
the one that puts its version into staging was blocked although the apply then satisfied it, so
the next plan differed. Here they are decided once all steps exist, as the least fixpoint of
"ready, every dependency runs, and every stage need met by a step that runs".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from mlops_gitops.plan.model import Step

StageKey = tuple[str, str, str]
"""(model, version, stage)."""


@dataclass(frozen=True, slots=True)
class Promotable:
    """A stable step planned as a deploy that is a promote if its version enters a lower stage
    earlier in the plan (the name must not depend on how the applies are split)."""

    model: str
    version: str
    stage: str
    lower: tuple[str, ...]
    """The stages before `stage` in the stage order, lowest first."""
    source: str


def runnable(
    steps: Mapping[str, Step], needs: Mapping[str, StageKey], entries: Mapping[StageKey, list[str]]
) -> dict[str, int]:
    """Step id -> position in which it was found to run; steps that will not run are absent.

    A step runs when it is ready, every step it depends on runs, and its stage need (if any) is
    met by a step that runs. Repeated sweeps reach the least fixpoint: the positions make the
    dependencies added from them acyclic (a step only ever depends on lower positions).
    """
    rank: dict[str, int] = {}
    pending = [sid for sid, step in steps.items() if step.status == "ready"]
    progress = True
    while progress and pending:
        progress = False
        rest: list[str] = []
        for sid in pending:
            deps_run = all(dep in rank for dep in steps[sid].depends_on if dep in steps)
            need = needs.get(sid)
            if deps_run and (need is None or provider(need, entries, rank) is not None):
                rank[sid] = len(rank)
                progress = True
            else:
                rest.append(sid)
        pending = rest
    return rank


def provider(
    key: StageKey, entries: Mapping[StageKey, list[str]], rank: Mapping[str, int]
) -> str | None:
    """The earliest running step that puts the version into the stage."""
    found = [(rank[sid], sid) for sid in entries.get(key, ()) if sid in rank]
    return min(found)[1] if found else None


def _reaches(steps: Mapping[str, Step], start: str, target: str) -> bool:
    """Whether `start` is, or depends on, `target` (a dependency on it would close a cycle)."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        sid = todo.pop()
        if sid == target:
            return True
        if sid in seen or sid not in steps:
            continue
        seen.add(sid)
        todo.extend(steps[sid].depends_on)
    return False


def resolve(
    steps: dict[str, Step],
    needs: Mapping[str, StageKey],
    promotable: Mapping[str, Promotable],
    entries: Mapping[StageKey, list[str]],
) -> dict[str, Step]:
    """The steps with their stage needs met (a dependency) or not (blocked, saying why), and
    promotable deploys renamed to promotes; insertion order is kept."""
    rank = runnable(steps, needs, entries)
    out = dict(steps)
    for sid, key in needs.items():
        step = out[sid]
        found = provider(key, entries, rank)
        if found is not None:
            out[sid] = replace(step, depends_on=tuple(dict.fromkeys((*step.depends_on, found))))
            continue
        _, version, stage = key
        problem = f"requires_stage {stage}: version {version} has not served a {stage} deployment"
        planned = [s for s in entries.get(key, ()) if s not in rank]
        if planned:
            problem += f" (the step that would put it there, {planned[0]}, will not run)"
        out[sid] = replace(step, status="blocked", blocked_by=(*step.blocked_by, problem))
    renames: dict[str, str] = {}
    for sid, wanted in promotable.items():
        for lower in wanted.lower:
            key = (wanted.model, wanted.version, lower)
            runs = sorted((rank[e], e) for e in entries.get(key, ()) if e in rank)
            found = next((e for _, e in runs if not _reaches(out, e, sid)), None)
            if found is None:
                continue
            step = out[sid]
            reason = (
                f"{wanted.version} enters {lower} first in this plan, "
                f"then {wanted.stage} ({wanted.source})"
            )
            renames[sid] = sid.replace("deploy:", "promote:", 1)
            out[sid] = replace(
                step,
                id=renames[sid],
                action="promote",
                reason=reason,
                depends_on=tuple(dict.fromkeys((found, *step.depends_on))),
            )
            break
    if not renames:
        return out
    return {renames.get(sid, sid): _renamed(step, renames) for sid, step in out.items()}


def _renamed(step: Step, renames: Mapping[str, str]) -> Step:
    if not any(dep in renames for dep in step.depends_on):
        return step
    return replace(step, depends_on=tuple(renames.get(dep, dep) for dep in step.depends_on))


def lower_stages(order: Sequence[str], stage: str) -> tuple[str, ...]:
    return tuple(order[: order.index(stage)]) if stage in order else ()
