"""A pipeline that puts its trained version on canary where a Project policy blocks it
forever: `validate` and `train` warn, naming the policy, and still succeed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.trainpolicy import blocked_canary
from tests.support.cli import run_cli
from tests.support.git import commit_all

PIPELINE = "pipelines/cancer-train.yaml"


def canary_into(repo: Path, deployment: str, traffic: int) -> None:
    text = (repo / PIPELINE).read_text()
    line = f"  canary: {{deployment: {deployment}, traffic: {traffic}}}\n"
    (repo / PIPELINE).write_text(text + line)
    commit_all(repo, f"Train into {deployment}")


def test_validate_warns_about_a_production_canary_the_policies_hold_back(repo: Path) -> None:
    canary_into(repo, "cancer-prod", 60)
    done = run_cli("--repo", repo, "validate", expect=0)
    assert done.out.startswith("Valid")
    assert "stage_order" in done.err and "after serving staging" in done.err
    assert "max_canary_step 50" in done.err and "at 60%" in done.err
    assert f"warning: {PIPELINE}:" in done.err
    data = run_cli("--repo", repo, "validate", "--format", "json", expect=0).json()
    assert data["valid"] is True
    fields = {(w["path"], w["field"]) for w in data["warnings"]}
    assert fields == {(PIPELINE, "spec.canary.deployment")}
    assert all(isinstance(w["line"], int) for w in data["warnings"])
    github = run_cli("--repo", repo, "validate", "--format", "github", expect=0).out
    assert github.count("::warning file=pipelines/cancer-train.yaml") == 2
    quiet = run_cli("--repo", repo, "validate", "--quiet", expect=0)
    assert quiet.out.startswith("Valid") and "warning" not in quiet.err


def test_a_canary_the_policies_let_through_gets_no_warning(repo: Path) -> None:
    canary_into(repo, "cancer-staging", 25)
    done = run_cli("--repo", repo, "validate", "--format", "json", expect=0)
    assert done.json()["warnings"] == []


def test_train_warns_when_it_commits_a_canary_that_stays_blocked(repo: Path) -> None:
    canary_into(repo, "cancer-prod", 10)
    result = run_cli("--repo", repo, "train", "cancer-train", "--format", "json", expect=0)
    warnings = json.loads(result.out)["warnings"]
    assert len(warnings) == 1 and "stage_order" in warnings[0]
    plan = run_cli("--repo", repo, "plan", "--format", "json", expect=0).json()
    blocked = [s for s in plan["steps"] if s["object"]["name"] == "cancer-prod"]
    assert blocked and all(s["blocked_by"] for s in blocked)  # the warning told the truth


def _deployment(stage: str) -> spec_models.DeploymentSpec:
    return spec_models.DeploymentSpec.model_validate(
        {"model": "m", "stage": stage, "version": "1.0.0"}
    )


@pytest.mark.parametrize(
    ("policies", "stage", "traffic", "named"),
    [
        ({"allowed_formats": ["onnx"]}, "staging", 10, "allowed_formats"),
        ({"max_canary_step": 20}, "staging", 30, "max_canary_step 20"),
        (
            {"require_signed_commits": {"stages": ["production"], "allowed_signers": "keys"}},
            "production",
            10,
            "require_signed_commits",
        ),
        ({"stage_order": ["development", "staging"]}, "staging", 10, "after serving development"),
    ],
)
def test_each_policy_that_blocks_a_trained_canary_is_named(
    policies: dict[str, object], stage: str, traffic: int, named: str
) -> None:
    reasons = blocked_canary(
        spec_models.Policies.model_validate(policies), _deployment(stage), traffic
    )
    assert len(reasons) == 1 and named in reasons[0]


def test_no_reason_when_the_policies_allow_the_canary() -> None:
    policies = spec_models.Policies.model_validate(
        {
            "allowed_formats": ["skops"],
            "max_canary_step": 20,
            "stage_order": ["staging", "production"],
            "require_signed_commits": {"stages": ["production"], "allowed_signers": "keys"},
        }
    )
    assert blocked_canary(policies, _deployment("staging"), 20) == []
