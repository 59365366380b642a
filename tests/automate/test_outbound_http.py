"""Outbound HTTP driven by a repository (issue 9, item 9): webhooks, HTTP training sources and
http(s) artifacts. The attacker writes the URL into a spec and runs the server.

Each call ends by its deadline however the server paces its bytes, follows no redirect,
never reaches link-local or metadata addresses, and reaches loopback and private ones only
when the Project opts in. Servers are real sockets on 127.0.0.1 (tests/security/servers.py).
"""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops import net
from mlops_gitops.automate import alerts
from mlops_gitops.errors import MlopsError
from mlops_gitops.spec import models as spec_models
from mlops_gitops.train import sources
from tests.automate.helpers import (
    RULE_FILE,
    allow_private_webhooks,
    reconcile,
    report,
    rule_result,
    write_report,
    write_rule,
)
from tests.security.servers import Server, answer, redirect, slow_body, slow_headers
from tests.support.cli import run_cli
from tests.support.git import commit_all

NOW = "2026-11-27T12:00:00Z"
MARGIN = 0.6
"""How far past its deadline a call may end (scheduling on a busy runner)."""


LOOPBACK_READS = spec_models.SecuritySettings(allow_insecure_http=True, allow_local_uris=True)
"""What reading from a plain-http server on 127.0.0.1 needs (these tests' servers)."""


def page_rule(repo: Path, url: str, extra: str = "") -> str:
    """Replace the example's rule with one that posts to `url` on drift; commit; drift."""
    (repo / RULE_FILE).unlink()
    path = write_rule(
        repo,
        "page",
        "  triggers:\n    - {type: data_drift, share_above: 0.2}\n"
        f'  actions:\n    - {{type: send_alert, channel: webhook, url: "{url}"{extra}}}\n',
    )
    commit_all(repo, "page on drift")
    write_report(repo, report(share=0.35))
    return path


def webhook(url: str, **options: object) -> spec_models.AlertAction:
    return spec_models.AlertAction.model_validate(
        {"type": "send_alert", "channel": "webhook", "url": url, **options}
    )


def post(url: str, allow_private: bool, tmp_path: Path, **options: object) -> alerts.AlertResult:
    """alerts.send as a rule calls it. The action is built without validation: the checks
    at call time must hold on their own, whatever reached them."""
    fields: dict[str, Any] = {"type": "send_alert", "channel": "webhook", "url": url, **options}
    action = spec_models.AlertAction.model_construct(**fields)
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    return alerts.send(action, "drift", {}, tmp_path, now, allow_private=allow_private)


def add_version(repo: Path, url: str) -> None:
    """Version 1.3.0 of cancer-detector, its artifact at `url`."""
    with open(repo / "models/cancer-detector.yaml", "a") as model:
        model.write(
            f'    - version: "1.3.0"\n      artifact: "{url}"\n      format: skops\n'
            "      trusted_types: [sklearn.tree._tree.Tree]\n"
        )
    with open(repo / "mlops.yaml", "a") as project:
        project.write("  security:\n    allow_local_uris: true\n    allow_insecure_http: true\n")
    commit_all(repo, "version 1.3.0 from a URL")


# ---------------------------------------------------------------- deadlines


def test_a_slow_header_webhook_cannot_hold_reconcile(repo: Path) -> None:
    """The server sends its headers one byte every 0.25 s, forever: each try ends at its
    `timeout_seconds`, and reconcile finishes, the alert reported as not delivered."""
    with Server(slow_headers()) as server:
        allow_private_webhooks(repo)
        page_rule(repo, f"{server.url}/hook", ", timeout_seconds: 1, retries: 1")
        result = reconcile(repo, NOW)
        held = [c.held for c in server.connections]
    [action] = rule_result(result, "page")["actions"]
    assert not action["delivered"]
    assert action["detail"].endswith("timed out after 1 s")
    assert len(held) == 2, held  # the first try and one retry
    assert all(0.9 <= h <= 1 + MARGIN for h in held), held


@pytest.mark.parametrize("behaviour", [slow_headers(), slow_body()], ids=["headers", "body"])
def test_a_trickling_http_source_is_cut_at_its_deadline(behaviour: object) -> None:
    with Server(behaviour) as server:  # type: ignore[arg-type]
        source = spec_models.HttpSource(
            type="http", url=f"{server.url}/rows.json", timeout_seconds=1
        )
        start = time.monotonic()
        with pytest.raises(MlopsError, match=r"timed out after 1 s"):
            sources.load(source, Path("."), LOOPBACK_READS)
        elapsed = time.monotonic() - start
    assert elapsed <= 1 + MARGIN
    assert len(server.connections) == 1


