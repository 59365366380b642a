"""Credentials in URLs (issue 9, item 12): presigned query strings, tokens, `user:pass@`.

A spec may name an artifact, a data source or a webhook by a URL that carries a secret; the
tool fetches with it but never prints or writes it: not in validate, plan, apply, status,
reconcile, train or history output (text, JSON, Markdown), not in any file it commits, not
in an error message when the fetch fails.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlops_gitops import cli
from mlops_gitops.urls import redact_text, redact_url
from tests.automate.helpers import RULE_FILE, report, write_report, write_rule
from tests.security.servers import Server, answer
from tests.support.git import commit_all

SECRET = "s3cr3t-Zq9v"
NOW = "2026-11-27T12:00:00Z"
QUERY = f"X-Amz-Signature={SECRET}&X-Amz-Credential={SECRET}&token={SECRET}&{SECRET}"
PIPELINE = "pipelines/cancer-train.yaml"
HUMAN_FILES = ("mlops.yaml", "models/", "rules/", "pipelines/")
"""What the human wrote, secrets included; the tool's own writes are checked line by line."""


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], repo: Path) -> None:
        self.capsys, self.repo = capsys, repo
        self.runs: list[tuple[list[str], Run]] = []

    def __call__(self, *argv: str, code: int | None = 0) -> Run:
        self.capsys.readouterr()
        got = cli.main(["--no-color", "--repo", str(self.repo), *argv])
        captured = self.capsys.readouterr()
        run = Run(got, captured.out, captured.err)
        self.runs.append((list(argv), run))
        assert code is None or got == code, run.text
        return run

    def leaks(self) -> list[str]:
        return [" ".join(argv) for argv, run in self.runs if SECRET in run.text]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], repo: Path) -> Cli:
    return Cli(capsys, repo)


@dataclass
class Servers:
    artifact: Server
    hook: Server
    data: Server


@pytest.fixture
def servers(repo: Path) -> Iterator[Servers]:
    model = (repo / "artifacts/cancer-detector/1.2.0/model.skops").read_bytes()
    rows = pd.read_csv(repo / "data/train/cancer.csv").to_dict("records")
    with (
        Server(answer(body=model)) as artifact,
        Server(answer()) as hook,
        Server(answer(body=json.dumps({"rows": rows}).encode())) as data,
    ):
        yield Servers(artifact, hook, data)


def secret_url(server: Server, path: str, user: str) -> str:
    return f"http://{user}:{SECRET}@127.0.0.1:{server.port}{path}?{QUERY}#access_token={SECRET}"


def write_specs(repo: Path, artifact: str, hook: str, data: str) -> None:
    """A version at `artifact`, a rule posting to `hook` (and logging a URL), a pipeline
    reading `data`; the Project lets them reach 127.0.0.1 over http."""
    with open(repo / "mlops.yaml", "a") as project:
        project.write(
            "  security:\n    allow_private_webhooks: true\n    allow_insecure_http: true\n"
            "    allow_local_uris: true\n"
        )
    with open(repo / "models/cancer-detector.yaml", "a") as model:
        model.write(
            f'    - version: "1.3.0"\n      artifact: "{artifact}"\n      format: skops\n'
            "      trusted_types: [sklearn.tree._tree.Tree]\n"
        )
    (repo / RULE_FILE).unlink()
    write_rule(
        repo,
        "page",
        "  triggers:\n    - {type: data_drift, share_above: 0.2}\n  actions:\n"
        f'    - {{type: send_alert, channel: webhook, url: "{hook}", retries: 0}}\n'
        f'    - {{type: send_alert, channel: log, message: "drift; see {data}"}}\n'
        f'    - {{type: send_alert, channel: file, message: "drift; see {artifact}"}}\n',
    )
    text = (repo / PIPELINE).read_text()
    old = "    - type: file\n      path: data/train/cancer.csv"
    (repo / PIPELINE).write_text(
        text.replace(old, f'    - type: http\n      url: "{data}"\n      records_path: rows')
    )
    commit_all(repo, "Specs with credentials in their URLs")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def tool_commits(repo: Path) -> list[str]:
    return git(repo, "log", "--all", "--format=%H", "--author=mlops-gitops").split()


