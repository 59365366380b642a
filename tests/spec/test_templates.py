"""`*.yaml.j2` files render in an immutable Jinja2 sandbox; escapes are errors at their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops_gitops.spec.templates import TemplateProblem, render
from tests.support.cli import run_cli
from tests.support.corpus import CORPUS_BASE
from tests.support.repos import copy_repo

VALUES = {"region": "eu", "team": "risk", "replicas": 3, "tags": ["a", "b"], "x": {"k": 1}}

HEADER = "apiVersion: mlops-gitops/v1\nkind: Deployment\nmetadata:\n  name: x\n"
"""Four lines, so an expression on the line after it is on line 5."""

ESCAPES = {
    "class and mro": "{{ ''.__class__.__mro__ }}",
    "subclasses": "{{ ().__class__.__base__.__subclasses__() }}",
    "globals of a global": "{{ cycler.__init__.__globals__ }}",
    "globals of a function": "{{ range.__globals__ }}",
    "namespace internals": "{{ namespace.__init__ }}",
    "template self": "{{ self.__init__ }}",
    "attr filter, dunder": "{{ 'a'|attr('__class__') }}",
    "attr filter on values": "{{ x|attr('__class__') }}",
    "attr format": "{{ ('{0.__class__.__mro__}'|attr('format'))(1) }}",
    "attr format, globals": "{{ ('{0.__init__.__globals__}'|attr('format'))(cycler) }}",
    "attr format_map": "{{ ('{a.__class__}'|attr('format_map'))({'a': 1}) }}",
    "str.format": "{{ '{0.__class__}'.format(1) }}",
    "format filter": "{{ '%s'|format(''.__class__) }}",
    "list append": "{{ [].append(1) }}",
    "dict update": "{{ {}.update(a=1) }}",
    "values mutated": "{{ x.pop('k') }}",
    "values list mutated": "{{ tags.append('c') }}",
}


@pytest.mark.parametrize("expression", ESCAPES.values(), ids=list(ESCAPES))
def test_sandbox_escape_is_rejected_at_its_line(expression: str) -> None:
    source = f'{HEADER}spec:\n  model: "{expression}"\n'
    with pytest.raises(TemplateProblem) as caught:
        render(source, "deployments/x.yaml.j2", dict(VALUES))
    assert caught.value.message.startswith("unsafe template: "), caught.value.message
    assert "is unsafe" in caught.value.message
    assert caught.value.line == 6


def test_values_are_not_changed_by_a_rejected_template() -> None:
    values = {"tags": ["a"], "x": {"k": 1}}
    with pytest.raises(TemplateProblem):
        render("a: {{ tags.append('b') }}{{ x.pop('k') }}\n", "t.yaml.j2", values)
    assert values == {"tags": ["a"], "x": {"k": 1}}


def test_bare_attr_format_gives_no_access() -> None:
    """Fetching `format` through |attr is allowed but yields only Jinja's safe wrapper."""
    text = render("a: \"{{ (''|attr('format'))('{0}', 1) }}\"\n", "t.yaml.j2", {})
    assert text == 'a: ""\n'  # ''.format(...) of an empty string: nothing leaks


def test_normal_template_renders_with_values() -> None:
    source = (
        "labels:\n"
        '  team: "{{ team }}"\n'
        "  where: {{ region | upper }}-{{ replicas * 2 }}\n"
        "tags: [{% for t in tags %}{{ t }}{% if not loop.last %}, {% endif %}{% endfor %}]\n"
        "{# a comment #}\n"
        "greeting: \"{{ '{}-{}'.format(team, region) }}\"\n"
    )
    assert render(source, "t.yaml.j2", dict(VALUES)) == (
        'labels:\n  team: "risk"\n  where: EU-6\ntags: [a, b]\n\ngreeting: "risk-eu"\n'
    )


@pytest.mark.parametrize(
    ("source", "line", "message"),
    [
        ("a: 1\nb: {{ regoin }}\n", 2, "undefined template variable: 'regoin' is undefined"),
        ("a: 1\nb: 2\nc: {{ x.missing.deeper }}\n", 3, "undefined template variable"),
        ("a: 1\nb: {{ team }\n", 2, "template syntax error"),
        ("a: 1\n{% for t in tags %}\nb: 1\n", 2, "needs to be closed is 'for'"),
        ("a: 1\n\nb: {{ 1 / 0 }}\n", 3, "template error: ZeroDivisionError"),
        ("a: 1\n{% include 'other.yaml' %}\n", 2, "template error"),
        ("a: {{ range(10 ** 7) | list | length }}\n", 1, "MAX_RANGE"),
    ],
)
def test_template_errors_name_the_template_line(source: str, line: int, message: str) -> None:
    with pytest.raises(TemplateProblem) as caught:
        render(source, "t.yaml.j2", dict(VALUES))
    assert caught.value.line == line
    assert message in caught.value.message


def _repo_with_template(tmp_path: Path, body: str) -> Path:
    repo = copy_repo(CORPUS_BASE, tmp_path / "repo")
    (repo / "deployments" / "fraud-staging.yaml.j2").write_text(body, encoding="utf-8")
    return repo


def test_escape_in_a_repository_is_a_located_validation_error(tmp_path: Path) -> None:
    body = (CORPUS_BASE / "deployments" / "fraud-staging.yaml.j2").read_text(encoding="utf-8")
    body = body.replace("{{ region }}", "{{ cycler.__init__.__globals__.os }}")
    repo = _repo_with_template(tmp_path, body)
    run = run_cli("--repo", str(repo), "validate", "--format", "json")
    assert run.code == 1
    [error] = json.loads(run.out)["errors"]
    assert error["path"] == "deployments/fraud-staging.yaml.j2"
    assert error["line"] == 7
    assert error["message"].startswith("unsafe template: access to attribute '__init__'")


def test_rendered_values_reach_the_compiled_manifest(tmp_path: Path) -> None:
    repo = copy_repo(CORPUS_BASE, tmp_path / "repo")
    run = run_cli("--repo", str(repo), "compile", "-o", str(tmp_path / "out"))
    assert run.code == 0, run.seen
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    labels = manifest["deployments"]["fraud-staging"]["metadata"]["labels"]
    assert labels == {"team": "risk", "region": "eu"}


def test_rendered_yaml_errors_point_into_the_template(tmp_path: Path) -> None:
    """The rendered text is checked like any file; its lines are the template's lines."""
    body = (CORPUS_BASE / "deployments" / "fraud-staging.yaml.j2").read_text(encoding="utf-8")
    repo = _repo_with_template(
        tmp_path, body.replace("  stage: staging\n", "  stage: {{ team }}\n")
    )
    run = run_cli("--repo", str(repo), "validate")
    assert run.code == 1
    assert run.out.startswith(
        "deployments/fraud-staging.yaml.j2:10:3: Deployment/fraud-staging: spec.stage: 'risk'"
    )