def test_a_webhook_is_judged_by_its_status_a_slow_body_is_not_waited_for(
    tmp_path: Path,
) -> None:
    with Server(slow_body()) as server:
        start = time.monotonic()
        result = post(f"{server.url}/hook", True, tmp_path, timeout_seconds=5, retries=0)
        elapsed = time.monotonic() - start
    assert result.delivered and result.detail == "HTTP 200 after 1 tries"
    assert elapsed < 1


# ---------------------------------------------------------------- redirects


def test_a_webhook_redirect_to_an_internal_port_is_reported_not_followed(repo: Path) -> None:
    with Server(answer()) as internal, Server(redirect("")) as front:
        front.behaviour = redirect(f"{internal.url}/admin/delete?all=1")
        allow_private_webhooks(repo)
        page_rule(repo, f"{front.url}/hook", ", retries: 3")
        result = reconcile(repo, NOW)
        assert internal.connections == []
        assert len(front.requests) == 1  # a redirect is not retried either
    [action] = rule_result(result, "page")["actions"]
    assert not action["delivered"]
    assert "HTTP 302 redirects to" in action["detail"]
    assert "redirects are not followed" in action["detail"]


def test_an_http_source_redirect_is_an_error(tmp_path: Path) -> None:
    with Server(answer(body=b"[]")) as internal, Server(redirect("")) as front:
        front.behaviour = redirect(f"{internal.url}/secret.json", status=307)
        source = spec_models.HttpSource(type="http", url=f"{front.url}/rows.json")
        with pytest.raises(MlopsError, match="redirects are not followed"):
            sources.load(source, tmp_path, LOOPBACK_READS)
        assert internal.connections == []


def test_an_artifact_redirect_blocks_the_version_in_plan(repo: Path) -> None:
    model = (repo / "artifacts/cancer-detector/1.2.0/model.skops").read_bytes()
    with Server(answer(body=model)) as internal, Server(redirect("")) as front:
        front.behaviour = redirect(f"{internal.url}/model.skops", status=301)
        add_version(repo, f"{front.url}/model.skops")
        plan = json.loads(run_cli("--repo", repo, "plan", "--format", "json", expect=0).out)
        assert internal.connections == []
    [step] = [s for s in plan["steps"] if s["id"] == "register:Model/cancer-detector@1.3.0"]
    assert step["status"] == "blocked"
    assert "redirects are not followed" in " ".join(step["blocked_by"])


# ---------------------------------------------------------------- addresses

FORBIDDEN = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://169.254.170.2/v2/credentials",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1]:8080/",
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",  # the same, in hex
    "http://[64:ff9b::169.254.169.254]/",  # NAT64
    "http://2852039166/",  # 169.254.169.254 as one number
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://169.254.43518/",
    "http://metadata.google.internal/computeMetadata/v1/",
]


@pytest.mark.parametrize("url", FORBIDDEN)
def test_link_local_and_metadata_addresses_are_refused_even_with_the_opt_in(
    url: str, tmp_path: Path
) -> None:
    """Refused before any connection: a connect to a link-local address that does not answer
    would wait for the whole timeout."""
    start = time.monotonic()
    with pytest.raises(net.Refused, match="metadata"):
        net.request("GET", url, timeout=5, allow_private=True)
    result = post(url, True, tmp_path, timeout_seconds=5, retries=3)
    assert time.monotonic() - start < 0.5
    assert not result.delivered and "metadata" in result.detail


@pytest.mark.parametrize("url", FORBIDDEN[:4] + FORBIDDEN[-3:])
def test_validate_refuses_a_metadata_webhook_with_its_place(url: str, repo: Path) -> None:
    allow_private_webhooks(repo)
    path = page_rule(repo, url)
    out = run_cli("--repo", repo, "validate", "--format", "json", expect=1).out
    [error] = json.loads(out)["errors"]
    assert (error["path"], error["line"], error["field"]) == (path, 10, "spec.actions[0].url")
    assert "metadata" in error["message"]


def test_a_loopback_webhook_needs_the_projects_opt_in(repo: Path) -> None:
    with Server(answer()) as server:
        path = page_rule(repo, f"{server.url}/hook")
        run_cli("--repo", repo, "reconcile", "--now", NOW, expect=1)
        assert server.connections == []
        out = run_cli("--repo", repo, "validate", "--format", "json", expect=1).out
        [error] = json.loads(out)["errors"]
        assert (error["path"], error["line"]) == (path, 10)
        assert "security.allow_private_webhooks: true" in error["message"]

        allow_private_webhooks(repo)
        commit_all(repo, "opt in")
        [action] = rule_result(reconcile(repo, NOW), "page")["actions"]
        assert action["delivered"] and len(server.requests) == 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/", "http://[::1]:{port}/"])
