"""Properties over random spec sets and random edits between applies.

For every generated sequence of spec revisions, applied one after the other to the same
repository (real safetensors artifacts in a temporary folder, recorded state on disk):

- planning twice gives byte-identical plans, in dependency order;
- after apply, a new plan holds nothing but the steps that were blocked before (and is empty
  when nothing was blocked); every ready step was done;
- a further apply changes nothing.
"""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlops_gitops import api
from mlops_gitops.apply import run
from mlops_gitops.plan.model import Plan
from mlops_gitops.render.plan import plan_json
from mlops_gitops.workspace import Workspace
from tests.support.repos import KSERVE_PROJECT, SpecRepo, onnx_artifact
from tests.support.values import NOW

MODELS = ("m0", "m1", "m2")
VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "2.0.0")
DEPLOYMENTS = ("d0", "d1", "d2", "d3")
WHEN = datetime.fromisoformat(NOW)

Revision = tuple[dict[str, dict[str, float]], dict[str, dict[str, Any]], bool, list[str]]


@st.composite
def revisions(draw: st.DrawFn) -> Revision:
    """Models with versions and metrics; deployments with canaries, gates and stages; whether
    removed deployments are pruned, and which are replaced by tombstones."""
    models: dict[str, dict[str, float]] = {}
    for name in sorted(draw(st.sets(st.sampled_from(MODELS), min_size=1))):
        versions = sorted(draw(st.sets(st.sampled_from(VERSIONS), min_size=1)))
        models[name] = {v: draw(st.sampled_from([0.85, 0.95])) for v in versions}
    deployments: dict[str, dict[str, Any]] = {}
    for name in sorted(draw(st.sets(st.sampled_from(DEPLOYMENTS)))):
        model = draw(st.sampled_from(sorted(models)))
        versions = sorted(models[model])
        stable = draw(st.sampled_from(versions))
        spec: dict[str, Any] = {
            "model": model,
            "stage": draw(st.sampled_from(["development", "staging", "production"])),
            "target": draw(st.sampled_from(["local", "local", "kserve"])),
            "version": stable,
        }
        others = [v for v in versions if v != stable]
        with_canary: bool = bool(others) and draw(st.booleans())
        if with_canary:
            traffic = draw(st.sampled_from([0, 10, 50, 90]))
            spec["canary"] = {"version": draw(st.sampled_from(others)), "traffic": traffic}
        promotion: dict[str, Any] = {}
        if draw(st.booleans()):
            promotion["gates"] = {"roc_auc": ">= 0.9"}
        if spec["stage"] == "production" and draw(st.booleans()):
            promotion["requires_stage"] = "staging"
        if promotion:
            spec["promotion"] = promotion
        if draw(st.booleans()):
            spec["scaling"] = {"min_replicas": 1, "max_replicas": draw(st.integers(1, 3))}
        if draw(st.integers(0, 9)) == 0:
            spec["suspend"] = True
        deployments[name] = spec
    gone = sorted(set(DEPLOYMENTS) - set(deployments))
    tombstones = sorted(draw(st.sets(st.sampled_from(gone)))) if gone else []
    return models, deployments, draw(st.booleans()), tombstones


def write_revision(repo: SpecRepo, revision: Revision) -> None:
    models, deployments, prune, tombstones = revision
    repo.write_project(prune=prune, **KSERVE_PROJECT)
    for folder in ("models", "deployments"):
        for path in (repo.root / folder).glob("*.yaml"):
            path.unlink()
    for name, versions in models.items():
        entries = []
        for v, auc in versions.items():
            entry = onnx_artifact(repo, name, v)
            entry["metrics"] = {"roc_auc": auc}
            entries.append(entry)
        repo.write_model(name, entries)
    for name, spec in deployments.items():
        repo.write_deployment(name, spec)
    for name in tombstones:
        path = repo.root / "deployments" / f"{name}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(
            "apiVersion: mlops-gitops/v1\nkind: Tombstone\n"
            f"metadata: {{name: {name}}}\nspec: {{kind: Deployment}}\n"
        )


def plan_now(root: Path) -> tuple[Workspace, Plan]:
    workspace = api.open_workspace(root)
    return workspace, workspace.plan(WHEN)


def check_order(plan: Plan) -> None:
    seen: set[str] = set()
    for step in plan.steps:
        assert set(step.depends_on) <= seen, step.id
        seen.add(step.id)


