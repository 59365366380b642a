"""Reading repository content as hostile input, and writing JSON that stays JSON.

Anything in a repository may have been written by an attacker: a "file" may be a FIFO that
blocks forever, a device, a symlink loop, gigabytes of data, or JSON nested 100,000 levels deep
(Python's parser then raises RecursionError, which no `except ValueError` catches). These
helpers turn each of those into a `ValueError` with a clear message, before anything is
trusted. JSON is written with `allow_nan=False`: a bare `NaN` is not JSON, and other tools
reading our files must not choke on it.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 16 * 1024 * 1024
"""Budget of one JSON file the tool reads back (state, reports, plans): 16 MiB."""
MAX_JSON_DEPTH = 64
"""Budget of nesting in one JSON document; the tool's own files nest a handful of levels."""

_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class TooLarge(ValueError):
    """A file over its size budget."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"is {size} bytes; the limit is {limit} bytes")
        self.size = size
        self.limit = limit


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words a user knows."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "a special file"


def read_regular(path: Path | str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most `max_bytes`; never follows a symlink (the last
    component) and never blocks on a FIFO or device.

    Raises ValueError saying what is wrong, OSError for plain I/O failures.
    """
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError("is a symbolic link; refusing to follow it") from None
        if exc.errno in (errno.ENXIO, errno.EWOULDBLOCK, errno.EOPNOTSUPP):  # a socket...
            try:
                what = file_kind(os.lstat(path).st_mode)
            except OSError:
                what = "a special file"
            raise ValueError(f"is {what}, not a regular file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"is {file_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise TooLarge(info.st_size, max_bytes)
        return read_all(fd, info.st_size, max_bytes)
    finally:
        os.close(fd)


def read_all(fd: int, expected: int, max_bytes: int) -> bytes:
    """Reads to the end, asking first for one byte more than `expected` (the size fstat gave):
    one read for a file that did not change, and no buffer of `max_bytes` for a small one.
    TooLarge for a file that grew past `max_bytes` while being read."""
    chunks = []
    size = 0
    want = expected + 1
    while chunk := os.read(fd, min(want, max_bytes + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(size, max_bytes)
        if len(chunk) < want:  # a short read of a regular file is its end
            break
        want = 1 << 20  # it grew since fstat: read on
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows (non-finite numbers are refused)")


def loads(data: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON; ValueError for bad syntax, NaN/Infinity or nesting deeper than `max_depth`."""
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    check_value(value, max_depth)
    return value


def check_value(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """ValueError for lists and objects nested deeper than `max_depth` or a non-finite number
    (`1e999` parses as infinity without asking `parse_constant`). Iterative: no recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"holds the number {item}; non-finite numbers are refused")
            continue
        if depth > max_depth:
            raise ValueError(f"nested deeper than {max_depth} levels")
        for child in children:
            kind = type(child)
            if kind is float:
                if child - child != 0.0:  # inf - inf and nan - nan are nan; checked in place
                    raise ValueError(f"holds the number {child}; non-finite numbers are refused")
                continue
            if kind is str or kind is int or kind is bool or child is None:
                continue  # most values: nothing to check, nothing to push (10,000 state files)
            stack.append((child, depth + 1))


def read_json(
    path: Path | str, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """`loads` of a regular file within the budgets; ValueError or OSError otherwise."""
    data = read_regular(path, max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"is not UTF-8 (byte {exc.start})") from None
    return loads(text, max_depth)


def dumps(data: Any, **options: Any) -> str:
    """`json.dumps` that refuses NaN and infinities (ValueError) instead of writing bare NaN.

    The tool's own format (two-space indent, sorted keys) is written byte for byte as
    `json.dumps` would, but at C speed: `indent` turns off the standard library's C encoder, and
    a plan or status of thousands of objects spent seconds in the Python one (`_indented`).
    """
    plain = options.keys() <= {"indent", "sort_keys", "ensure_ascii"}
    if plain and options.get("indent") == 2 and options.get("sort_keys"):
        fast = _indented(data, options.get("ensure_ascii", True))
        if fast is not None:
            return fast
    return json.dumps(data, allow_nan=False, **options)  # noqa: TID251 - the one place


_EXPONENT = re.compile(r"[0-9]e[+-][0-9]")
"""A float the standard library writes with an exponent (1e-05) and orjson without (1e-5)."""


def _indented(data: Any, ascii_only: bool) -> str | None:
    """orjson's output when it is provably the standard library's, else None.

    The C compact encoding runs first: it raises what `json.dumps` raises (NaN, types JSON has
    no form for) and shows the floats it writes with an exponent, the one number format the two
    libraries spell differently. orjson refuses what it cannot write the same way (keys that
    are not strings, integers beyond 64 bits, lone surrogates): the standard library then does.
    """
    compact = json.dumps(data, allow_nan=False, sort_keys=True)  # noqa: TID251 - checks only
    if _EXPONENT.search(compact):
        return None
    try:
        import orjson
    except ImportError:
        return None
    try:
        out = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        return None
    if ascii_only and not out.isascii():
        return None  # the standard library escapes non-ASCII characters as \uXXXX
    return out


def finite(value: Any) -> Any:
    """`value` with NaN and infinities as None (JSON's null), for data the tool does not
    control, such as a model's predictions."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [finite(inner) for inner in value]
    return value


def dump_bytes(data: Any) -> bytes:
    """The tool's file format: sorted keys, two-space indent, trailing newline, UTF-8."""
    return (dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
