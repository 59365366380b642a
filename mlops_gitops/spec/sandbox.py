"""A Jinja2 sandbox that meters what a template spends: CPU time and the size of what it builds.

Jinja's sandbox stops templates reaching Python internals, not exhausting the machine: nested
`range(100000)` loops run for hours and `'a' * 10**9` takes gigabytes in one C call, which no
timer can interrupt. So every operation that can make a value much larger than its inputs is
checked *before* it runs (string and list multiplication and concatenation, `%` and `format`
widths, `center`, `replace`, `join`, `indent`, literals holding large values...), every loop
iteration, call, attribute lookup and filter counts towards a CPU-time check, and methods of
plain data are limited to a list known to be cheap. Sizes are counted in characters of the
value's text; a value may be at most the output budget, and everything a template builds at
most `WORK_FACTOR` times that.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, MappingView, Set
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Environment
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Namespace, pass_environment

from mlops_gitops.spec.templates import Budget, OverBudget

WORK_FACTOR = 10
"""Everything one template builds, in multiples of its output budget."""
MAX_INT_BITS = 16_384
"""Integers beyond this (about 4,900 digits) cannot even be printed by Python."""
_CHECK_EVERY = 64
"""Operations between two looks at the CPU clock."""
_REMEMBER_FROM = 64
"""Containers of at least this size have their size remembered."""


class Meter:
    """The spending of one render; raises OverBudget when a budget would be exceeded."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.limit = budget.output_bytes
        self.work_limit = budget.output_bytes * WORK_FACTOR
        self.start = time.thread_time()
        self.ops = 0
        self.work = 0
        self.sizes: dict[int, tuple[object, int]] = {}
        """id -> (list, tuple or dict, its size): containers are immutable in the sandbox, so
        a size once measured stays true; the reference keeps the id from being reused."""

    def tick(self) -> None:
        self.ops += 1
        if self.ops % _CHECK_EVERY == 0:
            self.check_time()

    def check_time(self) -> None:
        if time.thread_time() - self.start > self.budget.cpu_seconds:
            raise OverBudget(
                f"rendering takes more than {self.budget.cpu_seconds:g} s of CPU time "
                "(security.template_cpu_seconds)"
            )

    def charge(self, size: int, what: str) -> None:
        """Before `what` makes a value of about `size` characters."""
        self.tick()
        if size > self.limit:
            raise OverBudget(
                f"{what} would make a value of {size} characters; a template value may be at "
                f"most {self.limit} (security.template_output_bytes)"
            )
        self.work += size
        if self.work > self.work_limit:
            raise OverBudget(
                f"the template builds more than {self.work_limit} characters of values in "
                f"total ({WORK_FACTOR} x security.template_output_bytes)"
            )

    def size_of(self, value: Any) -> int:
        """About how many characters `str(value)` takes; stops counting past the limit.

        Shared values count each time they appear, as they do in the text: `[a, a]` is twice
        `a`. Sizes of containers made earlier come from `sizes`, so this costs the size of
        what is new, never an exponential walk of a structure built by doubling.
        """
        if type(value) is str:
            return len(value)
        total = 0
        stack = [value]
        while stack and total <= self.limit:
            item = stack.pop()
            if isinstance(item, str | bytes):
                total += len(item) + 2
            elif type(item) is int:
                total += item.bit_length() // 3 + 2
            elif isinstance(item, list | tuple | dict | Set | MappingView):
                known = self.sizes.get(id(item))
                if known is not None:
                    total += known[1]
                    continue
                total += 12 + 2 * len(item)
                inner: Iterable[Any] = item.items() if isinstance(item, dict) else item  # type: ignore[assignment]
                stack.extend(inner)
            elif isinstance(item, Namespace):  # mutable: measured every time
                total += 14
                stack.append(object.__getattribute__(item, "_Namespace__attrs"))
            else:
                total += 24
            if len(stack) % 1024 == 1023:
                self.check_time()
        return total

    def made(self, value: Any, what: str) -> Any:
        """Check (and remember) the size of a value an operation returned."""
        kind = type(value)
        if kind is str:
            if len(value) > self.limit:
                self.charge(len(value), what)
        elif kind is list or kind is tuple or kind is dict:
            if id(value) not in self.sizes:
                size = self.size_of(value)
                self.charge(len(value) + 1, what)
                if size > self.limit:
                    self.charge(size, what)
                if size >= _REMEMBER_FROM:  # smaller ones cost little to measure again
                    self.sizes[id(value)] = (value, size)
        elif kind is int:
            if value.bit_length() > MAX_INT_BITS:
                raise OverBudget(f"{what} makes an integer of more than {MAX_INT_BITS} bits")
        elif isinstance(value, Namespace | MappingView):
            size = self.size_of(value)
            if size > self.limit:
                self.charge(size, what)
        return value


