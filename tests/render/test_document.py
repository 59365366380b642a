"""Every JSON document the CLI prints carries no URL credentials, whatever path wrote it."""

from __future__ import annotations

import json

from mlops_gitops.render.base import document


def test_credentials_in_values_and_keys_are_redacted() -> None:
    secret = "https://user:hunter2@example.com/model.onnx?token=abc"
    out = document({"artifact": secret, "by": {secret: [secret, ("x", secret)]}})
    assert "hunter2" not in out
    assert "token=abc" not in out
    assert json.loads(out)["artifact"].startswith("https://")


def test_a_document_without_urls_is_the_payload_as_json() -> None:
    payload = {"b": [1, 2.5, None, ("t", "u")], "a": {"é": "x/y:z"}}
    assert document(payload) == json.dumps(payload, indent=2, sort_keys=True) + "\n"
