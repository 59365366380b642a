"""Command line: parse arguments, call `api`, render, map exit codes. Nothing imports this module.

Imports of the library happen inside the command functions so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TextIO

from mlops_gitops import __version__

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_BLOCKED = 3
EXIT_INTERNAL = 4
JSON_FORMAT_VERSION = "1"


class Output:
    """Plain text, colored only on a terminal and never when NO_COLOR is set."""

    CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2", "cyan": "36"}

    def __init__(self, stream: TextIO, color: bool | None = None) -> None:
        self.stream = stream
        if color is None:
            color = stream.isatty() and not os.environ.get("NO_COLOR")
        self.color = color

    def paint(self, text: str, style: str) -> str:
        return f"\033[{self.CODES[style]}m{text}\033[0m" if self.color else text

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")

    def json(self, payload: dict[str, Any]) -> None:
        self.stream.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")


class Parser(argparse.ArgumentParser):
    """Bad arguments are a user error: exit 1 (exit 2 means "changes" for plan)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


# ---------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.errors import MlopsError, Problem

    try:
        result = api.validate(args.repo)
    except MlopsError as exc:
        if args.format != "json":
            raise
        missing = Problem(str(exc), path="mlops.yaml")
        out.json(
            {"format_version": JSON_FORMAT_VERSION, "valid": False, "errors": [missing.to_json()]}
        )
        return EXIT_ERROR
    if args.format == "json":
        out.json(
            {
                "format_version": JSON_FORMAT_VERSION,
                "valid": result.valid,
                "errors": [p.to_json() for p in result.problems],
                "objects": result.counts(),
            }
        )
    elif args.format == "github":
        for problem in result.problems:
            out.line(_github_annotation(problem.to_json()))
    else:
        for problem in result.problems:
            text = problem.render()
            head, _, rest = text.partition("\n")
            out.line(f"{out.paint(head, 'red')}{chr(10) + rest if rest else ''}")
    if args.format != "json":
        counts = result.counts()
        summary = ", ".join(f"{n} {kind}" for kind, n in counts.items())
        if result.valid:
            out.line(out.paint(f"Valid: {sum(counts.values())} objects ({summary}).", "green"))
        else:
            n = len(result.problems)
            sys.stderr.write(f"Invalid: {n} problem{'s' if n != 1 else ''} found.\n")
    return EXIT_OK if result.valid else EXIT_ERROR


def _github_annotation(problem: dict[str, Any]) -> str:
    """A GitHub Actions workflow command that shows the error on the file's line in a PR."""
    props = [f"file={problem['path']}"]
    if problem["line"]:
        props.append(f"line={problem['line']}")
    if problem["column"]:
        props.append(f"col={problem['column']}")
    where = "/".join(x for x in (problem["kind"], problem["name"]) if x)
    title = ": ".join(x for x in (where, problem["field"]) if x)
    if title:
        props.append(f"title={_escape_property(title)}")
    message = problem["message"].replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return f"::error {','.join(props)}::{message}"


def _escape_property(value: str) -> str:
    return (
        value.replace("%", "%25")
        .replace("\r", "%0D")
        .replace("\n", "%0A")
        .replace(":", "%3A")
        .replace(",", "%2C")
    )


@contextmanager
def _writing(target: str | Path) -> Iterator[None]:
    """An OSError while writing an output the user named (-o, DIR) is their error, not a bug."""
    from mlops_gitops.errors import MlopsError

    try:
        yield
    except OSError as exc:
        raise MlopsError(f"cannot write {target}: {exc.strerror or exc}") from exc


