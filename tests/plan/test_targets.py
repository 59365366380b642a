"""`plan --target` and `apply --target`: only the named objects and what they depend on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cli import run_in
from tests.support.git import commit_all, init_git
from tests.support.repos import engine_repo_v1, engine_repo_v2
from tests.support.values import NOW


def _changed(tmp_path: Path) -> Path:
    """Applied at v1, then edited to v2: steps on every model and deployment are pending."""
    repo = engine_repo_v1(tmp_path / "repo")
    init_git(repo.root)
    assert run_in(repo.root, "apply", "--now", NOW).code == 0
    engine_repo_v2(repo)
    commit_all(repo.root, "v2")
    return repo.root


def _steps(repo: Path, *args: str) -> list[dict[str, Any]]:
    done = run_in(repo, "plan", "--format", "json", "--now", NOW, *args)
    assert done.code == 0, done.seen
    steps: list[dict[str, Any]] = json.loads(done.out)["steps"]
    return steps


def _ids(steps: list[dict[str, Any]]) -> set[str]:
    return {s["id"] for s in steps}


def test_target_keeps_the_deployment_and_the_register_it_needs(tmp_path: Path) -> None:
    repo = _changed(tmp_path)
    full = _steps(repo)
    limited = _steps(repo, "--target", "Deployment/alpha-staging")
    objects = {(s["object"]["kind"], s["object"]["name"]) for s in limited}
    assert ("Deployment", "alpha-staging") in objects
    # the canary 1.2.0 must be registered first: its register step comes along
    assert any(s["action"] == "register" and s["object"]["version"] == "1.2.0" for s in limited)
    assert ("Deployment", "beta-prod") not in objects
    assert ("Model", "beta") not in objects
    assert _ids(limited) < _ids(full)
    # every dependency of a kept step is kept
    kept = _ids(limited)
    assert all(dep in kept for s in limited for dep in s["depends_on"] if dep in _ids(full))
    two = _steps(repo, "--target", "Deployment/alpha-staging", "--target", "Deployment/beta-prod")
    assert ("Deployment", "beta-prod") in {(s["object"]["kind"], s["object"]["name"]) for s in two}


def test_target_text_says_what_waits(tmp_path: Path) -> None:
    repo = _changed(tmp_path)
    done = run_in(repo, "plan", "--now", NOW, "--target", "Deployment/beta-prod")
    assert done.code == 0
    assert "plan limited to --target Deployment/beta-prod;" in done.out
    assert "wait for a full plan" in done.out


def test_apply_target_runs_only_those_steps(tmp_path: Path) -> None:
    repo = _changed(tmp_path)
    full = _ids(_steps(repo))
    done = run_in(
        repo, "apply", "--now", NOW, "--target", "Deployment/beta-prod", "--format", "json"
    )
    assert done.code == 0, done.seen
    applied = {s["id"] for s in json.loads(done.out)["steps"]}
    assert applied and all("beta" in step_id for step_id in applied), (
        applied
    )  # beta-prod and the register of beta 1.1.0
    left = _ids(_steps(repo))
    assert left == full - applied


def test_saved_targeted_plan_applies_only_its_steps(tmp_path: Path) -> None:
    repo = _changed(tmp_path)
    planfile = tmp_path / "plan.json"
    saved = run_in(
        repo, "plan", "--now", NOW, "--target", "Deployment/beta-prod", "-o", str(planfile)
    )
    assert saved.code == 0, saved.seen
    assert json.loads(planfile.read_text())["targets"] == ["Deployment/beta-prod"]
    done = run_in(repo, "apply", str(planfile), "--now", NOW, "--format", "json")
    assert done.code == 0, done.seen
    assert all("beta" in s["id"] for s in json.loads(done.out)["steps"])
    mixed = run_in(repo, "apply", str(planfile), "--target", "Deployment/beta-prod")
    assert mixed.code == 1 and "--target cannot be combined with a plan file" in mixed.err


def test_unknown_or_malformed_target_is_an_error(tmp_path: Path) -> None:
    repo = _changed(tmp_path)
    typo = run_in(repo, "plan", "--target", "Deployment/beta-prd")
    assert typo.code == 1
    assert "no Deployment 'beta-prd' in the specs or the recorded state" in typo.err
    assert "beta-prod" in typo.err
    for bad in ("beta-prod", "Rule/x", "Deployment/"):
        done = run_in(repo, "plan", "--target", bad)
        assert done.code == 1 and "expected Deployment/NAME or Model/NAME" in done.err, bad
    assert run_in(repo, "apply", "--target", "Model/nope").code == 1
    assert "alpha" in (repo / "models/alpha.yaml").read_text()
