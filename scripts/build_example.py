"""Train the example repository's models and write their artifacts, data and model specs.

Why a script: the model specs in ``example-repo/models/`` name real artifacts by sha256 and
quote their offline metrics, and the deployments monitor drift against reference data. All of
these must agree with each other, so they are produced together by one seeded run on datasets
bundled with scikit-learn (no downloads) instead of being edited by hand. The output is
byte-for-byte reproducible: re-running the script on the same library versions leaves
``git status`` clean.

Usage: ``.venv/bin/python scripts/build_example.py [--repo example-repo]``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REPO = ROOT / "example-repo"
SEED = 42
TEST_SIZE = 0.25
TARGET = "target"
# A fixed timestamp for zip members, so artifacts do not change when nothing else did.
ZIP_DATE = (2026, 1, 1, 0, 0, 0)
# Strings written unquoted in flow mappings (when YAML reads them back as the same string).
PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")

Scalar = str | int | float | bool
Params = dict[str, Scalar]


@dataclass(frozen=True)
class Dataset:
    """Features and target of one bundled dataset, with the path its CSV is written to."""

    features: pd.DataFrame
    target: pd.Series
    train_csv: str  # repo-relative


@dataclass(frozen=True)
class VersionRecipe:
    """How one model version is built; ``hyperparameters`` go both to the estimator and the spec."""

    version: str
    note: str  # one-line comment written above the version in the spec
    make: Callable[..., Any]
    hyperparameters: Params
    author: str
    created: str
    parent: str | None = None  # the version this one derives from
    tags: tuple[str, ...] = ()


DEPENDENCIES = {"scikit-learn": ">=1.4", "skops": ">=0.10"}
"""Package pins every version of the example lists: what loading its skops file needs."""


@dataclass(frozen=True)
class ModelRecipe:
    name: str
    task: str  # classification | regression
    description: str
    owner: str
    tags: tuple[str, ...]
    labels: Mapping[str, str]
    task_comment: str
    load: Callable[[], Dataset]
    versions: tuple[VersionRecipe, ...]


@dataclass(frozen=True)
class BuiltVersion:
    recipe: VersionRecipe
    artifact: str  # repo-relative
    sha256: str
    size: int
    metrics: dict[str, float]
    reference_data: str  # repo-relative
    untrusted_types: list[str]


# --- datasets -------------------------------------------------------------------------------


def snake_case(name: str) -> str:
    """``"mean concave points"`` -> ``"mean_concave_points"``."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def load_cancer() -> Dataset:
    bunch = load_breast_cancer(as_frame=True)
    frame: pd.DataFrame = bunch.data.iloc[:, :10]  # the ten "mean *" features
    frame = frame.rename(columns=snake_case)
    return Dataset(frame, bunch.target.rename(TARGET), "data/train/cancer.csv")


def load_diabetes_raw() -> Dataset:
    # scaled=False keeps physical units (age in years, bmi, blood pressure ...), which makes
    # prediction logs and drift reports readable.
    bunch = load_diabetes(as_frame=True, scaled=False)
    frame: pd.DataFrame = bunch.data.rename(columns=snake_case)
    return Dataset(frame, bunch.target.rename(TARGET), "data/train/diabetes.csv")


# --- estimators -----------------------------------------------------------------------------


def scaled_logistic(**hyperparameters: Scalar) -> Any:
    return Pipeline(
        [("scaler", StandardScaler()), ("classifier", LogisticRegression(**hyperparameters))]
    )


