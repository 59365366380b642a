"""Attacker-built samples, made at test time: artifacts that would run code when loaded.

The command a payload runs touches a marker file, so a test that finds no marker proves
nothing ever loaded the sample.
"""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path

import joblib
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from tests.support.repos import EXAMPLE_REPO

CLEAN_SKOPS = EXAMPLE_REPO / "artifacts/cancer-detector/1.0.0/model.skops"


class Payload:
    """Unpickling this runs a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def evil_pickle(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Payload(marker)))
    return path


def evil_joblib(path: Path, marker: Path, compress: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(Payload(marker), path, compress=compress)
    return path


def untrusted_skops(path: Path) -> Path:
    """A scikit-learn object that refers to a function outside sklearn, numpy and scipy."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(FunctionTransformer(func=math.sqrt), path)
    return path
