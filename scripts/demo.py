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


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=ENV, check=True, capture_output=True)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="mlops-gitops-demo-") as tmp:
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
                line += (
                    f" + canary {resolved['canary']['version']} at {resolved['traffic']['canary']}%"
                )
            print(line)

        banner("3. A broken edit is caught with file, line and field")
        broken = repo / "deployments" / "cancer-prod.yaml"
        original = broken.read_text()
        broken.write_text(original.replace('version: "1.1.0"', "version: 1.10", 1))
        run(repo, "validate", expect=(1,))
        broken.write_text(original)

        print("\nDemo finished.")


if __name__ == "__main__":
    main()