def test_loopback_is_refused_at_call_time_without_the_opt_in(url: str, tmp_path: Path) -> None:
    with Server(answer()) as server:
        target = url.format(port=server.port)
        with pytest.raises(net.Refused, match="loopback or private"):
            net.request("GET", target, timeout=2, allow_private=False)
        source = spec_models.HttpSource(type="http", url=target)
        with pytest.raises(MlopsError, match="allow_local_uris"):
            sources.load(source, tmp_path, spec_models.SecuritySettings(allow_insecure_http=True))
        assert not post(target, False, tmp_path).delivered
        assert server.connections == []


def test_a_name_is_resolved_and_every_address_checked(tmp_path: Path) -> None:
    """A host name that is no literal passes validate; its addresses are checked at call
    time. This machine's own name resolves to a loopback or private address."""
    name = socket.gethostname().lower()
    found = {str(info[4][0]) for info in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
    if not any(a.startswith(("127.", "10.", "192.168.", "172.")) for a in found):
        pytest.skip(f"{name} resolves to {found}, not to a private address")
    with Server(answer()) as server:
        url = f"http://{name}:{server.port}/hook"
        assert spec_models.AlertAction.model_validate(
            {"type": "send_alert", "channel": "webhook", "url": url}
        )
        refused = post(url, False, tmp_path)
        assert not refused.delivered and "resolves to" in refused.detail
        assert server.connections == []


def test_one_lookup_every_address_checked_the_checked_one_connected(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """DNS is the boundary an attacker controls, so the resolver is replaced here: a name
    with a loopback and a metadata address is refused as a whole, and a name that answers a
    second lookup differently (rebinding) is looked up once and reached where checked."""
    real = socket.getaddrinfo
    answers: list[list[str]] = []
    calls: list[str] = []

    def resolver(host: str, *args: object, **kwargs: object) -> object:
        if not host.endswith(".rebind.test"):
            return real(host, *args, **kwargs)  # type: ignore[arg-type]
        calls.append(host)
        addresses = answers.pop(0) if answers else ["169.254.169.254"]
        port = int(args[0])  # type: ignore[call-overload]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    with Server(answer()) as server:
        answers.append(["127.0.0.1", "169.254.169.254"])
        mixed = post(f"http://mixed.rebind.test:{server.port}/", True, tmp_path, retries=0)
        assert not mixed.delivered and "169.254.169.254" in mixed.detail
        assert server.connections == []

        answers.append(["127.0.0.1"])  # then 169.254.169.254 for any later lookup
        calls.clear()
        good = post(f"http://flip.rebind.test:{server.port}/", True, tmp_path, retries=0)
        assert good.delivered and len(server.requests) == 1
        assert calls == ["flip.rebind.test"]


# ---------------------------------------------------------------- URLs checked at validate

MALFORMED = [
    ("http://[::1/hook", "malformed URL"),
    ("http://exa mple.com/hook", "spaces or control characters"),
    ("http://hooks.example.com:99999/", "malformed URL"),
    ("http://hooks.example.com:0/", "port 0"),
    ("gopher://127.0.0.1:70/_HELO", "must start with http:// or https://"),
    ("file:///etc/passwd", "must start with http:// or https://"),
    ("http:///no-host", "no host"),
    ("http://[fe80::1%25eth0]/", "zone"),
    ("http://hooks.example.com\\@127.0.0.1/", "backslash"),
]


@pytest.mark.parametrize(("url", "message"), MALFORMED)
def test_a_malformed_webhook_url_is_a_located_validate_error(
    url: str, message: str, repo: Path
) -> None:
    """`http://[::1/hook` used to pass validate and then fail every reconcile with exit 4."""
    path = page_rule(repo, url.replace("\\", "\\\\"))
    out = run_cli("--repo", repo, "validate", "--format", "json", expect=1).out
    [error] = json.loads(out)["errors"]
    assert (error["path"], error["line"], error["field"]) == (path, 10, "spec.actions[0].url")
    assert message in error["message"]
    run_cli("--repo", repo, "reconcile", "--now", NOW, expect=1)


@pytest.mark.parametrize(("url", "message"), [*MALFORMED[:3], (FORBIDDEN[0], "metadata")])
def test_a_bad_http_source_url_is_a_located_validate_error(
    url: str, message: str, repo: Path
) -> None:
    pipeline = repo / "pipelines/cancer-train.yaml"
    text = pipeline.read_text()
    old = "    - type: file\n      path: data/train/cancer.csv"
    pipeline.write_text(text.replace(old, f'    - type: http\n      url: "{url}"'))
    line = text.splitlines().index("    - type: file") + 2
    out = run_cli("--repo", repo, "validate", "--format", "json", expect=1).out
    [error] = json.loads(out)["errors"]
    assert (error["path"], error["line"]) == ("pipelines/cancer-train.yaml", line)
    assert error["field"] == "spec.data_sources[0].url"
    assert message in error["message"]
