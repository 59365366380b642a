"""Reading pickle streams without loading them, within budgets.

A pickle-based artifact is an attacker's file: a 2 MB gzip can hold gigabytes, and a stream
of one-byte opcodes makes any list of opcodes grow without end. So the stream is decompressed
as it is read, with `MAX_DECOMPRESSED` enforced while reading, and walked opcode by opcode
keeping only what judging it needs: the globals it imports and the short strings a
`STACK_GLOBAL` may name. Large arguments are skipped, not held. Which globals are dangerous
is picklescan's judgement (see `scan`).
"""

from __future__ import annotations

import bz2
import io
import lzma
import pickletools
import struct
import zlib
from collections import deque
from typing import IO, Any

from mlops_gitops.providers.formats import COMPRESSED_MAGIC, OPCODES, is_pickle_start

MAX_DECOMPRESSED = 512 * 1024**2
"""Bytes one pickle stream may hold once decompressed (512 MiB; a plain pickle file counts
its size). Larger artifacts are refused: scanning them would cost the runner seconds per
hundred megabytes, which a pull request must not be able to demand without end. Models that
large belong in skops, ONNX or safetensors files."""
MAX_OPCODES = 2_000_000
"""Opcodes in one stream (about a second of walking each million); real models hold their
weights in few large arguments."""
MAX_KEPT_STRINGS = 64 * 1024**2
"""Bytes of memoized short strings kept to resolve `STACK_GLOBAL` names."""
SHORT_STRING = 1024
"""Longer strings are skipped: no module or attribute name is that long."""
LINE_LIMIT = 64 * 1024
LOOKBACK = 64
"""Opcodes looked back from a `STACK_GLOBAL` for its two names; beyond: unknown, dangerous."""
CHUNK = 1024 * 1024

_STRINGS = {
    "SHORT_BINUNICODE",
    "UNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
}
_MEMO_PUTS = {"MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"}
_MEMO_GETS = {"GET", "BINGET", "LONG_BINGET"}
_LENGTHS = {  # pickletools' "taken from argument" sizes: (bytes, struct format)
    pickletools.TAKEN_FROM_ARGUMENT1: (1, "<B"),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, "<i"),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, "<I"),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, "<Q"),
}
_TRACKED = {"STOP", "PROTO", "GLOBAL", "INST", "STACK_GLOBAL", *_MEMO_PUTS}
_BY_BYTE = [OPCODES.get(chr(code)) for code in range(256)]
UNKNOWN = "unknown"
"""picklescan's name for a global it cannot resolve: always dangerous."""


class OverBudget(Exception):
    """A budget was exceeded; the message names the limit."""


class Capped:
    """A buffered reader that refuses to go past `limit` bytes."""

    def __init__(self, source: Any, what: str, limit: int | None = None) -> None:
        self.source = source
        self.what = what
        """What the stream is, for messages: the artifact and its container."""
        self.limit = MAX_DECOMPRESSED if limit is None else limit
        self.buffer = b""
        self.offset = 0
        self.consumed = 0
        """Bytes taken from the source so far."""

    def _take(self, size: int) -> bytes:
        room = self.limit + 1 - self.consumed  # one byte more than allowed tells it was more
        data: bytes = self.source.read(min(size, room)) if room > 0 else b""
        self.consumed += len(data)
        if self.consumed > self.limit:
            raise OverBudget(
                f"{self.what} holds more than {self.limit:,} bytes"
                " (the limit, MAX_DECOMPRESSED); refusing to scan it"
            )
        return data

    def _fill(self, wanted: int) -> None:
        """At least `wanted` bytes from the current offset in the buffer, or all there is."""
        self.buffer, self.offset = self.buffer[self.offset :], 0
        while len(self.buffer) < wanted:
            data = self._take(max(CHUNK, wanted - len(self.buffer)))
            if not data:
                return
            self.buffer += data

    def code(self) -> int:
        """The next byte, -1 at the end."""
        if self.offset >= len(self.buffer):
            self._fill(1)
            if not self.buffer:
                return -1
        self.offset += 1
        return self.buffer[self.offset - 1]

    def exact(self, n: int) -> bytes:
        if self.offset + n > len(self.buffer):
            self._fill(n)
        data = self.buffer[self.offset : self.offset + n]
        self.offset += len(data)
        if len(data) != n:
            raise ValueError("the pickle stream ends in the middle of an opcode")
        return data

    def skip(self, n: int) -> None:
        """Read past `n` bytes without keeping them."""
        held = min(n, len(self.buffer) - self.offset)
        self.offset += held
        n -= held
        while n > 0:
            data = self._take(min(n, CHUNK))
            if not data:
                raise ValueError("the pickle stream ends in the middle of an opcode")
            n -= len(data)

    def line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\n", self.offset)
            if end >= 0:
                data = self.buffer[self.offset : end + 1]
                self.offset = end + 1
                return data
            have = len(self.buffer) - self.offset
            if have > LINE_LIMIT:
                raise ValueError(f"a text argument is longer than {LINE_LIMIT} bytes")
            self._fill(have + 1)
            if len(self.buffer) - self.offset <= have:
                raise ValueError("the pickle stream ends in the middle of an opcode")


