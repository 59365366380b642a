"""The committed JSON Schemas are current, and editors checking the example repo with them agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.schema import SCHEMA_DIALECT, render_schemas
from mlops_gitops.spec.templates import render
from tests.support.repos import EXAMPLE_REPO, SCHEMAS

MARKER = "# yaml-language-server: $schema="


def _example_files() -> list[Path]:
    return sorted(
        p
        for p in EXAMPLE_REPO.rglob("*")
        if p.is_file()
        and p.name.endswith((".yaml", ".yml", ".yaml.j2", ".yml.j2"))
        and not any(part.startswith(".") for part in p.relative_to(EXAMPLE_REPO).parts)
    )


EXAMPLES = _example_files()
IDS = [p.relative_to(EXAMPLE_REPO).as_posix() for p in EXAMPLES]


def _data(path: Path) -> dict[str, Any]:
    """The file as the tool reads it: templates rendered with the Project's values first."""
    text = path.read_text(encoding="utf-8")
    if path.name.endswith(".j2"):
        project = yaml.safe_load((EXAMPLE_REPO / "mlops.yaml").read_text(encoding="utf-8"))
        text = render(text, path.name, project["spec"]["values"])
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _validator(kind: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / spec_models.SCHEMA_FILES[kind]).read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_committed_schemas_equal_a_fresh_export() -> None:
    fresh = render_schemas()
    committed = {p.name: p.read_text(encoding="utf-8") for p in SCHEMAS.glob("*.json")}
    assert sorted(committed) == sorted(fresh), "run `make schemas` and commit the result"
    for name, text in fresh.items():
        assert committed[name] == text, f"schemas/{name} is stale: run `make schemas`"


@pytest.mark.parametrize("name", sorted(render_schemas()))
def test_schema_is_a_valid_draft_2020_12_schema_with_id_and_docs(name: str) -> None:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == SCHEMA_DIALECT
    assert schema["$id"].endswith("/" + name)
    assert schema["title"] and schema["description"]


def test_every_kind_has_a_schema_file() -> None:
    assert set(spec_models.SCHEMA_FILES) == set(spec_models.KINDS)
    assert set(render_schemas()) == set(spec_models.SCHEMA_FILES.values())


def test_the_example_repo_has_files_of_most_kinds() -> None:
    kinds = {_data(p)["kind"] for p in EXAMPLES}
    assert {"Project", "Model", "Deployment", "Rule", "RetirementPlan", "TrainingPipeline"} <= kinds


@pytest.mark.parametrize("path", EXAMPLES, ids=IDS)
def test_example_file_points_at_the_schema_of_its_kind(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(MARKER), f"{path.name} must start with {MARKER}..."
    target = (path.parent / first.removeprefix(MARKER).strip()).resolve()
    assert target.is_file(), f"{target} does not exist"
    assert target == (SCHEMAS / spec_models.SCHEMA_FILES[_data(path)["kind"]]).resolve()


@pytest.mark.parametrize("path", EXAMPLES, ids=IDS)
def test_example_file_validates_against_the_committed_schema(path: Path) -> None:
    data = _data(path)
    errors = [e.message for e in _validator(data["kind"]).iter_errors(data)]
    assert errors == []


def _set(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(data))
    node: Any = copy
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return copy


_DELETE = object()


@pytest.mark.parametrize(
    ("file", "dotted", "value"),
    [
        ("deployments/cancer-prod.yaml", "spec.stage", "prod"),
        ("deployments/cancer-prod.yaml", "spec.canary.traffic", 101),
        ("deployments/cancer-prod.yaml", "spec.replicas", 2),
        ("deployments/cancer-prod.yaml", "spec.model", _DELETE),
        ("deployments/cancer-prod.yaml", "metadata.name", "Cancer_Prod"),
        ("deployments/cancer-prod.yaml", "spec.promotion.gates.roc_auc", "about 0.9"),
        ("models/cancer-detector.yaml", "spec.versions.0.version", 1.1),
        ("models/cancer-detector.yaml", "spec.versions.0.created", "2026-02-30"),
        ("models/cancer-detector.yaml", "spec.versions.0.format", "exe"),
        ("rules/cancer-prod-drift.yaml", "spec.triggers.0.type", "data_drfit"),
        ("rules/cancer-prod-drift.yaml", "spec.conditions.cooldown", "1 day"),
        ("retirements/retire-cancer-1-0.yaml", "spec.retirement_date", "2027-13-01"),
        ("mlops.yaml", "spec.policies.max_canary_step", 0),
    ],
)
def test_a_broken_file_fails_the_schema(file: str, dotted: str, value: Any) -> None:
    data = _data(EXAMPLE_REPO / file)
    assert not list(_validator(data["kind"]).iter_errors(data))
    broken = _set(data, dotted, value)
    assert list(_validator(data["kind"]).iter_errors(broken)), f"{dotted}={value!r} passed"
