"""`serve`: load the deployments, bind, announce, run uvicorn with the server's limits."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from mlops_gitops.errors import MlopsError
from mlops_gitops.serve.limits import Limits

LOG = logging.getLogger("mlops_gitops.serve")


def _report_to_stderr() -> None:
    """Warnings (a deployment not ready, a readable token file) on stderr, one line each."""
    if not LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        LOG.addHandler(handler)
        LOG.setLevel(logging.WARNING)
        LOG.propagate = False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; a clear error when the address cannot be had."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise MlopsError(f"the server could not start on {host}:{port}: {exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise MlopsError(f"the server could not start on {host}:{port}: {reason}") from None
    return sock


def serve(
    repo_root: Path,
    host: str,
    port: int,
    limits: Limits | None = None,
    token_file: Path | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted; `announce(url)` once the address is bound and listening."""
    try:
        import uvicorn
    except ImportError:
        raise MlopsError("serve needs the serve extra: pip install 'mlops-gitops[serve]'") from None
    from mlops_gitops.serve.app import create_app
    from mlops_gitops.serve.guard import load_token, token_file_warning, uvicorn_config
    from mlops_gitops.serve.server import Server

    _report_to_stderr()
    token = load_token(token_file, os.environ)
    warning = token_file_warning(token_file)
    if warning:
        LOG.warning(warning)
    server = Server(repo_root, freeze_gc=True, limits=limits)
    server.start_reloader()
    sock = bind(host, port)
    try:
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        if announce is not None:
            announce(f"http://{shown}:{bound_port}")
        config = uvicorn_config(create_app(server, token), server.limits, server.metrics)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        server.close()
