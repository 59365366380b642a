"""Commands that query the registry: models, lineage."""

from __future__ import annotations

import argparse

from mlops_gitops.cli.base import EXIT_OK, Commands, Output, command, format_option


def cmd_models(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.apply.registry import Query
    from mlops_gitops.render import registry as render

    report = api.models(args.repo, Query(args.tag, args.owner, args.status))
    if args.format == "json":
        out.write(render.models_json(report))
    else:
        out.write(render.models_text(report, out.paint))
    return EXIT_OK


def cmd_lineage(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render import registry as render

    report = api.lineage(args.repo, args.ref)
    if args.format == "json":
        out.write(render.lineage_json(report))
    else:
        out.write(render.lineage_text(report, out.paint))
    return EXIT_OK


def add_models(commands: Commands) -> None:
    models = command(
        commands,
        "models",
        cmd_models,
        help="list model versions (the registry view)",
        description="Every model version in the specs or the recorded state, with its status "
        "(pending, registered, a stage, deprecated, archived), owner and tags.",
    )
    models.add_argument("--tag", metavar="T", help="only versions tagged T (model or version tag)")
    models.add_argument("--owner", metavar="O", help="only models owned by O")
    models.add_argument("--status", metavar="S", help="only versions whose status is S")
    format_option(models)


def add_lineage(commands: Commands) -> None:
    lineage = command(
        commands,
        "lineage",
        cmd_lineage,
        help="where a model version came from and where it served",
        description="Parent chain, training pipeline, the commit that added the version, "
        "data hashes, trainer code hash, library pins, and the deployments that served it "
        "with dates.",
    )
    lineage.add_argument("ref", metavar="MODEL@VERSION", help="the version, e.g. fraud@1.2.0")
    format_option(lineage)