class _Inflate:
    """zlib or gzip decompression as a stream, never more than asked for at once (faster
    than `gzip.GzipFile`, which matters for the budget). Concatenated gzip members are read
    one after the other, as gzip does."""

    def __init__(self, source: IO[bytes], wbits: int) -> None:
        self.source = source
        self.wbits = wbits
        self.inflate = zlib.decompressobj(wbits)
        self.pending = b""

    def read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            if self.inflate.eof:
                rest = self.inflate.unused_data + self.pending
                if self.wbits != GZIP or not (rest or self._more(rest)):
                    break
                self.inflate, self.pending = zlib.decompressobj(self.wbits), rest
            data = self.pending or self.source.read(CHUNK)
            if not data:
                break
            out += self.inflate.decompress(data, n - len(out))
            self.pending = self.inflate.unconsumed_tail
        return out

    def _more(self, rest: bytes) -> bool:
        self.pending = rest + self.source.read(CHUNK)
        return bool(self.pending)


GZIP = 31
"""zlib's wbits for the gzip format."""


def decompressing(handle: IO[bytes]) -> tuple[Any, str]:
    """The stream inside a joblib container (or the file itself), and what it was."""
    head = handle.read(8)
    handle.seek(0)
    kind = next((name for magic, name in COMPRESSED_MAGIC.items() if head.startswith(magic)), None)
    if head[:1] == b"\x80" or (kind is None and is_pickle_start(head)):
        return handle, "the pickle stream"  # (old protocols may start like bz2's "BZh")
    if kind is None:
        raise ValueError("the file is neither a pickle stream nor a joblib compressed container")
    if kind == "gzip":
        return _Inflate(handle, GZIP), "the gzip container"
    if kind == "bz2":
        return bz2.BZ2File(handle), "the bz2 container"
    if kind in ("xz", "lzma"):
        return lzma.LZMAFile(handle), f"the {kind} container"
    if kind == "zlib (joblib)":
        handle.read(18)  # 'ZF' and joblib's 16-byte length field, then zlib
    return _Inflate(handle, zlib.MAX_WBITS), "the zlib container"


def stream_globals(stream: Capped) -> set[tuple[str, str]]:
    """The (module, name) pairs every pickle in the stream imports; raises ValueError when
    the stream is not whole pickles, OverBudget when it is too large."""
    found: set[tuple[str, str]] = set()
    budget = [MAX_OPCODES, MAX_KEPT_STRINGS]
    code = stream.code()
    if code < 0:
        raise ValueError("no pickle found: the stream is empty")
    while code >= 0:
        _one_pickle(stream, code, found, budget)
        code = stream.code()
    return found


def _one_pickle(stream: Capped, code: int, found: set[tuple[str, str]], budget: list[int]) -> None:
    memo: dict[int, str] = {}
    memoized = 0
    recent: deque[tuple[str, Any]] = deque(maxlen=LOOKBACK)
    left = budget[0]
    while True:
        op = _BY_BYTE[code] if code >= 0 else None
        if op is None:
            if code < 0:
                raise ValueError("the pickle ends before its STOP opcode")
            raise ValueError(f"byte {bytes([code])!r} is not a pickle opcode")
        left -= 1
        if left < 0:
            raise OverBudget(f"the pickle holds more than {MAX_OPCODES:,} opcodes (MAX_OPCODES)")
        name = op.name
        value: Any = None if op.arg is None else _argument(stream, op)
        if name in _TRACKED:
            if name == "STOP":
                budget[0] = left
                return
            if name == "PROTO" and value > 5:
                raise ValueError(f"pickle protocol {value} does not exist")
            if name in ("GLOBAL", "INST"):
                module, _, attribute = str(value).partition(" ")
                found.add((module, attribute))
            elif name == "STACK_GLOBAL":
                found.add(_stack_global(recent, memo))
            elif name in _MEMO_PUTS:
                index = memoized if name == "MEMOIZE" else int(value)
                memoized += name == "MEMOIZE"
                previous = recent[-1][1] if recent else None
                if isinstance(previous, str):
                    budget[1] -= len(previous)
                    if budget[1] < 0:
                        raise OverBudget("the pickle memoizes too many names (MAX_KEPT_STRINGS)")
                    memo[index] = previous
                else:
                    memo.pop(index, None)
        recent.append((name, value))
        code = stream.code()


def _argument(stream: Capped, op: pickletools.OpcodeInfo) -> Any:
    arg = op.arg
    if arg is None:
        return None
    if arg.n >= 0:
        return arg.reader(io.BytesIO(stream.exact(arg.n)))
    if arg.n == pickletools.UP_TO_NEWLINE:
        text = stream.line()
        if arg.name == "stringnl_noescape_pair":
            text += stream.line()
        return arg.reader(io.BytesIO(text))
    size, layout = _LENGTHS[arg.n]
    prefix = stream.exact(size)
    (length,) = struct.unpack(layout, prefix)
    if length < 0:
        raise ValueError(f"{op.name} has a negative length")
    if op.name in _STRINGS and length <= SHORT_STRING:
        return arg.reader(io.BytesIO(prefix + stream.exact(length)))
    stream.skip(length)
    return None


def _stack_global(recent: deque[tuple[str, Any]], memo: dict[int, str]) -> tuple[str, str]:
    """The two names a STACK_GLOBAL takes, looked up as picklescan does; unknown when they
    do not come from strings just before it."""
    values: list[str] = []
    for name, value in reversed(recent):
        if name in _MEMO_PUTS:
            continue
        if name in _MEMO_GETS:
            values.append(memo.get(int(value), UNKNOWN))
        elif name in _STRINGS and isinstance(value, str):
            values.append(value)
        else:
            values.append(UNKNOWN)
        if len(values) == 2:
            return values[1], values[0]
    return UNKNOWN, UNKNOWN
