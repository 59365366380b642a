"""`*.yaml.j2` templates come from pull requests: each renders within a CPU and a size budget.

Before the budgets, nested `range(100000)` loops ran for hours and `'a' * 10**9` took 3 GB;
every bomb below now stops within its budget with an error at its file and line, and memory
stays bounded (checked in a process whose address space is capped).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops_gitops.spec.templates import Budget, TemplateProblem, render
from tests.support.cli import run_cli
from tests.support.corpus import CORPUS_BASE
from tests.support.repos import PROJECT, copy_repo

HEADER = "apiVersion: mlops-gitops/v1\nkind: Deployment\nmetadata:\n  name: x\n"
"""Four lines: a bomb on the line after it is on line 5."""
FAST = Budget(cpu_seconds=0.3)

BOMBS = {
    # CPU: loops, recursion, fan-out
    "nested range loops": "{% for i in range(100000) %}{% for j in range(100000) %}"
    "{% endfor %}{% endfor %}",
    "nested loops over a string": "{% set s = 'a' * 100000 %}{% for a in s %}{% for b in s %}"
    "{% endfor %}{% endfor %}",
    "macro fan-out": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    "{% endmacro %}{{ f(60) }}",
    # one operation that would build a huge value
    "string multiplication": "{{ 'a' * 10**9 }}",
    "list multiplication": "{% set x = [0] * 10**9 %}",
    "integer power": "{{ 10 ** (10 ** 9) }}",
    "integer squaring": "{% set ns = namespace(x=7) %}{% for i in range(64) %}"
    "{% set ns.x = ns.x * ns.x %}{% endfor %}",
    "doubling with ~": "{% set ns = namespace(s='a') %}{% for i in range(64) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "doubling with +": "{% set ns = namespace(s=['a']) %}{% for i in range(64) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}",
    "doubling nested lists": "{% set a = 'a' * 1000 %}"
    + "{% set a = [a, a] %}" * 40
    + "{{ a == a }}",
    "doubling namespaces": "{% set a = namespace(v='a' * 1000) %}"
    + "{% set a = namespace(x=a, y=a) %}" * 40,
    "center method": "{{ 'a'.center(10**9) }}",
    "center filter": "{{ 'a' | center(1000000000) }}",
    "zfill": "{{ '1'.zfill(999999999) }}",
    "expandtabs": "{{ ('\t' * 100000).expandtabs(100000) }}",
    "replace method": "{% set s = 'a' * 1000000 %}{{ s.replace('a', s) }}",
    "replace filter": "{% set s = 'a' * 1000000 %}{{ s | replace('a', s) }}",
    "join filter": "{% set s = 'a' * 1000000 %}{{ range(1000) | map('string') | join(s) }}",
    "join method": "{% set s = 'a' * 1000000 %}{{ s.join(range(1000) | map('string')) }}",
    "printf width": "{{ '%0999999999d' % 1 }}",
    "printf star width": "{{ '%*d' % (999999999, 1) }}",
    "format width": "{{ '{:>999999999}'.format(1) }}",
    "format nested width": "{{ '{:>{w}}'.format(1, w=999999999) }}",
    "format filter": "{{ '%999999999s' | format('a') }}",
    "indent filter": "{{ ('a\\n' * 100000) | indent(100000) }}",
    "wordwrap filter": "{{ ('a ' * 100000) | wordwrap(1, wrapstring='x' * 100000) }}",
    "batch padding": "{{ [1] | batch(1000000000, 'x') | list }}",
    "slice count": "{{ [1] | slice(1000000000) | list }}",
    "tojson indent": "{% set a = range(30000) | list %}{{ [a, a, a, a] | tojson(indent=100) }}",
    "many values built": "{{ range(100000) | map('center', 1000000) | join | length }}",
    # output
    "output over 10 MB": "{% for i in range(20) %}{{ 'a' * 1000000 }}{% endfor %}",
    "macro output": "{% macro m() %}{% for i in range(100000) %}" + "x" * 10000 + "{% endfor %}"
    "{% endmacro %}{{ m() | length }}",
    "block set output": "{% set x %}{% for i in range(100000) %}" + "x" * 10000 + "{% endfor %}"
    "{% endset %}",
}


@pytest.mark.parametrize("bomb", BOMBS.values(), ids=list(BOMBS))
def test_bomb_stops_quickly_at_its_line(bomb: str) -> None:
    source = f"{HEADER}{bomb}\n"
    start = time.process_time()
    with pytest.raises(TemplateProblem) as caught:
        render(source, "deployments/x.yaml.j2", {}, FAST)
    assert time.process_time() - start < 3 * FAST.cpu_seconds + 1
    assert caught.value.message.startswith("template over budget: "), caught.value.message
    assert caught.value.line == 5


@pytest.mark.parametrize(
    "expression",
    [
        "{{ dict.update(x, k=2) }}",  # a type's method changed the Project's values
        "{{ dict.pop(x, 'k') }}",
        "{{ {}.fromkeys(range(100000), 'a' * 1000000) }}",
        "{{ (1).to_bytes(1000000000, 'big') }}",
        "{{ 'a'.translate({97: 'b' * 1000000}) }}",
        "{{ ('a' | attr('center'))(1000000000) }}",
    ],
)
def test_methods_outside_the_list_are_unsafe(expression: str) -> None:
    values = {"x": {"k": 1}}
    with pytest.raises(TemplateProblem) as caught:
        render(f"{HEADER}{expression}\n", "t.yaml.j2", values, FAST)
    assert caught.value.message.startswith(("unsafe template: ", "template over budget: "))
    assert caught.value.line == 5
    assert values == {"x": {"k": 1}}


def test_templates_within_the_budget_render_as_before() -> None:
    source = (
        "{% set tags = ['a', 'b'] + ['c'] %}{% set ns = namespace(n=0) %}"
        "{% for t in tags %}{% set ns.n = ns.n + loop.index %}{% endfor %}"
        "tags: {{ tags | join(', ') }} / {{ '%-4s|' % 'x' }} / {{ '{:>4}'.format(7) }} / "
        "{{ 'ab'.center(6, '.') }} / {{ ns.n }} / {{ {'b': 1, 'a': [1.5]} | tojson }} / "
        "{{ ('x' ~ 'y') * 2 }} / {{ 2 ** 10 }} / {{ [[1], [2]] | sum(start=[]) }} / "
        "{{ 'a-b' | replace('-', '_') | upper }} / {{ 'l1\nl2' | indent(2) }}"
    )
    assert render(source, "t.yaml.j2", {}) == (
        "tags: a, b, c / x   | /    7 / ..ab.. / 6 / "
        '{"a": [1.5], "b": 1} / xyxy / 1024 / [1, 2] / A_B / l1\n  l2'
    )


def test_a_value_just_within_the_budget_is_accepted() -> None:
    budget = Budget(output_bytes=4096)
    assert len(render("{{ 'a' * 4096 }}", "t.yaml.j2", {}, budget)) == 4096
    with pytest.raises(TemplateProblem, match="over budget"):
        render("{{ 'a' * 4097 }}", "t.yaml.j2", {}, budget)


def _repo(tmp_path: Path, mlops_extra: str = "") -> Path:
    repo = copy_repo(CORPUS_BASE, tmp_path / "repo")
    if mlops_extra:
        project = repo / "mlops.yaml"
        project.write_text(project.read_text() + mlops_extra)
    return repo


def _template(repo: Path, name: str, bomb: str) -> None:
    body = f"apiVersion: mlops-gitops/v1\nkind: Deployment\nmetadata:\n  name: {name}\n"
    (repo / "deployments" / f"{name}.yaml.j2").write_text(f"{body}{bomb}\n")


@pytest.mark.slow
def test_validate_reports_every_bomb_at_its_place_with_memory_capped(tmp_path: Path) -> None:
    """The crafted repository holds the two bombs of the report and a multiplication one;
    `validate` runs in a process limited to 1.5 GB of address space and two minutes."""
    repo = _repo(tmp_path)
    _template(repo, "loops", BOMBS["nested range loops"])
    _template(repo, "gigabytes", "spec:\n  model: \"{{ 'a' * 10**9 }}\"")
    _template(repo, "lists", "spec:\n\n  model: {{ [0] * 10**9 }}")
    limit = 1536 * 1024 * 1024

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mlops_gitops", "--repo", repo, "validate", "--format", "json"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=cap,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert time.monotonic() - start < 30
    errors = {(e["path"], e["line"]): e["message"] for e in json.loads(done.stdout)["errors"]}
    assert set(errors) == {
        ("deployments/loops.yaml.j2", 5),
        ("deployments/gigabytes.yaml.j2", 6),
        ("deployments/lists.yaml.j2", 7),
    }
    assert "more than 2 s of CPU time" in errors[("deployments/loops.yaml.j2", 5)]
    assert (
        "would make a value of 1000000000 characters"
        in errors[("deployments/gigabytes.yaml.j2", 6)]
    )


def test_budgets_are_set_in_the_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _repo(tmp_path, "  security:\n    template_output_bytes: 2048\n")
    _template(repo, "wide", "spec:\n  model: x\n# {{ 'a' * 3000 }}")
    run = run_cli("--repo", repo, "validate")
    assert run.code == 1
    assert "deployments/wide.yaml.j2:7: template over budget: '*' would make a value of 3000" in (
        run.out
    )
    (repo / "mlops.yaml").write_text((repo / "mlops.yaml").read_text().replace("2048", "4096"))
    run = run_cli("--repo", repo, "validate")
    assert "wide.yaml.j2:7" not in run.out


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ("template_cpu_seconds: 100000", "less than or equal to 60"),
        ("template_cpu_seconds: 0", "greater than 0"),
        ("template_output_bytes: 100000000000", "less than or equal to 67108864"),
    ],
)
def test_budgets_cannot_be_lifted_past_their_ceiling(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, says: str
) -> None:
    repo = _repo(tmp_path, f"  security:\n    {setting}\n")
    run = run_cli("--repo", repo, "validate")
    assert run.code == 1
    assert f"Project/corpus: spec.security.{setting.split(':')[0]}" in run.out
    assert says in run.out
