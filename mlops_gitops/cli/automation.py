"""Commands that change the specs or run every phase: reconcile, rollback, train."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlops_gitops.cli.base import (
    EXIT_ERROR,
    EXIT_OK,
    Commands,
    Output,
    allow_dirty_option,
    command,
    complete_names,
    format_option,
    group,
    lock_timeout_option,
    no_commit_option,
    now_option,
)


def cmd_reconcile(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import reconcile as render

    if args.dry_run:
        if args.push:
            from mlops_gitops.errors import MlopsError

            raise MlopsError("--dry-run never pushes; leave out --push")
        preview = api.reconcile_dry_run(args.repo, args.now)
        for warning in sorted({w for o in preview.phases.monitor for w in o.warnings}):
            if not args.quiet:
                sys.stderr.write(f"warning: {warning}\n")
        if args.format == "json":
            out.write(render.dry_run_json(preview))
        else:
            out.write(render.dry_run_text(preview, out.paint))
        return preview.exit_code
    result = api.reconcile(
        args.repo,
        args.now,
        args.push,
        args.remote,
        args.branch,
        args.lock_timeout,
        args.allow_dirty,
    )
    for warning in sorted({w for o in result.monitor for w in o.warnings}):
        if not args.quiet:
            sys.stderr.write(f"warning: {warning}\n")
    if args.format == "json":
        out.write(render.reconcile_json(result))
    else:
        out.write(render.reconcile_text(result, out.paint, pushed=args.push))
    return result.exit_code


def cmd_rollback(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render.base import scrub

    change = api.rollback(args.repo, args.deployment, args.to)
    where = f"committed {change.commit[:12]}" if change.commit else "not committed"
    out.line(scrub(f"Edited {change.path}: {change.summary} ({where})."))
    out.line("Run plan and apply to carry it out.")
    return EXIT_OK


def cmd_rule_test(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import rules as render

    report = Path(args.report) if args.report else None
    result = api.rule_test(args.repo, args.rule, args.now, report)
    if args.format == "json":
        out.write(render.rule_test_json(result))
    else:
        out.write(render.rule_test_text(result, out.paint))
    return EXIT_OK


def cmd_train(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import train as render

    result = api.train(args.repo, args.pipeline, args.now, commit=not args.no_commit)
    if args.format == "json":
        out.write(render.train_json(result))
    else:
        out.write(render.train_text(result, out.paint))
    return EXIT_OK if result.ok else EXIT_ERROR


def add_reconcile(commands: Commands) -> None:
    reconcile = command(
        commands,
        "reconcile",
        cmd_reconcile,
        help="monitor, rules, plan, apply, commit (and push): the CI entry point",
        description="Run every phase; each does nothing when nothing is new, so running on the "
        "tool's own commit does nothing. Exit codes as apply.",
    )
    now_option(reconcile, "the time to run at")
    reconcile.add_argument("--push", action="store_true", help="push the commits, retrying")
    reconcile.add_argument(
        "--dry-run",
        action="store_true",
        help="print every decision, the plan and the commits it would make; change nothing "
        "(the phases run in a throwaway copy; no alert sent, no training, no apply)",
    )
    reconcile.add_argument("--remote", help="remote to push to (default: the Project's git.remote)")
    reconcile.add_argument("--branch", help="branch to push to (default: the Project's git.branch)")
    lock_timeout_option(reconcile, "seconds to wait for the lock")
    allow_dirty_option(reconcile)
    format_option(reconcile)


def add_rollback(commands: Commands) -> None:
    rollback = command(
        commands,
        "rollback",
        cmd_rollback,
        help="edit a deployment back to an earlier version and commit",
        description="Rewrite spec.version (and drop the canary) in the deployment's file, keeping "
        "every comment, and commit. Does not apply.",
    )
    complete_names(
        rollback.add_argument(
            "deployment", metavar="DEPLOYMENT", help="the deployment to roll back"
        ),
        "Deployment",
    )
    rollback.add_argument(
        "--to", metavar="VERSION", help="the version (default: the previous stable version)"
    )


def add_train(commands: Commands) -> None:
    train = command(
        commands,
        "train",
        cmd_train,
        help="run a training pipeline and commit the new version",
        description="Load the data, transform, split, train, evaluate against the thresholds; "
        "on success store the artifact and reference data and commit a new version entry into "
        "the model's spec (comments kept). On failure nothing is committed (exit 1).",
    )
    complete_names(
        train.add_argument("pipeline", metavar="PIPELINE", help="the TrainingPipeline name"),
        "TrainingPipeline",
    )
    now_option(train, "the creation date to record")
    no_commit_option(train, "write files but do not commit")
    format_option(train)


def add_rule(commands: Commands) -> None:
    rule = group(commands, "rule", "rule tools", "rule_command")
    test = command(
        rule,
        "test",
        cmd_rule_test,
        help="would a rule act now, and why; changes nothing",
        description="Judge RULE against the latest report of its deployment (or --report FILE) "
        "as reconcile would: every trigger with its number, the conditions, and whether it would "
        "act. Nothing is changed, sent or committed; exit 0 either way.",
    )
    complete_names(test.add_argument("rule", metavar="RULE", help="the rule"), "Rule")
    test.add_argument(
        "--report", metavar="FILE", help="a monitoring report (latest.json) to judge instead"
    )
    now_option(test, "the time to judge at")
    format_option(test)
