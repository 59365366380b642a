"""Plans as text (terminal), Markdown (PR comment) and JSON.

One implementation per format so the PR comment is never a second code path.
"""

from __future__ import annotations

from typing import Any

from mlops_gitops.plan.model import ACTIONS, Plan, Step
from mlops_gitops.render.base import Lines, Paint, document, plain, scrub
from mlops_gitops.safeio import dumps

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


def _change(step: Step) -> str:
    before, after = step.before, step.after
    if step.object.kind == "Model":
        if step.action == "register" and after:
            sha = (after.get("sha256") or "unknown")[:12]
            scan = after.get("scan") or "not scanned"
            return f"sha256 {sha}..., {after.get('format')}, scan {scan}"
        if step.action == "retire":
            return "registered -> archived"
        changed = [
            k for k in ("metrics", "source") if (before or {}).get(k) != (after or {}).get(k)
        ]
        return "metadata updated" + (f": {', '.join(changed)}" if changed else "")
    described = f"{_describe(before)} -> {_describe(after)}"
    if before and after and _describe(before) == _describe(after):
        # Only settings changed: show those, not an unchanged version line.
        changes = _settings_changes(before.get("settings") or {}, after.get("settings") or {})
        return ", ".join(changes) or described
    return described


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def _settings_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    old, new = _flatten(before), _flatten(after)
    return [
        f"{key} {dumps(old.get(key))} -> {dumps(new.get(key))}"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]


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


def plan_text(plan: Plan, paint: Paint = plain) -> str:
    out = Lines(paint)
    colors = {"+": "green", "~": "yellow", "-": "red"}
    for step in plan.steps:
        symbol = SYMBOLS[step.action]
        head: list[tuple[str, str | None]] = [
            (f"{symbol} {step.action} {step.object}", colors[symbol])
        ]
        if step.status == "blocked":
            head.append(("  [blocked]", "red"))
        out.add_parts(head)
        out.add(f"    {_change(step)}")
        out.add(f"    reason: {step.reason}", "dim")
        for gate in step.gates:
            out.add(f"    gate {gate.describe()}", "green" if gate.passed else "red")
        for why in step.blocked_by:
            out.add(f"    blocked: {why}", "red")
        for warning in step.warnings:
            out.add(f"    warning: {warning}", "yellow")
        out.add()
    for warning in plan.warnings:
        out.add(f"warning: {warning}", "yellow")
    out.add(summary_line(plan), "bold")
    return out.text()


TABLE_CUT = "\n_Plan truncated: {n} more steps not shown. Run `mlops-gitops plan` for all._\n"
DETAILS_CUT = (
    "\n_Details of {n} more steps not shown to keep this comment short."
    " Run `mlops-gitops plan` for all._\n"
)


def plan_markdown(plan: Plan) -> str:
    """A PR comment: summary, table, collapsible details; never longer than MARKDOWN_LIMIT."""
    head = ["### mlops-gitops plan", "", summary_line(plan), ""]
    if plan.empty:
        return "\n".join(head) + "\n"
    head += ["| | action | object | change | status |", "|---|---|---|---|---|"]
    budget = MARKDOWN_LIMIT - max(len(TABLE_CUT), len(DETAILS_CUT)) - 20
    text = "\n".join(head) + "\n"
    lines = [_row(step) for step in plan.steps] + [""]
    lines += [f"> warning: {_md(w)}" for w in plan.warnings]
    for index, line in enumerate(lines):
        if len(text) + len(line) + 1 > budget:
            return text + TABLE_CUT.format(n=max(len(plan.steps) - index, 0))
        text += line + "\n"
    for index, step in enumerate(plan.steps):
        block = _details(step)
        if len(text) + len(block) > budget:
            return text + DETAILS_CUT.format(n=len(plan.steps) - index)
        text += block
    return text


def _row(step: Step) -> str:
    status = "ready" if step.status == "ready" else "**blocked**"
    return (
        f"| {SYMBOLS[step.action]} | {step.action} | `{step.object}` | "
        f"{_md(_change(step))} | {status} |"
    )


def _details(step: Step) -> str:
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
    return "\n".join(body)


def _md(text: str) -> str:
    """Text that stays inside its table cell or list item and cannot open HTML."""
    return scrub(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def plan_json(plan: Plan) -> str:
    return document(plan.to_json())


__all__ = ["ACTIONS", "plan_json", "plan_markdown", "plan_text", "summary_line"]
