"""Retirement plans: phases by date, each phase's spec edits committed once, blocked phases.

The repositories are small (safetensors artifacts of random bytes: no scan, instant loads) and
their files carry comments, so every test also checks the edits keep them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlops_gitops import api
from mlops_gitops.apply.status import status
from mlops_gitops.automate.retirement import run_retirements
from mlops_gitops.spec import models as spec_models
from tests.support.artifacts import safetensors_bytes
from tests.support.cli import run_cli
from tests.support.git import git, head, init_git

PROJECT = """\
# The project: one model, two deployments.
apiVersion: mlops-gitops/v1
kind: Project
metadata:
  name: retire-test
spec:
  git:
    author: "mlops-gitops <mlops-gitops@localhost>"
  policies:
    max_canary_step: 40   # percent per step
"""

MODEL = """\
# The classifier.
apiVersion: mlops-gitops/v1
kind: Model
metadata:
  name: clf
spec:
  task: classification  # binary
  versions:
    # The first version, retiring.
    - version: "1.0.0"
      artifact: artifacts/clf/1.0.0/model.safetensors
      format: safetensors
      metrics: {accuracy: 0.9}  # offline

    # A side version.
    - version: "1.1.0"
      artifact: artifacts/clf/1.1.0/model.safetensors
      format: safetensors

    # The replacement.
    - version: "1.2.0"
      artifact: artifacts/clf/1.2.0/model.safetensors
      format: safetensors  # newest
"""

PROD = """\
# Production serves the retiring version.
apiVersion: mlops-gitops/v1
kind: Deployment
metadata:
  name: prod
spec:
  model: clf
  stage: production
  version: "1.0.0"   # the stable version
  scaling: {min_replicas: 1, max_replicas: 2}  # small
"""

SHADOW = """\
# Shadow: 1.1.0 stable, the retiring version on canary.
apiVersion: mlops-gitops/v1
kind: Deployment
metadata:
  name: shadow
spec:
  model: clf
  stage: staging
  version: "1.1.0"
  canary:
    version: "1.0.0"   # the old one, still compared
    traffic: 40
"""

PLAN = """\
# Retire 1.0.0 in phases (the default ones).
apiVersion: mlops-gitops/v1
kind: RetirementPlan
metadata:
  name: retire-clf-1-0
spec:
  model: clf
  version: "1.0.0"
  retirement_date: "2027-03-01"
  replacement: "1.2.0"   # the new one
