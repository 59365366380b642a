"""A corpus of broken repositories, one defect each, with golden `validate` output.

Each case in `corpus/cases/<name>/` overlays `repo/` on a copy of `corpus/base/` (see
tests/support/corpus.py for the `.delete`, `.oversize` and `.symlink-outside` directives).
`expected.txt` is what `validate` shows a user (stdout, then stderr) and `expected.json` is
the `--format json` output. Regenerate them with
`UPDATE_GOLDEN=1 pytest tests/spec/test_corpus.py` and review every change: the `EXPECTED`
table below pins the place of each error independently of the goldens, so a regenerated
golden with a wrong line still fails.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import run_cli, run_process
from tests.support.corpus import CASES, CORPUS_BASE, CORPUS_CASES, NOT_A_REPOSITORY, build_case
from tests.support.golden import assert_golden, normalize
from tests.support.repos import copy_repo

M = "models/fraud-detector.yaml"
D = "deployments/fraud-prod.yaml"
S = "deployments/fraud-staging.yaml.j2"
R = "rules/fraud-drift.yaml"
RT = "retirements/retire-fraud-1-0.yaml"
P = "pipelines/fraud-train.yaml"


@dataclass(frozen=True)
class Expect:
    """The one error a case must produce: where it is, what it is about, a part of its text."""

    path: str | None
    line: int | None
    column: int | None
    where: str | None
    """`Kind/name`, or None for errors found before the object is known (YAML, bytes)."""
    field: str | None
    says: str


EXPECTED: dict[str, Expect] = {
    # ------------------------------------------------------------ YAML and bytes
    "yaml-syntax-error": Expect(
        D,
        8,
        10,
        None,
        None,
        "did not find expected ',' or ']' (while parsing a flow sequence"
        " that starts on line 7, column 10)\n    8 |   version:",
    ),
    "yaml-bad-indentation": Expect(
        D, 8, 10, None, None, "mapping values are not allowed in this context\n    8 |    target"
    ),
    "yaml-unclosed-quote": Expect(R, 11, 13, None, None, "scanning a quoted scalar"),
    "yaml-tab-indentation": Expect(RT, 9, 1, None, None, "indent YAML with spaces, not tabs"),
    "duplicate-key": Expect(
        D, 13, 3, None, None, "duplicate key 'stage' (first defined on line 7)"
    ),
    "alias-bomb": Expect("models/bomb.yaml", 6, 7, None, None, "more than 100 alias references"),
    "recursive-alias": Expect("models/loop.yaml", 5, 7, None, None, "recursive alias"),
    "multiple-documents": Expect(P, 3, 1, None, None, "found more than one YAML document"),
    "not-a-mapping": Expect("rules/list.yaml", 1, 1, None, None, "this one is a list"),
    "file-too-large": Expect(
        "models/huge.yaml", None, None, None, None, "spec files may be at most 1048576 bytes"
    ),
    "invalid-utf8": Expect("rules/latin1.yaml", 7, 19, None, None, "invalid UTF-8 (byte 0xe9)"),
    "symlink-outside": Expect(
        "models/linked.yaml",
        None,
        None,
        None,
        None,
        "symlink points outside the repository (<tmp>/outside/linked.yaml)",
    ),
    "missing-mlops-yaml": Expect(None, None, None, None, None, "mlops.yaml not found in <repo>"),
    # ------------------------------------------------------------ objects and fields
    "duplicate-object": Expect(
        D,
        4,
        3,
        "Deployment/fraud-prod",
        "metadata.name",
        "Deployment 'fraud-prod' is already defined in deployments/fraud-prod-copy.yaml:4",
    ),
    "unknown-kind": Expect(P, 2, 1, None, "kind", "did you mean 'TrainingPipeline'?"),
    "wrong-api-version": Expect(
        P, 1, 1, "TrainingPipeline/fraud-train", "apiVersion", "got 'mlops-gitops/v2'"
    ),
    "project-kind-elsewhere": Expect(
        "models/project.yaml", 2, 1, None, "kind", "only mlops.yaml may hold the Project"
    ),
    "unquoted-version": Expect(
        M,
        22,
        7,
        "Model/fraud-detector",
        "spec.versions[3].version",
        'YAML read the unquoted 1.10 as the number 1.1; quote it: "1.10"',
    ),
    "unknown-field": Expect(
        D,
        12,
        13,
        "Deployment/fraud-prod",
        "spec.scaling.min_replica",
        "unknown field 'min_replica' (did you mean 'min_replicas'?)",
    ),
    "missing-required-field": Expect(
        D, 5, 1, "Deployment/fraud-prod", "spec.stage", "required field is missing"
    ),
    "wrong-type": Expect(M, 7, 3, "Model/fraud-detector", "spec.tags", "valid list"),
    "bad-enum": Expect(
        D, 7, 3, "Deployment/fraud-prod", "spec.stage", "'prod' is not allowed: input should be"
    ),
    "bad-name": Expect(
        R, 4, 3, "Rule/Fraud_Drift", "metadata.name", "'Fraud_Drift' is not a valid name"
    ),
    "bad-duration": Expect(
        R, 14, 5, "Rule/fraud-drift", "spec.conditions.cooldown", "'1 day' is not a duration"
    ),
    "bad-threshold": Expect(
        D,
        16,
        7,
        "Deployment/fraud-prod",
        "spec.promotion.gates.roc_auc",
        "'about 0.9' is not a threshold",
    ),
    "bad-cron": Expect(
        R,
        11,
        7,
        "Rule/fraud-drift",
        "spec.triggers[1].cron",
        "'0 25 * * 1' is not a valid cron expression",
    ),
    "impossible-date": Expect(
        RT,
        8,
        3,
        "RetirementPlan/retire-fraud-1-0",
        "spec.retirement_date",
        "'2026-02-30' is not a real date",
    ),
    "impossible-date-quoted": Expect(
        M,
        13,
        7,
        "Model/fraud-detector",
        "spec.versions[0].created",
        "'2026-02-30' is not a real date",
    ),
    "unknown-trigger-type": Expect(
        R, 8, 7, "Rule/fraud-drift", "spec.triggers[0]", "unknown type 'data_drfit'; expected"
    ),
    "missing-action-type": Expect(
        R, 16, 7, "Rule/fraud-drift", "spec.actions[0]", "missing 'type'"
    ),
    "traffic-over-100": Expect(
        D, 11, 5, "Deployment/fraud-prod", "spec.canary.traffic", "less than or equal to 100"
    ),
    "artifact-dotdot-escape": Expect(
        M,
        15,
        7,
        "Model/fraud-detector",
        "spec.versions[1].artifact",
        "'artifacts/../../secrets/model.skops' leaves the repository (..)",
    ),
    "artifact-absolute-path": Expect(
        M,
        15,
        7,
        "Model/fraud-detector",
        "spec.versions[1].artifact",
        "'/etc/passwd' is an absolute path",
    ),
    # ------------------------------------------------------------ references between objects
    "deployment-missing-model": Expect(
        S, 9, 3, "Deployment/fraud-staging", "spec.model", "model 'fraud-detectr' does not exist"
    ),
    "deployment-missing-version": Expect(
        S,
        11,
        3,
        "Deployment/fraud-staging",
        "spec.version",
        "version '1.4.0' is not a version of model 'fraud-detector'",
    ),
    "deployment-missing-canary-version": Expect(
        D,
        10,
        5,
        "Deployment/fraud-prod",
        "spec.canary.version",
        "version '9.9.9' is not a version of model 'fraud-detector'",
    ),
    "version-in-use-removed": Expect(
        D,
        8,
        3,
        "Deployment/fraud-prod",
        "spec.version",
        "version '1.1.0' is not a version of model 'fraud-detector'",
    ),
    "canary-equals-stable": Expect(
        D,
        10,
        5,
        "Deployment/fraud-prod",
        "spec.canary.version",
        "canary version '1.1.0' is the stable version",
    ),
    "rule-missing-deployment": Expect(
        R,
        6,
        3,
        "Rule/fraud-drift",
        "spec.deployment",
        "deployment 'fraud-production' does not exist",
    ),
    "rule-missing-pipeline": Expect(
        R,
        18,
        7,
        "Rule/fraud-drift",
        "spec.actions[1].pipeline",
        "training pipeline 'fraud-retrain' does not exist",
    ),
    "retirement-missing-version": Expect(
        RT,
        7,
        3,
        "RetirementPlan/retire-fraud-1-0",
        "spec.version",
        "version '0.9.0' is not a version of model 'fraud-detector'",
    ),
    "retirement-replacement-is-version": Expect(
        RT,
        9,
        3,
        "RetirementPlan/retire-fraud-1-0",
        "spec.replacement",
        "the replacement '1.0.0' is the version being retired",
    ),
    "retirement-missing-replacement": Expect(
        RT,
        9,
        3,
        "RetirementPlan/retire-fraud-1-0",
        "spec.replacement",
        "version '2.0.0' is not a version of model 'fraud-detector'",
    ),
    "pipeline-missing-model": Expect(
        P, 6, 3, "TrainingPipeline/fraud-train", "spec.model", "model 'fraud-model' does not exist"
    ),
    # ------------------------------------------------------------ templates
    "template-undefined-variable": Expect(
        S, 7, None, None, None, "undefined template variable: 'regoin' is undefined"
    ),
    "template-syntax-error": Expect(S, 6, None, None, None, "template syntax error"),
    "template-sandbox-escape": Expect(S, 7, None, None, None, "unsafe template"),
    "template-renders-invalid-yaml": Expect(
        S, 6, 15, None, None, "mapping values are not allowed in this context\n    6 |     team"
    ),
}


def test_every_case_has_an_expectation() -> None:
    assert sorted(EXPECTED) == CASES
    assert len(CASES) >= 30


def test_base_repository_is_valid(tmp_path: Path) -> None:
    """Without this, a case could pass because of a defect the base already has."""
    repo = copy_repo(CORPUS_BASE, tmp_path / "repo")
    run = run_cli("--repo", repo, "validate", "--format", "json")
    assert run.code == 0, run.seen
    assert json.loads(run.out)["errors"] == []


def _render(expect: Expect) -> str:
    """The head of the text line for the expected error, as Problem.render() writes it."""
    if expect.path is None:
        return f"error: {expect.says}"
    where = expect.path
    if expect.line is not None:
        where += f":{expect.line}"
        if expect.column is not None:
            where += f":{expect.column}"
    parts = [where, *(x for x in (expect.where, expect.field) if x)]
    return ": ".join(parts) + ": "


@pytest.mark.parametrize("case", CASES)
def test_case_text(case: str, tmp_path: Path) -> None:
    repo = build_case(case, tmp_path)
    run = run_cli("--repo", repo, "validate")
    seen = normalize(run.seen, tmp_path)
    assert run.code == 1, seen
    assert "Traceback" not in seen
    expect = EXPECTED[case]
    assert seen.startswith(_render(expect)), seen
    assert expect.says in seen
    if case in NOT_A_REPOSITORY:
        assert run.out == ""
    else:
        # exactly one problem: a second one would be a cascade of the first
        assert run.err == "Invalid: 1 problem found.\n"
        assert run.out.count(f"{expect.path}:") == 1, seen
    assert_golden(CORPUS_CASES / case / "expected.txt", seen)


@pytest.mark.parametrize("case", sorted(set(CASES) - NOT_A_REPOSITORY))
def test_case_json(case: str, tmp_path: Path) -> None:
    repo = build_case(case, tmp_path)
    run = run_cli("--repo", repo, "validate", "--format", "json")
    assert run.code == 1
    assert run.err == ""
    out = normalize(run.out, tmp_path)
    payload = json.loads(out)
    assert payload["format_version"] == "1"
    assert payload["valid"] is False
    expect = EXPECTED[case]
    [error] = payload["errors"]
    kind, _, name = (expect.where or "").partition("/")
    assert error["path"] == expect.path
    assert (error["line"], error["column"]) == (expect.line, expect.column)
    assert (error["kind"], error["name"] if kind else None) == (kind or None, name or None)
    assert error["field"] == expect.field
    assert expect.says in error["message"]
    assert_golden(CORPUS_CASES / case / "expected.json", out)


def test_missing_project_file_in_json_mode(tmp_path: Path) -> None:
    repo = build_case("missing-mlops-yaml", tmp_path)
    run = run_cli("--repo", repo, "validate", "--format", "json")
    assert run.code == 1
    payload = json.loads(run.out)
    assert payload["valid"] is False
    [error] = payload["errors"]
    assert error["path"] == "mlops.yaml"
    assert normalize(error["message"], tmp_path).startswith("mlops.yaml not found in <repo>")
    assert "Traceback" not in run.err


@pytest.mark.slow
@pytest.mark.parametrize(
    "case", ["yaml-syntax-error", "symlink-outside", "template-sandbox-escape", "unquoted-version"]
)
def test_case_as_a_process(case: str, tmp_path: Path) -> None:
    """The installed entry point prints exactly what the in-process run recorded."""
    repo = build_case(case, tmp_path)
    done = run_process("--repo", repo, "validate", expect=1)
    expected = (CORPUS_CASES / case / "expected.txt").read_text(encoding="utf-8")
    assert normalize(done.seen, tmp_path) == expected


@pytest.mark.parametrize(
    "artifact", ["s3://bucket/x", "gs://bucket/models/m.onnx", "artifacts/../artifacts/m.skops"]
)
def test_artifact_uris_and_inner_paths_are_accepted(artifact: str, tmp_path: Path) -> None:
    repo = copy_repo(CORPUS_BASE, tmp_path / "repo")
    model = repo / M
    text = model.read_text(encoding="utf-8")
    model.write_text(text.replace("artifacts/fraud/1.1.0.skops", artifact), encoding="utf-8")
    run = run_cli("--repo", repo, "validate")
    assert run.code == 0, run.seen


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    """Defects in different files are all reported in one run, sorted by file and line."""
    repo = tmp_path / "repo"
    copy_repo(CORPUS_BASE, repo)
    for case in ("bad-enum", "bad-cron", "impossible-date", "unquoted-version"):
        for source in (CORPUS_CASES / case / "repo").rglob("*"):
            if source.is_file():
                target = repo / source.relative_to(CORPUS_CASES / case / "repo")
                target.write_bytes(source.read_bytes())
    run = run_cli("--repo", repo, "validate")
    assert run.code == 1
    heads = [line.split(": ")[0] for line in run.out.splitlines()]
    assert heads == [f"{D}:7:3", f"{M}:22:7", f"{RT}:8:3", f"{R}:11:7"]
    assert run.err == "Invalid: 4 problems found.\n"


def test_symlinked_folder_leaving_the_repository(tmp_path: Path) -> None:
    repo = copy_repo(CORPUS_BASE, tmp_path / "repo")
    outside = tmp_path / "outside" / "evil"
    outside.mkdir(parents=True)
    (outside / "secret.yaml").write_text("apiVersion: mlops-gitops/v1\n", encoding="utf-8")
    (repo / "rules" / "shared").symlink_to(outside)
    run = run_cli("--repo", repo, "validate")
    assert run.code == 1
    assert normalize(run.out, tmp_path) == (
        "rules/shared: symlinked folder points outside the repository (<tmp>/outside/evil)\n"
    )
    assert "secret" not in run.out


def test_symlinks_inside_the_repository_are_followed(tmp_path: Path) -> None:
    repo = copy_repo(CORPUS_BASE, tmp_path / "repo")
    (repo / "shared").mkdir()
    (repo / "pipelines").rename(repo / "shared" / "pipelines")
    (repo / "pipelines").symlink_to(Path("shared") / "pipelines")
    run = run_cli("--repo", repo, "validate", "--format", "json")
    assert run.code == 0, run.out
    assert json.loads(run.out)["objects"]["TrainingPipeline"] == 1


def test_alias_expansion_budget_counts_values_not_only_aliases() -> None:
    """Fewer than 100 aliases can still expand to millions of values; both budgets hold."""
    from mlops_gitops.spec.yamlsource import MAX_ALIASES, MAX_NODES, YamlProblem, parse

    big = "[" + ", ".join(["x"] * 2000) + "]"
    aliases = ", ".join(["*big"] * (MAX_NODES // 2000 + 1))
    assert MAX_NODES // 2000 + 1 < MAX_ALIASES
    with pytest.raises(YamlProblem) as caught:
        parse(f"a: &big {big}\nb: [{aliases}]\n")
    assert f"more than {MAX_NODES} values" in caught.value.message
    assert caught.value.line is not None
    # a few aliases of a small anchor are fine
    assert parse("a: &x {k: 1}\nb: *x\nc: {<<: *x, j: 2}\n").data == {
        "a": {"k": 1},
        "b": {"k": 1},
        "c": {"j": 2, "k": 1},
    }
