"""Commands that set things up: init (a new repository) and completion (for a shell)."""

from __future__ import annotations

import argparse

from mlops_gitops.cli.base import EXIT_OK, Commands, Output, command


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops import api
    from mlops_gitops.render.base import scrub

    done = api.init(args.directory, args.ci, args.name)
    out.line(scrub(f"Initialised mlops-gitops repository {done.name} in {done.root}"))
    for rel in done.written:
        if not rel.startswith(".mlops/schemas/") and not rel.endswith(".gitkeep"):
            out.line(scrub(f"  wrote {rel}"))
    schemas = sum(rel.startswith(".mlops/schemas/") for rel in done.written)
    if schemas:
        out.line(f"  wrote .mlops/schemas/ ({schemas} JSON Schemas for editors)")
    folders = sorted(rel.split("/")[0] + "/" for rel in done.written if rel.endswith(".gitkeep"))
    if folders:
        out.line(f"  made {' '.join(folders)}")
    for rel in done.kept:
        out.line(scrub(f"  kept {rel} (it existed)"))
    if done.git_initialised:
        out.line("  ran git init (branch main)")
    out.line("Next: add a model in models/, then run `mlops-gitops validate` and `plan`.")
    return EXIT_OK


def cmd_completion(args: argparse.Namespace, out: Output) -> int:
    from mlops_gitops.cli.complete import shellcode

    out.write(shellcode(args.shell))
    return EXIT_OK


def add_completion(commands: Commands) -> None:
    completion = command(
        commands,
        "completion",
        cmd_completion,
        help="print the shell completion script",
        description="Print a completion script for SHELL: commands, options, and the names of "
        "deployments, models, rules and pipelines of the repository you are in. bash: "
        'eval "$(mlops-gitops completion bash)" in ~/.bashrc; zsh: the same in ~/.zshrc; '
        "fish: mlops-gitops completion fish > ~/.config/fish/completions/mlops-gitops.fish",
        repo=False,
    )
    completion.add_argument("shell", metavar="SHELL", choices=["bash", "zsh", "fish"])


def add_init(commands: Commands) -> None:
    init = command(
        commands,
        "init",
        cmd_init,
        help="scaffold a new GitOps repository",
        description="Write mlops.yaml with commented defaults, the spec folders, JSON Schemas "
        "for editors (.mlops/schemas/), a .gitignore for the tool's local files and a CI "
        "pipeline, and run git init when DIR is not in a git repository. Existing files are "
        "kept; a folder that already holds mlops.yaml is refused.",
        repo=False,
    )
    init.add_argument(
        "directory", metavar="DIR", nargs="?", default=".", help="where (default: here)"
    )
    init.add_argument(
        "--ci",
        choices=["github", "gitlab", "none"],
        default="github",
        help="the CI pipeline to write (default: github)",
    )
    init.add_argument("--name", help="the Project's name (default: from the folder's name)")