# Found by hypothesis: a production deployment with requires_stage staging whose version
# entered staging (or development) through another deployment built after it in the same plan:
# the plan called it blocked (or a deploy), the apply then met the need, the next plan differed.
FIRST_FOUND: list[Revision] = [
    (
        {"m0": {"1.0.0": 0.85, "1.1.0": 0.85, "2.0.0": 0.85}, "m1": {"1.0.0": 0.85, "1.1.0": 0.85}},
        {
            "d0": {
                "model": "m0",
                "stage": "development",
                "target": "local",
                "version": "1.0.0",
                "canary": {"version": "1.1.0", "traffic": 0},
            },
            "d1": {"model": "m0", "stage": "development", "target": "kserve", "version": "1.0.0"},
            "d2": {
                "model": "m1",
                "stage": "development",
                "target": "kserve",
                "version": "1.0.0",
                "promotion": {"gates": {"roc_auc": ">= 0.9"}},
            },
            "d3": {
                "model": "m0",
                "stage": "staging",
                "target": "kserve",
                "version": "2.0.0",
                "canary": {"version": "1.0.0", "traffic": 50},
                "promotion": {"gates": {"roc_auc": ">= 0.9"}},
            },
        },
        True,
        [],
    ),
    (
        {"m0": {"1.0.0": 0.95, "1.2.0": 0.85}},
        {
            "d0": {
                "model": "m0",
                "stage": "production",
                "target": "local",
                "version": "1.2.0",
                "promotion": {"requires_stage": "staging"},
            },
            "d1": {
                "model": "m0",
                "stage": "production",
                "target": "local",
                "version": "1.0.0",
                "canary": {"version": "1.2.0", "traffic": 90},
            },
            "d2": {
                "model": "m0",
                "stage": "staging",
                "target": "local",
                "version": "1.2.0",
                "promotion": {"gates": {"roc_auc": ">= 0.9"}},
            },
            "d3": {
                "model": "m0",
                "stage": "development",
                "target": "local",
                "version": "1.0.0",
                "promotion": {"gates": {"roc_auc": ">= 0.9"}},
            },
        },
        True,
        [],
    ),
]
SECOND_FOUND: list[Revision] = [
    (
        {"m0": {"1.0.0": 0.85, "1.1.0": 0.85, "2.0.0": 0.85}},
        {
            "d0": {
                "model": "m0",
                "stage": "development",
                "target": "local",
                "version": "1.0.0",
                "canary": {"version": "1.1.0", "traffic": 0},
                "scaling": {"min_replicas": 1, "max_replicas": 2},
            },
            "d1": {"model": "m0", "stage": "staging", "target": "local", "version": "1.0.0"},
            "d3": {
                "model": "m0",
                "stage": "development",
                "target": "local",
                "version": "1.0.0",
                "canary": {"version": "1.1.0", "traffic": 0},
                "suspend": True,
            },
        },
        True,
        [],
    ),
    (
        {"m0": {"1.0.0": 0.85, "1.1.0": 0.85}},
        {
            "d0": {
                "model": "m0",
                "stage": "production",
                "target": "local",
                "version": "1.1.0",
                "promotion": {"requires_stage": "staging"},
                "scaling": {"min_replicas": 1, "max_replicas": 1},
            },
            "d1": {
                "model": "m0",
                "stage": "production",
                "target": "local",
                "version": "1.0.0",
                "canary": {"version": "1.1.0", "traffic": 0},
            },
            "d2": {"model": "m0", "stage": "development", "target": "local", "version": "1.0.0"},
        },
        False,
        [],
    ),
]


@settings(
    max_examples=35,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(history=st.lists(revisions(), min_size=1, max_size=3))
@example(history=FIRST_FOUND)
@example(history=SECOND_FOUND)
def test_plans_are_deterministic_and_apply_converges(history: list[Revision]) -> None:
    with tempfile.TemporaryDirectory(prefix="mlops-prop-") as tmp:
        repo = SpecRepo(Path(tmp))
        for revision in history:
            write_revision(repo, revision)
            workspace, plan = plan_now(repo.root)
            _, again = plan_now(repo.root)
            assert plan_json(plan) == plan_json(again)
            check_order(plan)

            result = run.apply(workspace, WHEN, commit=False)
            outcome = {o.step.id: o.status for o in result.outcomes}
            assert outcome == {
                s.id: "done" if s.status == "ready" else "blocked" for s in plan.steps
            }, json.dumps(outcome, indent=1)
            blocked = {s.id for s in plan.steps if s.status == "blocked"}
            assert result.exit_code == (3 if blocked else 0)

            _, after = plan_now(repo.root)
            assert all(s.status == "blocked" for s in after.steps), plan_json(after)
            assert {s.id for s in after.steps} <= blocked, plan_json(after)

            state = json.loads((repo.root / ".mlops/state/meta.json").read_text())
            second = run.apply(api.open_workspace(repo.root), WHEN, commit=False)
            assert all(o.status == "blocked" for o in second.outcomes)
            assert json.loads((repo.root / ".mlops/state/meta.json").read_text()) == state
