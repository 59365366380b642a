"""Running a training pipeline and committing the new version into the model's spec.

Transformations are fitted on the training split and bundled with the trainer's model into
one scikit-learn Pipeline, so the stored artifact predicts from raw features exactly as
the server receives them. Evaluation uses the monitoring metric code, so offline and live
numbers mean the same thing.

Version bump rule: the new version is the highest existing version with its minor part
increased and patch reset (1.2.0 -> 1.3.0; 2 -> 2.1); when no version is numeric, the last one
gets the first free `-retrain.N` suffix (v1 -> v1-retrain.1, then v1-retrain.2).
"""

from __future__ import annotations

import importlib
import math
import re
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops_gitops import fsguard, git, progress
from mlops_gitops.errors import MlopsError
from mlops_gitops.monitor import metrics
from mlops_gitops.providers.artifacts import hash_file
from mlops_gitops.providers.scan import scan, trusted_types
from mlops_gitops.safeio import dumps
from mlops_gitops.spec import models as spec_models
from mlops_gitops.spec.edit import SpecEditor
from mlops_gitops.spec.trainpolicy import blocked_canary
from mlops_gitops.train import lineage, sources
from mlops_gitops.train.combine import check, combine
from mlops_gitops.workspace import Workspace


@dataclass
class TrainResult:
    pipeline: str
    model: str
    ok: bool
    version: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    commit: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"format_version": "1", **asdict(self)}


def next_version(existing: list[str]) -> str:
    numeric = []
    for version in existing:
        if re.fullmatch(r"\d+(\.\d+)*", version):
            numeric.append(tuple(int(p) for p in version.split(".")))
    if numeric:
        top = max(numeric)
        parts = [*top, *[0] * max(0, 2 - len(top))]
        parts[1] += 1
        parts[2:] = [0] * (len(parts) - 2)
        return ".".join(str(p) for p in parts)
    base = re.sub(r"-retrain\.\d+$", "", existing[-1])  # v1-retrain.1 -> v1-retrain.2
    n = 1
    while f"{base}-retrain.{n}" in existing:
        n += 1
    return f"{base}-retrain.{n}"


def _preprocessor(spec: spec_models.Features, columns: list[str]) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectKBest, VarianceThreshold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import (
        MinMaxScaler,
        OneHotEncoder,
        OrdinalEncoder,
        RobustScaler,
        StandardScaler,
    )

    transformers: list[tuple[str, Any, list[str]]] = []
    used: set[str] = set()
    selection = []
    for t in spec.transformations:
        if isinstance(t, spec_models.ScalingTransform):
            scaler = {"standard": StandardScaler, "minmax": MinMaxScaler, "robust": RobustScaler}
            transformers.append((f"scale{len(transformers)}", scaler[t.method](), t.columns))
            used.update(t.columns)
        elif isinstance(t, spec_models.EncodingTransform):
            encoder = (
                OneHotEncoder(handle_unknown="ignore", sparse_output=False)
                if t.method == "onehot"
                else OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
            )
            transformers.append((f"encode{len(transformers)}", encoder, t.columns))
            used.update(t.columns)
        elif isinstance(t, spec_models.FeatureSelectionTransform):
            if t.method == "variance":
                selection.append(("select", VarianceThreshold(threshold=t.threshold or 0.0)))
            else:
                selection.append(("select", SelectKBest(k=t.k or 10)))
    missing = sorted(used - set(columns))
    if missing:
        raise MlopsError(f"transformations name columns not in the data: {missing}")
    prep = ColumnTransformer(transformers, remainder="passthrough", verbose_feature_names_out=False)
    prep.set_output(transform="pandas")
    steps: list[tuple[str, Any]] = [("columns", prep), *selection]
    return Pipeline(steps).set_output(transform="pandas")


