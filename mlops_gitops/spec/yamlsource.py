"""Safe YAML parsing that keeps the file, line and column of every value.

PyYAML's composer (the C one when available) gives a node graph with marks; we build plain
Python values from it ourselves so we can reject duplicate keys, bound alias expansion and
still find where any value came from. Positions are looked up in the node graph only when a
problem needs one, so valid files pay nothing for them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - libyaml is shipped in PyYAML wheels
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

Path = tuple[str | int, ...]

MAX_ALIASES = 100
"""Alias references allowed in one file: anchors are handy, alias bombs are not."""
MAX_NODES = 100_000
"""Values one file may expand to, counting every alias expansion."""
MAX_DEPTH = 100
"""Lists and mappings nested in one another in one file; deeper is an attack, not a spec."""

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_PLAIN_INT = re.compile(r"^[-+]?[0-9]+$")
_PLAIN_FLOAT = re.compile(r"^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$")
_TRUE = {"yes", "true", "on", "y"}


class _Loader(_BaseLoader):
    """Resolves tags with a cache and skips path resolvers, which safe loading never uses.

    Spec files repeat the same plain scalars endlessly; this halves parsing time.
    """

    _plain: dict[str, str] = {}

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                tag = self._plain.get(value)
                if tag is None:
                    tag = str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]
                    if len(self._plain) < 100_000:
                        self._plain[value] = tag
                return tag
            return _STR
        if kind is yaml.MappingNode:
            return "tag:yaml.org,2002:map"
        return "tag:yaml.org,2002:seq"


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


class Document:
    """Plain data from one YAML document, able to tell where each value came from.

    Only the text is kept: the node graph is composed again when a position is asked for,
    which keeps memory (and the garbage collector's work) small for large repositories.
    """

    __slots__ = ("_root", "data", "empty", "text")

    def __init__(self, data: Any, text: str) -> None:
        self.data = data
        """Plain values; released once typed objects are built from them."""
        self.text = text
        self.empty = data is None
        self._root: yaml.Node | None = None

    @property
    def root(self) -> yaml.Node | None:
        if self._root is None and not self.empty:
            self._root = compose(self.text)
        return self._root

    def _walk(self, path: Path) -> tuple[list[tuple[yaml.Node, yaml.Node | None]], int]:
        """Nodes along `path` as (value node, key node) pairs, and how far the walk got."""
        root = self.root
        if root is None:
            return [], 0
        trail: list[tuple[yaml.Node, yaml.Node | None]] = [(root, None)]
        for depth, part in enumerate(path):
            found = _child(trail[-1][0], part)
            if found is None:
                return trail, depth
            trail.append(found)
        return trail, len(path)

    def position(self, path: Path) -> Pos | None:
        """The position of the deepest known prefix of `path`: a key where there is one."""
        trail, _ = self._walk(path)
        if not trail:
            return None
        node, key = trail[-1]
        mark = (key or node).start_mark
        return Pos(mark.line + 1, mark.column + 1)

    def raw_scalar(self, path: Path) -> str | None:
        """Source text of a scalar YAML did not read as a string, for hints like 'quote it'."""
        trail, reached = self._walk(path)
        if reached != len(path) or not trail:
            return None
        node = trail[-1][0]
        if isinstance(node, yaml.ScalarNode) and node.tag != _STR:
            return str(node.value)
        return None


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, yaml.Node | None] | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return (node.value[part], None) if 0 <= part < len(node.value) else None
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        merges = []
        for key, value in node.value:
            if key.tag == _MERGE:
                merges.append(value)
            elif isinstance(key, yaml.ScalarNode) and key.value == part:
                return value, key
        for merge in merges:
            for source in merge.value if isinstance(merge, yaml.SequenceNode) else [merge]:
                found = _child(source, part)
                if found is not None:
                    return found
    return None


def _line_col(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.active: set[int] = set()
        self.aliases = 0
        self.nodes = 0
        self.depth = 0
        self.constructor: yaml.constructor.SafeConstructor | None = None

    def build(self, node: yaml.Node) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlProblem(
                f"the document expands to more than {MAX_NODES} values (alias bomb?)",
                *_line_col(node),
            )
        if type(node) is yaml.ScalarNode:
            return self._scalar(node)
        ident = id(node)
        if ident in self.seen:
            if ident in self.active:
                raise YamlProblem("recursive alias: a value contains itself", *_line_col(node))
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise YamlProblem(
                    f"more than {MAX_ALIASES} alias references in one file", *_line_col(node)
                )
        self.seen.add(ident)
        self.active.add(ident)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise YamlProblem(
                f"lists and mappings are nested more than {MAX_DEPTH} levels deep",
                *_line_col(node),
            )
        try:
            if type(node) is yaml.SequenceNode:
                return [self.build(item) for item in node.value]
            if type(node) is yaml.MappingNode:
                return self._mapping(node)
        finally:
            self.active.discard(ident)
            self.depth -= 1
        raise YamlProblem(f"unsupported YAML node {node.tag}", *_line_col(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        tag = node.tag
        value: str = node.value
        if tag == _STR:
            return value
        if tag == _INT and _PLAIN_INT.match(value):
            try:
                return int(value)
            except ValueError:  # more digits than Python converts: the field's check says so
                return value
        if tag == _FLOAT and _PLAIN_FLOAT.match(value):
            return _finite(float(value), node)
        if tag == _BOOL:
            return value.lower() in _TRUE
        if tag == _NULL:
            return None
        if self.constructor is None:
            self.constructor = yaml.constructor.SafeConstructor()
        try:
            built = self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            # e.g. 2026-02-30 looks like a date but is not one: keep the text so the field's
            # own check reports it with the object and field it belongs to.
            return value
        return _finite(built, node) if type(built) is float else built

    def _mapping(self, node: yaml.MappingNode) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merges: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merges.append(value_node)
                continue
            if type(key_node) is not yaml.ScalarNode or key_node.tag != _STR:
                what = key_node.value if type(key_node) is yaml.ScalarNode else "a collection"
                raise YamlProblem(f"key {what!r} is not a string; quote it", *_line_col(key_node))
            key = key_node.value
            if key in out:
                first = next(k for k, _ in node.value if k.value == key)
                raise YamlProblem(
                    f"duplicate key {key!r} (first defined on line {first.start_mark.line + 1})",
                    *_line_col(key_node),
                )
            out[key] = self.build(value_node)
        for merge in merges:
            sources = merge.value if type(merge) is yaml.SequenceNode else [merge]
            for source in sources:
                if type(source) is not yaml.MappingNode:
                    raise YamlProblem("a merge key (<<) needs a mapping", *_line_col(source))
                for key, value in self.build(source).items():
                    out.setdefault(key, value)
        return out


def _finite(number: float, node: yaml.Node) -> float:
    """NaN compares false with everything and infinity passes every `<` check: a NaN metric
    or an infinite threshold would silently defeat a gate, so neither is a number here."""
    if not math.isfinite(number):
        raise YamlProblem(
            f"{node.value} is not a finite number; NaN and infinities are not allowed",
            *_line_col(node),
        )
    return number


def compose(text: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def parse(text: str) -> Document:
    """Parse one YAML document; raise YamlProblem with the place of the first defect."""
    try:
        root = compose(text)
    except yaml.MarkedYAMLError as exc:
        raise _problem(exc, text) from None
    except yaml.reader.ReaderError as exc:
        raise _reader_problem(exc, text) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML error: {exc}") from None
    except RecursionError:  # the pure-Python composer, without libyaml's own depth limit
        raise YamlProblem(
            f"lists and mappings are nested more than {MAX_DEPTH} levels deep"
        ) from None
    if root is None:
        return Document(None, text)
    return Document(_Builder().build(root), text)


def _problem(exc: yaml.MarkedYAMLError, text: str) -> YamlProblem:
    """PyYAML's error as a YamlProblem placed where the user can act on it.

    PyYAML marks where it noticed the defect, often a line after the real one (an unclosed `[`
    is noticed on the next key, an unclosed quote at the end of the file), so the line where
    the unfinished construct starts is named too, and used when the end of the file is hit.
    """
    mark, context = exc.problem_mark, exc.context_mark
    message = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
    if "expected a single document" in message:
        message = "a file holds one object; found more than one YAML document"
    elif exc.problem and exc.context and context is not None:
        if mark is None or mark.index >= len(text.rstrip()):
            mark = context
        if context.line != mark.line:
            where = f"line {context.line + 1}, column {context.column + 1}"
            message = f"{exc.problem} ({exc.context} that starts on {where})"
    if mark is not None and text[mark.index : mark.index + 1] == "\t":
        message += "; indent YAML with spaces, not tabs"
    mark = mark or context
    if mark is None:
        return YamlProblem(message)
    return YamlProblem(message, mark.line + 1, mark.column + 1)


def _reader_problem(exc: yaml.reader.ReaderError, text: str) -> YamlProblem:
    """A character YAML does not allow (a NUL, a control character), with its line and column."""
    raw = text.encode()
    char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    if 0 <= exc.position < len(raw) and raw[exc.position] == char:  # libyaml counts bytes
        before = raw[: exc.position].decode("utf-8", "replace")
    else:
        before = text[: exc.position]
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return YamlProblem(f"character U+{char:04X} is not allowed in YAML: {exc.reason}", line, column)
