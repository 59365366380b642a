"""Markdown rendering of a monitoring report (Jinja2 templates shipped in the package)."""

from __future__ import annotations

from typing import Any


def _severity(item: tuple[str, dict[str, Any]]) -> tuple[int, float, str]:
    """Drifted first; then by how far past the threshold (p-values: smaller is worse)."""
    name, result = item
    statistic = result.get("statistic") or 0.0
    threshold = result.get("threshold") or 1.0
    if result.get("p_value") is not None:
        score = threshold / max(result["p_value"], 1e-300)
    else:
        score = statistic / threshold if threshold else statistic
    return (0 if result.get("drifted") else 1, -score, name)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _text(value: Any) -> str:
    """Text from the logs (versions, feature names, file names, errors) on one line, inert in
    Markdown tables and HTML."""
    text = " ".join(str(value).split())
    for raw, safe in (("|", "\\|"), ("<", "&lt;"), (">", "&gt;"), ("`", "'")):
        text = text.replace(raw, safe)
    return text


PERFORMANCE_KEYS = ("accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse", "r2")


def _perf(performance: dict[str, Any]) -> str:
    return ", ".join(f"{k} {_fmt(performance[k])}" for k in PERFORMANCE_KEYS if k in performance)


def recommendations(report: dict[str, Any]) -> list[str]:
    tips = []
    drift = report["drift"]
    if drift.get("dataset_drift"):
        tips.append(
            f"Dataset drift: {drift['share_drifted']:.0%} of features drifted. Check the inputs "
            "upstream, and consider retraining on recent data."
        )
    comparison = report.get("comparison") or {}
    for metric in ("error_rate", "accuracy"):
        test = comparison.get(metric) or {}
        p_value = test.get("p_value")
        if p_value is not None and p_value < 0.05:
            better = (test["difference"] < 0) == (metric == "error_rate")
            verdict = "better" if better else "worse"
            advice = "consider promoting it" if better else "consider rolling back"
            tips.append(
                f"The canary's {metric.replace('_', ' ')} is significantly {verdict} than stable "
                f"(p = {p_value:.3g}); {advice}."
            )
    quality = report["data_quality"]
    schema = quality.get("schema") or {}
    if schema.get("changes"):
        tips.append(
            f"Schema change: {schema['changes']} column(s) missing from or added to the "
            "reference; check the feature pipeline before trusting the drift numbers."
        )
    if (quality.get("invalid_share") or 0) > 0:
        tips.append(
            f"Up to {quality['invalid_share']:.1%} of a feature's values are invalid (wrong type, "
            "out of the reference range or an unseen category); see Data quality."
        )
    malformed = report["data_quality"]["malformed_records"]
    if malformed:
        were = "malformed log record was" if malformed == 1 else "malformed log records were"
        tips.append(f"{malformed} {were} skipped; see Data quality.")
    if report["window"]["labelled"] == 0:
        tips.append("No labels joined yet: performance metrics appear once ground truth arrives.")
    return tips or ["Nothing needs attention."]


def render_markdown(
    report: dict[str, Any], charts: dict[str, str], service: dict[str, str] | None = None
) -> str:
    """`charts`: feature -> drift chart; `service`: "latency" and "volume" -> their charts."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlops_gitops.monitor", "templates"),
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["fmt"] = _fmt
    env.filters["perf"] = _perf
    env.filters["text"] = _text
    features = sorted(report["drift"]["features"].items(), key=_severity)
    return env.get_template("latest.md.j2").render(
        report=report,
        features=features,
        charts=charts,
        service=service or {},
        recommendations=recommendations(report),
    )
