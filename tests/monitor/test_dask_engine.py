"""`monitoring.engine: dask`: the same summaries computed by the workers of a real Dask cluster
(a LocalCluster of two worker processes), merged on the client, equal to the local engine's."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_gitops import api
from mlops_gitops.errors import MlopsError
from mlops_gitops.monitor import engine
from tests.monitor.helpers import NOW, MonitorRepo, append, jsonl, read_report
from tests.monitor.test_summaries import LOGS, make, traffic

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        yield str(cluster.scheduler_address)


def on_dask(spec: MonitorRepo, address: str) -> None:
    spec.write(
        "mlops.yaml",
        {
            "apiVersion": "mlops-gitops/v1",
            "kind": "Project",
            "metadata": {"name": "monitor-test"},
            "spec": {"monitoring": {"engine": "dask", "dask_scheduler": address}},
        },
    )


def close(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats to 1e-9 (sums merge in another order on the cluster)."""
    if isinstance(a, dict):
        assert sorted(a) == sorted(b), path
        for key in a:
            close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (path, a, b)
    else:
        assert a == b, (path, a, b)


def both(tmp_path: Path, address: str, monitoring: dict[str, Any]) -> dict[str, dict[str, Any]]:
    early = traffic(1_500, seed=5, start=0)
    late = traffic(1_500, seed=6, start=700, shift=0.8)
    reports = {}
    for kind in ("local", "dask"):
        spec = make(tmp_path, kind, monitoring)
        if kind == "dask":
            on_dask(spec, address)
        append(spec.root / LOGS / "a.jsonl", jsonl(early))
        append(spec.root / LOGS / "b.jsonl", jsonl(late))
        (outcome,) = [
            o for o in api.monitor(spec.root, now=NOW, commit=False) if o.deployment == "clf-prod"
        ]
        assert outcome.changed and outcome.new_records == 3_000
        report = read_report(spec.root, "clf-prod")
        report["drift"]["policy"].pop("reference_sha256", None)
        reports[kind] = report
    return reports


def test_dask_equals_local_below_the_exact_limit(tmp_path: Path, dask_cluster: str) -> None:
    reports = both(tmp_path, dask_cluster, {"window": {"records": 2_000}})
    assert reports["dask"]["window"]["records"] == 2_000
    close(reports["local"], reports["dask"])


def test_dask_equals_local_within_the_sketch_bound(tmp_path: Path, dask_cluster: str) -> None:
    settings = {
        "window": {"records": 2_500},
        "exact_max_records": 400,
        "drift": {"features": {"x": {"method": "ks"}}},
    }
    reports = both(tmp_path, dask_cluster, settings)
    local, dask = reports["local"], reports["dask"]
    assert local["window"] == dask["window"] and dask["window"]["records"] == 2_500
    for version in ("1.0.0", "1.1.0"):
        assert local["versions"][version]["records"] == dask["versions"][version]["records"]
    x_local, x_dask = local["drift"]["features"]["x"], dask["drift"]["features"]["x"]
    assert x_dask["details"]["current"].startswith("KLL sketch")
    bound = x_local["details"]["statistic_error_bound"] + x_dask["details"]["statistic_error_bound"]
    assert abs(x_local["statistic"] - x_dask["statistic"]) <= bound
    assert x_local["details"]["histogram"] == x_dask["details"]["histogram"]
    assert local["drift"]["features"]["colour"] == dask["drift"]["features"]["colour"]


def test_an_unreachable_scheduler_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", "0.5s")
    spec = make(tmp_path, "nowhere", {})
    on_dask(spec, "tcp://127.0.0.1:9")
    append(spec.root / LOGS / "a.jsonl", jsonl(traffic(10, seed=7)))
    with pytest.raises(
        MlopsError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
    ):
        api.monitor(spec.root, now=NOW, commit=False)


def test_dask_counts_data_quality_like_local(tmp_path: Path, dask_cluster: str) -> None:
    from tests.monitor.test_data_quality import messy

    records = messy(2_000)
    sections = {}
    for kind in ("local", "dask"):
        spec = make(tmp_path, kind, {"window": {"records": 5_000}})
        if kind == "dask":
            on_dask(spec, dask_cluster)
        append(spec.root / LOGS / "a.jsonl", jsonl(records[:900]))
        append(spec.root / LOGS / "b.jsonl", jsonl(records[900:]))
        api.monitor(spec.root, now=NOW, commit=False)
        sections[kind] = read_report(spec.root, "clf-prod")["data_quality"]
    close(sections["local"], sections["dask"])
    assert sections["dask"]["features"]["x"]["type_violations"] == 40
    assert sections["dask"]["features"]["colour"]["unseen_categories"] == 40
    assert sections["dask"]["schema"]["new_columns"] == ["session"]