MODELS: tuple[ModelRecipe, ...] = (
    ModelRecipe(
        name="cancer-detector",
        task="classification",
        description="Benign/malignant classifier for breast masses from ten cell-nucleus features",
        owner="health-ml@example.com",
        tags=("oncology", "tabular"),
        labels={"team": "health-ml", "domain": "oncology"},
        task_comment="target 1 = benign, 0 = malignant",
        load=load_cancer,
        versions=(
            VersionRecipe(
                version="1.0.0",
                note="Baseline: standardized features, strongly regularized logistic regression.",
                make=scaled_logistic,
                hyperparameters={"C": 0.01, "max_iter": 1000},
                author="alice",
                created="2026-01-10",
                tags=("baseline",),
            ),
            VersionRecipe(
                version="1.1.0",
                note="Same pipeline, weaker regularization (C 0.01 -> 1.0).",
                make=scaled_logistic,
                hyperparameters={"C": 1.0, "max_iter": 1000},
                author="alice",
                created="2026-02-03",
                parent="1.0.0",
                tags=("logistic",),
            ),
            VersionRecipe(
                version="1.2.0",
                note="Small gradient boosted trees; on canary in production.",
                make=GradientBoostingClassifier,
                hyperparameters={"n_estimators": 50, "max_depth": 2, "random_state": 0},
                author="bob",
                created="2026-03-02",
                parent="1.1.0",
                tags=("boosted-trees", "candidate"),
            ),
        ),
    ),
    ModelRecipe(
        name="diabetes-progression",
        task="regression",
        description="One-year disease progression of diabetes patients from ten baseline variables",
        owner="health-ml@example.com",
        tags=("diabetes", "tabular"),
        labels={"team": "health-ml", "domain": "endocrinology"},
        task_comment="target: disease progression score one year after baseline",
        load=load_diabetes_raw,
        versions=(
            VersionRecipe(
                version="1.0.0",
                note="Linear baseline.",
                make=Ridge,
                hyperparameters={"alpha": 1.0},
                author="carol",
                created="2026-01-15",
                tags=("baseline",),
            ),
            VersionRecipe(
                version="2.0.0",
                note="Random forest: a new model family, hence the major version.",
                make=RandomForestRegressor,
                hyperparameters={"n_estimators": 30, "max_depth": 4, "random_state": 0},
                author="carol",
                created="2026-02-20",
                parent="1.0.0",
                tags=("random-forest",),
            ),
        ),
    ),
)


# --- metrics --------------------------------------------------------------------------------


