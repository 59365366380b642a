"""The serve command."""

from __future__ import annotations

import argparse
from pathlib import Path

from mlops_gitops.cli.base import EXIT_OK, Commands, Output, command


def _port(text: str) -> int:
    """A TCP port: 99999 would otherwise be bound as 34463 (the kernel keeps 16 bits)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not between 0 and 65535")
    return port


def cmd_serve(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    root = Path(args.repo).resolve()
    out.line(f"Serving the local deployments of {root} on http://{args.host}:{args.port}")
    api.serve(root, args.host, args.port)
    return EXIT_OK


def add_serve(commands: Commands) -> None:
    serve = command(
        commands,
        "serve",
        cmd_serve,
        help="serve the deployments of target local over HTTP (KServe V1)",
        description="Serve every deployment of target local from recorded state: "
        "POST /v1/models/<d>:predict, GET /v1/models/<d>, /healthz, /metrics. Predictions are "
        "logged for monitor; the server reloads when apply changes the state.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="port (default 8080)")