# ---------------------------------------------------------------- bounds of operations


def _int_bits(value: Any) -> int:
    return abs(value).bit_length() if type(value) is int else 0


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def printf_size(meter: Meter, fmt: str, args: Any) -> int:
    """An upper bound of `fmt % args`: every width and precision can pad a field."""
    total = len(fmt) + meter.size_of(args)
    for match in _PRINTF.finditer(fmt):
        for number in match.groups():
            if number == "*":
                raise OverBudget("a '*' width or precision in a % format is not allowed")
            if number:
                total += int(number) if len(number) < 12 else meter.limit + 1
    return total


def spec_size(spec: str) -> int:
    """The widths and precisions in a `str.format` field spec such as `>20.3f`."""
    return sum(int(n) if len(n) < 12 else 10**12 for n in re.findall(r"\d+", spec))


def binop_size(meter: Meter, operator: str, left: Any, right: Any) -> int:
    """About how large `left <operator> right` is, in characters; 0 when it cannot grow."""
    sequences = (str, bytes, list, tuple)
    if operator == "*":
        if isinstance(left, sequences) and type(right) is int:
            return meter.size_of(left) * max(right, 0)
        if isinstance(right, sequences) and type(left) is int:
            return meter.size_of(right) * max(left, 0)
        return _int_size(_int_bits(left) + _int_bits(right))
    if operator == "+" and isinstance(left, sequences) and isinstance(right, sequences):
        return meter.size_of(left) + meter.size_of(right)
    if operator == "**" and type(left) is int and type(right) is int and right > 0:
        return _int_size(max(_int_bits(left) - 1, 0) * right)
    if operator == "%" and isinstance(left, str | bytes):
        text = left.decode("latin-1") if isinstance(left, bytes) else left
        return printf_size(meter, text, right)
    return 0


def _int_size(bits: int) -> int:
    """Digits of an integer of `bits` bits; a product or power past the limit is refused
    before Python spends minutes computing it."""
    if bits > MAX_INT_BITS:
        raise OverBudget(f"the result would be an integer of more than {MAX_INT_BITS} bits")
    return bits // 3


def method_size(meter: Meter, text: str | bytes, name: str, args: tuple[Any, ...]) -> int:
    """Upper bound of the result of a str or bytes method that can grow its input."""
    if name in ("center", "ljust", "rjust", "zfill"):
        width = args[0] if args and type(args[0]) is int else 0
        return max(len(text), width)
    if name == "expandtabs":
        size = args[0] if args and type(args[0]) is int else 8
        tabs = text.count("\t") if isinstance(text, str) else text.count(b"\t")
        return len(text) + tabs * max(size, 0)
    if name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
            return len(text)
        hits = text.count(old) if old else len(text) + 1  # type: ignore[arg-type]
        if len(args) > 2 and type(args[2]) is int and args[2] >= 0:
            hits = min(hits, args[2])
        return len(text) + hits * max(len(new) - len(old), 0)
    return len(text)


_CHECKED = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join"})
_TEXT_METHODS = _CHECKED | frozenset(
    [
        "capitalize",
        "casefold",
        "count",
        "decode",
        "encode",
        "endswith",
        "find",
        "format",
        "format_map",
        "index",
        "isalnum",
        "isalpha",
        "isascii",
        "isdecimal",
        "isdigit",
        "isidentifier",
        "islower",
        "isnumeric",
        "isprintable",
        "isspace",
        "istitle",
        "isupper",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "rfind",
        "rindex",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
    ]
)
_METHODS: dict[type, frozenset[str]] = {
    str: _TEXT_METHODS,
    bytes: _TEXT_METHODS,
    list: frozenset({"count", "index", "copy"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "items", "keys", "values", "copy"}),
    int: frozenset({"bit_length", "bit_count", "conjugate", "as_integer_ratio"}),
    float: frozenset({"is_integer", "as_integer_ratio", "conjugate", "hex"}),
    bool: frozenset(),
}
"""Methods of plain data a template may call: each costs at most its input's size, or is
checked first (`_CHECKED`). Anything else (`to_bytes`, `translate`, `fromkeys`...) is unsafe."""


def _data_type(owner: Any) -> type | None:
    for kind in _METHODS:
        if owner is kind or isinstance(owner, kind):
            return kind
    return None


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
        kind = _data_type(obj)
        if kind is None or not isinstance(name, str) or not hasattr(kind, name):
            return value  # not data, or a key of a mapping that is not a method name
        if not callable(value):
            return value
        if obj is kind or name not in _METHODS[kind]:
            return self.unsafe_undefined(obj, name)
        if name in _CHECKED:
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
