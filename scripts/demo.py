"""The end-to-end demo: runs the tool on a throw-away git copy of example-repo/.

`make demo` runs this. Each step is a real CLI invocation, printed before it runs, so the
output reads as a tour of the tool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
EXAMPLE = PROJECT / "example-repo"
ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "demo",
    "GIT_AUTHOR_EMAIL": "demo@example.com",
    "GIT_COMMITTER_NAME": "demo",
    "GIT_COMMITTER_EMAIL": "demo@example.com",
    "NO_COLOR": "1",
}


def banner(text: str) -> None:
    print(f"\n=== {text}")


def run(repo: Path, *args: str, expect: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    print(f"$ mlops-gitops {' '.join(args)}")
    done = subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "--repo", str(repo), *args],
        env=ENV,
        text=True,
        capture_output=True,
        check=False,
    )
    sys.stdout.write(done.stdout)
    sys.stdout.write(done.stderr)
    if done.returncode not in expect:
        raise SystemExit(f"demo failed: exit {done.returncode} from {' '.join(args)}")
    return done


def run_in(cwd: Path, *args: str) -> None:
    """A command run from inside a folder, without --repo, as a user would type it."""
    print(f"$ mlops-gitops {' '.join(args)}")
    done = subprocess.run(
        [sys.executable, "-m", "mlops_gitops", *args],
        cwd=cwd,
        env=ENV,
        text=True,
        capture_output=True,
        check=False,
    )
    sys.stdout.write(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"demo failed: exit {done.returncode} from {' '.join(args)}")


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True)


def git_out(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True)
    return done.stdout.decode()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, deployment: str, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/v1/models/{deployment}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"demo failed: the server at {url} did not become ready")


def v2_request(url: str, repo: Path) -> None:
    """One Open Inference Protocol (V2) request: a typed tensor of two rows."""
    import csv
    import json
    import urllib.request

    with open(repo / "data/reference/cancer-detector-1.1.0.csv", newline="") as handle:
        rows = [
            [float(v) for k, v in row.items() if k != "target"] for row in csv.DictReader(handle)
        ]
    body = {
        "id": "demo-v2",
        "inputs": [
            {"name": "input-0", "shape": [2, len(rows[0])], "datatype": "FP64", "data": rows[:2]}
        ],
    }
    print(f"$ curl -s {url}/v2/models/cancer-prod/infer -d '{json.dumps(body)[:90]}...'")
    request = urllib.request.Request(
        f"{url}/v2/models/cancer-prod/infer", json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        print(response.read().decode())


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise SystemExit(f"demo failed: {old!r} not found in {path}")
    path.write_text(text.replace(old, new, 1))


def main() -> None:
    # The copy is kept so you can look around afterwards; it lives in the temp folder.
    tmp = tempfile.mkdtemp(prefix="mlops-gitops-demo-")
    banner("0. Start a repository from scratch: init, then validate from inside it")
    scratch = Path(tmp) / "scratch"
    scratch.mkdir()
    run_in(scratch, "init", "risk-models")
    run_in(scratch / "risk-models" / "models", "validate")

    repo = Path(tmp) / "repo"
    shutil.copytree(EXAMPLE, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Initial specs")
    print(f"Throw-away copy of example-repo/ at {repo}")

    banner("1. Validate every spec file")
    run(repo, "validate")

    banner("2. Compile the desired state")
    out = Path(tmp) / "target"
    run(repo, "compile", "-o", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    print(f"manifest inputs sha256: {manifest['inputs_sha256'][:16]}...")
    for name, deployment in manifest["deployments"].items():
        resolved = deployment["resolved"]
        line = f"  {name}: {deployment['spec']['model']} {resolved['stable']['version']}"
        if resolved["canary"]:
            line += f" + canary {resolved['canary']['version']} at {resolved['traffic']['canary']}%"
        print(line)

    banner("3. A broken edit is caught with file, line and field")
    prod = repo / "deployments" / "cancer-prod.yaml"
    original = prod.read_text()
    prod.write_text(original.replace('version: "1.1.0"', "version: 1.10", 1))
    run(repo, "validate", expect=(1,))
    prod.write_text(original)

    banner("4. Plan: what apply would do, with gates and scan verdicts")
    run(repo, "plan")

    banner("5. Apply: register, scan, deploy; the state is committed with one trailer per step")
    run(repo, "apply", "--now", "2026-11-27T09:00:00Z", expect=(3,))
    print("Exit 3: staging is live; production waits, as policies.min_time_in_stage (1h) asks.")

    banner("5b. An hour and a half later the same apply lets production through")
    run(repo, "plan", "--now", "2026-11-27T10:30:00Z")
    run(repo, "apply", "--now", "2026-11-27T10:30:00Z")

    banner("6. Plan again: nothing to do")
    run(repo, "plan", "--detailed-exitcode")

    banner("7. Traffic arrives (drifting half way), monitor writes and commits the report")
    sys.path.insert(0, str(Path(__file__).parent))
    from demo_traffic import write_traffic

    write_traffic(
        repo,
        "cancer-prod",
        {"1.1.0": 0.8, "1.2.0": 0.2},
        1200,
        datetime(2026, 11, 27, tzinfo=UTC),
    )
    print("wrote 1,200 predictions to logs/cancer-prod/ and delayed labels to labels/cancer-prod/")
    run(repo, "monitor", "--deployment", "cancer-prod", "--now", "2026-11-27T11:00:00Z")
    report = repo / "reports" / "cancer-prod" / "latest.md"
    print("\n".join(report.read_text().splitlines()[:22]))
    print(f"... full report: {report.relative_to(repo)} (plus latest.json and charts/*.svg)")
    run(repo, "monitor", "--deployment", "cancer-prod", "--now", "2026-11-27T11:00:00Z")

    banner("8. Move the canary: 20% -> 50%; gates now use the observed metrics")
    edit(prod, "traffic: 20 ", "traffic: 50 ")
    git(repo, "commit", "-q", "-am", "cancer-prod: canary 1.2.0 to 50%")
    run(repo, "plan", "--format", "markdown")
    run(repo, "apply", "--now", "2026-11-27T11:00:00Z")

    banner("9. Promote the canary: 1.2.0 becomes stable")
    text = prod.read_text().replace('version: "1.1.0"', 'version: "1.2.0"', 1)
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("  canary:"))
    del lines[start : start + 3]
    prod.write_text("".join(lines))
    git(repo, "commit", "-q", "-am", "cancer-prod: promote 1.2.0")
    run(repo, "plan")
    run(repo, "apply", "--now", "2026-11-27T12:00:00Z")

    banner(
        "10. Roll back: the tool edits the spec (comments kept) and commits; apply carries it out"
    )
    run(repo, "rollback", "cancer-prod")
    print(git_out(repo, "show", "--format=%s", "HEAD", "--", "deployments/cancer-prod.yaml"))
    run(repo, "apply", "--now", "2026-11-27T13:00:00Z")

    banner("11. A new canary, served live: traffic drifts, reconcile lets the drift rule act")
    text = prod.read_text().replace(
        'version: "1.1.0"                # the stable version\n',
        'version: "1.1.0"                # the stable version\n'
        '  canary: {version: "1.2.0", traffic: 20}\n',
        1,
    )
    prod.write_text(text)
    git(repo, "commit", "-q", "-am", "cancer-prod: try 1.2.0 on canary again")
    run(repo, "apply", "--now", "2026-11-27T14:00:00Z")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"$ mlops-gitops serve --port {port} &")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlops_gitops", "--repo", str(repo), "serve", "--port", str(port)],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(url, "cancer-prod")
        from demo_traffic import send_traffic

        answered = send_traffic(url, repo, "cancer-prod", 600, drift_after=0.3)
        print(f"sent 600 requests (70% drifted); answered by version: {answered}")
        v2_request(url, repo)
        time.sleep(1.5)  # the server flushes its prediction log every second
        run(repo, "reconcile")
        print(git_out(repo, "log", "-3", "--format=%h %s"))
        print("The rule's commit carries its evidence:")
        print(git_out(repo, "log", "-1", "--format=%b", "--grep", "^mlops-gitops: rule"))
        time.sleep(2.5)  # the server notices the applied state and reloads
        after = send_traffic(url, repo, "cancer-prod", 50, drift_after=1.0, seed=17)
        print(f"after the reload, 50 more requests answered by: {after} (no canary any more)")
    finally:
        server.terminate()
        server.wait(timeout=10)

    banner("12. Reconcile: the 50 new records are reported (the rule is cooling down)")
    run(repo, "reconcile")
    banner("13. Reconcile on the tool's own commit: nothing is new, nothing happens (no CI loop)")
    before = git_out(repo, "rev-parse", "HEAD")
    run(repo, "reconcile")
    same = git_out(repo, "rev-parse", "HEAD") == before
    print(f"HEAD unchanged: {same}")
    if not same:
        raise SystemExit("demo failed: a quiet reconcile made a commit")

    banner("14. Status and history")
    run(repo, "status")
    run(repo, "history", "--deployment", "cancer-prod")
    run(repo, "report", "history", "cancer-prod", "--metric", "share_drifted")

    banner("14b. Time travel: the status as committed after the first apply (no checkout)")
    first_apply = git_out(repo, "log", "--reverse", "--format=%H", "--grep=^mlops-gitops: apply")
    run(repo, "status", "--at", first_apply.split()[0])

    banner("14c. The registry: versions by tag, and where one came from and where it served")
    run(repo, "models", "--tag", "tabular")
    run(repo, "lineage", "cancer-detector@1.2.0")
    run(repo, "history", "--actor", "rule:", "--deployment", "cancer-prod")

    progressive(repo)
    banner("17. Production data plane: the artifact store in S3, a deployment on KServe")
    from demo_production import production

    production(Path(tmp), ENV, run, git)

    banner("18. Recovering from loss: rm -rf .mlops, then state restore and store restore")
    run(repo, "store", "verify")
    shutil.rmtree(repo / ".mlops")
    run(repo, "apply", expect=(1,))  # lost state is refused, never silently restarted
    run(repo, "state", "restore")
    run(repo, "store", "verify", expect=(1,))
    run(repo, "store", "restore")
    run(repo, "store", "verify")
    run(repo, "status", "--detailed-exitcode", expect=(0, 2))

    print(f"\nLook around: {repo}/reports/cancer-prod/latest.md, `git log` in {repo}.")

    print("\nDemo finished.")


CANARY = """canary:
    version: "{version}"
    traffic: 10
    steps: [10, 25, 50, 100]        # reconcile takes the next step when the analysis passes
    analysis:
      interval: 1h                  # at most one analysis, and one step, per hour
      min_samples: 200              # records per version since the last step
      max_failures: 2
      checks:
        - {{compare: accuracy, test: non_inferiority, margin: 0.05}}
        - {{compare: latency_ms, test: non_inferiority, margin: 0.1}}
        - {{compare: latency_p99_ms, max_ratio: 1.5}}
        - {{metric: error_rate, max: 0.02}}"""


def canary_hours(
    repo: Path, start: datetime, accuracy: dict[str, float], hours: int, seed: int
) -> None:
    """An hour of labelled traffic at the canary's current share, then reconcile, each hour."""
    from datetime import timedelta

    from demo_canary import write_hour

    staging = repo / "deployments" / "cancer-staging.yaml"
    for hour in range(hours):
        text = staging.read_text()
        if "canary:" not in text:
            return
        share = int(text.split("canary:")[1].split("traffic:")[1].split()[0]) / 100
        write_hour(repo, "cancer-staging", accuracy, share, 3000, start, seed + hour)
        start += timedelta(hours=1)
        print(f"(an hour of traffic: {share:.0%} to the canary; now {start.isoformat()})")
        run(repo, "reconcile", "--now", start.isoformat(), expect=(0, 3))


