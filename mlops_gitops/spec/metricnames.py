"""Metric names in gates, triggers and evaluation thresholds, checked at `validate`.

A misspelled name (`accuracy_uplift`) would otherwise pass validation and block a plan
forever with "no metric recorded". A name is known when monitoring or training computes it,
or when a version of the model declares it in its offline `metrics`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator

from mlops_gitops.errors import Problem
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.quality import GATE_NUMBERS
from mlops_gitops.spec.repository import Loaded, Repository

PERFORMANCE = frozenset({"accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse", "r2"})
"""What training evaluates and monitoring computes from labels."""
SERVICE = frozenset(
    {"error_rate", "drift_share", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "labelled"}
)
"""What monitoring reports without labels; `labelled` (how many records had labels) too, so a
gate can ask for enough of them."""
QUALITY = frozenset(GATE_NUMBERS.values())
"""The numbers a gate's `data_quality:` limits stand for; always known."""
CANARY = (PERFORMANCE | SERVICE | {"records"}) - {"drift_share", "labelled"}
"""What a canary analysis `metric` check reads of the canary's own records in the report."""
PROMETHEUS = "prometheus:"
"""A gate keyed `prometheus:<query>` asks Prometheus; its query is not a metric name."""


def problems(repo: Repository) -> Iterator[Problem]:
    from mlops_gitops.spec.validate import _at

    everyone = set().union(
        *(_declared(repo, name) for kind, name in repo.objects if kind == "Model")
    )
    for item in repo.of_kind("Project"):
        assert isinstance(item.obj, spec_models.Project)
        for metric in _named(item.obj.spec.policies.production_gates):
            path: tuple[str | int, ...] = ("spec", "policies", "production_gates", metric)
            yield from _check(item, path, metric, "gate", PERFORMANCE | SERVICE | everyone, _at)
    for item in repo.of_kind("Deployment"):
        assert isinstance(item.obj, spec_models.Deployment)
        known = PERFORMANCE | SERVICE | _declared(repo, item.obj.spec.model)
        for metric in _named(item.obj.spec.promotion.gates):
            path = ("spec", "promotion", "gates", metric)
            yield from _check(item, path, metric, "gate", known, _at)
        analysis = item.obj.spec.canary.analysis if item.obj.spec.canary else None
        for index, check in enumerate(analysis.checks if analysis else ()):
            if isinstance(check, spec_models.MetricCheck):
                path = ("spec", "canary", "analysis", "checks", index, "metric")
                yield from _check(item, path, check.metric, "check", CANARY, _at)
    for item in repo.of_kind("Rule"):
        assert isinstance(item.obj, spec_models.Rule)
        for index, trigger in enumerate(item.obj.spec.triggers):
            if isinstance(trigger, spec_models.PerformanceTrigger):
                path = ("spec", "triggers", index, "metric")
                yield from _check(item, path, trigger.metric, "trigger", PERFORMANCE, _at)
    for item in repo.of_kind("TrainingPipeline"):
        assert isinstance(item.obj, spec_models.TrainingPipeline)
        evaluation = item.obj.spec.evaluation
        for index, metric in enumerate(evaluation.metrics):
            path = ("spec", "evaluation", "metrics", index)
            yield from _check(item, path, metric, "evaluation", PERFORMANCE, _at)
        for metric in evaluation.thresholds:
            path = ("spec", "evaluation", "thresholds", metric)
            yield from _check(item, path, metric, "threshold", PERFORMANCE, _at)


def _declared(repo: Repository, model: str) -> set[str]:
    loaded = repo.get("Model", model)
    if loaded is None or not isinstance(loaded.obj, spec_models.Model):
        return set()
    return {name for version in loaded.obj.spec.versions for name in version.metrics}


def _check(
    item: Loaded,
    path: tuple[str | int, ...],
    metric: str,
    what: str,
    known: Iterable[str],
    at: Callable[[Loaded, tuple[str | int, ...], str], Problem],
) -> Iterator[Problem]:
    names = sorted(known)
    if metric in names or (what == "gate" and metric.startswith(PROMETHEUS)):
        return
    close = difflib.get_close_matches(metric, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    message = (
        f"{what} metric {metric!r} is not a metric the tool computes or the model declares "
        f"(known: {', '.join(names)}){hint}"
    )
    yield at(item, path, message)


def _named(gates: Iterable[str]) -> list[str]:
    """The gate keys a user named as metrics (not those `data_quality:` expanded into)."""
    return [metric for metric in gates if metric not in QUALITY]