"""

PLAN_FILE = "retirements/retire-clf-1-0.yaml"
STATE_FILE = ".mlops/state/retirements/retire-clf-1-0.json"
START = "2026-11-01T06:00:00Z"


# ---------------------------------------------------------------- helpers


def write(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_repo(tmp_path: Path, files: dict[str, str | None] | None = None) -> Path:
    """The test repository, committed; `files` overrides (None leaves a file out)."""
    repo = tmp_path / "repo"
    contents: dict[str, str | None] = {
        "mlops.yaml": PROJECT,
        "models/clf.yaml": MODEL,
        "deployments/prod.yaml": PROD,
        "deployments/shadow.yaml": SHADOW,
        PLAN_FILE: PLAN,
        ".gitignore": ".mlops/artifacts/\n.mlops/apply.lock\n.mlops/journal.jsonl\n.mlops/cache/\n",
    }
    contents |= files or {}
    for rel, text in contents.items():
        if text is not None:
            write(repo, rel, text)
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        artifact = repo / f"artifacts/clf/{version}/model.safetensors"
        artifact.parent.mkdir(parents=True, exist_ok=True)
        artifact.write_bytes(safetensors_bytes(f"weights of {version}".encode() * 8))
    init_git(repo)
    return repo


def reconcile(repo: Path, now: str, fmt: str = "json") -> tuple[int, Any]:
    done = run_cli("--repo", repo, "reconcile", "--now", now, "--format", fmt)
    return done.code, done.json() if fmt == "json" else done.out


def retirement(result: dict[str, Any]) -> dict[str, Any]:
    (found,) = [r for r in result["retirements"] if r["plan"] == "retire-clf-1-0"]
    entry: dict[str, Any] = found
    return entry


def phase_commits(repo: Path) -> list[tuple[str, dict[str, list[str]]]]:
    """(subject, trailers) of the retirement commits, oldest first."""
    out = git(repo, "log", "--reverse", "--format=%B%x1e")
    found = []
    for body in out.split("\x1e"):
        lines = body.strip().splitlines()
        if not lines or not lines[0].startswith("mlops-gitops: retirement "):
            continue
        trailers: dict[str, list[str]] = {}
        for line in lines:
            key, sep, value = line.partition(": ")
            if sep and key.startswith("Mlops-"):
                trailers.setdefault(key, []).append(value)
        found.append((lines[0], trailers))
    return found


def comments(text: str) -> list[str]:
    return [line.split("#", 1)[1] for line in text.splitlines() if "#" in line]


def deployment(repo: Path, name: str) -> spec_models.DeploymentSpec:
    return api.open_workspace(repo).manifest.deployments[name].spec


def recorded(repo: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / f".mlops/state/deployments/{name}.json").read_text())
    return data


# ---------------------------------------------------------------- the walk through


def test_a_plan_walks_through_all_four_phases_each_once(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    code, result = reconcile(repo, START)
    assert code == 0, result
    assert retirement(result)["status"] == "scheduled"
    assert retirement(result)["next_phase"] == {
        "name": "deprecation_warning",
        "starts": "2026-12-01",
    }
    assert result["apply"]["summary"] == {"done": 6}
    assert phase_commits(repo) == []

    # deprecation_warning (90 days before): recorded by a commit, nothing edited, warned about.
    code, result = reconcile(repo, "2026-12-01T06:00:00Z")
    assert code == 0
    found = retirement(result)
    assert (found["active_phase"], found["status"], found["completed"]) == (
        "deprecation_warning",
        "acted",
        ["deprecation_warning"],
    )
    assert found["phases"][0]["edits"] == []
    ws = api.open_workspace(repo)
    warnings = ws.plan(datetime(2026, 12, 2, tzinfo=UTC)).warnings
    assert any("clf 1.0.0 is deprecated" in w and "retire-clf-1-0" in w for w in warnings)
    versions = {v["version"]: v for v in status(ws, datetime(2026, 12, 2, tzinfo=UTC))["models"]}
    assert versions["1.0.0"]["status"] == "deprecated"
    assert versions["1.0.0"]["deprecation"]["replacement"] == "1.2.0"
    assert versions["1.2.0"]["status"] == "production" or versions["1.2.0"]["deprecation"] is None
    before = head(repo)
    code, result = reconcile(repo, "2026-12-01T18:00:00Z")
    assert code == 0 and head(repo) == before, "a recorded phase is never done twice"
    assert retirement(result)["phases"] == []

    # traffic_reduction (30 days before: 2027-01-30): one step of 40 points per UTC day.
    code, result = reconcile(repo, "2027-01-30T01:00:00Z")
    assert code == 0, result
    edits = retirement(result)["phases"][0]["edits"]
    assert edits == [
        {"path": "deployments/prod.yaml", "change": "canary 1.2.0 added at 40% (1.0.0 stable)"},
        {"path": "deployments/shadow.yaml", "change": "canary 1.0.0 traffic 40% -> 0%"},
    ]
    assert deployment(repo, "prod").canary == spec_models.Canary(version="1.2.0", traffic=40)
    assert deployment(repo, "shadow").canary == spec_models.Canary(version="1.0.0", traffic=0)
    assert recorded(repo, "prod")["canary"] == {"version": "1.2.0", "traffic": 40}
    assert result["apply"]["commit"] is not None
    prod_text = (repo / "deployments/prod.yaml").read_text()
    assert (
        '  version: "1.0.0"   # the stable version\n  canary: {version: "1.2.0", traffic: 40}\n'
        in (prod_text)
    )
    before = head(repo)
    code, result = reconcile(repo, "2027-01-30T23:59:00Z")
    assert code == 0 and head(repo) == before, "at most one step per day"
    for day, traffic in (("2027-01-31", 80), ("2027-02-01", 100)):
        code, result = reconcile(repo, f"{day}T00:30:00Z")
        assert code == 0, result
        assert deployment(repo, "prod").canary == spec_models.Canary(
            version="1.2.0", traffic=traffic
        )
        assert recorded(repo, "prod")["canary"] == {"version": "1.2.0", "traffic": traffic}
    before = head(repo)
    code, result = reconcile(repo, "2027-02-02T00:30:00Z")
    assert code == 0 and head(repo) == before, "100% reached: nothing more until final_migration"

    # final_migration (7 days before: 2027-02-22): the replacement becomes stable.
    code, result = reconcile(repo, "2027-02-22T00:30:00Z")
    assert code == 0, result
    assert retirement(result)["phases"][0]["status"] == "done"
    prod, shadow = deployment(repo, "prod"), deployment(repo, "shadow")
    assert (prod.version, prod.canary) == ("1.2.0", None)
    assert (shadow.version, shadow.canary) == ("1.1.0", None)
    assert (recorded(repo, "prod")["version"], recorded(repo, "prod")["canary"]) == ("1.2.0", None)
    assert (repo / "deployments/prod.yaml").read_text() == PROD.replace("1.0.0", "1.2.0")
    assert (repo / "deployments/shadow.yaml").read_text() == SHADOW.split("  canary:")[0]
    before = head(repo)
    assert reconcile(repo, "2027-02-25T00:30:00Z")[0] == 0 and head(repo) == before

    # retirement (on the date): the version leaves the model spec, the plan is done.
    code, result = reconcile(repo, "2027-03-01T00:30:00Z")
    assert code == 0, result
    assert retirement(result)["completed"] == [
        "deprecation_warning",
        "final_migration",
        "retirement",
    ]
    steps = {s["id"]: s["status"] for s in result["apply"]["steps"]}
    assert steps == {"retire:Model/clf@1.0.0": "done"}
    model_text = (repo / "models/clf.yaml").read_text()
    assert "1.0.0" not in model_text and "The first version" not in model_text
    assert comments(model_text) == [
        c for c in comments(MODEL) if c not in (" The first version, retiring.", " offline")
    ]
    assert model_text == MODEL.replace(
        MODEL[MODEL.index("    # The first") : MODEL.index("    # A side")], ""
    )
    assert not (repo / PLAN_FILE).exists()
    model_state = json.loads((repo / ".mlops/state/models/clf.json").read_text())
    entry = model_state["versions"]["1.0.0"]
    assert entry["status"] == "archived"
    assert (repo / ".mlops/artifacts" / entry["blob"]).is_file(), "the artifact is kept"
    versions = {v["version"]: v for v in api.status(repo)["models"]}
    assert versions["1.0.0"]["status"] == "archived"

    # Afterwards: nothing to do, no commit.
    before = head(repo)
    code, text = reconcile(repo, "2027-03-02T00:30:00Z", fmt="text")
    assert code == 0 and head(repo) == before
    assert "Nothing to do" in text
    assert git(repo, "status", "--porcelain") == ""

    # Each phase is its own commit with the trailers; the traffic steps one per day.
    commits = phase_commits(repo)
    assert [c[0] for c in commits] == [
        "mlops-gitops: retirement retire-clf-1-0 deprecation_warning",
        *["mlops-gitops: retirement retire-clf-1-0 traffic_reduction"] * 3,
        "mlops-gitops: retirement retire-clf-1-0 final_migration",
        "mlops-gitops: retirement retire-clf-1-0 retirement",
    ]
    for _, trailers in commits:
        assert trailers["Mlops-Retirement"] == ["retire-clf-1-0"]
    assert "Mlops-Edit" not in commits[0][1]
    assert commits[-1][1]["Mlops-Edit"] == [
        "models/clf.yaml: version 1.0.0 removed: retired, its artifact archived",
        f"{PLAN_FILE}: deleted: the plan is complete (record: {STATE_FILE})",
    ]
    assert commits[4][1]["Mlops-Edit"] == [
        "deployments/prod.yaml: version 1.0.0 -> 1.2.0, canary 1.2.0 (100%) removed: now stable",
        "deployments/shadow.yaml: canary 1.0.0 (0%) removed",
    ]
    assert all(c[1]["Mlops-Phase"] == [c[0].rsplit(" ", 1)[1]] for c in commits)


def test_reconcile_text_output_names_the_phase_and_its_edits(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    assert reconcile(repo, START)[0] == 0
    code, text = reconcile(repo, "2027-01-30T01:00:00Z", fmt="text")
    assert code == 0
    assert (
        "retirement retire-clf-1-0: clf 1.0.0 -> 1.2.0 on 2027-03-01: phase traffic_reduction: "
        "ACTED" in text
    )
    assert "traffic_reduction: edited deployments/prod.yaml: canary 1.2.0 added at 40%" in text
    assert "next step of 40 points on 2027-01-31 at the earliest" in text


def test_missed_phases_are_caught_up_in_order(tmp_path: Path) -> None:
    """No reconcile ran for months: the due phases run in order, the passed traffic phase is
    skipped, and the migration and the retirement land in one run (the plan orders them)."""
    repo = make_repo(tmp_path)
    assert reconcile(repo, START)[0] == 0
    code, result = reconcile(repo, "2027-03-05T00:00:00Z")
    assert code == 0, result
    phases = [(p["phase"], p["status"]) for p in retirement(result)["phases"]]
    assert phases == [
        ("deprecation_warning", "done"),
        ("traffic_reduction", "skipped"),
        ("final_migration", "done"),
        ("retirement", "done"),
    ]
    steps = [(s["action"], s["status"]) for s in result["apply"]["steps"]]
    assert ("retire", "done") in steps and steps[-1] == ("retire", "done")
    assert recorded(repo, "prod")["version"] == "1.2.0"
    assert len(phase_commits(repo)) == 4


def test_a_changed_canary_is_not_overridden(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    assert reconcile(repo, START)[0] == 0
    assert reconcile(repo, "2027-01-30T01:00:00Z")[0] == 0
    # Someone (a human, a rule) pulls the replacement's canary back to 10%.
    path = repo / "deployments/prod.yaml"
    path.write_text(path.read_text().replace("traffic: 40}", "traffic: 10}"))
    git(repo, "commit", "-q", "-am", "Hold the canary at 10%")
    code, result = reconcile(repo, "2027-01-31T01:00:00Z")
    assert code == 0
    notes = retirement(result)["phases"][0]["notes"]
    assert any("Deployment/prod: the canary changed since the tool set it" in n for n in notes)
    assert deployment(repo, "prod").canary == spec_models.Canary(version="1.2.0", traffic=10)


def test_a_step_waits_until_the_previous_one_is_applied(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    assert reconcile(repo, START)[0] == 0
    ws = api.open_workspace(repo)
    (outcome,) = run_retirements(ws, datetime(2027, 1, 30, 1, tzinfo=UTC))
    assert [p.status for p in outcome.phases] == ["done", "stepped"]
    # Not applied: the next day's step waits rather than stacking 40 more points.
    (outcome,) = run_retirements(api.open_workspace(repo), datetime(2027, 1, 31, 1, tzinfo=UTC))
    assert outcome.phases[0].status == "waiting"
    assert any("Deployment/prod: waiting until the spec" in n for n in outcome.phases[0].notes)
    assert deployment(repo, "prod").canary == spec_models.Canary(version="1.2.0", traffic=40)


# ---------------------------------------------------------------- blocked


def test_an_unregistered_replacement_blocks_the_phase_and_edits_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "artifacts/clf/1.2.0/model.safetensors").unlink()
    git(repo, "commit", "-q", "-am", "The replacement's artifact is not there yet")
    code, result = reconcile(repo, START)
    assert code == 3  # its register step is blocked
    before = head(repo)
    specs = {p: (repo / p).read_text() for p in ("deployments/prod.yaml", "models/clf.yaml")}
    for now in ("2027-01-30T01:00:00Z", "2027-02-22T01:00:00Z"):
        code, result = reconcile(repo, now)
        assert code == 3
        found = retirement(result)
        assert found["status"] == "blocked"
        assert any(
            "the replacement clf 1.2.0 is not registered in the recorded state" in why
            for why in found["blocked_by"]
        ), found
        assert all(p["edits"] == [] for p in found["phases"])
    # Recorded: the deprecation, and the traffic phase skipped once its time was over.
    assert [c[0].rsplit(" ", 1)[1] for c in phase_commits(repo)] == [
        "deprecation_warning",
        "traffic_reduction",
    ]
    assert {p: (repo / p).read_text() for p in specs} == specs
    assert not git(repo, "diff", f"{before}..HEAD", "--", "deployments", "models")
    code, text = reconcile(repo, "2027-02-22T02:00:00Z", fmt="text")
    assert "BLOCKED" in text and "final_migration: BLOCKED: the replacement clf 1.2.0" in text


def test_a_passed_retirement_date_without_migration_is_blocked(tmp_path: Path) -> None:
    plan = PLAN + (
        "  phases:                 # no traffic reduction, no migration\n"
        "    - {name: deprecation_warning, days_before: 90}\n"
        "    - {name: retirement, days_before: 0}\n"
    )
    repo = make_repo(tmp_path, {PLAN_FILE: plan})
    assert reconcile(repo, START)[0] == 0
    code, result = reconcile(repo, "2027-03-01T06:00:00Z")
    assert code == 3
    found = retirement(result)
    assert found["status"] == "blocked"
    assert found["completed"] == ["deprecation_warning"]
    assert any(
        "the retirement date 2027-03-01 has passed but Deployment/prod (deployments/prod.yaml) "
        "still serves 1.0.0 as stable without migration" in why
        for why in found["blocked_by"]
    )
    assert any("Deployment/shadow" in why and "as canary" in why for why in found["blocked_by"])
    assert (repo / "models/clf.yaml").read_text() == MODEL
    assert (repo / PLAN_FILE).exists()
    before = head(repo)
    assert reconcile(repo, "2027-03-01T07:00:00Z")[0] == 3 and head(repo) == before
    # A human migrates; the next run retires the version.
    write(repo, "deployments/prod.yaml", PROD.replace("1.0.0", "1.2.0"))
    write(repo, "deployments/shadow.yaml", SHADOW.split("  canary:")[0])
    git(repo, "commit", "-q", "-am", "Move off 1.0.0")
    code, result = reconcile(repo, "2027-03-01T08:00:00Z")
    assert code == 0, result
    assert retirement(result)["phases"][0]["status"] == "done"
    assert "1.0.0" not in (repo / "models/clf.yaml").read_text()
    assert {s["id"]: s["status"] for s in result["apply"]["steps"]}[
        "retire:Model/clf@1.0.0"
    ] == "done"


def test_a_template_serving_the_version_blocks_the_migration(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path, {"deployments/shadow.yaml": None, "deployments/shadow.yaml.j2": SHADOW}
    )
    assert reconcile(repo, START)[0] == 0
    code, result = reconcile(repo, "2027-01-30T01:00:00Z")
    assert code == 0
    traffic = retirement(result)["phases"][-1]
    assert [e["path"] for e in traffic["edits"]] == ["deployments/prod.yaml"]
    assert any("deployments/shadow.yaml.j2) is a template" in n for n in traffic["notes"])
    code, result = reconcile(repo, "2027-02-22T01:00:00Z")
    assert code == 3
    (why,) = retirement(result)["blocked_by"]
    assert why.startswith("final_migration: Deployment/shadow (deployments/shadow.yaml.j2)")
    assert deployment(repo, "prod").version == "1.0.0", "nothing half-edited"


def test_a_rule_rolling_back_to_the_version_blocks_the_retirement(tmp_path: Path) -> None:
    rule = """\
