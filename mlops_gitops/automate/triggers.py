"""Pure evaluation of a rule's triggers and conditions against a monitoring report.

Every result explains itself: which trigger fired with which number from which report, or
why it did not. No I/O here, so rules can be tested with plain values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, assert_never

from mlops_gitops.report_model import MonitoringReport, VersionReport
from mlops_gitops.spec import models as spec_models


@dataclass(frozen=True)
class TriggerResult:
    type: str
    fired: bool
    explanation: str
    value: float | None = None
    threshold: float | None = None
    version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    rule: str
    deployment: str
    fired: bool
    explanation: str
    triggers: list[TriggerResult] = field(default_factory=list)
    evidence: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "deployment": self.deployment,
            "fired": self.fired,
            "explanation": self.explanation,
            "evidence": self.evidence,
            "triggers": [t.to_json() for t in self.triggers],
        }


def watched_version(report: MonitoringReport, spec: spec_models.DeploymentSpec) -> str | None:
    """The canary when there is one (it is what a rule protects against), else stable."""
    if spec.canary is not None and spec.canary.version in report.versions:
        return spec.canary.version
    return spec.version if spec.version in report.versions else None


def last_cron_match(cron: str, now: datetime) -> datetime:
    from croniter import croniter

    match: datetime = croniter(cron, now + timedelta(seconds=1)).get_prev(datetime)
    return match


@dataclass(frozen=True)
class Seen:
    """What a trigger judges: the report, where it came from, and the version it watches."""

    report: MonitoringReport
    source: str
    spec: spec_models.DeploymentSpec
    offline: Mapping[str, float]
    previous: MonitoringReport | None = None
    """The report before this one (`error_rate_increase` with `compare_to: previous_window`)."""


def evaluate_trigger(
    trigger: spec_models.Trigger,
    report: MonitoringReport | None,
    source: str,
    spec: spec_models.DeploymentSpec,
    offline: Mapping[str, float],
    now: datetime,
    last_schedule_run: datetime | None,
    live: Mapping[str, Any] | None = None,
) -> TriggerResult:
    """`live`: what the runner fetched for this rule: "prometheus" (query -> value or
    problem) and "previous_report" (the report before this one, a MonitoringReport)."""
    live = live or {}
    if isinstance(trigger, spec_models.PrometheusTrigger):
        return prometheus_trigger(trigger, live.get("prometheus") or {})
    if isinstance(trigger, spec_models.ScheduleTrigger):
        return _schedule(trigger, now, last_schedule_run)
    if report is None:
        return TriggerResult(trigger.type, False, "no monitoring report yet")
    seen = Seen(report, source, spec, offline, live.get("previous_report"))
    match trigger:
        case spec_models.DataDriftTrigger():
            return _data_drift(trigger, seen)
        case (
            spec_models.ErrorRateTrigger()
            | spec_models.LatencyTrigger()
            | spec_models.PerformanceTrigger()
        ):
            return _on_version(trigger, seen)
        case spec_models.DataQualityTrigger():
            return _data_quality(trigger, seen)
        case spec_models.OutputDriftTrigger():
            return _output_drift(trigger, seen)
        case _:
            assert_never(trigger)


def _on_version(
    trigger: spec_models.ErrorRateTrigger
    | spec_models.LatencyTrigger
    | spec_models.PerformanceTrigger,
    seen: Seen,
) -> TriggerResult:
    """Triggers on one version's numbers: the canary's when there is one."""
    version = watched_version(seen.report, seen.spec)
    if version is None:
        return TriggerResult(
            trigger.type, False, f"no records for the deployment's versions in {seen.source}"
        )
    entry = seen.report.versions[version]
    match trigger:
        case spec_models.ErrorRateTrigger() if trigger.compare_to is not None:
            return error_rate_change(trigger, seen, version)
        case spec_models.ErrorRateTrigger():
            return _error_rate(trigger, version, entry, seen.source)
        case spec_models.LatencyTrigger():
            return _latency(trigger, version, entry, seen.source)
        case spec_models.PerformanceTrigger():
            return _performance(trigger, version, entry, seen)
        case _:
            assert_never(trigger)


def _schedule(
    trigger: spec_models.ScheduleTrigger, now: datetime, last_run: datetime | None
) -> TriggerResult:
    due = last_cron_match(trigger.cron, now)
    if last_run is None or due > last_run:
        return TriggerResult(
            "schedule", True, f"cron {trigger.cron!r} was due at {due.isoformat()}"
        )
    return TriggerResult(
        "schedule", False, f"cron {trigger.cron!r}: already ran for {due.isoformat()}"
    )


def _data_drift(trigger: spec_models.DataDriftTrigger, seen: Seen) -> TriggerResult:
    drift, source = seen.report.drift, seen.source
    if trigger.feature is None:
        share = drift.share_drifted
        assert trigger.share_above is not None
        fired = share > trigger.share_above
        return TriggerResult(
            "data_drift",
            fired,
            f"drift share {share:.2f} {'>' if fired else '<='} {trigger.share_above:g} ({source})",
            share,
            trigger.share_above,
        )
    feature = drift.features.get(trigger.feature)
    if feature is None:
        return TriggerResult("data_drift", False, f"feature {trigger.feature!r} not in {source}")
    value = feature.statistic or 0.0
    if trigger.statistic_above is not None:
        fired = value > trigger.statistic_above
        return TriggerResult(
            "data_drift",
            fired,
            f"{feature.method} of {trigger.feature} = {value:.4g} "
            f"{'>' if fired else '<='} {trigger.statistic_above:g} ({source})",
            value,
            trigger.statistic_above,
        )
    fired = feature.drifted
    return TriggerResult(
        "data_drift",
        fired,
        f"{trigger.feature} {'drifted' if fired else 'did not drift'} "
        f"({feature.method} {value:.4g}, threshold {feature.threshold}) ({source})",
        value,
        feature.threshold,
    )


def _data_quality(trigger: spec_models.DataQualityTrigger, seen: Seen) -> TriggerResult:
    """Fires on the first limit exceeded; quiet, listing every number, when none is."""
    found = seen.report.data_quality.numbers()
    shown = []
    for number, most in trigger.limits().items():
        value = found.get(number)
        name = number.removeprefix("data_quality_").replace("_", " ")
        if value is None:
            return TriggerResult(
                "data_quality", False, f"{seen.source} has no {name} (written by an older monitor)"
            )
        if value > most:
            return TriggerResult(
                "data_quality",
                True,
                f"data quality: {name} {value:.4g} > {most:g} ({seen.source})",
                value,
                most,
            )
        shown.append(f"{name} {value:.4g} <= {most:g}")
    return TriggerResult("data_quality", False, f"data quality: {', '.join(shown)} ({seen.source})")


def _output_drift(trigger: spec_models.OutputDriftTrigger, seen: Seen) -> TriggerResult:
    what = trigger.type.replace("_", " ")
    outputs = seen.report.outputs
    test = None if outputs is None else getattr(outputs, trigger.type)
    if test is None or not test.available:
        why = f": {test.reason}" if test is not None and test.reason else ""
        return TriggerResult(trigger.type, False, f"no {what} in {seen.source}{why}")
    value = test.statistic or 0.0
    if trigger.statistic_above is not None:
        fired = value > trigger.statistic_above
        return TriggerResult(
            trigger.type,
            fired,
            f"{what}: {test.method} {value:.4g} {'>' if fired else '<='} "
            f"{trigger.statistic_above:g} ({seen.source})",
            value,
            trigger.statistic_above,
        )
    return TriggerResult(
        trigger.type,
        test.drifted,
        f"{what}: {'drifted' if test.drifted else 'no drift'} ({test.method} {value:.4g}, "
        f"p {test.p_value if test.p_value is None else format(test.p_value, '.3g')}, "
        f"threshold {test.threshold}) ({seen.source})",
        value,
        test.threshold,
    )


def _error_rate(
    trigger: spec_models.ErrorRateTrigger, version: str, entry: VersionReport, source: str
) -> TriggerResult:
    assert trigger.above is not None
    value = entry.error_rate or 0.0
    fired = value > trigger.above
    return TriggerResult(
        "error_rate_increase",
        fired,
        f"error rate of {version} {value:.4f} {'>' if fired else '<='} {trigger.above:g}"
        f" ({source})",
        value,
        trigger.above,
        version,
    )


def _latency(
    trigger: spec_models.LatencyTrigger, version: str, entry: VersionReport, source: str
) -> TriggerResult:
    latency = entry.latency_ms.quantiles()
    limits = (("p99", trigger.p99_ms_above), ("p95", trigger.p95_ms_above))
    for quantile, limit in limits:
        seen = latency.get(quantile)
        if limit is not None and seen is not None and seen > limit:
            return TriggerResult(
                "latency",
                True,
                f"{quantile} latency of {version} {seen:.1f} ms > {limit:g} ms ({source})",
                seen,
                limit,
                version,
            )
    shown = ", ".join(
        f"{q} {'-' if latency.get(q) is None else format(latency[q], '.1f')}"
        for q in ("p95", "p99")
    )
    named = ", ".join(f"{q} {limit:g}" for q, limit in reversed(limits) if limit is not None)
    return TriggerResult(
        "latency",
        False,
        f"latency of {version} within limits ({shown} ms; limits {named} ms) ({source})",
    )


def _performance(
    trigger: spec_models.PerformanceTrigger, version: str, entry: VersionReport, seen: Seen
) -> TriggerResult:
    measured = entry.performance.metrics().get(trigger.metric)
    if measured is None:
        return TriggerResult(
            "performance_degradation",
            False,
            f"{trigger.metric} of {version} not measured yet (no labelled records) "
            f"in {seen.source}",
        )
    return performance(trigger, measured, seen.offline, version, seen.source)


def performance(
    trigger: spec_models.PerformanceTrigger,
    measured: float,
    offline: Mapping[str, float],
    version: str,
    source: str,
) -> TriggerResult:
    """Worse than a bound: below it for accuracy-like metrics, above it for errors (mae)."""
    lower = trigger.metric in spec_models.LOWER_IS_BETTER
    if trigger.relative_drop is None:
        limit = trigger.above if lower else trigger.below
        assert limit is not None
        why = f"{'above' if lower else 'below'} {limit:g}"
    else:
        base = offline.get(trigger.metric)
        if base is None:
            return TriggerResult(
                "performance_degradation",
                False,
                f"no offline {trigger.metric} registered for {version} to compare with",
            )
        share = trigger.relative_drop
        limit = base * (1 + share) if lower else base * (1 - share)
        why = f"{share:.0%} {'over' if lower else 'under'} the offline {base:.4g}"
    fired = measured > limit if lower else measured < limit
    return TriggerResult(
        "performance_degradation",
        fired,
        f"{trigger.metric} of {version} {measured:.4f} {'is' if fired else 'is not'} "
        f"{why} ({source})",
        measured,
        limit,
        version,
    )


def error_rate_change(
    trigger: spec_models.ErrorRateTrigger, seen: Seen, version: str
) -> TriggerResult:
    """The watched version's error rate against stable's, or against the previous window."""
    assert trigger.increase_above is not None
    now_rate = seen.report.versions[version].error_rate or 0.0
    spec = seen.spec
    if trigger.compare_to == "stable":
        if version == spec.version:
            return TriggerResult("error_rate_increase", False, "no canary to compare with stable")
        base_entry = seen.report.versions.get(spec.version)
        what = f"stable {spec.version}"
    else:
        base_entry = seen.previous.versions.get(version) if seen.previous else None
        what = "the previous window"
    if base_entry is None or base_entry.error_rate is None:
        return TriggerResult("error_rate_increase", False, f"no error rate of {what} to compare")
    base = base_entry.error_rate
    rise = now_rate - base
    fired = rise > trigger.increase_above
    return TriggerResult(
        "error_rate_increase",
        fired,
        f"error rate of {version} {now_rate:.4f} vs {what} {base:.4f}: rise {rise * 100:+.2f} "
        f"points {'>' if fired else '<='} {trigger.increase_above * 100:g} ({seen.source})",
        rise,
        trigger.increase_above,
        version,
    )


def prometheus_trigger(
    trigger: spec_models.PrometheusTrigger, answers: Mapping[str, tuple[float | None, str | None]]
) -> TriggerResult:
    value, problem = answers.get(trigger.query, (None, "not queried"))
    if value is None:
        return TriggerResult("prometheus", False, f"no value: {problem or 'empty result'}")
    over = trigger.above is not None and value > trigger.above
    under = trigger.below is not None and value < trigger.below
    limit = trigger.above if over or trigger.below is None else trigger.below
    word = "above" if over else "below" if under else "within bounds, limit"
    return TriggerResult(
        "prometheus",
        over or under,
        f"{trigger.query[:80]} = {value:.6g}, {word} {limit:g}",
        value,
        limit,
    )


def evaluate_rule(
    name: str,
    rule: spec_models.RuleSpec,
    deployment: spec_models.DeploymentSpec,
    report: MonitoringReport | None,
    source: str,
    offline: dict[str, float],
    now: datetime,
    last_schedule_run: datetime | None,
    last_fired: datetime | None,
    live: Mapping[str, Any] | None = None,
) -> Evaluation:
    if not rule.enabled:
        return Evaluation(name, rule.deployment, False, "rule is disabled")
    results = [
        evaluate_trigger(t, report, source, deployment, offline, now, last_schedule_run, live)
        for t in rule.triggers
    ]
    fired = [r for r in results if r.fired]
    matched = bool(fired) if rule.conditions.match == "any" else len(fired) == len(results)
    if not matched:
        return Evaluation(name, rule.deployment, False, _why_not(rule, results), results)
    only_schedule = all(r.type == "schedule" for r in fired)
    records = report.window.records if report is not None else 0
    if not only_schedule and records < rule.conditions.min_samples:
        return Evaluation(
            name,
            rule.deployment,
            False,
            f"triggers fired but the window has {records} records < min_samples "
            f"{rule.conditions.min_samples}",
            results,
        )
    cooldown = rule.conditions.cooldown
    if cooldown and last_fired is not None and now < last_fired + cooldown:
        return Evaluation(
            name,
            rule.deployment,
            False,
            "triggers fired but the rule is cooling down until "
            f"{(last_fired + cooldown).isoformat()}",
            results,
        )
    return Evaluation(name, rule.deployment, True, "; ".join(r.explanation for r in fired), results)


def _why_not(rule: spec_models.RuleSpec, results: list[TriggerResult]) -> str:
    if rule.conditions.match == "all":
        missing = [r.explanation for r in results if not r.fired]
        return "not all triggers fired: " + "; ".join(missing)
    return "no trigger fired: " + "; ".join(r.explanation for r in results)
