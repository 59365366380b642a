"""Safe YAML parsing that keeps the file, line and column of every value.

PyYAML's composer (the C one when available) gives a node graph with marks; we build plain
Python values from it ourselves so we can reject duplicate keys, bound alias expansion and
remember where each value came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is shipped in PyYAML wheels
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path = tuple[str | int, ...]

MAX_ALIASES = 100
"""Alias references allowed in one file: anchors are handy, alias bombs are not."""
MAX_NODES = 100_000
"""Values one file may expand to, counting every alias expansion."""

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True)
class Pos:
    line: int
    column: int


class YamlProblem(Exception):
    """A YAML-level problem at a position (1-based)."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Document:
    """Plain data from one YAML document plus where each value came from."""

    data: Any
    positions: dict[Path, Pos] = field(default_factory=dict)
    raw: dict[Path, str] = field(default_factory=dict)
    """Source text of scalars that YAML did not read as strings, for hints like 'quote it'."""

    def position(self, path: Path) -> Pos | None:
        """The position of the deepest known prefix of `path`."""
        for end in range(len(path), -1, -1):
            pos = self.positions.get(path[:end])
            if pos is not None:
                return pos
        return None


def _pos(mark: Any) -> Pos:
    return Pos(mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.seen: set[int] = set()
        self.aliases = 0
        self.nodes = 0
        self.active: set[int] = set()
        self.constructor = yaml.constructor.SafeConstructor()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlProblem(
                f"the document expands to more than {MAX_NODES} values (alias bomb?)",
                *_line_col(node),
            )
        ident = id(node)
        if ident in self.seen and not isinstance(node, yaml.ScalarNode):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise YamlProblem(
                    f"more than {MAX_ALIASES} alias references in one file", *_line_col(node)
                )
        if ident in self.active:
            raise YamlProblem("recursive alias: a value contains itself", *_line_col(node))
        self.seen.add(ident)
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        self.active.add(ident)
        try:
            if isinstance(node, yaml.SequenceNode):
                out: list[Any] = []
                for index, item in enumerate(node.value):
                    child = (*path, index)
                    self.doc.positions.setdefault(child, _pos(item.start_mark))
                    out.append(self.build(item, child))
                return out
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
        finally:
            self.active.discard(ident)
        raise YamlProblem(f"unsupported YAML node {node.tag}", *_line_col(node))

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        try:
            value = self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            # e.g. 2026-02-30 looks like a date but is not one: keep the text so the field's
            # own check reports it with the object and field it belongs to.
            return node.value
        if not isinstance(value, str) and value is not None:
            self.doc.raw[path] = node.value
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        key_lines: dict[str, int] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem("mapping keys must be plain strings", *_line_col(key_node))
            key = key_node.value if key_node.tag == _STR_TAG else None
            if key is None:
                raise YamlProblem(
                    f"key {key_node.value!r} is not a string; quote it", *_line_col(key_node)
                )
            line = key_node.start_mark.line + 1
            if key in out:
                raise YamlProblem(
                    f"duplicate key {key!r} (first defined on line {key_lines[key]})",
                    *_line_col(key_node),
                )
            key_lines[key] = line
            child = (*path, key)
            self.doc.positions[child] = _pos(key_node.start_mark)
            out[key] = self.build(value_node, child)
        for merge in merges:
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                if not isinstance(source, yaml.MappingNode):
                    raise YamlProblem("a merge key (<<) needs a mapping", *_line_col(source))
                merged = self.build(source, path)
                for key, value in merged.items():
                    out.setdefault(key, value)
        return out


def _line_col(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def parse(text: str) -> Document:
    """Parse one YAML document; raise YamlProblem with the place of the first defect."""
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
        if "expected a single document" in message:
            message = "a file holds one object; found more than one YAML document"
        if mark is None:
            raise YamlProblem(message) from None
        raise YamlProblem(message, mark.line + 1, mark.column + 1) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML error: {exc}") from None
    doc = Document(data=None)
    if root is None:
        return doc
    doc.positions[()] = _pos(root.start_mark)
    doc.data = _Builder(doc).build(root, ())
    return doc
