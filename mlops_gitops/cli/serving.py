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


def _size(text: str) -> int:
    from mlops_gitops.serve.limits import parse_size

    try:
        size = parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if size < 1:
        raise argparse.ArgumentTypeError("the size must be at least 1 byte")
    return size


def cmd_serve(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api

    root = Path(args.repo).resolve()

    def announce(url: str) -> None:  # once bound: a taken port never shows "Serving"
        out.line(f"Serving the local deployments of {root} on {url}")
        out.stream.flush()

    api.serve(
        root,
        args.host,
        args.port,
        max_body=args.max_body,
        token_file=args.token_file,
        announce=announce,
    )
    return EXIT_OK


def add_serve(commands: Commands) -> None:
    serve = command(
        commands,
        "serve",
        cmd_serve,
        help="serve the deployments of target local over HTTP (KServe V1 and V2)",
        description="Serve every deployment of target local from recorded state with KServe's "
        "V1 protocol (POST /v1/models/<d>:predict) and the Open Inference Protocol V2 "
        "(POST /v2/models/<d>/infer), plus /healthz and /metrics. Predictions are logged for "
        "monitor; the server reloads when apply changes the state. Each blob is checked "
        "against its recorded sha256 before it loads.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="port (default 8080)")
    serve.add_argument(
        "--max-body",
        type=_size,
        default="10MB",
        metavar="SIZE",
        help="largest request body accepted, e.g. 10MB, 512KB (default 10MB; 413 past it)",
    )
    serve.add_argument(
        "--token-file",
        type=Path,
        metavar="FILE",
        help="require 'Authorization: Bearer <token>' with the token in FILE (else from "
        "$MLOPS_GITOPS_SERVE_TOKEN when set); /healthz and the health probes stay open",
    )
