"""Command line: parse arguments, call `api`, render, map exit codes. Nothing imports this module.

Imports of the library happen inside the command functions so `--help` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

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


# ---------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    result = api.validate(args.repo)
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


def cmd_compile(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    path = api.write_manifest(args.repo, Path(args.output))
    out.line(f"Wrote {path}")
    return EXIT_OK


def cmd_schema_export(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    for path in api.export_schemas(Path(args.directory)):
        out.line(f"Wrote {path}")
    return EXIT_OK


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    validate = commands.add_parser(
        "validate",
        help="load and check every spec file",
        description="Load and check every "
        "spec file; report every problem at once as path:line:col: Kind/name: field: message.",
    )
    validate.add_argument(
        "--format",
        choices=["text", "json", "github"],
        default="text",
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

    schema = commands.add_parser("schema", help="JSON Schemas of the spec language")
    schema_commands = schema.add_subparsers(dest="schema_command", metavar="ACTION", required=True)
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
