"""A Jinja2 sandbox that renders a template within its budget (see `meter`).

Loops, literals and `~` are routed through the meter by a code generator of our own; calls,
attribute lookups, intercepted operators and filters by the sandbox's hooks; methods of plain
values are limited to `meter.METHODS`, the growing ones checked before they run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Environment
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import pass_environment

from mlops_gitops.spec.meter import (
    CHECKED_METHODS,
    METHODS,
    Meter,
    binop_size,
    data_type,
    method_size,
    printf_size,
    spec_size,
)
from mlops_gitops.spec.templates import Budget

# ---------------------------------------------------------------- the environment


class _CodeGenerator(CodeGenerator):
    """Routes literals and `~` through the meter of the environment."""

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.mlops_literal(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.mlops_literal(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # an assignment target: `{% for a, b in ... %}`
            super().visit_Tuple(node, frame)
            return
        self.write("environment.mlops_literal(")
        super().visit_Tuple(node, frame)
        self.write(")")

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.mlops_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class MeteredSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, metered; one instance renders one template."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})
    """Also keeps Jinja from computing `10 ** 10 ** 9` while compiling."""

    def __init__(self, budget: Budget, **options: Any) -> None:
        super().__init__(finalize=self._finalize, **options)
        self.meter = Meter(budget)
        self.filters = dict(METERED_FILTERS)
        self.globals.pop("lipsum", None)
        self.concat = self._concat  # type: ignore[method-assign]

    def mark(self, template: nodes.Template) -> nodes.Template:
        """Every `{% for %}` iterates through `mlops_iter`, which counts its items."""
        for loop in template.find_all(nodes.For):
            hook = nodes.EnvironmentAttribute("mlops_iter", lineno=loop.iter.lineno)
            loop.iter = nodes.Call(hook, [loop.iter], [], None, None, lineno=loop.iter.lineno)
        return template

    # hooks the generated code calls

    def mlops_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        tick = self.meter.tick
        for item in iterable:
            tick()
            yield item

    def mlops_literal(self, value: Any) -> Any:
        return self.meter.made(value, "a literal")

    def mlops_concat(self, parts: tuple[Any, ...]) -> str:
        size = sum(self.meter.size_of(part) for part in parts)
        self.meter.charge(size, "'~'")
        return "".join(map(str, parts))

    def _concat(self, pieces: Iterable[str]) -> str:
        pieces = list(pieces)
        self.meter.charge(sum(map(len, pieces)), "the output of a macro or block")
        return "".join(pieces)

    def _finalize(self, value: Any) -> Any:
        if type(value) is not str:
            size = self.meter.size_of(value)
            if size > self.meter.limit:
                self.meter.charge(size, "printing a value")
        return value

    # the sandbox's own hooks

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.meter.charge(binop_size(self.meter, operator, left, right), f"'{operator}'")
        return self.meter.made(super().call_binop(context, operator, left, right), operator)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.meter.tick()
        result = super().call(__context, __obj, *args, **kwargs)
        return __self.meter.made(result, "a call")

    def getattr(self, obj: Any, attribute: str) -> Any:
        self.meter.tick()
        return self._guard(obj, attribute, super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.meter.tick()
        return self._guard(obj, argument, super().getitem(obj, argument))

    def _guard(self, obj: Any, name: Any, value: Any) -> Any:
        """Methods of plain data: the cheap ones as they are, the growing ones checked, the
        rest refused. On the types themselves none: `dict.update(values, ...)` would change
        the Project's values under every later template."""
        kind = data_type(obj)
        if kind is None or not isinstance(name, str) or not hasattr(kind, name):
            return value  # not data, or a key of a mapping that is not a method name
        if not callable(value):
            return value
        if obj is kind or name not in METHODS[kind]:
            return self.unsafe_undefined(obj, name)
        if name in CHECKED_METHODS:
            return self._checked(obj, name, value)
        return value

    def _checked(self, text: Any, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        meter = self.meter

        def run(*args: Any, **kwargs: Any) -> Any:
            if name == "join":
                items = list(args[0]) if args else []
                size = sum(meter.size_of(item) for item in items)
                meter.charge(size + len(text) * max(len(items) - 1, 0), "join()")
                return method(items)
            meter.charge(method_size(meter, text, name, args), f"{name}()")
            return meter.made(method(*args, **kwargs), f"{name}()")

        return run

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format` and `format_map` through a formatter that measures every field."""
        if super().wrap_str_format(value) is None:
            return None
        fmt: str = value.__self__
        is_map = value.__name__ == "format_map"
        meter = self.meter

        def run(*args: Any, **kwargs: Any) -> str:
            positional: tuple[Any, ...] = args
            if is_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                positional, kwargs = (), args[0]
            meter.charge(len(fmt), "format()")
            text = _Formatter(self, len(fmt)).vformat(fmt, positional, kwargs)
            return str(meter.made(text, "format()"))

        return run


class _Formatter(SandboxedFormatter):
    """`str.format` fields whose width or precision would pad past the budget are refused."""

    def __init__(self, env: MeteredSandbox, size: int) -> None:
        super().__init__(env)
        self.meter = env.meter
        self.size = size

    def format_field(self, value: Any, format_spec: str) -> Any:
        field = self.meter.size_of(value) + spec_size(format_spec)
        self.size += field
        self.meter.charge(field, "a format field")
        if self.size > self.meter.limit:
            self.meter.charge(self.size, "format()")
        return super().format_field(value, format_spec)


# ---------------------------------------------------------------- filters

_UNSAFE_FILTERS = {
    *("pprint", "urlize", "xmlattr", "striptags", "filesizeformat", "random"),
    *("safe", "e", "escape", "forceescape"),
}
"""Left out: regular expressions with superlinear cases, HTML, randomness (a spec renders the
same every time)."""


def _environment(first: Any) -> MeteredSandbox:
    env = first if isinstance(first, Environment) else first.environment
    assert isinstance(env, MeteredSandbox)
    return env


Check = Callable[[Meter, tuple[Any, ...], dict[str, Any]], tuple[tuple[Any, ...], int]]
"""Given the filter's arguments: the arguments to call it with, and its result's size bound."""


def _metered(name: str, original: Callable[..., Any], check: Check | None) -> Callable[..., Any]:
    passes = getattr(original, "jinja_pass_arg", None)

    def run(env: MeteredSandbox, first: tuple[Any, ...], args: tuple[Any, ...], kwargs: Any) -> Any:
        meter = env.meter
        meter.tick()
        if check is not None:
            args, size = check(meter, args, kwargs)
            meter.charge(size, f"the {name} filter")
        return meter.made(original(*first, *args, **kwargs), f"the {name} filter")

    if passes is None:

        @pass_environment
        def plain(env: MeteredSandbox, *args: Any, **kwargs: Any) -> Any:
            return run(env, (), args, kwargs)

        return plain

    def passing(first: Any, *args: Any, **kwargs: Any) -> Any:
        return run(_environment(first), (first,), args, kwargs)

    passing.jinja_pass_arg = passes  # type: ignore[attr-defined]
    return passing


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str, default: Any) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _width(meter: Meter, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int]:
    width = _arg(args, kwargs, 1, "width", 80)
    return args, max(meter.size_of(args[0] if args else ""), width if type(width) is int else 0)


def _indent(meter: Meter, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int]:
    text = str(args[0]) if args else ""
    width = _arg(args, kwargs, 1, "width", 4)
    pad = width if type(width) is int else meter.size_of(width)
    return args, len(text) + (text.count("\n") + 1) * max(pad, 0)


def _wordwrap(meter: Meter, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int]:
    text = meter.size_of(args[0]) if args else 0
    wrap = _arg(args, kwargs, 3, "wrapstring", None)
    return args, text * (1 + (meter.size_of(wrap) if wrap is not None else 1))


def _replace(meter: Meter, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int]:
    text = str(args[0]) if args else ""
    return args, method_size(meter, text, "replace", tuple(args[1:]))


def _join(meter: Meter, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int]:
    items = list(args[0]) if args else []
    glue = _arg(args, kwargs, 1, "d", "")
    size = sum(meter.size_of(item) for item in items)
    return (items, *args[1:]), size + meter.size_of(glue) * max(len(items) - 1, 0)


def _format(meter: Meter, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int]:
    fmt = str(args[0]) if args else ""
    return args, printf_size(meter, fmt, kwargs or args[1:])


def _padding(index: int, name: str) -> Check:
    """batch and slice pad with `fill_with` up to a count the template chooses."""

    def check(meter: Meter, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int]:
        count = _arg(args, kwargs, 1, name, 1)
        fill = _arg(args, kwargs, index, "fill_with", None)
        count = count if type(count) is int else 1
        if fill is None and name == "linecount":
            return args, 0  # batches without padding only regroup what exists
        return args, count * (2 + (meter.size_of(fill) if fill is not None else 0))

    return check


def _string(meter: Meter, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int]:
    return args, meter.size_of(args[0]) if args else 0


def _list(meter: Meter, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, int]:
    """A string becomes a list of its characters: `'a', ` in text for each."""
    return args, 5 * len(args[0]) if args and isinstance(args[0], str | bytes) else 0


@pass_environment
def _tojson(env: MeteredSandbox, value: Any, indent: int | None = None) -> str:
    """JSON written piece by piece, so an indent that multiplies the size stops in time."""
    import json

    encoder = json.JSONEncoder(indent=indent, sort_keys=True, allow_nan=False)
    parts: list[str] = []
    size = 0
    for part in encoder.iterencode(value):  # not one-shot: a generator, whatever the indent
        size += len(part)
        env.meter.charge(len(part), "the tojson filter")
        if size > env.meter.limit:
            env.meter.charge(size, "the tojson filter")
        parts.append(part)
    return "".join(parts)


@pass_environment
def _sum(
    env: MeteredSandbox, iterable: Iterable[Any], attribute: Any = None, start: Any = 0
) -> Any:
    """Lists are joined in one pass: `sum` of lists copies the growing result at every step."""
    items = list(iterable)
    if attribute is not None:
        items = [env.getattr(item, attribute) for item in items]
    if isinstance(start, list | tuple):
        size = env.meter.size_of(start) + sum(env.meter.size_of(item) for item in items)
        env.meter.charge(size, "the sum filter")
        joined = list(start)
        for item in items:
            joined.extend(item)
        return env.meter.made(type(start)(joined), "the sum filter")
    return FILTERS["sum"](env, items, start=start)


_CHECKS: dict[str, Check] = {
    "center": _width,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "replace": _replace,
    "join": _join,
    "format": _format,
    "batch": _padding(2, "linecount"),
    "slice": _padding(2, "slices"),
    "string": _string,
    "list": _list,
}

METERED_FILTERS: dict[str, Callable[..., Any]] = {
    name: _metered(name, original, _CHECKS.get(name))
    for name, original in FILTERS.items()
    if name not in _UNSAFE_FILTERS
} | {"tojson": _tojson, "sum": _metered("sum", _sum, None)}