def classification_metrics(model: Any, x: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    predicted = model.predict(x)
    score = model.predict_proba(x)[:, 1]
    values = {
        "accuracy": accuracy_score(y, predicted),
        "precision": precision_score(y, predicted),
        "recall": recall_score(y, predicted),
        "f1": f1_score(y, predicted),
        "roc_auc": roc_auc_score(y, score),
    }
    return {name: round(float(value), 4) for name, value in values.items()}


def regression_metrics(model: Any, x: pd.DataFrame, y: pd.Series) -> dict[str, float]:
    predicted = model.predict(x)
    values = {
        "mae": mean_absolute_error(y, predicted),
        "rmse": math.sqrt(float(mean_squared_error(y, predicted))),
        "r2": r2_score(y, predicted),
    }
    return {name: round(float(value), 4) for name, value in values.items()}


# --- files ----------------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, lineterminator="\n")


def _renumber(node: Any, ids: dict[str, str]) -> Any:
    """Replace the memory addresses skops uses as object ids by their order of appearance."""
    if isinstance(node, list):
        return [_renumber(item, ids) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "__id__" and isinstance(value, int):
            out[key] = int(ids.setdefault(str(value), str(len(ids))))
        elif key == "file" and isinstance(value, str):
            stem, dot, ext = value.partition(".")
            out[key] = ids.setdefault(stem, str(len(ids))) + dot + ext
        else:
            out[key] = _renumber(value, ids)
    return out


def reproducible_skops(model: Any) -> bytes:
    """``skops.io.dump`` the model, then normalize the zip so equal models give equal bytes.

    skops names array members and ``__id__`` fields after ``id()`` of the objects and stamps
    members with the current time; both are rewritten to stable values. The caller checks the
    result still loads and predicts the same.
    """
    buffer = io.BytesIO()
    sio.dump(model, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    ids: dict[str, str] = {}
    schema = _renumber(json.loads(source.read("schema.json")), ids)
    members = {"schema.json": json.dumps(schema, indent=2).encode()}
    for name in source.namelist():
        if name != "schema.json":
            stem, dot, ext = name.partition(".")
            members[ids[stem] + dot + ext] = source.read(name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, members[name])
    return out.getvalue()


def check_artifact(path: Path, model: Any, x: pd.DataFrame) -> list[str]:
    """Load the artifact the way a careful user would and compare its predictions."""
    untrusted: list[str] = sorted(set(sio.get_untrusted_types(file=path)))
    loaded = sio.load(path, trusted=untrusted)
    if not np.array_equal(loaded.predict(x), model.predict(x)):
        raise SystemExit(f"{path}: the loaded model predicts differently")
    if list(loaded.feature_names_in_) != list(x.columns):
        raise SystemExit(f"{path}: feature names were not recorded")
    return untrusted


# --- the model spec, rendered as text so it carries comments --------------------------------


def yaml_scalar(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if "e" in text or "." not in text:  # PyYAML reads "1e-05" as a string
            text = f"{value:.10f}".rstrip("0")
        return text
    if PLAIN.fullmatch(value) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)  # a JSON string is a valid double-quoted YAML scalar


def flow(mapping: Mapping[str, Scalar]) -> str:
    return "{" + ", ".join(f"{key}: {yaml_scalar(v)}" for key, v in mapping.items()) + "}"


def render_version(built: BuiltVersion, data: Dataset, data_sha: str, task: str) -> list[str]:
    recipe = built.recipe
    lines = [
        f"    # {recipe.note}",
        f"    - version: {json.dumps(recipe.version)}",
        f"      artifact: {built.artifact}",
        "      format: skops",
        f"      sha256: {json.dumps(built.sha256)}",
    ]
    if built.untrusted_types:  # exact names: skops trusts its defaults and these, nothing more
        lines.append("      trusted_types:  # beyond skops' defaults")
        lines += [f"        - {name}" for name in built.untrusted_types]
    lines += [
        f"      metrics:  # {task} metrics on the held-out 25% split (seed {SEED})",
    ]
    lines += [f"        {name}: {yaml_scalar(value)}" for name, value in built.metrics.items()]
    lines += [
        f"      hyperparameters: {flow(recipe.hyperparameters)}",
        "      training_data:",
        f"        uri: {data.train_csv}",
        f"        sha256: {json.dumps(data_sha)}",
        f"      reference_data: {built.reference_data}  # drift baseline: the test split",
        f"      author: {recipe.author}",
        f"      created: {json.dumps(recipe.created)}",
    ]
    if recipe.parent:
        lines.append(f"      parent: {json.dumps(recipe.parent)}")
    if recipe.tags:
        lines.append(f"      tags: [{', '.join(recipe.tags)}]")
    lines.append(f"      dependencies: {flow(DEPENDENCIES)}")
    return lines


def render_model_spec(
    recipe: ModelRecipe, data: Dataset, data_sha: str, built: Sequence[BuiltVersion]
) -> str:
    lines = [
        "# yaml-language-server: $schema=../../schemas/model.schema.json",
        "#",
        f"# {recipe.name}: every version of the model with its artifact, metrics and lineage.",
        "#",
        "# Generated by scripts/build_example.py, which trains each version on a dataset bundled",
        "# with scikit-learn and fills in the sha256, metrics and data files below. Re-running",
        "# the script overwrites this file; it is reproducible, so nothing changes unless the",
        "# recipe or the library versions did.",
        "apiVersion: mlops-gitops/v1",
        "kind: Model",
        "metadata:",
        f"  name: {recipe.name}",
        f"  labels: {flow(recipe.labels)}",
        "spec:",
        f"  description: {recipe.description}",
        f"  owner: {recipe.owner}",
        "  framework: sklearn",
        f"  task: {recipe.task}  # {recipe.task_comment}",
        f"  tags: [{', '.join(recipe.tags)}]",
        "  versions:",
    ]
    for index, version in enumerate(built):
        if index:
            lines.append("")
        lines += render_version(version, data, data_sha, recipe.task)
    return "\n".join(lines) + "\n"


def expected_spec(
    recipe: ModelRecipe, data: Dataset, data_sha: str, built: Sequence[BuiltVersion]
) -> dict[str, Any]:
    """The same spec as plain data, to check the rendered text parses back to exactly this."""
    versions = [
        {
            "version": b.recipe.version,
            "artifact": b.artifact,
            "format": "skops",
            "sha256": b.sha256,
            **({"trusted_types": b.untrusted_types} if b.untrusted_types else {}),
            "metrics": b.metrics,
            "hyperparameters": b.recipe.hyperparameters,
            "training_data": {"uri": data.train_csv, "sha256": data_sha},
            "reference_data": b.reference_data,
            "author": b.recipe.author,
            "created": b.recipe.created,
        }
        for b in built
    ]
    return {
        "apiVersion": "mlops-gitops/v1",
        "kind": "Model",
        "metadata": {"name": recipe.name, "labels": dict(recipe.labels)},
        "spec": {
            "description": recipe.description,
            "owner": recipe.owner,
            "framework": "sklearn",
            "task": recipe.task,
            "tags": list(recipe.tags),
            "versions": versions,
        },
    }


# --- the build ------------------------------------------------------------------------------


def build_version(
    repo: Path,
    recipe: ModelRecipe,
    version: VersionRecipe,
    split: tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series],
) -> BuiltVersion:
    x_train, x_test, y_train, y_test = split
    model = version.make(**version.hyperparameters)
    model.fit(x_train, y_train)
    measure = classification_metrics if recipe.task == "classification" else regression_metrics
    metrics = measure(model, x_test, y_test)

    artifact = f"artifacts/{recipe.name}/{version.version}/model.skops"
    path = repo / artifact
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(reproducible_skops(model))
    untrusted = check_artifact(path, model, x_test)

    reference = f"data/reference/{recipe.name}-{version.version}.csv"
    write_csv(x_test.assign(**{TARGET: y_test}), repo / reference)
    return BuiltVersion(
        recipe=version,
        artifact=artifact,
        sha256=sha256_of(path),
        size=path.stat().st_size,
        metrics=metrics,
        reference_data=reference,
        untrusted_types=untrusted,
    )


def build_model(repo: Path, recipe: ModelRecipe) -> list[BuiltVersion]:
    data = recipe.load()
    train_csv = repo / data.train_csv
    write_csv(data.features.assign(**{TARGET: data.target}), train_csv)
    data_sha = sha256_of(train_csv)
    x_train, x_test, y_train, y_test = train_test_split(
        data.features, data.target, test_size=TEST_SIZE, random_state=SEED
    )
    split = (x_train, x_test, y_train, y_test)
    built = [build_version(repo, recipe, version, split) for version in recipe.versions]

    text = render_model_spec(recipe, data, data_sha, built)
    if yaml.safe_load(text) != expected_spec(recipe, data, data_sha, built):
        raise SystemExit(f"{recipe.name}: the rendered spec does not parse back to its data")
    spec_path = repo / "models" / f"{recipe.name}.yaml"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(text, encoding="utf-8")
    return built


def summarize(results: Mapping[str, Sequence[BuiltVersion]]) -> str:
    lines = []
    for name, built in results.items():
        for b in built:
            metrics = ", ".join(f"{key}={value}" for key, value in b.metrics.items())
            lines.append(
                f"{name} {b.recipe.version}: {b.size / 1024:.0f} KiB sha256 {b.sha256[:12]}  "
                f"{metrics}"
            )
            if b.untrusted_types:
                lines.append(f"    types skops does not trust by default: {b.untrusted_types}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repo", type=Path, default=DEFAULT_REPO, help="example repo to write")
    args = parser.parse_args(argv)
    repo: Path = args.repo
    np.random.seed(SEED)  # every estimator has its own random_state; this is belt and braces
    results = {recipe.name: build_model(repo, recipe) for recipe in MODELS}
    print(summarize(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
