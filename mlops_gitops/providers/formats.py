"""Does a file hold what its declared format says? Checked from its first bytes, before it
is hashed, scanned or registered.

The format chooses the scanner: a pickle declared `onnx` would skip the pickle scan and then
be served as a model. Each check is cheap (a header, a zip directory, a walk over the
top-level protobuf fields that skips their contents) and never loads the model.
"""

from __future__ import annotations

import json
import pickletools
import struct
import zipfile
from typing import IO

PICKLE_PROTOCOLS = range(2, 6)
OPCODES = {op.code: op for op in pickletools.opcodes}
"""Pickle opcodes by their one-character code."""
COMPRESSED_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
    b"\x5d\x00\x00": "lzma",
    b"ZF": "zlib (joblib)",
    b"\x78\x01": "zlib",
    b"\x78\x5e": "zlib",
    b"\x78\x9c": "zlib",
    b"\x78\xda": "zlib",
}
"""Containers joblib compresses whole files into."""
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
"""The safetensors library's own limit for the JSON header."""

# ModelProto fields (onnx.proto) and their protobuf wire types: 0 varint, 2 length-delimited.
_ONNX_FIELDS = {
    1: 0,  # ir_version
    2: 2,  # producer_name
    3: 2,  # producer_version
    4: 2,  # domain
    5: 0,  # model_version
    6: 2,  # doc_string
    7: 2,  # graph
    8: 2,  # opset_import
    14: 2,  # metadata_props
    20: 2,  # training_info
    25: 2,  # functions
    26: 2,  # configuration
}


def describe(head: bytes) -> str:
    """What a file looks like from its first bytes, for messages."""
    if head[:1] == b"\x80" and is_pickle_start(head):
        return "a pickle stream"
    if head[:4] == b"PK\x03\x04":
        return "a zip archive"
    for magic, name in COMPRESSED_MAGIC.items():
        if head.startswith(magic):
            return f"{name} compressed data"
    if _text(head):
        return "text"
    if is_pickle_start(head):
        return "a pickle stream (protocol 0 or 1)"
    if not head:
        return "empty"
    return "unrecognised content"


def is_pickle_start(head: bytes) -> bool:
    """Protocol 2+ pickles start with PROTO n; older ones with any opcode (rare: a protocol
    0/1 pickle is accepted when its first byte is an opcode)."""
    if head[:1] == b"\x80":
        return len(head) >= 2 and head[1] in PICKLE_PROTOCOLS
    return bool(head) and chr(head[0]) in OPCODES and head[0] < 0x80


def _text(head: bytes) -> bool:
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        decoded = head[:-3].decode("utf-8", errors="replace")  # a character cut at the end
    return decoded.isprintable() or all(c.isprintable() or c in "\n\r\t\0" for c in decoded)


def is_code(head: bytes) -> bool:
    """Unmistakably a pickle (protocol 2 or later) or a container joblib compresses into."""
    compressed = any(head.startswith(m) for m in COMPRESSED_MAGIC)
    return compressed or (head[:1] == b"\x80" and is_pickle_start(head))


def may_hold_pickle(head: bytes) -> bool:
    """A pickle stream, or a container joblib would put one in."""
    return is_pickle_start(head) or any(head.startswith(m) for m in COMPRESSED_MAGIC)


def mismatch(handle: IO[bytes], fmt: str, size: int) -> str | None:
    """Why the content of an open file (positioned at 0) is not `fmt`, or None."""
    head = handle.read(16)
    handle.seek(0)
    if fmt in ("pickle", "joblib"):
        if may_hold_pickle(head):
            return None
        return _expected(fmt, "a pickle stream or a joblib compressed container", head)
    if fmt == "pytorch":
        if head[:4] == b"PK\x03\x04" or is_pickle_start(head):
            return None
        return _expected(fmt, "a PyTorch zip archive or a pickle stream", head)
    if fmt == "skops":
        return _skops(handle, head)
    if fmt == "onnx":
        return _onnx(handle, head, size)
    if fmt == "safetensors":
        return _safetensors(handle, size)
    return None  # python: source code, reviewed in the repository


def _expected(fmt: str, wanted: str, head: bytes) -> str:
    return f"declared {fmt}, but the file is {describe(head)} (expected {wanted})"


def _skops(handle: IO[bytes], head: bytes) -> str | None:
    if head[:4] != b"PK\x03\x04":
        return _expected("skops", "a zip archive with skops' schema.json", head)
    try:
        with zipfile.ZipFile(handle) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return f"declared skops, but the zip archive cannot be read: {exc}"
    finally:
        handle.seek(0)
    if "schema.json" not in names:
        return "declared skops, but the zip archive has no schema.json"
    return None


def _varint(handle: IO[bytes]) -> int | None:
    value = shift = 0
    for _ in range(10):
        byte = handle.read(1)
        if not byte:
            return None
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
        shift += 7
    return None


def _onnx(handle: IO[bytes], head: bytes, size: int) -> str | None:
    """Walk the top-level fields of a ModelProto, seeking over their contents."""
    seen: set[int] = set()
    position = 0
    while position < size:
        tag = _varint(handle)
        if tag is None:
            break
        number, wire = tag >> 3, tag & 7
        if _ONNX_FIELDS.get(number) != wire:
            handle.seek(0)
            return _expected("onnx", "an ONNX protobuf ModelProto", head)
        length = _varint(handle)
        if length is None:
            break
        if wire == 2:
            if handle.tell() + length > size:
                break
            handle.seek(length, 1)
        seen.add(number)
        position = handle.tell()
    handle.seek(0)
    if position != size or not seen:
        return _expected("onnx", "an ONNX protobuf ModelProto", head)
    if 1 not in seen or 7 not in seen:
        return "declared onnx, but the ModelProto has no ir_version or no graph"
    return None


def _safetensors(handle: IO[bytes], size: int) -> str | None:
    """An 8-byte little-endian header length, a JSON header, tensors inside the file."""
    prefix = handle.read(8)
    wanted = "a safetensors header"
    try:
        if len(prefix) < 8:
            return _expected("safetensors", wanted, prefix)
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_SAFETENSORS_HEADER or 8 + length > size:
            return _expected("safetensors", wanted, prefix)
        header = json.loads(handle.read(length))
    except (ValueError, UnicodeDecodeError):
        return _expected("safetensors", wanted, prefix)
    finally:
        handle.seek(0)
    if not isinstance(header, dict):
        return _expected("safetensors", wanted, prefix)
    data = size - 8 - length
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        offsets = tensor.get("data_offsets") if isinstance(tensor, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and 0 <= o <= data for o in offsets)
            or offsets[0] > offsets[1]
        ):
            return f"declared safetensors, but tensor {str(name)[:80]!r} lies outside the file"
    return None
