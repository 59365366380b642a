"""Surgical edits of human-written spec files: change values, keep every comment and format.

The YAML node graph gives exact character spans, so an edit replaces only the bytes of the
value it changes; the rest of the file stays identical, which keeps git diffs minimal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from mlops_gitops.errors import MlopsError
from mlops_gitops.safeio import dumps
from mlops_gitops.spec.yamlsource import compose

Path = tuple[str | int, ...]


class EditError(MlopsError):
    pass


@dataclass(frozen=True)
class _Located:
    key: yaml.Node | None
    value: yaml.Node
    parent: yaml.Node | None


def _find(root: yaml.Node, path: Path) -> _Located | None:
    node, key, parent = root, None, None
    for part in path:
        parent = node
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == part:
                    node, key = v, k
                    break
            else:
                return None
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                return None
            node, key = node.value[part], None
        else:
            return None
    return _Located(key, node, parent)


def _last_leaf(node: yaml.Node) -> yaml.Node:
    """The last scalar (or flow collection) inside a block collection: where its text ends."""
    while isinstance(node, yaml.CollectionNode) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node


def _scalar_text(value: Any, like: yaml.Node | None) -> str:
    if isinstance(value, str):
        style = like.style if isinstance(like, yaml.ScalarNode) else '"'
        if style == "'":
            return "'" + value.replace("'", "''") + "'"
        return dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return dumps(value)


class SpecEditor:
    """Applies edits one at a time, re-reading positions after each."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path

    def _root(self) -> yaml.Node:
        root = compose(self.text)
        if root is None:
            raise EditError(f"{self.path} is empty")
        return root

    def set_scalar(self, path: Path, value: Any) -> None:
        """Replace a scalar value in place; quotes follow the old value's style."""
        found = _find(self._root(), path)
        if found is None:
            raise EditError(f"{self.path}: field {'.'.join(map(str, path))} not found")
        node = found.value
        if not isinstance(node, yaml.ScalarNode):
            raise EditError(f"{self.path}: {'.'.join(map(str, path))} is not a plain value")
        start, end = node.start_mark.index, node.end_mark.index
        self.text = self.text[:start] + _scalar_text(value, node) + self.text[end:]

    def delete_key(self, path: Path) -> bool:
        """Remove `key: value` from a block mapping (whole lines) or a flow mapping."""
        found = _find(self._root(), path)
        if found is None:
            return False
        if found.key is None or not isinstance(found.parent, yaml.MappingNode):
            raise EditError(f"{self.path}: cannot delete {'.'.join(map(str, path))}")
        if found.parent.flow_style:
            return self._delete_flow(found)
        start = self.text.rfind("\n", 0, found.key.start_mark.index) + 1
        if self.text[start : found.key.start_mark.index].strip():
            raise EditError(f"{self.path}: unexpected layout around {path[-1]}")
        # PyYAML ends a block collection where the next token starts, past any comment
        # lines that belong to the next key: cut after the last value the key holds instead,
        # with the rest of its line (a trailing comment goes with it) and the comment lines
        # indented under the key.
        end = _last_leaf(found.value).end_mark.index
        if end > 0 and self.text[end - 1] == "\n":
            cut_end = end  # a block scalar ends after its line break
        else:
            newline = self.text.find("\n", end)
            cut_end = len(self.text) if newline < 0 else newline + 1
        column = found.key.start_mark.column
        while cut_end < len(self.text):
            newline = self.text.find("\n", cut_end)
            line = self.text[cut_end : len(self.text) if newline < 0 else newline + 1]
            body = line.lstrip(" ")
            if not body.startswith("#") or len(line) - len(body) <= column:
                break
            cut_end += len(line)
        self.text = self.text[:start] + self.text[cut_end:]
        return True

    def _delete_flow(self, found: _Located) -> bool:
        assert found.key is not None
        start, end = found.key.start_mark.index, found.value.end_mark.index
        before = self.text[:start].rstrip()
        after = self.text[end:]
        stripped = after.lstrip()
        if stripped.startswith(","):
            after = stripped[1:].lstrip()
            self.text = self.text[:start] + after
        elif before.endswith(","):
            self.text = before[:-1] + after
        else:
            self.text = self.text[:start] + after
        return True

    def insert_key(self, path: Path, key: str, value_text: str, after: str | None = None) -> None:
        """Add `key: value` to a block mapping, with the mapping's indentation: after the
        line of key `after` when that key's value ends on its own line, else at the end."""
        found = _find(self._root(), path)
        if found is None or not isinstance(found.value, yaml.MappingNode):
            raise EditError(f"{self.path}: mapping {'.'.join(map(str, path))} not found")
        mapping = found.value
        if mapping.flow_style or not mapping.value:
            raise EditError(f"{self.path}: cannot add {key} to a flow or empty mapping")
        indent = mapping.value[0][0].start_mark.column
        last_end = mapping.value[-1][1].end_mark.index
        for k, v in mapping.value:
            scalar_like = isinstance(v, yaml.ScalarNode) or (
                isinstance(v, yaml.CollectionNode) and v.flow_style
            )
            if after is not None and isinstance(k, yaml.ScalarNode) and k.value == after:
                if scalar_like and "\n" not in self.text[k.start_mark.index : v.end_mark.index]:
                    last_end = v.end_mark.index
                break
        line_end = (
            last_end if self.text[last_end - 1] == "\n" else self.text.find("\n", last_end) + 1
        )
        if line_end <= 0:
            self.text += "\n"
            line_end = len(self.text)
        line = " " * indent + f"{key}: {value_text}\n"
        self.text = self.text[:line_end] + line + self.text[line_end:]

    def append_item(self, path: Path, entry: dict[str, Any], note: str | None = None) -> None:
        """Append a mapping to a non-empty block list, matching the list's indentation, with an
        optional comment line above it. Versions, dates and hashes are written as
        double-quoted strings, like hand-written ones."""
        found = _find(self._root(), path)
        items = found.value if found is not None else None
        if not isinstance(items, yaml.SequenceNode) or items.flow_style or not items.value:
            where = ".".join(map(str, path))
            raise EditError(f"{self.path}: {where} is not a block list the tool can extend")
        indent = items.value[0].start_mark.column
        end = items.value[-1].end_mark.index
        line_start = self.text.rfind("\n", 0, end) + 1
        insert_at = (
            line_start if not self.text[line_start:end].strip() else self.text.find("\n", end) + 1
        )
        if insert_at <= 0:
            self.text += "\n"
            insert_at = len(self.text)
        body = yaml.safe_dump(entry, sort_keys=False, default_flow_style=False, width=100)
        body = re.sub(
            r"^(version|created|sha256): '?([^'\n]+?)'?$",
            lambda match: f"{match.group(1)}: {dumps(match.group(2))}",
            body,
            flags=re.MULTILINE,
        )
        lines = body.rstrip("\n").split("\n")
        pad = " " * (indent - 2)
        block = [f"{pad}- {lines[0]}"] + [f"{pad}  {line}" for line in lines[1:]]
        if note is not None:
            block.insert(0, f"{pad}# {note}")
        text = self.text
        self.text = text[:insert_at] + "\n" + "\n".join(block) + "\n" + text[insert_at:]

    def delete_item(self, path: Path) -> None:
        """Remove one item of a sequence. In a block sequence the item's whole lines go, with
        the comment lines directly above it (no blank line between) that describe it; other
        comments and the spacing between the remaining items stay."""
        if not path or not isinstance(path[-1], int):
            raise EditError(f"{self.path}: {'.'.join(map(str, path))} is not a list item")
        found = _find(self._root(), path)
        where = ".".join(map(str, path))
        if found is None:
            raise EditError(f"{self.path}: item {where} not found")
        sequence = found.parent
        if not isinstance(sequence, yaml.SequenceNode):
            raise EditError(f"{self.path}: {where} is not a list item")
        if len(sequence.value) == 1:
            raise EditError(f"{self.path}: {where} is the only item; the list would be empty")
        if sequence.flow_style:
            self._delete_flow_item(sequence, path[-1])
            return
        node = found.value
        dash = self.text.rfind("-", 0, node.start_mark.index)
        line_start = self.text.rfind("\n", 0, dash) + 1
        if (
            dash < 0
            or self.text[line_start:dash].strip()
            or self.text[dash + 1 : node.start_mark.index].strip()
        ):
            raise EditError(f"{self.path}: unexpected layout around item {where}")
        column = dash - line_start
        start = line_start
        while start > 0:  # the item's own comment lines, directly above it
            prev = self.text.rfind("\n", 0, start - 1) + 1
            line = self.text[prev : start - 1]
            if not line.lstrip().startswith("#") or len(line) - len(line.lstrip()) != column:
                break
            start = prev
        end = self._item_end(node, column)
        before, after = self.text[:start], self.text[end:]
        first = path[-1] == 0
        rest = after.lstrip("\n")
        if rest != after and (first or before.endswith("\n\n")):
            after = rest  # no double blank line, nor one right under the parent key
        elif not _continues(rest, column) and before.endswith("\n\n"):
            before = before.rstrip("\n") + "\n"  # the last item went: no blank line left over
        self.text = before + after

    def _item_end(self, node: yaml.Node, column: int) -> int:
        """Where the last line of an item's content ends (after its newline). A block
        collection ends at the next token, past blank lines and comments of what follows."""
        end = node.end_mark.index
        newline = self.text.find("\n", end)
        if not isinstance(node, yaml.CollectionNode) or node.flow_style:
            return len(self.text) if newline < 0 else newline + 1
        cut = self.text.rfind("\n", 0, end) + 1
        while cut > node.start_mark.index:
            prev = self.text.rfind("\n", 0, cut - 1) + 1
            line = self.text[prev : cut - 1]
            stripped = line.lstrip()
            if stripped and not (stripped.startswith("#") and len(line) - len(stripped) <= column):
                break
            cut = prev
        return cut

    def _delete_flow_item(self, sequence: yaml.SequenceNode, index: int) -> None:
        items = sequence.value
        if index < len(items) - 1:
            start, end = items[index].start_mark.index, items[index + 1].start_mark.index
        else:
            start = self.text.rfind(",", 0, items[index].start_mark.index)
            end = items[index].end_mark.index
        self.text = self.text[:start] + self.text[end:]


def _continues(text: str, column: int) -> bool:
    """Whether the text goes on with another line indented at least `column` (more items)."""
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped and not stripped.startswith("#"):
            return len(line) - len(stripped) >= column
    return False