def progressive(repo: Path) -> None:
    from datetime import timedelta

    staging = repo / "deployments" / "cancer-staging.yaml"
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    banner(
        "15. Progressive delivery: the analysis steps a canary 10 -> 25 -> 50 -> 100, then promotes"
    )
    edit(staging, 'canary: {version: "1.2.0", traffic: 50}', CANARY.format(version="1.2.0"))
    edit(
        staging,
        "    predictions: logs/cancer-staging/",
        "    predictions: logs/cancer-staging/\n    labels: labels/cancer-staging/",
    )
    git(repo, "commit", "-q", "-am", "cancer-staging: canary 1.2.0 with automatic analysis")
    run(repo, "reconcile", "--now", start.isoformat(), expect=(0, 3))
    canary_hours(repo, start, {"1.1.0": 0.95, "1.2.0": 0.95}, 5, seed=100)
    print(
        git_out(
            repo,
            "log",
            "-4",
            "--format=%s%n  %(trailers:key=Mlops-Analysis,valueonly)",
            "--grep",
            "^mlops-gitops: canary",
        )
    )

    banner("16. A second canary (1.0.0), 10 points less accurate, is aborted by the comparison")
    text = staging.read_text().replace(
        'version: "1.2.0"\n', 'version: "1.2.0"\n  ' + CANARY.format(version="1.0.0") + "\n", 1
    )
    staging.write_text(text)
    git(repo, "commit", "-q", "-am", "cancer-staging: try 1.0.0 on canary")
    start += timedelta(hours=6)
    canary_hours(repo, start, {"1.2.0": 0.95, "1.0.0": 0.85}, 4, seed=200)
    print(git_out(repo, "log", "-1", "--format=%B", "--grep", "aborted"))


if __name__ == "__main__":
    main()
