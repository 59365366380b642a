"""Signed provenance: are the commits behind what production runs signed by allowed keys?

Computed before planning (the planner stays pure and gets the answers as values): for each
deployment the policy covers, the commit that last changed its spec file, and for each
version it serves, the commit that added the version entry, each checked with
`git verify-commit` against the repository's SSH allowed-signers file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from mlops_gitops import git
from mlops_gitops.errors import MlopsError
from mlops_gitops.spec.locations import open_local
from mlops_gitops.spec.provenance import Provenance
from mlops_gitops.spec.signed import Signature

MAX_SIGNERS_BYTES = 1 << 20


def read_signers(location: str, root: Path) -> bytes:
    """The allowed-signers file: a regular file inside the repository, of bounded size."""
    try:
        with open_local(location, root, None) as handle:
            data = handle.read(MAX_SIGNERS_BYTES + 1)
    except OSError as exc:
        raise MlopsError(f"allowed_signers {location!r} cannot be read: {exc.strerror}") from None
    if len(data) > MAX_SIGNERS_BYTES:
        raise MlopsError(f"allowed_signers {location!r} is larger than {MAX_SIGNERS_BYTES} bytes")
    return data


def verify(
    git_root: Path,
    commit: str | None,
    signers: bytes | str,
    wanted: Mapping[str, tuple[str | None, str | None]],
    dirty: frozenset[str] = frozenset(),
) -> dict[str, Signature]:
    """key -> Signature for `wanted` (key -> (spec file, version added or None)). `signers`:
    the allowed-signers bytes, or why there are none (every key then fails with it)."""
    if commit is None or isinstance(signers, str):
        why = signers if isinstance(signers, str) else "the specs are not committed"
        return {key: Signature(None, False, why) for key in wanted}
    provenance = Provenance(git_root)
    checked: dict[str, tuple[bool, str]] = {}
    out = {}
    handle, name = tempfile.mkstemp(prefix="mlops-gitops-signers-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(signers)
        for key, (path, version) in wanted.items():
            if path is None:
                out[key] = Signature(None, False, "no spec file")
                continue
            if path in dirty:
                out[key] = Signature(None, False, f"{path} has uncommitted changes")
                continue
            found = (
                provenance.version_added(commit, path, version)
                if version is not None
                else provenance.last_change(commit, path)
            )
            if found is None:
                out[key] = Signature(None, False, f"no commit found for {path}")
                continue
            if found not in checked:
                checked[found] = git.verify_commit(git_root, found, Path(name))
            good, detail = checked[found]
            out[key] = Signature(found, good, detail)
    finally:
        os.unlink(name)
    return out
