"""example-repo as most end-to-end tests use it: in git, and the edits several tests make."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.cli import require_slow
from tests.support.git import init_git
from tests.support.repos import EXAMPLE_REPO, copy_repo, edit_file

PROD = "deployments/cancer-prod.yaml"
STAGING = "deployments/cancer-staging.yaml"


def drop_policies(repo: Path) -> None:
    """Remove the Project's `policies:` block, for tests about something else than policies
    (`min_time_in_stage` would need a clock that moves between applies)."""
    project = repo / "mlops.yaml"
    lines = project.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("  policies:"))
    end = start + 1
    while end < len(lines) and (lines[end].startswith("    ") or not lines[end].strip()):
        end += 1
    project.write_text("".join([*lines[:start], *lines[end:]]))


def example_in_git(dest: Path, *, policies: bool = True) -> Path:
    """example-repo (models and data included) in a new git repository, committed. Its real
    models make every scan, load and apply take seconds: only slow tests may use it."""
    require_slow("works on example-repo's real models")
    copy_repo(EXAMPLE_REPO, dest)
    if not policies:
        drop_policies(dest)
    init_git(dest)
    return dest


def promote_canary(path: Path) -> None:
    """cancer-prod: 1.2.0 becomes the stable version, the canary block goes."""
    text = path.read_text().replace('version: "1.1.0"', 'version: "1.2.0"', 1)
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("  canary:"))
    del lines[start : start + 3]
    path.write_text("".join(lines))


def mixed_edits(repo: Path) -> None:
    """After the first apply: a gated traffic raise, a new canary version, a settings change,
    a version through staging whose production gate fails, and a removed version."""
    edit_file(repo / PROD, "traffic: 20 ", "traffic: 50 ")
    edit_file(
        repo / STAGING,
        '  canary: {version: "1.2.0", traffic: 50}',
        '  canary: {version: "1.3.0", traffic: 50}\n  resources: {cpu: "2"}',
    )
    edit_file(
        repo / "deployments/diabetes-prod.yaml.j2",
        'version: "2.0.0"',
        'version: "1.0.0"\n  promotion:\n    gates: {r2: ">= 0.6"}',
    )
    edit_file(repo / "deployments/diabetes-staging.yaml", 'version: "2.0.0"', 'version: "1.0.0"')
    (repo / "retirements/retire-cancer-1-0.yaml").unlink()
    model = repo / "models/cancer-detector.yaml"
    text = model.read_text()
    text = text[: text.index("    # Baseline")] + text[text.index("    # Same pipeline") :]
    text += (
        '\n    - version: "1.3.0"\n'
        "      artifact: artifacts/cancer-detector/1.3.0/model.skops\n"
        "      format: skops\n"
        "      trusted_types: [sklearn.tree._tree.Tree]\n"
        "      metrics: {roc_auc: 0.9902}\n"
    )
    model.write_text(text)
    (repo / "artifacts/cancer-detector/1.3.0").mkdir()
    shutil.copy(
        repo / "artifacts/cancer-detector/1.2.0/model.skops",
        repo / "artifacts/cancer-detector/1.3.0/model.skops",
    )
