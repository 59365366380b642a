"""Commands that watch deployments: monitor, report history."""

from __future__ import annotations

import argparse
import sys

from mlops_gitops.cli.base import (
    EXIT_OK,
    Commands,
    Output,
    command,
    complete_names,
    format_option,
    group,
    no_commit_option,
    now_option,
)


def cmd_monitor(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import monitor as render

    outcomes = api.monitor(args.repo, args.deployment, args.now, commit=not args.no_commit)
    for warning in sorted({w for o in outcomes for w in o.warnings}):
        sys.stderr.write(f"warning: {warning}\n")
    if args.format == "json":
        out.write(render.monitor_json(outcomes))
    else:
        out.write(render.monitor_text(outcomes, out.paint))
    return EXIT_OK


def cmd_report_history(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import monitor as render

    series = api.report_history(args.repo, args.deployment, args.metric)
    if args.format == "json":
        out.write(render.series_json(series))
    else:
        out.write(render.series_text(series, args.metric, out.paint))
    return EXIT_OK


def add_monitor(commands: Commands) -> None:
    monitor = command(
        commands,
        "monitor",
        cmd_monitor,
        help="prediction logs -> drift, metrics and reports, committed",
        description="Read new prediction records, compute drift, performance and service "
        "metrics over the rolling window, write reports/<deployment>/latest.{json,md} and "
        "charts, and commit them. No new data, no commit.",
    )
    complete_names(monitor.add_argument("--deployment", help="only this deployment"), "Deployment")
    now_option(monitor, "end of the window")
    no_commit_option(monitor, "write reports, do not commit")
    format_option(monitor)


def add_report(commands: Commands) -> None:
    report = group(commands, "report", "monitoring report tools", "report_command")
    history = command(
        report,
        "history",
        cmd_report_history,
        help="a metric's time series from the git history of a report",
        description="Read every committed version of reports/D/latest.json and print METRIC: "
        "top-level (share_drifted, records), per version (error_rate, accuracy, latency_p95), "
        "drift.<feature>, or a dotted path.",
    )
    complete_names(
        history.add_argument("deployment", metavar="D", help="the deployment"), "Deployment"
    )
    history.add_argument("--metric", required=True, metavar="M", help="the metric")
    format_option(history)
