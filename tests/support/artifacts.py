"""Artifact files of well-formed bytes that need no scan and load instantly."""

from __future__ import annotations

import functools
import hashlib
import json
import struct


def safetensors_bytes(payload: bytes) -> bytes:
    """A well-formed safetensors file holding `payload` as one uint8 tensor: it passes the
    content check of the `safetensors` format."""
    size = len(payload)
    header = {"weights": {"dtype": "U8", "shape": [size], "data_offsets": [0, size]}}
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


@functools.cache
def onnx_bytes(seed: str, features: int = 3) -> bytes:
    """A real ONNX model (output = input @ W + b, W from the seed): loads in onnxruntime and
    passes onnx.checker; the same seed gives the same bytes."""
    import onnx
    from onnx import TensorProto, helper

    weights = [(b % 7) / 7.0 for b in hashlib.sha256(seed.encode()).digest()[:features]]
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["input", "W"], ["product"]),
            helper.make_node("Add", ["product", "B"], ["output"]),
        ],
        "linear",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", features])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 1])],
        [
            helper.make_tensor("W", TensorProto.FLOAT, [features, 1], weights),
            helper.make_tensor("B", TensorProto.FLOAT, [1], [0.5]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
