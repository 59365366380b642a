"""`policies.require_signed_commits`: production moves only on commits signed by allowed keys.

Real SSH keys (ssh-keygen) sign real commits; git verifies them against the repository's
allowed-signers file. Staging is not covered by the policy and moves whatever the signatures.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.legacy import RunCli, git, run_in
from tests.support.repos import SpecRepo, tensor_artifact
from tests.support.values import NOW


@pytest.fixture
def run() -> RunCli:
    return run_in


pytestmark = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None, reason="ssh-keygen (openssh-client) is not installed"
)

SIGNERS = ".mlops/allowed_signers"
POLICY = {"require_signed_commits": {"stages": ["production"], "allowed_signers": SIGNERS}}


def keypair(folder: Path, name: str) -> Path:
    key = folder / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
        check=True,
        capture_output=True,
    )
    return key


def commit(repo: Path, message: str, env: Mapping[str, str], key: Path | None = None) -> str:
    git(repo, "add", "-A", env=env)
    signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"] if key else []
    git(repo, *signing, "commit", "-q", *(["-S"] if key else []), "-m", message, env=env)
    return git(repo, "rev-parse", "HEAD", env=env).strip()


def make_repo(root: Path, trusted: Path) -> SpecRepo:
    repo = SpecRepo(root)
    repo.write_project(policies=POLICY)
    (root / SIGNERS).parent.mkdir(parents=True, exist_ok=True)
    public = trusted.with_suffix(".pub").read_text().split()
    (root / SIGNERS).write_text(f"author@example.com {public[0]} {public[1]}\n")
    repo.write_model("beta", [tensor_artifact(repo, "beta", "1.0.0")])
    repo.write_deployment("beta-staging", {"model": "beta", "stage": "staging", "version": "1.0.0"})
    repo.write_deployment("beta-prod", {"model": "beta", "stage": "production", "version": "1.0.0"})
    return repo


def steps(run: RunCli, repo: Path) -> dict[str, dict[str, Any]]:
    """The plan's step per deployment (each has one here), by the deployment's name."""
    done = run(repo, "plan", "--now", NOW, "--format", "json")
    assert done.code == 0, done.seen
    found = [s for s in json.loads(done.out)["steps"] if s["object"]["kind"] == "Deployment"]
    by_name = {s["object"]["name"]: s for s in found}
    assert len(by_name) == len(found)
    return by_name


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "keys"
    folder.mkdir()
    return keypair(folder, "trusted"), keypair(folder, "stranger")


def test_signed_commits_deploy_to_production(
    tmp_path: Path, env: dict[str, str], run: RunCli, keys: tuple[Path, Path]
) -> None:
    trusted, _ = keys
    root = tmp_path / "repo"
    make_repo(root, trusted)
    git(root, "init", "-q", "-b", "main", env=env)
    commit(root, "Signed specs", env, trusted)
    found = steps(run, root)
    assert found["beta-prod"]["status"] == "ready"
    assert run(root, "apply", "--now", NOW).code == 0


def test_unsigned_or_foreign_signed_commits_block_production_only(
    tmp_path: Path, env: dict[str, str], run: RunCli, keys: tuple[Path, Path]
) -> None:
    trusted, stranger = keys
    root = tmp_path / "repo"
    repo = make_repo(root, trusted)
    git(root, "init", "-q", "-b", "main", env=env)
    unsigned = commit(root, "Unsigned specs", env)
    found = steps(run, root)
    prod = found["beta-prod"]
    assert prod["status"] == "blocked"
    blocked = " ".join(prod["blocked_by"])
    assert "policy require_signed_commits (production)" in blocked
    assert f"Deployment/beta-prod's spec file ({unsigned[:12]}) is not signed" in blocked
    assert "the commit adding beta 1.0.0" in blocked
    assert found["beta-staging"]["status"] == "ready"
    assert run(root, "apply", "--now", NOW).code == 3  # staging done, production held

    # A key outside the allowed signers counts for nothing.
    spec = root / "deployments" / "beta-prod.yaml"
    spec.write_text(spec.read_text() + "# reviewed\n")
    commit(root, "Signed by a stranger", env, stranger)
    assert steps(run, root)["beta-prod"]["status"] == "blocked"

    # The deployment's file signed, the version still added by the unsigned commit: blocked.
    spec.write_text(spec.read_text() + "# reviewed again\n")
    commit(root, "Signed deployment", env, trusted)
    prod = steps(run, root)["beta-prod"]
    assert prod["status"] == "blocked"
    assert [b for b in prod["blocked_by"] if "spec file" in b] == []
    assert any("beta 1.0.0" in b and unsigned[:12] in b for b in prod["blocked_by"])

    # Re-adding the version entry in a signed commit clears it.
    repo.write_model("beta", [tensor_artifact(repo, "beta", "0.9.0")])
    commit(root, "Drop 1.0.0", env, trusted)
    repo.write_model("beta", [tensor_artifact(repo, "beta", "1.0.0")])
    commit(root, "Re-add 1.0.0, signed", env, trusted)
    assert steps(run, root)["beta-prod"]["status"] == "ready"


def test_a_canary_reduction_in_production_is_exempt_and_says_so(
    tmp_path: Path, env: dict[str, str], run: RunCli, keys: tuple[Path, Path]
) -> None:
    trusted, _ = keys
    root = tmp_path / "repo"
    repo = make_repo(root, trusted)
    repo.write_model("beta", [tensor_artifact(repo, "beta", v) for v in ("1.0.0", "1.1.0")])
    canary = {"version": "1.1.0", "traffic": 20}
    repo.write_deployment(
        "beta-prod",
        {"model": "beta", "stage": "production", "version": "1.0.0", "canary": canary},
    )
    git(root, "init", "-q", "-b", "main", env=env)
    commit(root, "Signed specs", env, trusted)
    assert run(root, "apply", "--now", NOW).code == 0
    repo.write_deployment(
        "beta-prod",
        {
            "model": "beta",
            "stage": "production",
            "version": "1.0.0",
            "canary": {"version": "1.1.0", "traffic": 5},
        },
    )
    commit(root, "Less canary, unsigned", env)
    step = steps(run, root)["beta-prod"]
    assert step["status"] == "ready"
    assert any(
        "require_signed_commits (production): not required for a canary traffic reduction" in w
        for w in step["warnings"]
    )


def test_the_allowed_signers_file_must_stay_inside_the_repository(
    tmp_path: Path, env: dict[str, str], run: RunCli, keys: tuple[Path, Path]
) -> None:
    trusted, _ = keys
    root = tmp_path / "repo"
    repo = make_repo(root, trusted)
    for location, message in (
        ("../signers", "leaves the repository"),
        ("/etc/ssh/allowed", "absolute path"),
        ("https://example.com/signers", "must be a path inside the repository"),
    ):
        repo.write_project(
            policies={
                "require_signed_commits": {"stages": ["production"], "allowed_signers": location}
            }
        )
        done = run(root, "validate")
        assert done.code == 1, location
        assert "allowed_signers" in done.seen and message in done.seen
    # A symlink out of the repository is refused when read: everything stays blocked.
    outside = tmp_path / "outside-signers"
    shutil.copy(root / SIGNERS, outside)
    (root / SIGNERS).unlink()
    (root / SIGNERS).symlink_to(outside)
    repo.write_project(policies=POLICY)
    git(root, "init", "-q", "-b", "main", env=env)
    commit(root, "Signed specs, signers outside", env, trusted)
    prod = steps(run, root)["beta-prod"]
    assert prod["status"] == "blocked"
