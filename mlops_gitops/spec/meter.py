"""What a template spends while it renders: CPU time and the size of what it builds.

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
from collections.abc import Iterable, MappingView, Set
from typing import Any, cast

from jinja2.utils import Namespace

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

    def restart(self) -> None:
        """Count CPU time from now: what the budget bounds is rendering, and the first
        compile in a process also pays for jinja's own warm-up."""
        self.start = time.thread_time()

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
                inner = item.items() if isinstance(item, dict) else item
                stack.extend(cast("Iterable[Any]", inner))
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


CHECKED_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "replace", "join"})
TEXT_METHODS = CHECKED_METHODS | frozenset(
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
METHODS: dict[type, frozenset[str]] = {
    str: TEXT_METHODS,
    bytes: TEXT_METHODS,
    list: frozenset({"count", "index", "copy"}),
    tuple: frozenset({"count", "index"}),
    dict: frozenset({"get", "items", "keys", "values", "copy"}),
    int: frozenset({"bit_length", "bit_count", "conjugate", "as_integer_ratio"}),
    float: frozenset({"is_integer", "as_integer_ratio", "conjugate", "hex"}),
    bool: frozenset(),
}
"""Methods of plain data a template may call: each costs at most its input's size, or is
checked first (`CHECKED_METHODS`; `format` is wrapped by the sandbox). Anything else
(`to_bytes`, `translate`, `fromkeys`...) is unsafe."""


def data_type(owner: Any) -> type | None:
    for kind in METHODS:
        if owner is kind or isinstance(owner, kind):
            return kind
    return None
