"""Artifact files of well-formed bytes that need no scan and load instantly."""

from __future__ import annotations

import json
import struct


def safetensors_bytes(payload: bytes) -> bytes:
    """A well-formed safetensors file holding `payload` as one uint8 tensor: it passes the
    content check of the `safetensors` format."""
    size = len(payload)
    header = {"weights": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


def onnx_bytes(name: str) -> bytes:
    """A minimal ONNX ModelProto (ir_version, a graph named `name`, opset 17)."""
    graph = b"\x12" + bytes([len(name)]) + name.encode()
    return b"\x08\x08" + b"\x3a" + bytes([len(graph)]) + graph + b"\x42\x02\x10\x11"
