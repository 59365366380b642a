"""Training on several sources: joined on keys, or stacked when their columns agree, and a data
check before training that reports every problem instead of a scikit-learn traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.support.cli import run_cli
from tests.support.git import commit_all

PIPELINE = "pipelines/cancer-train.yaml"
TRAIN_CSV = "data/train/cancer.csv"
LEFT = ["mean_radius", "mean_texture", "mean_perimeter", "mean_area", "target"]


def train(repo: Path) -> tuple[int, str]:
    done = run_cli("--repo", repo, "train", "cancer-train", "--format", "json")
    code, out = done.code, done.seen
    assert "internal error" not in out and "Traceback" not in out, out
    return code, out


def split_by_customer(repo: Path, drop_right: int = 0) -> None:
    """cancer.csv as two tables keyed by customer_id; `drop_right` rows lack the right side."""
    frame = pd.read_csv(repo / TRAIN_CSV)
    frame.insert(0, "customer_id", range(1000, 1000 + len(frame)))
    frame[["customer_id", *LEFT]].to_csv(repo / "data/train/left.csv", index=False)
    right = frame.drop(columns=LEFT).iloc[drop_right:]
    right.sample(frac=1.0, random_state=3).to_csv(repo / "data/train/right.csv", index=False)


def set_sources(repo: Path, extra: str) -> None:
    text = (repo / PIPELINE).read_text()
    start = text.index("  data_sources:\n")
    end = text.index("  features:\n")
    sources = (
        "  data_sources:\n"
        "    - {type: file, path: data/train/left.csv}\n"
        "    - {type: file, path: data/train/right.csv}\n"
    )
    (repo / PIPELINE).write_text(text[:start] + sources + extra + text[end:])


def train_split(repo: Path, extra: str, message: str, drop_right: int = 0) -> tuple[int, str]:
    """Train from cancer.csv split in two tables, the pipeline's sources plus `extra`."""
    split_by_customer(repo, drop_right)
    set_sources(repo, extra)
    commit_all(repo, message)
    return train(repo)


def test_joined_sources_train_and_record_both_in_the_lineage(repo: Path) -> None:
    code, out = train_split(repo, "  join: {on: [customer_id], how: inner}\n", "Join two tables")
    assert code == 0, out
    result = json.loads(out)
    assert result["ok"] is True
    model = yaml.safe_load((repo / "models/cancer-detector.yaml").read_text())
    entry = model["spec"]["versions"][-1]
    assert entry["version"] == result["version"]
    sources = [s["source"] for s in entry["lineage"]["data"]]
    assert sources == ["data/train/left.csv", "data/train/right.csv"]
    assert [s["rows"] for s in entry["lineage"]["data"]] == [569, 569]


def test_stacking_sources_with_different_columns_names_them(repo: Path) -> None:
    code, out = train_split(repo, "", "Forgot the join")
    assert code == 1
    assert "the data sources do not have the same columns" in out
    assert "data/train/right.csv has 'mean_compactness'" in out
    assert "lacks 'mean_area'" in out
    assert "join: {on: [<key column>]" in out  # the hint


def test_a_left_join_that_leaves_columns_empty_fails_the_data_check(repo: Path) -> None:
    left = "  join: {on: [customer_id], how: left}\n"
    code, out = train_split(repo, left, "A sparse right side", drop_right=400)  # 400 of 569
    assert code == 1
    assert "the data check failed (569 rows" in out
    assert "column 'mean_smoothness': 70.3% of the values are missing" in out
    assert "over data_checks.max_missing_share 50%" in out
    loose = (
        (repo / PIPELINE)
        .read_text()
        .replace("  join:", "  data_checks: {max_missing_share: 0.8}\n  join:")
    )
    (repo / PIPELINE).write_text(loose)
    commit_all(repo, "Accept the gaps")
    code, out = train(repo)
    assert "data check" not in out  # past the check; the trainer's NaN handling is its own


def test_rows_without_a_target_are_reported(repo: Path) -> None:
    frame = pd.read_csv(repo / TRAIN_CSV)
    frame.loc[:9, "target"] = None
    frame.to_csv(repo / TRAIN_CSV, index=False)
    commit_all(repo, "Some labels missing")
    code, out = train(repo)
    assert code == 1
    assert "target 'target': 10 of 569 rows have no value (1.8%)" in out


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ("  join: {on: [customer], how: inner}\n", "has no join column 'customer'"),
        ("  join: {on: [customer_id, target], how: inner}\n", "has no join column 'target'"),
    ],
)
def test_join_key_mistakes(repo: Path, extra: str, says: str) -> None:
    code, out = train_split(repo, extra, "A wrong key")
    assert code == 1 and says in out


def test_join_keys_of_different_kinds_are_an_error_naming_the_column(repo: Path) -> None:
    split_by_customer(repo)
    right = pd.read_csv(repo / "data/train/right.csv")
    right["customer_id"] = "C" + right["customer_id"].astype(str)
    right.to_csv(repo / "data/train/right.csv", index=False)
    set_sources(repo, "  join: {on: [customer_id], how: inner}\n")
    commit_all(repo, "Text keys on the right")
    code, out = train(repo)
    assert code == 1
    assert "data source data/train/right.csv: join column 'customer_id' holds text" in out


def test_a_joined_source_with_repeated_keys_is_refused(repo: Path) -> None:
    split_by_customer(repo)
    right = pd.read_csv(repo / "data/train/right.csv")
    pd.concat([right, right.head(3)]).to_csv(repo / "data/train/right.csv", index=False)
    set_sources(repo, "  join: {on: [customer_id], how: inner}\n")
    commit_all(repo, "Duplicated keys")
    code, out = train(repo)
    assert code == 1
    assert "data/train/right.csv has 6 rows sharing a join key" in out