def cmd_compile(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    with _writing(args.output):
        path = api.write_manifest(args.repo, Path(args.output))
    out.line(f"Wrote {path}")
    return EXIT_OK


def cmd_schema_export(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    with _writing(args.directory):
        paths = api.export_schemas(Path(args.directory))
    for path in paths:
        out.line(f"Wrote {path}")
    return EXIT_OK


def cmd_plan(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api, render

    plan = api.plan(args.repo, args.now)
    if args.out:
        from mlops_gitops.util import atomic_write

        with _writing(args.out):
            atomic_write(Path(args.out), render.plan_json(plan).encode())
    if args.format == "json":
        out.stream.write(render.plan_json(plan))
    elif args.format == "markdown":
        out.stream.write(render.plan_markdown(plan))
    else:
        out.stream.write(render.plan_text(plan, out.paint))
        if args.out:
            out.line(f"Saved the plan to {args.out}; apply it with: mlops-gitops apply {args.out}")
    if args.detailed_exitcode and not plan.empty:
        return EXIT_CHANGES
    return EXIT_OK


def cmd_apply(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    result = api.apply(
        args.repo,
        Path(args.planfile) if args.planfile else None,
        args.now,
        commit=not args.no_commit,
        lock_timeout=args.lock_timeout,
    )
    if args.format == "json":
        out.json(result.to_json())
        return result.exit_code
    if result.resumed:
        out.line(out.paint("Resuming an interrupted apply.", "yellow"))
    styles = {"done": "green", "failed": "red", "blocked": "red", "skipped": "yellow"}
    for outcome in result.outcomes:
        line = f"{outcome.status:8s} {outcome.step.action} {outcome.step.object}"
        if outcome.message:
            line += f": {outcome.message}"
        out.line(out.paint(line, styles.get(outcome.status, "bold")))
        for warning in outcome.warnings:
            out.line(out.paint(f"         warning: {warning}", "yellow"))
    counts = result.counts()
    if not result.outcomes:
        out.line("No changes. Recorded state matches the specs.")
    else:
        parts = [f"{counts[k]} {k}" for k in ("done", "failed", "blocked", "skipped") if counts[k]]
        out.line(out.paint("Apply: " + ", ".join(parts) + ".", "bold"))
    if result.commit:
        out.line(f"Committed {result.commit[:12]} (state serial {result.serial}).")
    elif result.serial is not None:
        out.line(f"State serial {result.serial}; not committed (--no-commit).")
    return result.exit_code


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    report = api.status(args.repo)
    if args.format == "json":
        out.json(report)
        return EXIT_OK
    rows: list[tuple[str, ...]] = [("DEPLOYMENT", "MODEL", "DESIRED", "ACTUAL", "SYNC", "HEALTH")]
    for item in report["deployments"]:
        rows.append(
            (
                item["name"],
                item["model"] or "-",
                _config_text(item["desired"]),
                _config_text(item["actual"]),
                item["sync"],
                item["health"],
            )
        )
    _table(out, rows, {4: {"Synced": "green", "OutOfSync": "yellow"}})
    out.line()
    rows = [("MODEL", "VERSION", "STATUS", "SHA256", "SCAN")]
    for item in report["models"]:
        sha = (item["sha256"] or "-")[:12]
        rows.append((item["model"], item["version"], item["status"], sha, item["scan"] or "-"))
    _table(out, rows, {})
    return EXIT_OK


def _config_text(config: dict[str, Any] | None) -> str:
    if not config:
        return "-"
    text = str(config["version"])
    if config.get("canary"):
        text += f" +{config['canary']['version']}@{config['canary']['traffic']}%"
    return text


def _table(out: Output, rows: Sequence[tuple[str, ...]], colors: dict[int, dict[str, str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = []
        for col, cell in enumerate(row):
            padded = cell.ljust(widths[col]) if col < len(row) - 1 else cell
            style = colors.get(col, {}).get(cell)
            cells.append(out.paint(padded, style) if style and index else padded)
        out.line("  ".join(cells).rstrip())


def cmd_history(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    events = api.history(args.repo, args.model, args.deployment)
    if args.format == "json":
        out.json({"format_version": JSON_FORMAT_VERSION, "events": [e.to_json() for e in events]})
        return EXIT_OK
    if not events:
        out.line("No applied steps recorded yet.")
        return EXIT_OK
    rows = [("TIME", "COMMIT", "ACTION", "OBJECT", "REASON")]
    for event in events:
        obj = f"{event.kind}/{event.name}" + (f" {event.version}" if event.version else "")
        rows.append((event.time, event.commit[:10], event.action, obj, event.reason))
    _table(out, rows, {})
    return EXIT_OK


def cmd_rollback(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    change = api.rollback(args.repo, args.deployment, args.to)
    where = f"committed {change.commit[:12]}" if change.commit else "not committed"
    out.line(f"Edited {change.path}: {change.summary} ({where}).")
    out.line("Run plan and apply to carry it out.")
    return EXIT_OK


def cmd_monitor(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    outcomes = api.monitor(args.repo, args.deployment, args.now, commit=not args.no_commit)
    if args.format == "json":
        out.json(
            {"format_version": JSON_FORMAT_VERSION, "deployments": [o.to_json() for o in outcomes]}
        )
        return EXIT_OK
    for outcome in outcomes:
        if not outcome.changed:
            out.line(f"{outcome.deployment}: unchanged ({outcome.reason})")
            continue
        report = outcome.report or {}
        drift = report.get("drift", {})
        line = (
            f"{outcome.deployment}: {report.get('window', {}).get('records', 0)} records "
            f"({outcome.new_records} new), dataset drift "
            f"{'YES' if drift.get('dataset_drift') else 'no'} "
            f"(share {drift.get('share_drifted', 0):.2f})"
        )
        out.line(out.paint(line, "yellow" if drift.get("dataset_drift") else "green"))
        for version, entry in sorted(report.get("versions", {}).items()):
            perf = entry.get("performance", {})
            extra = f", accuracy {perf['accuracy']:.3f}" if "accuracy" in perf else ""
            out.line(
                f"  {version}: {entry['records']} records, error rate {entry['error_rate']:.3f}"
                f"{extra}"
            )
        where = outcome.files[1] if len(outcome.files) > 1 else outcome.files[0]
        out.line(
            f"  report: {where}" + (f" (committed {outcome.commit[:12]})" if outcome.commit else "")
        )
    return EXIT_OK


def cmd_report_history(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    series = api.report_history(args.repo, args.deployment, args.metric)
    if args.format == "json":
        out.json(series)
        return EXIT_OK
    keys = sorted({key for point in series["points"] for key in point["values"]})
    header = tuple(["TIME", "COMMIT", *[k or args.metric for k in keys]])
    rows: list[tuple[str, ...]] = [header]
    for point in series["points"]:
        values = [point["values"].get(k) for k in keys]
        rows.append(
            (
                point["time"],
                point["commit"][:10],
                *[
                    "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
                    for v in values
                ],
            )
        )
    if len(rows) == 1:
        out.line(f"No values of {args.metric!r} in the report history.")
        return EXIT_OK
    _table(out, rows, {})
    return EXIT_OK


def cmd_reconcile(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    result = api.reconcile(
        args.repo, args.now, args.push, args.remote, args.branch, args.lock_timeout
    )
    if args.format == "json":
        out.json(result.to_json())
        return result.exit_code
    for outcome in result.monitor:
        if outcome.changed:
            drift = (outcome.report or {}).get("drift", {})
            out.line(
                f"monitor {outcome.deployment}: {outcome.new_records} new records, "
                f"drift share {drift.get('share_drifted', 0):.2f}"
                + (f", committed {outcome.commit[:12]}" if outcome.commit else "")
            )
    for rule in result.rules:
        for line in rule.log_lines:
            out.line(line)
        verdict = (
            "ACTED" if rule.acted else "fired, not acting" if rule.evaluation.fired else "quiet"
        )
        style = "yellow" if rule.acted else "dim"
        out.line(
            out.paint(
                f"rule {rule.evaluation.rule}: {verdict}: {rule.evaluation.explanation}", style
            )
        )
        for action in rule.actions:
            detail = action.get("detail") or action.get("error") or ""
            out.line(f"  {action['type']}: {detail}")
    for retirement in result.retirements:
        style = "red" if retirement.blocked_by else "yellow" if retirement.acted else "dim"
        out.line(out.paint(retirement.summary(), style))
        for line in retirement.details():
            out.line(f"  {line}")
    applied = result.apply
    if applied is not None and applied.outcomes:
        counts = applied.counts()
        parts = [f"{counts[k]} {k}" for k in ("done", "failed", "blocked", "skipped") if counts[k]]
        out.line(
            "apply: "
            + ", ".join(parts)
            + (f", committed {applied.commit[:12]}" if applied.commit else "")
        )
        for outcome in applied.outcomes:
            if outcome.status != "done":
                step = outcome.step
                out.line(f"  {outcome.status} {step.action} {step.object}: {outcome.message}")
    quiet = not any(o.changed for o in result.monitor) and not any(r.acted for r in result.rules)
    quiet = quiet and not any(r.acted for r in result.retirements)
    if quiet and (applied is None or not applied.outcomes):
        out.line("Nothing to do: no new data, no rule fired, recorded state matches the specs.")
    for note in result.notes:
        out.line(f"note: {note}")
    if args.push:
        out.line(
            f"pushed after {result.push_attempts} attempt(s)" if result.pushed else "not pushed"
        )
    return result.exit_code


def cmd_train(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    result = api.train(args.repo, args.pipeline, args.now, commit=not args.no_commit)
    if args.format == "json":
        out.json(result.to_json())
        return EXIT_OK if result.ok else EXIT_ERROR
    shown = ", ".join(f"{k} {v}" for k, v in result.metrics.items())
    if not result.ok:
        out.line(out.paint(f"Training {result.pipeline} failed its thresholds ({shown}):", "red"))
        for failure in result.failures:
            out.line(out.paint(f"  {failure}", "red"))
        out.line("Nothing was committed.")
        return EXIT_ERROR
    out.line(out.paint(f"Trained {result.model} {result.version}: {shown}", "green"))
    for path in result.files:
        out.line(f"  wrote {path}")
    if result.commit:
        out.line(f"Committed {result.commit[:12]}; plan and apply register it.")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops.serve.app import serve

    out.line(
        f"Serving the local deployments of {Path(args.repo).resolve()} on http://{args.host}:{args.port}"
    )
    serve(Path(args.repo).resolve(), args.host, args.port)
    return EXIT_OK


def cmd_force_unlock(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    holder = api.force_unlock(args.repo, args.lock_id)
    out.line(f"Removed the state lock held by {holder.describe()}.")
    return EXIT_OK


# ---------------------------------------------------------------- parser


def _port(text: str) -> int:
    """A TCP port: 99999 would otherwise be bound as 34463 (the kernel keeps 16 bits)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not between 0 and 65535")
    return port


def _format_option(
    parser: argparse.ArgumentParser,
    choices: Sequence[str] = ("text", "json"),
    help: str = "output format",
) -> None:
    parser.add_argument("--format", choices=list(choices), default="text", help=help)


def _now_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--now", help=f"{what} (ISO 8601; default: now)")


def _no_commit_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--no-commit", action="store_true", help=help)


def _lock_timeout_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--lock-timeout", type=float, default=0.0, metavar="S", help=help)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mlops-gitops",
        description="Run the lifecycle of machine-learning models the GitOps way.",
        epilog="Exit codes: 0 ok, 1 error, 2 changes (plan --detailed-exitcode), "
        "3 blocked steps remain, 4 internal error.",
    )
    parser.add_argument("--version", action="version", version=f"mlops-gitops {__version__}")
    parser.add_argument(
        "--repo", default=".", help="the GitOps repository (default: the current directory)"
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show the Python traceback on errors"
    )
    parser.add_argument("--no-color", action="store_true", help="never color the output")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )

    validate = commands.add_parser(
        "validate",
        help="load and check every spec file",
        description="Load and check every "
        "spec file; report every problem at once as path:line:col: Kind/name: field: message.",
    )
    _format_option(
        validate,
        ["text", "json", "github"],
        help="text (default), json, or github (workflow annotations)",
    )
    validate.set_defaults(func=cmd_validate)

    compile_ = commands.add_parser(
        "compile",
        help="write the resolved desired state (manifest.json)",
        description="Validate, then write the resolved desired state as a deterministic "
        "manifest.json.",
    )
    compile_.add_argument(
        "-o", "--output", default="target", help="output folder (default: target)"
    )
    compile_.set_defaults(func=cmd_compile)

    plan = commands.add_parser(
        "plan",
        help="show what apply would change",
        description="Diff the desired state (specs) against the recorded state and show the "
        "ordered steps, with gates and blocked reasons.",
    )
    _format_option(plan, ["text", "markdown", "json"])
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when there are changes, 0 when none",
    )
    _now_option(plan, "the time to plan at")
    plan.add_argument("-o", "--out", metavar="PLANFILE", help="save the plan for apply")
    plan.set_defaults(func=cmd_plan)

    apply = commands.add_parser(
        "apply",
        help="carry out the plan and commit the recorded state",
        description="Run every ready step, record the state, and commit it with one trailer "
        "per step. Exit 0 all done, 1 a step failed, 3 blocked steps remain.",
    )
    apply.add_argument("planfile", nargs="?", help="a plan saved with plan -o (refused if stale)")
    _now_option(apply, "the time to apply at")
    _no_commit_option(apply, "record state but do not commit")
    _lock_timeout_option(apply, "seconds to wait for another apply's lock (default 0)")
    _format_option(apply)
    apply.set_defaults(func=cmd_apply)

    status = commands.add_parser(
        "status",
        help="desired vs recorded state, sync and health",
        description="Per deployment: desired and actual versions, Synced/OutOfSync, health. "
        "Per model version: pending, registered, staging, production or archived.",
    )
    _format_option(status)
    status.set_defaults(func=cmd_status)

    history = commands.add_parser(
        "history",
        help="the audit log of applied steps, read from git",
        description="One event per applied step, rebuilt from the trailers of the tool's commits.",
    )
    history.add_argument("--model", help="only this model's versions and deployments")
    history.add_argument("--deployment", help="only this deployment")
    _format_option(history)
    history.set_defaults(func=cmd_history)

    rollback = commands.add_parser(
        "rollback",
        help="edit a deployment back to an earlier version and commit",
        description="Rewrite spec.version (and drop the canary) in the deployment's file, keeping "
        "every comment, and commit. Does not apply.",
    )
    rollback.add_argument("deployment", metavar="DEPLOYMENT", help="the deployment to roll back")
    rollback.add_argument(
        "--to", metavar="VERSION", help="the version (default: the previous stable version)"
    )
    rollback.set_defaults(func=cmd_rollback)

    monitor = commands.add_parser(
        "monitor",
        help="prediction logs -> drift, metrics and reports, committed",
        description="Read new prediction records, compute drift, performance and service "
        "metrics over the rolling window, write reports/<deployment>/latest.{json,md} and "
        "charts, and commit them. No new data, no commit.",
    )
    monitor.add_argument("--deployment", help="only this deployment")
    _now_option(monitor, "end of the window")
    _no_commit_option(monitor, "write reports, do not commit")
    _format_option(monitor)
    monitor.set_defaults(func=cmd_monitor)

    report = commands.add_parser("report", help="monitoring report tools")
    report_commands = report.add_subparsers(
        dest="report_command", metavar="ACTION", required=True, parser_class=Parser
    )
    report_history = report_commands.add_parser(
        "history",
        help="a metric's time series from the git history of a report",
        description="Read every committed version of reports/D/latest.json and print METRIC: "
        "top-level (share_drifted, records), per version (error_rate, accuracy, latency_p95), "
        "drift.<feature>, or a dotted path.",
    )
    report_history.add_argument("deployment", metavar="D", help="the deployment")
    report_history.add_argument("--metric", required=True, metavar="M", help="the metric")
    _format_option(report_history)
    report_history.set_defaults(func=cmd_report_history)

    reconcile = commands.add_parser(
        "reconcile",
        help="monitor, rules, plan, apply, commit (and push): the CI entry point",
        description="Run every phase; each does nothing when nothing is new, so running on the "
        "tool's own commit does nothing. Exit codes as apply.",
    )
    _now_option(reconcile, "the time to run at")
    reconcile.add_argument("--push", action="store_true", help="push the commits, retrying")
    reconcile.add_argument("--remote", help="remote to push to (default: the Project's git.remote)")
    reconcile.add_argument("--branch", help="branch to push to (default: the Project's git.branch)")
    _lock_timeout_option(reconcile, "seconds to wait for the lock")
    _format_option(reconcile)
    reconcile.set_defaults(func=cmd_reconcile)

    train = commands.add_parser(
        "train",
        help="run a training pipeline and commit the new version",
        description="Load the data, transform, split, train, evaluate against the thresholds; "
        "on success store the artifact and reference data and commit a new version entry into "
        "the model's spec (comments kept). On failure nothing is committed (exit 1).",
    )
    train.add_argument("pipeline", metavar="PIPELINE", help="the TrainingPipeline name")
    _now_option(train, "the creation date to record")
    _no_commit_option(train, "write files but do not commit")
    _format_option(train)
    train.set_defaults(func=cmd_train)

    serve = commands.add_parser(
        "serve",
        help="serve the deployments of target local over HTTP (KServe V1)",
        description="Serve every deployment of target local from recorded state: "
        "POST /v1/models/<d>:predict, GET /v1/models/<d>, /healthz, /metrics. Predictions are "
        "logged for monitor; the server reloads when apply changes the state.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="port (default 8080)")
    serve.set_defaults(func=cmd_serve)

    unlock = commands.add_parser(
        "force-unlock",
        help="remove a stale state lock",
        description="Remove the state lock; the id must match the lock's holder.",
    )
    unlock.add_argument("lock_id", metavar="ID", help="the id printed with the stale lock")
    unlock.set_defaults(func=cmd_force_unlock)

    schema = commands.add_parser("schema", help="JSON Schemas of the spec language")
    schema_commands = schema.add_subparsers(
        dest="schema_command", metavar="ACTION", required=True, parser_class=Parser
    )
    export = schema_commands.add_parser(
        "export",
        help="write one JSON Schema per kind",
        description="Write one JSON Schema (draft 2020-12) per kind into DIR.",
    )
    export.add_argument("directory", metavar="DIR", help="where to write the schemas")
    export.set_defaults(func=cmd_schema_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    color = False if args.no_color else None
    out = Output(sys.stdout, color)
    err = Output(sys.stderr, color)
    func: Callable[[argparse.Namespace, Output], int] = args.func
    try:
        return func(args, out)
    except KeyboardInterrupt:
        err.line("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`status | head`): not an error of ours. Point stdout at
        # devnull so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        return _report(exc, args, err)


def _report(exc: Exception, args: argparse.Namespace, err: Output) -> int:
    from mlops_gitops.errors import MlopsError, SpecError

    if args.traceback:
        import traceback

        traceback.print_exception(exc, file=err.stream)
    if isinstance(exc, SpecError):
        for problem in exc.problems:
            err.line(err.paint(problem.render(), "red"))
        err.line(f"error: {exc.message}")
        return exc.exit_code
    if isinstance(exc, MlopsError):
        err.line(err.paint(f"error: {exc}", "red"))
        return exc.exit_code
    err.line(
        f"internal error: {type(exc).__name__}: {exc} (this is a bug in mlops-gitops;"
        " rerun with --traceback and report it)"
    )
    return EXIT_INTERNAL


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