def _trainer(entrypoint: str, repo_root: Path) -> Any:
    """The trainer function, imported afresh from this repository's current files.

    A module of the same name imported earlier in this process, from another repository
    (or an older checkout of this one), must not answer: it is dropped and imported again.
    """
    module_name, _, function = entrypoint.partition(":")
    root = str(repo_root.resolve())
    if root in sys.path:
        sys.path.remove(root)
    sys.path.insert(0, root)
    top = module_name.split(".")[0]
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        where = getattr(sys.modules[name], "__file__", None) or ""
        if where and not where.startswith(root + "/") and _provides(repo_root, top):
            del sys.modules[name]
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
        module = importlib.reload(module)  # this repository's file as it is now
        return getattr(module, function)
    except (ImportError, AttributeError) as exc:
        raise MlopsError(f"trainer {entrypoint}: {exc}") from None


def _provides(repo_root: Path, top: str) -> bool:
    """The repository has its own package or module `top`."""
    return (repo_root / top).is_dir() or (repo_root / f"{top}.py").is_file()


def run(workspace: Workspace, name: str, now: datetime, commit: bool = True) -> TrainResult:
    with progress.task(f"train {name}") as task:
        return _run(workspace, name, now, commit, task)


def _run(
    workspace: Workspace, name: str, now: datetime, commit: bool, task: progress.Task
) -> TrainResult:
    pipeline = workspace.manifest.pipelines.get(name)
    if pipeline is None:
        raise MlopsError(f"training pipeline {name!r} is not defined in the specs")
    spec = pipeline.spec
    model = workspace.manifest.models[spec.model]
    root = workspace.root
    _check_editable(workspace, spec)
    try:
        import sklearn  # noqa: F401
        import skops.io  # noqa: F401
    except ImportError:
        raise MlopsError(
            "training needs scikit-learn and skops: pip install 'mlops-gitops[sklearn]'"
        ) from None
    result = TrainResult(name, spec.model, False)
    task.stage(f"train {name}: loading data")
    data, lineage_sources = _load_data(workspace, spec)
    task.stage(f"train {name}: fitting")
    fitted = _fit(workspace, name, spec, data, lineage_sources, commit)
    task.stage(f"train {name}: evaluating")
    result.metrics, result.failures = _evaluate(model.spec.task, spec, fitted)
    if result.failures:
        if commit:
            result.commit = lineage.record_failure(
                root,
                name,
                spec.model,
                result.failures,
                lineage_sources,
                workspace.project.git.author,
            )
        return result
    version = next_version([v.version for v in model.spec.versions])
    result.version = version
    head = git.head(root)
    result.files = _write_version(workspace, name, spec, fitted, version, now, head, result)
    result.ok = True
    if commit and git.is_repo(root):
        message = (
            f"mlops-gitops: train {name} -> {spec.model} {version}\n\n"
            + "".join(f"- {k}: {v}\n" for k, v in result.metrics.items())
            + f"\nMlops-Train: {name}\nMlops-Version: {spec.model} {version}\n"
            + (f"Mlops-Spec-Commit: {head}\n" if head else "")
        )
        result.commit = git.commit(root, result.files, message, workspace.project.git.author)
    return result


