"""`plan` output on example-repo against golden files, in every format, and the JSON contract
of a plan; `UPDATE_GOLDEN=1` rewrites the goldens for review."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mlops_gitops.plan.model import ACTIONS
from tests.support.cli import run_cli
from tests.support.example import mixed_edits
from tests.support.git import commit_all, head
from tests.support.golden import assert_golden, normalize
from tests.support.values import NOW

GOLDEN = Path(__file__).parent / "golden"


def normalized_json(text: str) -> str:
    data = json.loads(text)
    data["base_commit"] = "<commit>" if data["base_commit"] else None
    data["inputs_sha256"] = "<inputs>"
    if data["state"]["lineage"]:
        data["state"]["lineage"] = "<lineage>"
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_initial_plan_golden(loop_example: Path, tmp_path: Path, fmt: str) -> None:
    done = run_cli("--repo", loop_example, "plan", "--format", fmt, "--now", NOW)
    assert done.code == 0, done.seen
    text = normalized_json(done.out) if fmt == "json" else normalize(done.out, tmp_path)
    assert_golden(GOLDEN / f"plan-initial.{'md' if fmt == 'markdown' else fmt}", text)


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_mixed_plan_golden(loop_applied: Path, tmp_path: Path, fmt: str) -> None:
    mixed_edits(loop_applied)
    commit_all(loop_applied, "Mixed changes")
    done = run_cli("--repo", loop_applied, "plan", "--format", fmt, "--now", NOW)
    assert done.code == 0, done.seen
    text = normalized_json(done.out) if fmt == "json" else normalize(done.out, tmp_path)
    assert_golden(GOLDEN / f"plan-mixed.{'md' if fmt == 'markdown' else fmt}", text)


def test_plan_json_contract(loop_example: Path) -> None:
    data = json.loads(run_cli("--repo", loop_example, "plan", "--format", "json", "--now", NOW).out)
    assert data["format_version"] == "1"
    assert data["base_commit"] == head(loop_example)
    assert data["state"] == {"lineage": None, "serial": 0}
    counts = Counter(s["action"] for s in data["steps"])
    assert data["summary"] == {a: counts.get(a, 0) for a in ACTIONS} | {
        "blocked": sum(s["status"] == "blocked" for s in data["steps"])
    }
    assert data["summary"]["register"] == 5
    for step in data["steps"]:
        assert {"id", "action", "object", "status", "reason", "before", "after"} <= set(step)
        assert {"gates", "depends_on"} <= set(step)
        assert set(step["object"]) == {"kind", "name", "version"}
        for gate in step["gates"]:
            assert {"metric", "op", "threshold", "value", "source", "passed"} <= set(gate)
    ids = [s["id"] for s in data["steps"]]
    for index, step in enumerate(data["steps"]):
        assert all(ids.index(d) < index for d in step["depends_on"])


def test_plan_text_and_markdown_on_no_changes(loop_applied: Path) -> None:
    text = run_cli("--repo", loop_applied, "plan", "--now", NOW)
    assert text.out == "No changes. Recorded state matches the specs.\n"
    markdown = run_cli("--repo", loop_applied, "plan", "--format", "markdown", "--now", NOW)
    assert markdown.out == (
        "### mlops-gitops plan\n\nNo changes. Recorded state matches the specs.\n\n"
    )
