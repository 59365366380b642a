"""`serve` against a tampered store, hostile values and clients without the token
(issue 9, item 10).

Blobs are swapped in a real applied repository; requests are real HTTP on loopback.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import socket
from pathlib import Path

import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from mlops_gitops.serve.logs import PredictionLog
from tests.security.crafted import runstring_skops
from tests.serve.helpers import CliServer, LiveServer, instances, read_response
from tests.support.cli import run_cli, run_process

PREDICT = "/v1/models/cancer-prod:predict"
INFER = "/v2/models/cancer-prod/infer"
TOKEN = "s3cret-token-for-tests"


def blob_of(repo: Path, deployment: str) -> Path:
    state = json.loads((repo / f".mlops/state/deployments/{deployment}.json").read_text())
    blob: Path = repo / state["serving"]["stable"]["uri"]
    blob.chmod(0o644)
    return blob


def counter(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


# ---------------------------------------------------------------- a swapped blob


def test_a_swapped_blob_is_refused_and_reported(repo: Path) -> None:
    """cancer-detector 1.1.0's blob replaced by 1.0.0's bytes (a model that loads and
    predicts): it is not served as 1.1.0; both deployments using it are reported not ready,
    over V1 and V2; the diabetes deployments serve on."""
    old = repo / "artifacts/cancer-detector/1.0.0/model.skops"
    blob_of(repo, "cancer-prod").write_bytes(old.read_bytes())
    with CliServer(repo) as server, server.client() as http:
        warnings = "\n".join(server.output)
        for name in ("cancer-prod", "cancer-staging"):
            assert f"warning: deployment {name} is not ready: artifact of 1.1.0" in warnings
            ready = http.get(f"/v1/models/{name}")
            assert ready.status_code == 503
            assert "the blob was replaced; refusing to serve it" in ready.json()["error"]
            assert http.get(f"/v2/models/{name}/ready").status_code == 503
        refused = http.post(PREDICT, json={"instances": instances(1)})
        assert refused.status_code == 503 and "not ready" in refused.json()["error"]
        assert http.get("/v2/health/ready").json() == {"ready": False}
        assert http.get("/healthz").status_code == 200
        client = triton.InferenceServerClient(server.url.removeprefix("http://"))
        assert not client.is_model_ready("cancer-prod") and not client.is_server_ready()
        assert client.is_model_ready("diabetes-prod")
        client.close()
        served = http.post("/v1/models/diabetes-prod:predict", json={"instances": [[0.01] * 10]})
        assert served.status_code == 200


def test_a_blob_changed_in_one_byte_is_refused(repo: Path) -> None:
    """Same size, other content: the sha256 check, not only the size, refuses it."""
    blob = blob_of(repo, "diabetes-prod")
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with LiveServer(repo) as live, live.client() as http:
        error = http.get("/v1/models/diabetes-prod").json()["error"]
        assert "artifact of 2.0.0 in the store has sha256" in error
        assert "the blob was replaced" in error


def test_a_code_running_skops_file_with_forged_state_is_never_loaded(
    repo: Path, tmp_path: Path
) -> None:
    """The worst store an attacker can leave: cancer-detector 1.1.0's blob replaced by a skops
    file built by `numpy.testing._private.utils.runstring`, and the recorded state forged to
    match it (sha256, size, a clean scan). serve loads skops only through `load_skops` with
    the version's exact trusted types: the deployments using it are not ready, naming the
    type, and the payload never runs; the others serve."""
    marker = tmp_path / "pwned"
    evil = runstring_skops(marker)
    digest = hashlib.sha256(evil).hexdigest()
    blob = f"sha256/{digest[:2]}/{digest[2:]}"
    models = repo / ".mlops/state/models/cancer-detector.json"
    record = json.loads(models.read_text())
    version = record["versions"]["1.1.0"]
    store = blob_of(repo, "cancer-prod").as_posix().removesuffix(version["blob"])
    Path(store, blob).parent.mkdir(parents=True, exist_ok=True)
    Path(store, blob).write_bytes(evil)
    version |= {"sha256": digest, "size": len(evil), "blob": blob}
    version["scan"]["verdict"] = "clean"
    models.write_text(json.dumps(record))
    for name in ("cancer-prod", "cancer-staging"):
        path = repo / f".mlops/state/deployments/{name}.json"
        state = json.loads(path.read_text())
        stable = state["serving"]["stable"]
        stable["uri"] = stable["uri"].removesuffix(stable["uri"].split("sha256/")[-1]) + blob[7:]
        stable["sha256"] = digest
        path.write_text(json.dumps(state))
    with CliServer(repo) as server, server.client() as http:
        for name in ("cancer-prod", "cancer-staging"):
            answer = http.get(f"/v1/models/{name}")
            assert answer.status_code == 503
            assert answer.json()["error"] == (
                "skops artifact of 1.1.0: the skops file holds untrusted types: "
                "numpy.testing._private.utils.runstring"
            )
        assert http.post(PREDICT, json={"instances": instances(1)}).status_code == 503
        served = http.post("/v1/models/diabetes-prod:predict", json={"instances": [[0.01] * 10]})
        assert served.status_code == 200
    assert not marker.exists()


# ---------------------------------------------------------------- values that do not fit


HUGE = "1" + "0" * 400
ROW = ",".join(["14.0"] * 9)
BAD_VALUES = [
    (f'{{"instances": [[{HUGE}, {ROW}]]}}', "'mean_radius': the integer 100000000000..."),
    (f'{{"instances": [[{ROW}, -{HUGE}]]}}', "(401 digits) does not fit float64"),
    (f'{{"instances": [[NaN, {ROW}]]}}', "NaN is not allowed by this model"),
    (f'{{"instances": [[{ROW}, Infinity]]}}', "Infinity is not allowed"),
    (f'{{"instances": [[null, {ROW}]]}}', "a missing value (null) is not allowed"),
    (f'{{"inputs": [[{{"a": 1}}, {ROW}]]}}', "a JSON object where a number is due"),
]


def test_numbers_that_do_not_fit_are_400_not_model_errors(live: CliServer) -> None:
    with live.client() as http:
        before = http.get("/metrics").text
        for body, message in BAD_VALUES:
            answer = http.post(PREDICT, content=body.encode())
            assert answer.status_code == 400, (body[:60], answer.text)
            assert message in answer.json()["error"], answer.json()
            assert answer.json()["error"].startswith("the instances do not fit the model: ")
        tensor = (
            f'{{"name": "x", "shape": [1, 10], "datatype": "INT64", "data": [{HUGE}{",1" * 9}]}}'
        )
        answer = http.post(INFER, content=f'{{"inputs": [{tensor}]}}'.encode())
        assert answer.status_code == 400
        assert "element 0 is 100000000000000000000000... (401 characters)" in answer.json()["error"]
        after = http.get("/metrics").text
    for version in ("1.1.0", "1.2.0"):
        name = f'mlops_request_errors_total{{deployment="cancer-prod",version="{version}"}}'
        assert counter(after, name) == counter(before, name)
    name = 'mlops_bad_requests_total{deployment="cancer-prod"}'
    assert counter(after, name) - counter(before, name) == len(BAD_VALUES) + 1


# ---------------------------------------------------------------- prediction logs


def test_a_large_request_is_logged_in_part_and_counted(repo: Path) -> None:
    """6,000 instances (1.8 MB) are all predicted, but at most ~1 MB of their records is
    logged; the rest is counted as dropped, and what is logged reads back in `monitor`."""
    rows = instances(6000)
    with LiveServer(repo) as live, live.client() as http:
        answer = http.post(PREDICT, json={"instances": rows}, headers={"X-Request-Id": "big"})
        assert answer.status_code == 200 and len(answer.json()["predictions"]) == 6000
        metrics = http.get("/metrics").text
    log = repo / "logs/cancer-prod/predictions.jsonl"
    logged = log.read_text().splitlines()
    assert 1000 < len(logged) < 6000
    assert log.stat().st_size <= 1024 * 1024
    dropped = 'mlops_log_records_dropped_total{deployment="cancer-prod",reason="request_budget"}'
    assert counter(metrics, dropped) == 6000 - len(logged)
    result = run_cli(
        "--repo", repo, "monitor", "--no-commit", "--deployment", "cancer-prod", "--format", "json"
    ).json()
    assert result["deployments"][0]["new_records"] == len(logged)


def test_a_symlinked_log_folder_is_never_written_through(repo: Path) -> None:
    """logs/cancer-prod committed as a symlink to the repository's .git folder (inside the
    repository, so the spec check lets it pass): the deployment is not ready, saying why, and
    nothing is written into .git."""
    folder = repo / "logs/cancer-prod"
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(exist_ok=True)
    folder.symlink_to(repo / ".git", target_is_directory=True)
    before = sorted(p.name for p in (repo / ".git").iterdir())
    with LiveServer(repo) as live, live.client() as http:
        answer = http.get("/v1/models/cancer-prod")
        assert answer.status_code == 503
        assert "symlink" in answer.json()["error"], answer.json()
        assert http.post(PREDICT, json={"instances": instances(1)}).status_code == 503
        assert http.get("/v1/models/cancer-staging").status_code == 200
    assert sorted(p.name for p in (repo / ".git").iterdir()) == before


def test_a_symlink_planted_after_start_drops_records_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "repo"
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    log = PredictionLog(root / "logs", flush_seconds=3600, root=root)
    log.append({"request_id": "a"})
    log.flush()
    (root / "logs/predictions.jsonl").unlink()
    (root / "logs/predictions.jsonl").symlink_to(victim)
    log.append({"request_id": "b"})
    with caplog.at_level(logging.WARNING, logger="mlops_gitops.serve"):
        log.close()
    assert victim.read_text() == "precious\n"
    assert log.lost == 1
    assert "1 records not written" in caplog.text


# ---------------------------------------------------------------- bearer token


OPEN = ["/", "/healthz", "/v2/health/live", "/v2/health/ready"]
CLOSED = [
    ("GET", "/metrics"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/cancer-prod"),
    ("POST", PREDICT),
    ("GET", "/v2"),
    ("GET", "/v2/models/cancer-prod"),
    ("GET", "/v2/models/cancer-prod/ready"),
    ("POST", INFER),
    ("GET", "/no/such/path"),
]


def test_a_token_guards_everything_but_the_health_probes(repo: Path) -> None:
    with LiveServer(repo, token=TOKEN.encode()) as live, live.client() as http:
        for path in OPEN:
            assert http.get(path).status_code in (200, 503), path
        for method, path in CLOSED:
            for given in (None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"):
                headers = {"Authorization": given} if given else {}
                answer = http.request(method, path, headers=headers, content=b"{}")
                assert answer.status_code == 401, (method, path, given)
                challenge = answer.headers["www-authenticate"]
                assert challenge.startswith('Bearer realm="mlops-gitops"')
                assert ('error="invalid_token"' in challenge) is (given is not None)
                assert "bearer token is required" in answer.json()["error"]
        good = {"Authorization": f"Bearer {TOKEN}"}
        answer = http.post(PREDICT, json={"instances": instances(1)}, headers=good)
        assert answer.status_code == 200
        assert http.get("/metrics", headers=good).status_code == 200

        sock = socket.create_connection(("127.0.0.1", live.port))  # huge body, no token
        sock.sendall(
            f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Length: {50 * 2**20}\r\n\r\n".encode()
        )
        status, data = read_response(sock)
        sock.close()
        assert status == 401 and b"connection: close" in data.lower()

        client = triton.InferenceServerClient(live.url.removeprefix("http://"))
        assert client.is_server_live() and client.is_server_ready()
        with pytest.raises(InferenceServerException):
            client.get_model_metadata("cancer-prod")
        meta = client.get_model_metadata("cancer-prod", headers=good)
        assert meta["name"] == "cancer-prod"
        client.close()
        text = http.get("/metrics", headers=good).text
        assert counter(text, 'mlops_refused_requests_total{reason="unauthorized"}') >= 37


def test_serve_takes_the_token_from_a_file_or_the_environment(repo: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"{TOKEN}\n")
    token_file.chmod(0o644)
    body = {"instances": instances(1)}
    good = {"Authorization": f"Bearer {TOKEN}"}
    with CliServer(repo, ["--token-file", str(token_file)]) as server:
        assert any("readable by other users" in line for line in server.output)
        with server.client() as http:
            assert http.post(PREDICT, json=body).status_code == 401
            assert http.post(PREDICT, json=body, headers=good).status_code == 200
    with (
        CliServer(repo, env={"MLOPS_GITOPS_SERVE_TOKEN": TOKEN}) as server,
        server.client() as http,
    ):
        assert http.post(PREDICT, json=body).status_code == 401
        assert http.post(PREDICT, json=body, headers=good).status_code == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "No such file"), ("", "empty"), ("two tokens", "more than one token")],
)
def test_a_bad_token_file_stops_serve(
    repo: Path, tmp_path: Path, content: str | None, message: str
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content)
    done = run_process("--repo", repo, "serve", "--port", "0", "--token-file", token_file, expect=1)
    assert f"error: --token-file {token_file}" in done.err and message in done.err
    assert "Serving" not in done.out and "Traceback" not in done.err


def test_a_token_with_spaces_in_the_environment_stops_serve(repo: Path) -> None:
    token = {"MLOPS_GITOPS_SERVE_TOKEN": "two words"}
    done = run_process("--repo", repo, "serve", "--port", "0", env=token, expect=1)
    assert "error: $MLOPS_GITOPS_SERVE_TOKEN: holds more than one token" in done.err
