"""Commands that read what was recorded: status, history, force-unlock."""

from __future__ import annotations

import argparse
import sys

from mlops_gitops.cli.base import (
    EXIT_CHANGES,
    EXIT_OK,
    Commands,
    Output,
    at_option,
    command,
    complete_names,
    format_option,
)


def cmd_status(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import status as render

    report = api.status(args.repo, args.at)
    if args.format == "json":
        out.write(render.status_json(report))
    else:
        out.write(render.status_text(report, out.paint))
    if args.detailed_exitcode and any(
        d["sync"] != "Synced" or d["health"].startswith("Degraded") for d in report["deployments"]
    ):
        return EXIT_CHANGES
    return EXIT_OK


def cmd_history(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.apply.history import Filters
    from mlops_gitops.render import status as render

    filters = Filters(
        args.model, args.deployment, args.actor, args.since, args.until, args.include_reports
    )
    events = api.history(args.repo, filters)
    if args.format == "json":
        out.write(render.history_json(events))
    else:
        out.write(render.history_text(events, out.paint))
    return EXIT_OK


def cmd_force_unlock(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render.base import scrub
    from mlops_gitops.state import lock

    holder = api.force_unlock(args.repo, args.lock_id, args.force)
    out.line(f"Removed the state lock held by {scrub(holder.describe())}.")
    if args.force and lock.holder_alive(holder):
        sys.stderr.write(f"warning: pid {holder.pid} is still running: {lock.FORCE_RISK}\n")
    return EXIT_OK


def add_status(commands: Commands) -> None:
    status = command(
        commands,
        "status",
        cmd_status,
        help="desired vs recorded state, sync and health",
        description="Per deployment: desired and actual versions, Synced/OutOfSync, health. "
        "Per model version: pending, registered, staging, production or archived.",
    )
    format_option(status)
    at_option(status)
    status.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when any deployment is OutOfSync or Degraded, 0 when all are in order",
    )


def add_history(commands: Commands) -> None:
    history = command(
        commands,
        "history",
        cmd_history,
        help="the audit log read from git: every tool commit, with actor and cause",
        description="One event per applied step and per commit the tool made (rule actions, "
        "retirement phases, training runs, rollbacks, state restores), rebuilt from the "
        "trailers of its commits. Each names its actor (the human who authored the spec "
        "commit that caused it, or rule:<name>, retirement:<name>, pipeline:<name>) and its "
        "cause (commit and kind).",
    )
    complete_names(
        history.add_argument("--model", help="only this model's versions and deployments"),
        "Model",
    )
    complete_names(history.add_argument("--deployment", help="only this deployment"), "Deployment")
    history.add_argument(
        "--actor",
        help="only events of this actor: a name or email, rule:<name>, or rule: for all rules "
        "(likewise retirement:, pipeline:)",
    )
    history.add_argument("--since", metavar="T", help="only events at or after T (ISO 8601)")
    history.add_argument("--until", metavar="T", help="only events at or before T (ISO 8601)")
    history.add_argument(
        "--include-reports", action="store_true", help="also the monitor's report commits"
    )
    format_option(history)


def add_force_unlock(commands: Commands) -> None:
    unlock = command(
        commands,
        "force-unlock",
        cmd_force_unlock,
        help="remove a stale state lock",
        description="Remove the state lock; the id must match the lock's holder, and a "
        "holder still running on this host is refused unless --force.",
    )
    unlock.add_argument("lock_id", metavar="ID", help="the id printed with the stale lock")
    unlock.add_argument(
        "--force",
        action="store_true",
        help="remove it even while its holder runs: a second apply may then run beside it, "
        "both writing the state and committing the same serial twice",
    )