def test_no_secret_of_a_url_reaches_output_or_commits(
    repo: Path, run: Cli, servers: Servers, tmp_path: Path
) -> None:
    artifact = secret_url(servers.artifact, "/models/model.skops", "deploy")
    write_specs(
        repo,
        artifact,
        secret_url(servers.hook, "/hook", "hook"),
        secret_url(servers.data, "/rows.json", "data"),
    )
    first_tool_commit = len(tool_commits(repo))

    run("validate")
    run("validate", "--format", "json")
    run("validate", "--format", "github")
    run("compile", "-o", str(tmp_path / "compiled"))
    run("plan")
    run("plan", "--format", "markdown")
    plan = json.loads(run("plan", "--format", "json", "-o", str(tmp_path / "plan.json")).out)
    run("apply", "--format", "json")
    run("status")
    run("status", "--format", "json")
    write_report(repo, report(share=0.35))
    run("reconcile", "--now", NOW)
    run("reconcile", "--now", NOW, "--format", "json")
    run("train", "cancer-train", "--now", "2026-11-28")
    run("history")
    run("history", "--format", "json")

    assert run.leaks() == []
    files = [tmp_path / "compiled/manifest.json", tmp_path / "plan.json"]
    assert [f.name for f in files if SECRET in f.read_text()] == []
    # Redacted, not dropped: the user can still tell which URL a step is about.
    [register] = [s for s in plan["steps"] if s["id"] == "register:Model/cancer-detector@1.3.0"]
    port = servers.artifact.port
    assert register["after"]["source"] == (
        f"http://***@127.0.0.1:{port}/models/model.skops"
        "?X-Amz-Signature=***&X-Amz-Credential=***&token=***&***#access_token=***"
    )

    # The real URLs were used to fetch, credentials and all.
    for server, user in (
        (servers.artifact, "deploy"),
        (servers.hook, "hook"),
        (servers.data, "data"),
    ):
        assert server.requests, user
        request = server.requests[0].decode()
        assert f"X-Amz-Signature={SECRET}&X-Amz-Credential={SECRET}" in request.split("\r\n")[0]
        basic = base64.b64encode(f"{user}:{SECRET}".encode()).decode()
        assert f"Authorization: Basic {basic}" in request

    # Nothing the tool committed carries the secret: state, reports, alerts, lineage, messages.
    commits = tool_commits(repo)
    subjects = git(repo, "log", "--author=mlops-gitops", "--format=%s").splitlines()
    made = [s.split()[1] for s in subjects[: len(commits) - first_tool_commit]]
    assert made == ["train", "rule", "apply"], subjects
    for sha in commits:
        shown = git(repo, "show", "--format=%B", "--unified=0", sha)
        added = [line for line in shown.splitlines() if not line.startswith("-")]
        assert SECRET not in "\n".join(added), sha
    everywhere = git(repo, "rev-list", "--all").split()
    excluded = [f":(exclude){path}" for path in HUMAN_FILES]
    found = subprocess.run(
        ["git", "grep", "-l", SECRET, *everywhere, "--", ".", *excluded],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.stdout == ""
    lineage = git(repo, "show", "HEAD:models/cancer-detector.yaml").split("lineage:")[-1]
    assert f"http://***@127.0.0.1:{servers.data.port}/rows.json?X-Amz-Signature=***" in lineage


def test_failed_fetches_do_not_show_the_secret(repo: Path, run: Cli) -> None:
    """Every fetch fails (nothing listens, or the server refuses): the errors name the URLs
    with their secrets redacted."""
    with Server(answer(403, b"denied")) as refusing:
        closed = Server(answer())
        closed.close()
        write_specs(
            repo,
            secret_url(refusing, "/models/model.skops", "deploy"),
            secret_url(closed, "/hook", "hook"),
            secret_url(closed, "/rows.json", "data"),
        )
        blocked = json.loads(run("plan", "--format", "json").out)
        write_report(repo, report(share=0.35))
        result = json.loads(run("reconcile", "--now", NOW, "--format", "json", code=3).out)
        trained = run("train", "cancer-train", code=1)
        run("history", "--format", "json")
    assert run.leaks() == []
    [register] = [s for s in blocked["steps"] if s["id"] == "register:Model/cancer-detector@1.3.0"]
    assert "HTTP 403" in " ".join(register["blocked_by"])
    [page] = [r for r in result["rules"] if r["rule"] == "page"]
    assert not page["actions"][0]["delivered"]
    assert f"http://***@127.0.0.1:{closed.port}/rows.json?X-Amz-Signature=***" in trained.err
    for sha in tool_commits(repo):
        assert SECRET not in git(repo, "show", "--format=%B", "--unified=0", sha)


def test_a_malformed_url_with_secrets_is_reported_without_them(repo: Path, run: Cli) -> None:
    broken = f"http://hook:{SECRET}@[::1/hook?token={SECRET}"
    (repo / RULE_FILE).unlink()
    write_rule(
        repo,
        "page",
        "  triggers:\n    - {type: data_drift, share_above: 0.2}\n  actions:\n"
        f'    - {{type: send_alert, channel: webhook, url: "{broken}"}}\n'
        f'    - {{type: send_alert, channel: carrier-pigeon, url: "{broken}"}}\n',
    )
    commit_all(repo, "broken URLs")
    for fmt in ("text", "json", "github"):
        assert "malformed URL" in run("validate", "--format", fmt, code=1).text
    run("plan", code=1)
    run("reconcile", "--now", NOW, code=1)
    assert run.leaks() == []


REDACTED = [
    ("https://u:p@h/x?a=1&b=2#c=3", "https://***@h/x?a=***&b=***#c=***"),
    ("https://h/x?token", "https://h/x?***"),
    ("https://h/x?a=&b=1;c=2", "https://h/x?a=&b=***;c=***"),
    ("http://u:p@[::1/hook?t=1", "http://***@[::1/hook?t=***"),
    ("s3://bucket/key?versionId=7", "s3://bucket/key?versionId=***"),
    ("postgresql://app:pw@db:5432/x?sslpassword=pw", "postgresql://***@db:5432/x?sslpassword=***"),
    ("data/train.csv", "data/train.csv"),
    ("https://h/a@b/c", "https://h/a@b/c"),  # an @ in the path is no userinfo
]


@pytest.mark.parametrize(("url", "shown"), REDACTED)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(shown) == shown


@given(
    user=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="@/?#"),
        max_size=8,
    ),
    secret=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~%", min_size=6, max_size=20),
    key=st.sampled_from(["token", "api_key", "X-Amz-Signature", "password", "sig"]),
    path=st.sampled_from(["", "/", "/m.onnx", "/a/b"]),
)
def test_no_secret_survives_redaction(user: str, secret: str, key: str, path: str) -> None:
    for url in (
        f"https://{user}:{secret}@host.example{path}",
        f"https://host.example{path}?{key}={secret}&x=1",
        f"https://host.example{path}?x=1&{key}={secret}#f",
        f"https://host.example{path}#{key}={secret}",
        f"https://host.example{path}?{secret}",
    ):
        assert secret not in redact_url(url)
        assert secret not in redact_text(f"fetching ({url}): 403.")
