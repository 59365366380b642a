"""Files an attacker would commit, built for real at test time.

Every payload writes a marker file when its code runs, so a test also proves that nothing
executed it: the marker must never exist.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import skops.io as sio


class Payload:
    """Unpickling this runs a shell command that creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def evil_pickle(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker))


def runstring_skops(marker: Path) -> bytes:
    """A skops file whose root object is built by `numpy.testing._private.utils.runstring`
    (a ConstructorFromReduceNode): loading it runs `exec` on a string that writes `marker`.
    Its only type outside skops' defaults is that numpy function."""
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    schema = json.loads(zipfile.ZipFile(io.BytesIO(sio.dumps((code, {})))).read("schema.json"))
    arguments = {key: schema.pop(key) for key in ("__class__", "__module__", "__loader__")}
    arguments["content"] = schema.pop("content")
    schema.update(
        {
            "__class__": "runstring",
            "__module__": "numpy.testing._private.utils",
            "__loader__": "ConstructorFromReduceNode",
            "content": arguments,
        }
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
    return out.getvalue()
