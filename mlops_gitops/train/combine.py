"""Combining a pipeline's data sources, and the data check before anything is trained.

Sources either stack (the same columns in each) or join on key columns (`join:`); either way a
mismatch is an error naming the columns, not a NaN that surfaces later inside scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from mlops_gitops.errors import MlopsError
from mlops_gitops.spec import models as spec_models

SHOWN = 10
"""Column names listed in one message before `...`."""


def _names(columns: Sequence[object]) -> str:
    shown = [repr(str(c)) for c in list(columns)[:SHOWN]]
    return ", ".join(shown) + (", ..." if len(columns) > SHOWN else "")


def combine(
    frames: Sequence[tuple[pd.DataFrame, str]], join: spec_models.Join | None
) -> pd.DataFrame:
    """One table from the sources: joined on `join.on`, else their rows stacked."""
    if join is None:
        return _stack(frames)
    data, first = frames[0]
    _keys(data, first, join.on)
    for frame, where in frames[1:]:
        _keys(frame, where, join.on)
        clash = sorted((set(data.columns) & set(frame.columns)) - set(join.on))
        if clash:
            raise MlopsError(
                f"data source {where} repeats columns of the sources before it: {_names(clash)}",
                hint="a join adds columns; select them apart in the source (or drop them)",
            )
        duplicated = frame[frame.duplicated(join.on, keep=False)]
        if len(duplicated):
            key = ", ".join(f"{k}={duplicated.iloc[0][k]!r:.80}" for k in join.on)
            raise MlopsError(
                f"data source {where} has {len(duplicated)} rows sharing a join key "
                f"(e.g. {key}); a joined source needs one row per key",
            )
        _same_key_types(data, frame, where, join.on)
        try:
            data = data.merge(frame, how=join.how, on=join.on, sort=False)
        except (ValueError, TypeError) as exc:  # keys of kinds pandas cannot compare
            raise MlopsError(
                f"data source {where}: cannot join on {_names(join.on)}: {str(exc)[:200]}"
            ) from None
    return data


def _same_key_types(data: pd.DataFrame, frame: pd.DataFrame, where: str, on: Sequence[str]) -> None:
    """pandas refuses to join a number key on a text one; say which column and source."""
    for key in on:
        left, right = data[key].dtype, frame[key].dtype
        numbers = pd.api.types.is_numeric_dtype(left), pd.api.types.is_numeric_dtype(right)
        if numbers[0] != numbers[1]:
            kinds = ["numbers" if n else "text" for n in numbers]
            raise MlopsError(
                f"data source {where}: join column {key!r} holds {kinds[1]}, the sources "
                f"before it hold {kinds[0]}; a join needs the same kind of key on both sides"
            )


def _keys(frame: pd.DataFrame, where: str, on: Sequence[str]) -> None:
    missing = [key for key in on if key not in frame.columns]
    if missing:
        raise MlopsError(
            f"data source {where} has no join column {_names(missing)} "
            f"(columns: {_names(list(frame.columns))})"
        )


def _stack(frames: Sequence[tuple[pd.DataFrame, str]]) -> pd.DataFrame:
    first, where = frames[0]
    columns = set(first.columns)
    for frame, other in frames[1:]:
        if set(frame.columns) != columns:
            extra = sorted(set(frame.columns) - columns, key=str)
            lacking = sorted(columns - set(frame.columns), key=str)
            parts = []
            if extra:
                parts.append(f"{other} has {_names(extra)} that {where} lacks")
            if lacking:
                parts.append(f"{other} lacks {_names(lacking)} that {where} has")
            raise MlopsError(
                "the data sources do not have the same columns, so their rows cannot be "
                f"stacked: {'; '.join(parts)}",
                hint="give every source the same columns, or join them: "
                "`join: {on: [<key column>], how: inner}`",
            )
    return pd.concat([frame for frame, _ in frames], ignore_index=True)


def check(data: pd.DataFrame, target: str, features: Sequence[str], limit: float) -> None:
    """Refuse data that would fail inside scikit-learn, with a report of every problem."""
    if target not in data.columns:
        raise MlopsError(
            f"target column {target!r} not in the data (columns: {_names(list(data.columns))})"
        )
    rows = len(data)
    problems = []
    if rows == 0:
        problems.append("the data has no rows")
    else:
        missing_target = int(data[target].isna().sum())
        if missing_target == rows:
            raise MlopsError(f"target column {target!r} has no values: every row is missing it")
        if missing_target:
            problems.append(
                f"target {target!r}: {missing_target} of {rows} rows have no value "
                f"({missing_target / rows:.1%})"
            )
        absent = [c for c in features if c not in data.columns]
        if absent:
            problems.append(f"feature columns not in the data: {_names(absent)}")
        shares = data[[c for c in features if c in data.columns]].isna().mean()
        for column, share in shares.items():
            if share > limit:
                problems.append(
                    f"column {str(column)!r}: {share:.1%} of the values are missing, over "
                    f"data_checks.max_missing_share {limit:.0%}"
                )
    if problems:
        report = "".join(f"\n  - {p}" for p in problems)
        raise MlopsError(
            f"the data check failed ({rows} rows, {len(features)} feature columns):{report}",
            hint="fix the sources, or raise spec.data_checks.max_missing_share",
        )
