"""Helpers for the attacker-built regression tests: repositories as an attacker commits them.

Every repository is a real git repository; attacks are committed (symlinks included, as git
stores them) and the tool runs on a fresh clone, the way CI checks out a pull request or main.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.monitor.helpers import MonitorRepo, append, jsonl, record
from tests.support.git import git

NOW = "2026-11-28T00:00:00Z"
DEPLOYMENT = "clf-prod"
ALERTS_FILE = "alerts/2026-11-28.md"
"""Where the file channel appends the alerts of NOW."""
RULE = """apiVersion: mlops-gitops/v1
kind: Rule
metadata: {name: clf-drift}
spec:
  deployment: clf-prod
  triggers:
    - {type: data_drift, share_above: 0.1}
  conditions: {min_samples: 1}
  actions:
    - {type: send_alert, channel: file}
"""

Snapshot = dict[str, tuple[bytes, int, bool]]


def snapshot(folder: Path) -> Snapshot:
    """Every entry under `folder` (not following links): bytes, mtime and whether a link."""
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            info = path.lstat()
            data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
            out[path.relative_to(folder).as_posix()] = (data, info.st_mtime_ns, path.is_symlink())
    return out


def outside_victims(tmp_path: Path) -> Path:
    """A folder outside every repository, holding what an attacker would like overwritten
    or deleted: a shell rc file, an old chart, a note."""
    victims = tmp_path / "outside"
    victims.mkdir()
    (victims / "bashrc").write_text("export PATH=/usr/bin\n")
    (victims / "old.svg").write_text("<svg>a chart that is not the tool's</svg>\n")
    (victims / "notes.txt").write_text("nothing to see\n")
    return victims


def drifting_repo(root: Path) -> Path:
    """clf-prod with prediction logs whose `x` drifted far from the reference, and a rule
    that alerts through the file channel: monitor writes charts, the rule appends an alert."""
    repo = MonitorRepo(root)
    repo.deployment(DEPLOYMENT, monitoring={"predictions": f"logs/{DEPLOYMENT}/"})
    (root / "rules").mkdir(exist_ok=True)
    (root / "rules" / "clf-drift.yaml").write_text(RULE)
    records = [record(i, x=30.0 + i % 5) for i in range(300)]
    append(root / "logs" / DEPLOYMENT / "predictions.jsonl", jsonl(records))
    git(root, "init", "-q", "-b", "main")
    commit(root, "Initial specs")
    return root


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def commit_symlink(repo: Path, rel: str, target: Path) -> None:
    """Commit `rel` as a symlink to `target`, as a pull request can."""
    link = repo / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    commit(repo, f"Add {rel}")


def clone(repo: Path, dest: Path) -> Path:
    git(dest.parent, "clone", "-q", str(repo), str(dest))
    return dest
