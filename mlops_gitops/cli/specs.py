"""Commands that read the specs only: validate, compile, schema export."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mlops_gitops.cli.base import (
    EXIT_ERROR,
    EXIT_OK,
    Commands,
    Output,
    at_option,
    command,
    format_option,
    group,
    writing,
)


def cmd_validate(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.errors import MlopsError, Problem
    from mlops_gitops.render import validate as render

    try:
        result = api.validate_at(args.repo, args.at)
    except MlopsError as exc:
        if args.format != "json":
            raise
        out.write(render.unreadable_json(Problem(str(exc), path="mlops.yaml")))
        return EXIT_ERROR
    if args.format == "json":
        out.write(render.validation_json(result))
        return EXIT_OK if result.valid else EXIT_ERROR
    if args.format == "github":
        out.write(render.github_annotations(result.problems, result.warnings))
    else:
        out.write(render.problems_text(result.problems, out.paint))
        if not args.quiet:  # --quiet: no warning lines, as for every command
            sys.stderr.write(render.warnings_text(result.warnings))
    if result.valid:
        out.line(out.paint(render.summary(result), "green"))
    else:
        sys.stderr.write(render.summary(result) + "\n")
    return EXIT_OK if result.valid else EXIT_ERROR


def cmd_compile(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    with writing(args.output):
        path = api.write_manifest(args.repo, Path(args.output), args.at)
    out.line(f"Wrote {path}")
    return EXIT_OK


def cmd_schema_export(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    with writing(args.directory):
        paths = api.export_schemas(Path(args.directory))
    for path in paths:
        out.line(f"Wrote {path}")
    return EXIT_OK


def add_validate(commands: Commands) -> None:
    validate = command(
        commands,
        "validate",
        cmd_validate,
        help="load and check every spec file",
        description="Load and check every spec file; report every problem at once as "
        "path:line:col: Kind/name: field: message.",
    )
    format_option(
        validate,
        ["text", "json", "github"],
        help="text (default), json, or github (workflow annotations)",
    )
    at_option(validate)


def add_compile(commands: Commands) -> None:
    compile_ = command(
        commands,
        "compile",
        cmd_compile,
        help="write the resolved desired state (manifest.json)",
        description="Validate, then write the resolved desired state as a deterministic "
        "manifest.json.",
    )
    compile_.add_argument(
        "-o", "--output", default="target", help="output folder (default: target)"
    )
    at_option(compile_)


def add_schema(commands: Commands) -> None:
    schema = group(commands, "schema", "JSON Schemas of the spec language", "schema_command")
    export = command(
        schema,
        "export",
        cmd_schema_export,
        help="write one JSON Schema per kind",
        description="Write one JSON Schema (draft 2020-12) per kind into DIR.",
    )
    export.add_argument("directory", metavar="DIR", help="where to write the schemas")
