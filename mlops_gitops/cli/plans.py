"""Commands that plan and apply: plan, apply."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlops_gitops.cli.base import (
    EXIT_CHANGES,
    EXIT_OK,
    Commands,
    Output,
    allow_dirty_option,
    at_option,
    command,
    complete_names,
    format_option,
    lock_timeout_option,
    no_commit_option,
    now_option,
    writing,
)


def cmd_plan(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import plan as render

    if args.at and args.out:
        from mlops_gitops.errors import MlopsError

        raise MlopsError("--at plans a past commit for reading; -o cannot save it for apply")
    plan = api.plan(args.repo, args.now, args.at, args.target)
    if args.out:
        from mlops_gitops import fsguard

        with writing(args.out):
            target = Path(args.out).absolute()
            fsguard.write(target.parent, target, render.plan_json(plan).encode())
    if args.format == "json":
        out.write(render.plan_json(plan))
    elif args.format == "markdown":
        out.write(render.plan_markdown(plan))
    else:
        out.write(render.plan_text(plan, out.paint))
        if args.out:
            out.line(f"Saved the plan to {args.out}; apply it with: mlops-gitops apply {args.out}")
    if args.detailed_exitcode and not plan.empty:
        return EXIT_CHANGES
    return EXIT_OK


def cmd_apply(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import apply as render

    result = api.apply(
        args.repo,
        Path(args.planfile) if args.planfile else None,
        args.now,
        commit=not args.no_commit,
        lock_timeout=args.lock_timeout,
        targets=args.target,
        allow_dirty=args.allow_dirty,
    )
    if args.format == "json":
        out.write(render.apply_json(result))
    else:
        out.write(render.apply_text(result, out.paint))
    return result.exit_code


def add_plan(commands: Commands) -> None:
    plan = command(
        commands,
        "plan",
        cmd_plan,
        help="show what apply would change",
        description="Diff the desired state (specs) against the recorded state and show the "
        "ordered steps, with gates and blocked reasons.",
    )
    format_option(plan, ["text", "markdown", "json"])
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when there are changes, 0 when none",
    )
    now_option(plan, "the time to plan at")
    plan.add_argument("-o", "--out", metavar="PLANFILE", help="save the plan for apply")
    target_option(plan)
    at_option(plan)


def add_apply(commands: Commands) -> None:
    apply = command(
        commands,
        "apply",
        cmd_apply,
        help="carry out the plan and commit the recorded state",
        description="Run every ready step, record the state, and commit it with one trailer "
        "per step. Exit 0 all done, 1 a step failed, 3 blocked steps remain.",
    )
    apply.add_argument("planfile", nargs="?", help="a plan saved with plan -o (refused if stale)")
    now_option(apply, "the time to apply at")
    no_commit_option(apply, "record state but do not commit")
    lock_timeout_option(apply, "seconds to wait for another apply's lock (default 0)")
    target_option(apply)
    allow_dirty_option(apply)
    format_option(apply)


def target_option(parser: argparse.ArgumentParser) -> None:
    complete_names(
        parser.add_argument(
            "--target",
            action="append",
            default=[],
            metavar="KIND/NAME",
            help="only the steps of this Deployment/NAME or Model/NAME and the steps they depend "
            "on (repeatable); the others wait for a full plan",
        ),
        "Target",
    )