def _load_data(
    workspace: Workspace, spec: spec_models.TrainingPipelineSpec
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """The data sources joined or stacked, with the lineage of each, checked before training
    (target present, missing shares under the limit)."""
    frames: list[pd.DataFrame] = []
    names: list[str] = []
    lineage_sources: list[dict[str, Any]] = []
    security = workspace.project.security
    for source in spec.data_sources:
        frame, where = sources.load(source, workspace.root, security)
        frames.append(frame)
        names.append(where)
        lineage_sources.append(lineage.data_source(source, frame, where, workspace.root, security))
    data = combine(list(zip(frames, names, strict=True)), spec.join)
    check(data, spec.features.target, _features(spec, data), spec.data_checks.max_missing_share)
    return data, lineage_sources


def _features(spec: spec_models.TrainingPipelineSpec, data: pd.DataFrame) -> list[str]:
    """The named feature columns, or every column but the target and the join keys."""
    keys = set(spec.join.on) if spec.join else set()  # identifiers, not features
    target = spec.features.target
    return spec.features.columns or [c for c in data.columns if c != target and c not in keys]


@dataclass
class _Fitted:
    bundle: Any
    """The fitted preprocessing and model as one scikit-learn Pipeline."""
    trainer: Any
    X_test: pd.DataFrame
    y_test: pd.Series
    classes: int
    lineage: list[dict[str, Any]]
    """Where the data came from, for the version's lineage."""


def _fit(
    workspace: Workspace,
    name: str,
    spec: spec_models.TrainingPipelineSpec,
    data: pd.DataFrame,
    lineage_sources: list[dict[str, Any]],
    commit: bool,
) -> _Fitted:
    """Split, fit the preprocessing and the trainer (user code: its failure is recorded)."""
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline

    target = spec.features.target
    features = _features(spec, data)
    X, y = data[features], data[target]
    stratify = y if spec.split.stratify else None
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=spec.split.test_size, random_state=spec.split.seed, stratify=stratify
    )
    prep = _preprocessor(spec.features, features)
    Xt_train = prep.fit_transform(X_train, y_train)
    train = _trainer(spec.trainer.entrypoint, workspace.root)
    try:
        fitted = train(Xt_train, y_train, **spec.trainer.hyperparameters)
    except Exception as exc:  # the trainer is user code: its failure is a failed run, not our bug
        failure = f"trainer {spec.trainer.entrypoint} raised {type(exc).__name__}: {exc}"
        recorded = None
        if commit:
            recorded = lineage.record_failure(
                workspace.root,
                name,
                spec.model,
                [failure],
                lineage_sources,
                workspace.project.git.author,
            )
        note = f" (failed run recorded in commit {recorded[:12]})" if recorded else ""
        raise MlopsError(failure + note) from None
    if not callable(getattr(fitted, "predict", None)):
        raise MlopsError(
            f"trainer {spec.trainer.entrypoint} returned {type(fitted).__name__},"
            " not a fitted estimator (an object with a predict method)"
        )
    bundle = Pipeline([("prep", prep), ("model", fitted)])
    return _Fitted(bundle, train, X_test, y_test, int(y.nunique()), lineage_sources)


def _evaluate(
    task: str, spec: spec_models.TrainingPipelineSpec, fitted: _Fitted
) -> tuple[dict[str, Any], list[str]]:
    """The metrics kept in the version (rounded, finite) and the thresholds it misses."""
    bundle, X_test, y_test = fitted.bundle, fitted.X_test, fitted.y_test
    predictions = bundle.predict(X_test)
    if task == "classification":
        scores = None
        if hasattr(bundle, "predict_proba") and fitted.classes == 2:
            scores = np.asarray(bundle.predict_proba(X_test))[:, 1]
        evaluated = metrics.classification(np.asarray(y_test), np.asarray(predictions), scores)
    else:
        evaluated = metrics.regression(
            np.asarray(y_test, dtype=float), np.asarray(predictions, dtype=float)
        )
    wanted = spec.evaluation.metrics or [k for k, v in evaluated.items() if isinstance(v, float)]
    # A metric that is not a number (roc_auc of one class) is left out: specs hold no NaN.
    finite = {k: float(evaluated[k]) for k in wanted if k in evaluated}
    kept = {k: round(v, 4) for k, v in finite.items() if math.isfinite(v)}
    failures = []
    for metric, threshold in sorted(spec.evaluation.thresholds.items()):
        value = evaluated.get(metric)
        if value is None or not threshold.check(float(value)):
            shown = "not computed" if value is None else f"{float(value):.4f}"
            failures.append(f"{metric} {threshold}: {shown}")
    return kept, failures


