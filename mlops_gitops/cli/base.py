"""What every command shares: exit codes, the output stream, the parser and common options.

Kept free of library imports so `mlops-gitops --help` stays fast: each handler imports what
it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TextIO

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_BLOCKED = 3
EXIT_INTERNAL = 4

Handler = Callable[[argparse.Namespace, "Output"], int]
Commands = Any
"""The `add_subparsers` action commands are added to (argparse does not export its type)."""


class Output:
    """A stream that colours only on a terminal, and never when NO_COLOR is set."""

    CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2", "cyan": "36"}

    def __init__(self, stream: TextIO, color: bool | None = None) -> None:
        self.stream = stream
        if color is None:
            color = stream.isatty() and not os.environ.get("NO_COLOR")
        self.color = color

    def paint(self, text: str, style: str) -> str:
        return f"\033[{self.CODES[style]}m{text}\033[0m" if self.color else text

    def write(self, text: str) -> None:
        """Everything written loses its URL credentials (userinfo, query values): the last
        line of defence for a secret a message still carries."""
        from mlops_gitops.urls import redact_text

        self.stream.write(redact_text(text))

    def line(self, text: str = "") -> None:
        """A fixed message of the CLI's own; anything holding repository text goes through a
        renderer, which escapes it."""
        self.write(text + "\n")


class Parser(argparse.ArgumentParser):
    """Bad arguments are a user error: exit 1 (exit 2 means "changes" for plan)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def command(
    commands: Commands,
    name: str,
    handler: Handler,
    help: str,
    description: str | None = None,
    repo: bool = True,
) -> argparse.ArgumentParser:
    """A sub-command; one that works on a repository accepts `--repo` after its name too."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=help, description=description or help
    )
    if repo:
        parser.add_argument(
            "--repo", default=argparse.SUPPRESS, metavar="DIR", help="as the global --repo"
        )
    quiet_option(parser, "as the global --quiet", argparse.SUPPRESS)
    parser.set_defaults(func=handler)
    return parser


def group(commands: Commands, name: str, help: str, dest: str) -> Commands:
    """A command with actions of its own (`report history`, `schema export`)."""
    parser = commands.add_parser(name, help=help, description=help)
    return parser.add_subparsers(dest=dest, metavar="ACTION", required=True, parser_class=Parser)


def complete_names(action: argparse.Action, kind: str) -> None:
    """Let shell completion offer the names of objects of `kind` for this argument."""

    def complete(prefix: str, parsed_args: argparse.Namespace, **kwargs: Any) -> list[str]:
        from mlops_gitops.cli.complete import names

        return names(kind)(prefix, parsed_args, **kwargs)

    action.completer = complete  # type: ignore[attr-defined]


def quiet_option(parser: argparse.ArgumentParser, help: str, default: Any = False) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", default=default, help=help)


def repo_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repo",
        metavar="DIR",
        help="the GitOps repository (default: the nearest folder upward holding mlops.yaml)",
    )


def format_option(
    parser: argparse.ArgumentParser,
    choices: Sequence[str] = ("text", "json"),
    help: str = "output format",
) -> None:
    parser.add_argument("--format", choices=list(choices), default="text", help=help)


def now_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--now", help=f"{what} (ISO 8601; default: now)")


def at_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--at",
        metavar="REV",
        help="read specs and state as committed at REV (commit, tag, branch, HEAD~N, or a "
        "date: the last commit on HEAD by then), from git objects: the work tree is untouched",
    )


def no_commit_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--no-commit", action="store_true", help=help)


def lock_timeout_option(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--lock-timeout", type=float, default=0.0, metavar="S", help=help)


def allow_dirty_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-dirty",
        action="store_true",
        help="apply uncommitted or untracked spec, artifact and reference files anyway; "
        "recorded as Mlops-Spec-Dirty: true and spec_dirty in the state",
    )


def find_repo(start: str | None) -> str:
    """The nearest folder at or above `start` (default: here) holding mlops.yaml, like git
    finds its repository; `start` itself when there is none, so errors name it."""
    origin = Path(start) if start else Path.cwd()
    try:
        here = origin.resolve()
    except OSError:
        return str(origin)
    for folder in (here, *here.parents):
        if (folder / "mlops.yaml").is_file():
            return str(folder) if folder != here or start is None else str(origin)
    return str(origin)


@contextmanager
def writing(target: str | Path) -> Iterator[None]:
    """An OSError while writing an output the user named (-o, DIR) is their error, not a bug."""
    from mlops_gitops.errors import MlopsError

    try:
        yield
    except OSError as exc:
        raise MlopsError(f"cannot write {target}: {exc.strerror or exc}") from exc


@contextmanager
def warnings_shown(err: Output, quiet: bool = False) -> Iterator[None]:
    """The library's warnings (MlopsWarning) on stderr, each message once per run; none
    with `quiet`."""
    import warnings

    from mlops_gitops import progress
    from mlops_gitops.errors import MlopsWarning

    shown: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("always", MlopsWarning)
        others = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> None:
            if not issubclass(category, MlopsWarning):
                others(message, category, *rest, **kw)
            elif quiet:
                pass
            elif str(message) not in shown:
                shown.add(str(message))
                progress.clear()  # not after the progress line's text
                err.line(err.paint(f"warning: {message}", "yellow"))

        warnings.showwarning = show
        yield