apiVersion: mlops-gitops/v1
kind: Rule
metadata:
  name: prod-guard
spec:
  deployment: prod
  triggers: [{type: error_rate_increase, above: 0.5}]
  actions: [{type: rollback_deployment, to: "1.0.0"}]
"""
    repo = make_repo(tmp_path, {"rules/prod-guard.yaml": rule})
    assert reconcile(repo, START)[0] == 0
    code, result = reconcile(repo, "2027-03-01T06:00:00Z")
    assert code == 3
    found = retirement(result)
    assert [p["status"] for p in found["phases"]][-1] == "blocked"
    assert any(
        "Rule/prod-guard (rules/prod-guard.yaml) rolls back to 1.0.0" in why
        for why in found["blocked_by"]
    )
    assert "1.0.0" in (repo / "models/clf.yaml").read_text()


def test_without_commit_the_edits_are_written_but_not_committed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    assert reconcile(repo, START)[0] == 0
    before = head(repo)
    outcomes = run_retirements(
        api.open_workspace(repo), datetime(2026, 12, 5, tzinfo=UTC), commit=False
    )
    assert [o.to_json()["commits"] for o in outcomes] == [[]]
    assert head(repo) == before
    assert git(repo, "status", "--porcelain", "-uall").strip() == f"?? {STATE_FILE}"


# ---------------------------------------------------------------- history: who did what


def history_events(repo: Path, *args: str) -> Any:
    done = run_cli("--repo", repo, "history", "--format", "json", *args, expect=0)
    return done.json()["events"]


def test_history_names_the_human_and_the_retirement_phase_as_actors(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo = make_repo(tmp_path)
    human = head(repo)
    assert reconcile(repo, START)[0] == 0
    code, result = reconcile(repo, "2027-01-30T01:00:00Z")
    assert code == 0, result
    events = history_events(repo)

    # The first apply's steps were caused by the human's spec commit.
    first = [e for e in events if e["action"] == "register"]
    assert {e["object"]["version"] for e in first} == {"1.0.0", "1.1.0", "1.2.0"}
    for event in first:
        assert event["actor"] == {"name": "Test Author", "email": "author@example.com"}
        assert event["cause"] == {"commit": human, "kind": "spec"}

    # Each phase is an event of its own, and the steps it caused name it as their actor.
    phases = [e for e in events if e["action"] == "retirement-phase"]
    assert [e["reason"].split(";")[0] for e in phases] == [
        "phase traffic_reduction",
        "phase deprecation_warning",
    ]
    robot = {"name": "retirement:retire-clf-1-0"}
    assert all(e["actor"] == robot for e in phases)
    assert all(e["object"] == {"kind": "Model", "name": "clf", "version": "1.0.0"} for e in phases)
    reduction = phases[0]["commit"]
    assert phases[0]["cause"] == {"commit": reduction, "kind": "retirement"}
    caused = [
        e for e in events if e["cause"]["commit"] == reduction and e["action"] != "retirement-phase"
    ]
    assert {(e["action"], e["object"]["name"]) for e in caused} >= {
        ("deploy", "prod"),
        ("update", "shadow"),
    }
    assert all(e["actor"] == robot for e in caused)
    assert all(e["commit"] != reduction for e in caused)  # applied by a later commit

    # Filters: by actor (exact, or every retirement plan), by deployment, by time.
    assert history_events(repo, "--actor", "retirement:retire-clf-1-0") == [
        e for e in events if e["actor"] == robot
    ]
    assert history_events(repo, "--actor", "retirement:") == [
        e for e in events if e["actor"] == robot
    ]
    by_human = history_events(repo, "--actor", "AUTHOR@example.com")
    assert by_human == [e for e in events if e["cause"] == {"commit": human, "kind": "spec"}]
    assert all(e in by_human for e in first)
    shadow = history_events(repo, "--deployment", "shadow")
    assert shadow and all(e["object"]["name"] == "shadow" for e in shadow)
    assert history_events(repo, "--until", "2000-01-01") == []


def test_history_refuses_unknown_names_and_bad_times(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(tmp_path)
    for args, message in (
        (["--deployment", "nope"], "--deployment 'nope' names nothing"),
        (["--model", "nope"], "--model 'nope' names nothing"),
        (["--since", "yesterday"], "--since 'yesterday' is not an ISO 8601"),
    ):
        done = run_cli("--repo", repo, "history", *args, expect=1)
        assert message in done.err
        assert "No applied steps" not in done.out


def test_a_phase_trailer_typed_by_hand_is_the_humans_own(
    tmp_path: Path, env: dict[str, str]
) -> None:
    repo = make_repo(tmp_path)
    assert reconcile(repo, START)[0] == 0
    text = (repo / "deployments/shadow.yaml").read_text().replace("traffic: 40", "traffic: 30")
    write(repo, "deployments/shadow.yaml", text)
    git(repo, "commit", "-q", "-am", "Less canary\n\nMlops-Retirement: retire-clf-1-0\n")
    forged = head(repo)
    assert reconcile(repo, START)[0] == 0
    events = history_events(repo)
    assert not [e for e in events if e["action"] == "retirement-phase"]
    (update,) = [e for e in events if e["action"] == "update"]
    assert update["actor"] == {"name": "Test Author", "email": "author@example.com"}
    assert update["cause"] == {"commit": forged, "kind": "spec"}
