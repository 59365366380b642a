"""Renderers for plans and apply results: text (terminal), Markdown (PR comment), JSON.

One implementation per format so the PR comment is never a second code path.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mlops_gitops.plan.model import ACTIONS, Plan, Step

SYMBOLS = {
    "register": "+",
    "deploy": "+",
    "promote": "~",
    "rollback": "~",
    "update": "~",
    "retire": "-",
    "undeploy": "-",
}
MARKDOWN_LIMIT = 65_000
Paint = Callable[[str, str], str]


def _plain(text: str, _style: str) -> str:
    return text


def _change(step: Step) -> str:
    before, after = step.before, step.after
    if step.object.kind == "Model":
        if step.action == "register" and after:
            sha = (after.get("sha256") or "unknown")[:12]
            scan = after.get("scan") or "not scanned"
            return f"sha256 {sha}..., {after.get('format')}, scan {scan}"
        if step.action == "retire":
            return "registered -> archived"
        return "metadata updated"
    return f"{_describe(before)} -> {_describe(after)}"


def _describe(config: dict[str, Any] | None) -> str:
    if not config:
        return "(none)"
    text = str(config.get("version"))
    canary = config.get("canary")
    if canary:
        text += f" + canary {canary['version']} {canary['traffic']}%"
    return text


def summary_line(plan: Plan) -> str:
    if plan.empty:
        return "No changes. Recorded state matches the specs."
    counts = plan.summary()
    parts = [f"{counts['register']} to register", f"{counts['deploy']} to deploy"]
    parts += [f"{counts['promote']} to promote"]
    for action in ("rollback", "update", "undeploy"):
        if counts[action]:
            parts.append(f"{counts[action]} to {action}")
    parts.append(f"{counts['retire']} to retire")
    line = "Plan: " + ", ".join(parts) + "."
    if counts["blocked"]:
        line += f" {counts['blocked']} blocked."
    return line


def plan_text(plan: Plan, paint: Paint = _plain) -> str:
    lines: list[str] = []
    colors = {"+": "green", "~": "yellow", "-": "red"}
    for step in plan.steps:
        symbol = SYMBOLS[step.action]
        head = f"{symbol} {step.action} {step.object}"
        lines.append(
            paint(head, colors[symbol])
            + (paint("  [blocked]", "red") if step.status == "blocked" else "")
        )
        lines.append(f"    {_change(step)}")
        lines.append(paint(f"    reason: {step.reason}", "dim"))
        for gate in step.gates:
            style = "green" if gate.passed else "red"
            lines.append(paint(f"    gate {gate.describe()}", style))
        for why in step.blocked_by:
            lines.append(paint(f"    blocked: {why}", "red"))
        for warning in step.warnings:
            lines.append(paint(f"    warning: {warning}", "yellow"))
        lines.append("")
    for warning in plan.warnings:
        lines.append(paint(f"warning: {warning}", "yellow"))
    lines.append(paint(summary_line(plan), "bold"))
    return "\n".join(lines) + "\n"


def plan_markdown(plan: Plan) -> str:
    head = ["### mlops-gitops plan", "", summary_line(plan), ""]
    if plan.empty:
        return "\n".join(head) + "\n"
    head += ["| | action | object | change | status |", "|---|---|---|---|---|"]
    rows = []
    for step in plan.steps:
        status = "ready" if step.status == "ready" else "**blocked**"
        rows.append(
            f"| {SYMBOLS[step.action]} | {step.action} | `{step.object}` | "
            f"{_md(_change(step))} | {status} |"
        )
    details = []
    for step in plan.steps:
        body = [f"<details><summary>{step.action} {_md(str(step.object))}</summary>", ""]
        body.append(f"- reason: {_md(step.reason)}")
        for gate in step.gates:
            icon = "pass" if gate.passed else "FAIL"
            body.append(f"- gate ({icon}): {_md(gate.describe())}")
        for why in step.blocked_by:
            body.append(f"- blocked: {_md(why)}")
        if step.depends_on:
            body.append(f"- after: {', '.join(f'`{d}`' for d in step.depends_on)}")
        body += ["", "</details>", ""]
        details.append("\n".join(body))
    warnings = [f"> warning: {_md(w)}" for w in plan.warnings]
    text = "\n".join(head + rows + [""] + warnings) + "\n"
    notice = "\n_Plan truncated: {n} more steps not shown. Run `mlops-gitops plan` for all._\n"
    for index, block in enumerate(details):
        remaining = len(details) - index
        if len(text) + len(block) + len(notice) + 20 > MARKDOWN_LIMIT:
            return text + notice.format(n=remaining)
        text += block
    return text


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_json(), indent=2, sort_keys=True) + "\n"


__all__ = ["ACTIONS", "plan_json", "plan_markdown", "plan_text", "summary_line"]
