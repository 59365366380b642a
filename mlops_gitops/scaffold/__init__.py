"""A new GitOps repository in one step: the Project, the spec folders, the JSON Schemas editors
check against, a .gitignore for the tool's local files, and a CI pipeline.

Nothing existing is overwritten: a repository that already has `mlops.yaml` is refused, and
files that exist already (a .gitignore, a workflow) are kept, with the lines the tool needs
added to .gitignore.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from mlops_gitops import fsguard, git
from mlops_gitops.errors import MlopsError
from mlops_gitops.spec.models import DEFAULT_SPEC_DIRS
from mlops_gitops.spec.schema import render_schemas

CI = Literal["github", "gitlab", "none"]
SCHEMA_DIR = ".mlops/schemas"
WORKFLOWS = {
    "github": ("github-workflow.yml", ".github/workflows/mlops-gitops.yml"),
    "gitlab": ("gitlab-ci.yml", ".gitlab-ci.yml"),
}


@dataclass
class Scaffold:
    root: Path
    name: str
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    """Files that existed and were left as they were."""
    git_initialised: bool = False


def template(name: str) -> str:
    return resources.files(__package__).joinpath("files", name).read_text(encoding="utf-8")


def project_name(folder: Path) -> str:
    """The folder's name as an object name (`^[a-z0-9][a-z0-9-]{0,62}$`)."""
    name = re.sub(r"[^a-z0-9-]+", "-", folder.name.lower()).strip("-")[:63].strip("-")
    return name or "gitops"


def init_repository(root: Path, ci: CI = "github", name: str | None = None) -> Scaffold:
    root = root.resolve()
    if (root / "mlops.yaml").exists():
        raise MlopsError(
            f"{root / 'mlops.yaml'} exists already: this is a mlops-gitops repository",
            hint="run `mlops-gitops validate` there instead",
        )
    if root.exists() and not root.is_dir():
        raise MlopsError(f"{root} exists and is not a folder")
    done = Scaffold(root, name or project_name(root))
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", done.name):
        raise MlopsError(
            f"--name {done.name!r} is not a valid object name",
            hint="lowercase letters, digits and '-', starting with a letter or digit",
        )
    root.mkdir(parents=True, exist_ok=True)
    _write(done, "mlops.yaml", template("mlops.yaml").format(name=done.name))
    for folder in DEFAULT_SPEC_DIRS:
        _write(done, f"{folder}/.gitkeep", "")
    for file_name, text in render_schemas().items():
        _write(done, f"{SCHEMA_DIR}/{file_name}", text)
    _gitignore(done)
    if ci != "none":
        source, target = WORKFLOWS[ci]
        _write(done, target, template(source))
    if not git.is_repo(root):
        git.run(root, "init", "--quiet", "--initial-branch", "main")
        done.git_initialised = True
    return done


def _write(done: Scaffold, rel: str, text: str) -> None:
    """Create `rel` unless something is there; never through a symlink."""
    if fsguard.write_new(done.root, done.root / rel, text.encode()):
        done.written.append(rel)
    else:
        done.kept.append(rel)


def _gitignore(done: Scaffold) -> None:
    wanted = template("gitignore")
    path = done.root / ".gitignore"
    if path.is_symlink() or (path.exists() and not path.is_file()):
        done.kept.append(".gitignore")
        return
    if not path.exists():
        _write(done, ".gitignore", wanted)
        return
    have = path.read_text(encoding="utf-8")
    present = {line.strip() for line in have.splitlines()}
    missing = [
        line
        for line in wanted.splitlines()
        if line and not line.startswith("#") and line not in present
    ]
    if not missing:
        done.kept.append(".gitignore")
        return
    sep = "" if have.endswith("\n") or not have else "\n"
    text = have + sep + "\n# mlops-gitops\n" + "\n".join(missing) + "\n"
    fsguard.write(done.root, path, text.encode())
    done.written.append(".gitignore")
