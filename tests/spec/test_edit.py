"""Span-exact spec edits: rollback's edit changes the version, drops the canary, keeps the rest;
retirement's deletes a list item with its comment lines and nothing else."""

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


BLOCK = """\
spec:
  versions:
    # first
    - version: "1"
      a: 1  # one

    # second
    - version: "2"
      a: 2

    # third
    - version: "3"
      a: 3
  # after the list
other: [x, y, z]  # flow
"""


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (0, BLOCK.replace('    # first\n    - version: "1"\n      a: 1  # one\n\n', "")),
        (1, BLOCK.replace('    # second\n    - version: "2"\n      a: 2\n\n', "")),
        (2, BLOCK.replace('\n    # third\n    - version: "3"\n      a: 3\n', "")),
    ],
)
def test_delete_item_takes_the_item_and_its_comment_lines_only(index: int, expected: str) -> None:
    editor = SpecEditor(BLOCK, "x.yaml")
    editor.delete_item(("spec", "versions", index))
    assert editor.text == expected


def test_delete_item_in_flow_lists_and_refusals() -> None:
    editor = SpecEditor(BLOCK, "x.yaml")
    editor.delete_item(("other", 1))
    assert editor.text.endswith("other: [x, z]  # flow\n")
    editor.delete_item(("other", 1))
    assert editor.text.endswith("other: [x]  # flow\n")
    with pytest.raises(EditError, match="only item"):
        editor.delete_item(("other", 0))
    with pytest.raises(EditError, match="not found"):
        editor.delete_item(("spec", "versions", 7))
    with pytest.raises(EditError, match="not a list item"):
        editor.delete_item(("spec", "versions"))
