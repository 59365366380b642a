"""Plan renderers: the summary line, colors only when asked, Markdown kept under the PR limit."""

from __future__ import annotations

import json

from mlops_gitops.plan.model import GateResult, ObjectRef, Plan, Step
from mlops_gitops.render.plan import (
    MARKDOWN_LIMIT,
    plan_json,
    plan_markdown,
    plan_text,
    summary_line,
)


def step(i: int, *, blocked: bool = False, reason: str = "a reason") -> Step:
    return Step(
        id=f"register:Model/model-{i:05d}@1.0.0",
        action="register",
        object=ObjectRef("Model", f"model-{i:05d}", "1.0.0"),
        reason=reason,
        before=None,
        after={"sha256": "ab" * 32, "format": "onnx", "scan": "not-needed"},
        status="blocked" if blocked else "ready",
        blocked_by=("gate roc_auc >= 0.9: 0.5 (offline) FAILED",) if blocked else (),
        gates=(GateResult("roc_auc", ">=", 0.9, 0.5, "offline", False, "1.0.0"),)
        if blocked
        else (),
    )


def make(steps: list[Step], warnings: tuple[str, ...] = ()) -> Plan:
    return Plan(
        steps=tuple(steps),
        base_commit=None,
        inputs_sha256="0" * 64,
        lineage=None,
        serial=0,
        now="2026-03-01T12:00:00+00:00",
        warnings=warnings,
    )


def test_summary_lines() -> None:
    assert summary_line(make([])) == "No changes. Recorded state matches the specs."
    assert summary_line(make([step(1), step(2, blocked=True)])) == (
        "Plan: 2 to register, 0 to deploy, 0 to promote, 0 to retire. 1 blocked."
    )


def test_text_is_plain_unless_painted() -> None:
    plan = make([step(1, blocked=True)])
    plain = plan_text(plan)
    assert "\033[" not in plain
    assert "+ register Model/model-00001 1.0.0  [blocked]" in plain
    assert "    blocked: gate roc_auc >= 0.9: 0.5 (offline) FAILED" in plain
    painted = plan_text(plan, lambda text, style: f"<{style}>{text}</{style}>")
    assert "<green>+ register Model/model-00001 1.0.0</green><red>  [blocked]</red>" in painted
    assert "<bold>Plan: 1 to register" in painted


def test_markdown_of_a_huge_plan_stays_under_the_limit() -> None:
    plan = make([step(i, reason="x" * 200) for i in range(5000)], warnings=("w",) * 10)
    text = plan_markdown(plan)
    assert len(text) <= MARKDOWN_LIMIT
    assert text.startswith("### mlops-gitops plan\n\nPlan: 5000 to register")
    tail = text.rstrip().splitlines()[-1]
    assert tail.startswith("_Plan truncated: ") and "more steps not shown" in tail
    shown = text.count("| + | register |")
    assert 0 < shown < 5000
    assert f"_Plan truncated: {5000 - shown} more steps not shown" in tail


def test_markdown_drops_details_before_the_table() -> None:
    plan = make([step(i, reason="y" * 2000) for i in range(60)])
    text = plan_markdown(plan)
    assert len(text) <= MARKDOWN_LIMIT
    assert text.count("| + | register |") == 60  # the whole table fits
    assert "_Details of " in text and "more steps not shown" in text
    assert 0 < text.count("<details>") < 60


def test_markdown_escapes_what_would_break_the_table() -> None:
    text = plan_markdown(make([step(1, reason="a | b <script>")]))
    assert "a \\| b &lt;script&gt;" in text
    assert "<script>" not in text


def test_json_is_the_contract() -> None:
    data = json.loads(plan_json(make([step(1, blocked=True)])))
    assert data["format_version"] == "1"
    assert data["summary"]["blocked"] == 1
    assert data["steps"][0]["gates"][0] == {
        "metric": "roc_auc",
        "op": ">=",
        "threshold": 0.9,
        "value": 0.5,
        "source": "offline",
        "passed": False,
        "version": "1.0.0",
    }
