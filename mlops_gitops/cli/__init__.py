"""Command line: parse arguments, call `api`, render, map exit codes. Nothing imports this package.

Each command group lives in its own module with its arguments beside its handler; this module
assembles the parser and turns exceptions into exit codes. Library imports happen inside the
handlers so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys

from mlops_gitops import __version__, progress
from mlops_gitops.cli import (
    automation,
    monitoring,
    plans,
    records,
    recovery,
    registry,
    serving,
    setup,
    specs,
)
from mlops_gitops.cli.base import (
    EXIT_BLOCKED,
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_INTERNAL,
    EXIT_OK,
    Handler,
    Output,
    Parser,
    find_repo,
    quiet_option,
    repo_option,
    warnings_shown,
)

__all__ = [
    "EXIT_BLOCKED",
    "EXIT_CHANGES",
    "EXIT_ERROR",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "build_parser",
    "main",
    "run",
]

COMMANDS = (
    setup.add_init,
    specs.add_validate,
    specs.add_compile,
    plans.add_plan,
    plans.add_apply,
    records.add_status,
    records.add_history,
    registry.add_models,
    registry.add_lineage,
    automation.add_rollback,
    monitoring.add_monitor,
    monitoring.add_report,
    automation.add_reconcile,
    automation.add_rule,
    automation.add_train,
    serving.add_serve,
    recovery.add_state,
    recovery.add_store,
    records.add_force_unlock,
    specs.add_schema,
    setup.add_completion,
)
"""Each command's parser, in the order `--help` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="mlops-gitops",
        description="Run the lifecycle of machine-learning models the GitOps way.",
        epilog="Exit codes: 0 ok, 1 error, 2 changes (plan --detailed-exitcode), "
        "3 blocked steps remain, 4 internal error.",
    )
    parser.add_argument("--version", action="version", version=f"mlops-gitops {__version__}")
    repo_option(parser)
    parser.add_argument(
        "--traceback", action="store_true", help="show the Python traceback on errors"
    )
    parser.add_argument("--no-color", action="store_true", help="never color the output")
    quiet_option(parser, "no progress line and no warnings on stderr (errors still show)")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=Parser
    )
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if argv is None and "_ARGCOMPLETE" in os.environ:
        from mlops_gitops.cli.complete import hook

        hook(parser)  # answers the shell and exits
    args = parser.parse_args(argv)
    args.repo = find_repo(args.repo)
    color = False if args.no_color else None
    out = Output(sys.stdout, color)
    err = Output(sys.stderr, color)
    func: Handler = args.func
    # Progress only where a person watches: a terminal, not --quiet, not a JSON document.
    watched = sys.stderr.isatty() and not args.quiet and getattr(args, "format", "") != "json"
    try:
        with warnings_shown(err, args.quiet), progress.shown_on(sys.stderr if watched else None):
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
    from mlops_gitops.render.base import scrub
    from mlops_gitops.render.validate import problems_text

    if args.traceback:
        import traceback

        err.write("".join(traceback.format_exception(exc)))
    if isinstance(exc, SpecError):
        err.write(problems_text(exc.problems, err.paint))
        err.line(f"error: {scrub(exc.message)}")
        return exc.exit_code
    if isinstance(exc, MlopsError):
        text = f"error: {scrub(exc.message)}"
        if exc.hint:
            text += f"\nhint: {scrub(exc.hint)}"
        err.line(err.paint(text, "red"))
        return exc.exit_code
    err.line(
        f"internal error: {type(exc).__name__}: {scrub(str(exc))} (this is a bug in "
        "mlops-gitops; rerun with --traceback and report it)"
    )
    return EXIT_INTERNAL


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