def _write_version(
    workspace: Workspace,
    name: str,
    spec: spec_models.TrainingPipelineSpec,
    fitted: _Fitted,
    version: str,
    now: datetime,
    head: str | None,
    result: TrainResult,
) -> list[str]:
    """Write the artifact and reference data, check the artifact as `plan` will, then add
    the version to the model's spec (and the canary to its deployment). Returns the files."""
    import skops.io

    root = workspace.root
    artifact_rel = f"artifacts/{spec.model}/{version}/model.skops"
    reference_rel = f"data/reference/{spec.model}-{version}.csv"
    artifact = root / artifact_rel
    fsguard.write(root, artifact, skops.io.dumps(fitted.bundle))
    reference = fitted.X_test.copy()
    reference[spec.features.target] = fitted.y_test
    fsguard.write(root, root / reference_rel, reference.to_csv(index=False).encode())
    files = [artifact_rel, reference_rel]
    entry = {
        "version": version,
        "artifact": artifact_rel,
        "format": "skops",
        "sha256": hash_file(artifact_rel, root)[0],
        "metrics": result.metrics,
        "hyperparameters": spec.trainer.hyperparameters,
        "reference_data": reference_rel,
        "author": "mlops-gitops",
        "created": now.date().isoformat(),
        "dependencies": lineage.library_pins(),
        "lineage": {
            "pipeline": name,
            "commit": head,
            "data": fitted.lineage,
            "trainer": lineage.trainer(spec.trainer.entrypoint, fitted.trainer, root),
        },
    }
    data_ref = lineage.training_data(list(spec.data_sources), fitted.lineage)
    if data_ref is not None:
        entry["training_data"] = data_ref
    # The exact types beyond skops' defaults this model needs, listed in the new version
    # (reviewable in the commit), then the file checked as `plan` will check it.
    needed = sorted(set(skops.io.get_untrusted_types(file=artifact)))
    if needed:
        entry["trusted_types"] = needed
    checked = scan(artifact, "skops", trusted_types(spec_models.ModelVersion.model_validate(entry)))
    if checked.verdict != "clean":
        for written in files:
            (root / written).unlink(missing_ok=True)
        raise MlopsError(
            f"the trained artifact {artifact_rel} does not pass the security scan:"
            f" {'; '.join(checked.findings)}"
        )
    model_source = workspace.manifest.sources[f"Model/{spec.model}"]
    if model_source.endswith(".j2"):
        raise MlopsError(f"{model_source} is a template; cannot add the version to it")
    text = (root / model_source).read_text(encoding="utf-8")
    fsguard.write(root, root / model_source, append_version(text, model_source, entry).encode())
    files.append(model_source)
    if spec.canary is not None:
        files.append(_canary(workspace, spec.canary, version))
        deployment = workspace.manifest.deployments[spec.canary.deployment].spec
        policies = workspace.project.policies
        for reason in blocked_canary(policies, deployment, spec.canary.traffic):
            result.warnings.append(
                f"the canary in {spec.canary.deployment!r} stays blocked: {reason}"
            )
    return files


def _check_editable(workspace: Workspace, spec: spec_models.TrainingPipelineSpec) -> None:
    """Refuse before writing anything when the files to edit are templates."""
    model_source = workspace.manifest.sources[f"Model/{spec.model}"]
    if model_source.endswith(".j2"):
        raise MlopsError(f"{model_source} is a template; train cannot add a version to it")
    if spec.canary is not None:
        source = workspace.manifest.sources.get(f"Deployment/{spec.canary.deployment}", "")
        if source.endswith(".j2"):
            raise MlopsError(f"{source} is a template; train cannot put a canary in it")


def append_version(text: str, path: str, entry: dict[str, Any]) -> str:
    """Append a version item to spec.versions, matching the list's indentation."""
    editor = SpecEditor(text, path)
    editor.append_item(
        ("spec", "versions"),
        entry,
        note=f"Trained by mlops-gitops (pipeline {entry['lineage']['pipeline']}).",
    )
    return editor.text


def _canary(workspace: Workspace, target: spec_models.CanaryTarget, version: str) -> str:
    source = workspace.manifest.sources.get(f"Deployment/{target.deployment}")
    if source is None or source.endswith(".j2"):
        raise MlopsError(f"deployment {target.deployment!r} cannot be edited")
    deployment = workspace.manifest.deployments[target.deployment]
    editor = SpecEditor((workspace.root / source).read_text(encoding="utf-8"), source)
    if deployment.spec.canary is not None:
        editor.set_scalar(("spec", "canary", "version"), version)
        editor.set_scalar(("spec", "canary", "traffic"), target.traffic)
    else:
        editor.insert_key(
            ("spec",),
            "canary",
            dumps({"version": version, "traffic": target.traffic})
            .replace('"version"', "version")
            .replace('"traffic"', "traffic"),
        )
    fsguard.write(workspace.root, workspace.root / source, editor.text.encode())
    return source
