"""Span-exact spec edits: rollback's edit changes the version, drops the canary, keeps the rest."""

from __future__ import annotations

import pytest

from mlops_gitops.spec.edit import EditError, SpecEditor

CASES = {
    "block canary, last in the file without a final newline": (
        'spec:\n  version: "1.1.0"\n  canary:\n    version: "1.2.0"\n    traffic: 20',
        'spec:\n  version: "1.0.0"\n',
    ),
    "comments inside the canary go, the next key's comment stays": (
        'spec:\n  version: "1.1.0"  # stable\n  canary:   # the candidate\n'
        '    version: "1.2.0"\n    traffic: 20  # pct\n    # was 10\n'
        '  # resources follow\n  resources: {cpu: "1"}\n',
        'spec:\n  version: "1.0.0"  # stable\n  # resources follow\n  resources: {cpu: "1"}\n',
    ),
    "flow canary with a trailing comment, single-quoted version": (
        "spec:\n  version: '1.1.0'\n  canary: {version: \"1.2.0\", traffic: 50}  # half\n"
        "  stage: staging\n",
        "spec:\n  version: '1.0.0'\n  stage: staging\n",
    ),
    "everything in flow style": (
        'spec: {version: "1.1.0", canary: {version: "1.2.0", traffic: 5}, stage: prod}\n',
        'spec: {version: "1.0.0", stage: prod}\n',
    ),
    "CRLF line ends": (
        'spec:\r\n  version: "1.1.0"\r\n  canary:\r\n    version: "1.2.0"\r\n'
        "    traffic: 20\r\n  stage: x\r\n",
        'spec:\r\n  version: "1.0.0"\r\n  stage: x\r\n',
    ),
    "canary holding a block scalar and a sequence": (
        'spec:\n  version: "1.1.0"\n  canary:\n    version: "1.2.0"\n    note: |\n'
        "      two\n      lines\n    tags:\n    - a\n    - b\n  stage: x\n",
        'spec:\n  version: "1.0.0"\n  stage: x\n',
    ),
    "canary before the version, blank line kept": (
        'spec:\n  canary:\n    version: "1.2.0"\n    traffic: 20\n\n  version: "1.1.0"\n',
        'spec:\n\n  version: "1.0.0"\n',
    ),
}


@pytest.mark.parametrize(("before", "after"), CASES.values(), ids=list(CASES))
def test_rollback_edit(before: str, after: str) -> None:
    editor = SpecEditor(before, "deployments/x.yaml")
    editor.set_scalar(("spec", "version"), "1.0.0")
    assert editor.delete_key(("spec", "canary")) is True
    assert editor.text == after


def test_deleting_a_missing_key_changes_nothing() -> None:
    editor = SpecEditor('spec:\n  version: "1"\n', "x.yaml")
    assert editor.delete_key(("spec", "canary")) is False
    assert editor.text == 'spec:\n  version: "1"\n'


def test_missing_field_is_an_error() -> None:
    with pytest.raises(EditError, match=r"field spec\.version not found"):
        SpecEditor("spec: {}\n", "x.yaml").set_scalar(("spec", "version"), "1")
