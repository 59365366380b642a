"""Issue 9.1: no module prefix is a trust boundary for skops files.

A skops file whose object is built by `numpy.testing._private.utils.runstring` used to scan
clean (every `numpy.` type was trusted) and ran its code in the apply-time load check and in
`serve`. Trusted now are exactly skops' defaults plus the exact names a version lists.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mlops_gitops.errors import MlopsError
from mlops_gitops.providers.artifacts import ArtifactStore
from mlops_gitops.providers.scan import load_skops, scan, trusted_types
from mlops_gitops.providers.targets import check_loads
from mlops_gitops.serve.models import Artifact
from mlops_gitops.serve.models import load as serve_load
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.check import load as load_specs
from mlops_gitops.state.records import VersionRecord
from tests.security.crafted import runstring_skops
from tests.support.cli import run_in
from tests.support.git import init_git
from tests.support.repos import EXAMPLE_REPO, SpecRepo
from tests.support.values import NOW

RUNSTRING = "numpy.testing._private.utils.runstring"


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture
def evil(tmp_path: Path, marker: Path) -> Path:
    path = tmp_path / "evil.skops"
    path.write_bytes(runstring_skops(marker))
    return path


def test_the_crafted_file_really_runs_code_when_loaded_carelessly(evil: Path, marker: Path) -> None:
    """The payload is live: trusting whatever the file names (as the old prefix rule did
    for anything under numpy.) executes it. Every other test asserts it never runs."""
    import skops.io

    skops.io.load(evil, trusted=skops.io.get_untrusted_types(file=evil))
    assert marker.read_text() == "pwned"


def test_scan_finds_the_numpy_callable_unsafe(evil: Path, marker: Path) -> None:
    verdict = scan(evil, "skops")
    assert (verdict.scanner, verdict.verdict) == ("skops", "unsafe")
    assert verdict.findings[0] == f"untrusted type {RUNSTRING}"
    # Trusting its module (or any other name) is not trusting the function.
    for near in (["numpy.testing._private.utils"], ["numpy.testing._private.utils.run"]):
        assert scan(evil, "skops", near).verdict == "unsafe"
    assert not marker.exists()


def test_a_module_prefix_is_not_a_valid_trusted_type() -> None:
    """`trusted_types` holds exact dotted names: `numpy.`, `numpy.*` or `numpy` are refused."""
    for name in ("numpy.", "numpy.*", "numpy", "sklearn..tree"):
        with pytest.raises(ValueError, match="trusted_types"):
            spec_models.ModelVersion.model_validate(
                {"version": "1", "artifact": "a.skops", "format": "skops", "trusted_types": [name]}
            )
    version = spec_models.ModelVersion.model_validate(
        {
            "version": "1",
            "artifact": "a.skops",
            "format": "skops",
            "trusted_types": ["sklearn.tree._tree.Tree", "sklearn.tree._tree.Tree", "a.B"],
        }
    )
    assert trusted_types(version) == ("a.B", "sklearn.tree._tree.Tree")


def test_the_apply_time_load_check_refuses_it(tmp_path: Path, evil: Path, marker: Path) -> None:
    store = ArtifactStore(str(tmp_path / "store"), tmp_path)
    stored = store.put("evil.skops")
    record = VersionRecord(
        version="1.0.0",
        sha256=stored.sha256,
        size=stored.size,
        format="skops",
        source="evil.skops",
        blob=stored.blob,
        registered_at=NOW,
        spec_digest="0" * 64,
    )
    with pytest.raises(MlopsError, match=f"does not load: .*untrusted types: {RUNSTRING}"):
        check_loads(store, record, ())
    assert not marker.exists()


def test_serve_refuses_to_load_it(evil: Path, marker: Path) -> None:
    """Recorded state vouching for the file (its own sha256 and size, a clean scan) and the
    version trusting the function's module change nothing: serve loads skops only through
    `load_skops` with the version's exact trusted types."""
    data = evil.read_bytes()
    for trusted in ((), ("numpy.testing._private.utils",)):
        artifact = Artifact(
            version="1.0.0",
            format="skops",
            sha256=hashlib.sha256(data).hexdigest(),
            path=evil,
            size=len(data),
            scan_verdict="clean",
            trusted_types=trusted,
        )
        with pytest.raises(
            MlopsError, match=f"skops artifact of 1.0.0: .*untrusted types: {RUNSTRING}"
        ):
            serve_load(artifact)
    with pytest.raises(MlopsError, match="untrusted types"):
        load_skops(evil, ["numpy.testing._private.utils"])
    assert not marker.exists()


def test_plan_blocks_it_and_apply_never_registers_or_loads_it(tmp_path: Path, marker: Path) -> None:
    root = tmp_path / "repo"
    repo = SpecRepo(root)
    repo.write_project()
    repo.artifact("artifacts/evil/model.skops", runstring_skops(marker))
    repo.write_model(
        "evil", [{"version": "1.0.0", "artifact": "artifacts/evil/model.skops", "format": "skops"}]
    )
    repo.write_deployment("evil-prod", {"model": "evil", "stage": "production", "version": "1.0.0"})
    init_git(root)
    planned = run_in(root, "plan", "--format", "json", "--now", NOW)
    steps = {s["id"]: s for s in json.loads(planned.out)["steps"]}
    register = steps["register:Model/evil@1.0.0"]
    assert register["status"] == "blocked"
    assert register["blocked_by"][0].startswith(
        f"security scan (skops) found unsafe content: untrusted type {RUNSTRING}"
    )
    assert run_in(root, "apply", "--now", NOW).code == 3
    assert not (root / ".mlops/state/models/evil.json").exists()
    assert not marker.exists()


def test_every_example_model_scans_clean_with_its_own_trusted_types() -> None:
    """The example's models need only skops' defaults plus the exact names in their specs."""
    repository = load_specs(EXAMPLE_REPO)
    versions = [
        version
        for (kind, _), item in repository.objects.items()
        if kind == "Model" and isinstance(item.obj, spec_models.Model)
        for version in item.obj.spec.versions
    ]
    assert len(versions) == 5
    for version in versions:
        verdict = scan(EXAMPLE_REPO / version.artifact, version.format, trusted_types(version))
        assert verdict.verdict == "clean", (version.artifact, verdict.findings)
        if version.trusted_types:
            assert scan(EXAMPLE_REPO / version.artifact, version.format).verdict == "unsafe"
