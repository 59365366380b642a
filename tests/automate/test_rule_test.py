"""`rule test`: would a rule act now and why, judged as reconcile judges, changing nothing; the
report file it is given is read as attacker input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.automate.helpers import RULE_FILE, report, write_report
from tests.support.cli import Result, run_cli
from tests.support.git import git, head

RULE = "cancer-prod-drift"
T1_LATER = "2026-11-27T13:00:00Z"


def rule_test(repo: Path, *args: str) -> Result:
    return run_cli("--repo", repo, "rule", "test", RULE, *args)


def untouched(repo: Path, before: str) -> None:
    assert head(repo) == before
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_drifted_report_would_act_and_says_why(repo: Path) -> None:
    write_report(repo, report(records=500, share=0.6))
    before = head(repo)
    done = rule_test(repo, "--now", T1_LATER)
    assert done.code == 0, done.seen
    assert (
        "data_drift: FIRED: drift share 0.60 > 0.25 (reports/cancer-prod/latest.json)" in done.out
    )
    assert "WOULD ACT: " in done.out
    assert "  rollback_deployment" in done.out and "  send_alert channel=file" in done.out
    untouched(repo, before)  # no rule state, no alert file, no edit, no commit
    as_json = json.loads(rule_test(repo, "--now", T1_LATER, "--format", "json").out)
    assert as_json["would_act"] is True
    assert as_json["evidence"].startswith("reports/cancer-prod/latest.json@")
    assert [t["fired"] for t in as_json["triggers"]] == [True, False]


def test_conditions_are_explained(repo: Path) -> None:
    write_report(repo, report(records=50, share=0.6))  # under min_samples 200
    done = rule_test(repo, "--now", T1_LATER)
    assert "would not act: triggers fired but the window has 50 records < min_samples 200" in (
        done.out
    )


def test_a_given_report_is_judged_instead_of_the_latest(repo: Path, tmp_path: Path) -> None:
    write_report(repo, report(records=500, share=0.0))
    given = tmp_path / "what-if.json"
    given.write_text(json.dumps(report(records=500, share=0.9)))
    quiet = rule_test(repo, "--now", T1_LATER)
    assert "would not act: no trigger fired" in quiet.out
    loud = rule_test(repo, "--now", T1_LATER, "--report", str(given))
    assert loud.code == 0 and "drift share 0.90 > 0.25" in loud.out
    assert f"judged against {given}" in loud.out


def test_a_report_of_another_deployment_is_refused(repo: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps(report(share=0.9) | {"deployment": "diabetes-prod"}))
    done = rule_test(repo, "--report", str(other))
    assert done.code == 1
    assert "is of deployment 'diabetes-prod'; rule 'cancer-prod-drift' watches" in done.err


def test_unknown_rule_is_an_error(repo: Path) -> None:
    done = run_cli("--repo", repo, "rule", "test", "cancer-prod-drfit")
    err = done.err
    assert done.code == 1 and "rule 'cancer-prod-drfit' is not defined" in err
    assert RULE in err


def _crafted(part: tuple[str, ...], value: object) -> bytes:
    """A full report with the field at `part` set to `value`."""
    data = report()
    *parents, last = part
    here = data
    for key in parents:
        here = here[key]
    here[last] = value
    return json.dumps(data).encode()


CRAFTED = {
    "not-json": (b"{'drift': ", "report {path}: "),
    "a-list": (b"[1, 2]", "(top level): Input should be a valid dictionary"),
    "drift-a-string": (_crafted(("drift",), "high"), "drift: Input should be a valid dictionary"),
    "share-a-string": (
        _crafted(("drift", "share_drifted"), "0.9"),
        "drift.share_drifted: Input should be a valid number",
    ),
    "versions-a-list": (_crafted(("versions",), [1]), "versions: Input should be a valid dict"),
    "error-rate-bool": (
        _crafted(("versions", "1.2.0", "error_rate"), True),
        "versions.1.2.0.error_rate: Input should be a valid number",
    ),
    "latency-text": (
        _crafted(("versions", "1.2.0", "latency_ms", "p95"), "slow"),
        "versions.1.2.0.latency_ms.p95: Input should be a valid number",
    ),
    "records-negative": (
        _crafted(("window", "records"), -5),
        "window.records: Input should be greater than or equal to 0",
    ),
    "nested": (b"[" * 5000 + b"]" * 5000, "nested deeper than"),
    "nan": (b'{"drift": {"share_drifted": NaN}}', "non-finite"),
    "not-utf8": (b'{"a": "\xff"}', "is not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_report_is_refused_with_the_field(
    case: str,
    repo: Path,
    tmp_path: Path,
) -> None:
    content, says = CRAFTED[case]
    path = tmp_path / "crafted.json"
    path.write_bytes(content)
    done = rule_test(repo, "--report", str(path))
    assert done.code == 1, done.seen
    assert says.format(path=path) in done.err
    assert "Traceback" not in done.seen and "internal error" not in done.seen


def test_a_huge_symlinked_or_special_report_is_refused(repo: Path, tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: costs no disk
    done = rule_test(repo, "--report", str(huge))
    assert done.code == 1 and "the limit is" in done.err
    link = tmp_path / "link.json"
    link.symlink_to(huge)
    assert "symbolic link" in rule_test(repo, "--report", str(link)).err
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    blocked = rule_test(repo, "--report", str(fifo))  # must not hang
    assert blocked.code == 1 and "not a regular file" in blocked.err


def test_a_crafted_committed_report_is_refused_too(repo: Path) -> None:
    write_report(repo, report(features={"x": {"statistic": "big", "threshold": 0.1}}))
    done = rule_test(repo)
    assert done.code == 1
    assert "reports/cancer-prod/latest.json: not a monitoring report:" in done.err
    assert "drift.features.x.statistic: Input should be a valid number" in done.err
    assert (repo / RULE_FILE).is_file()
