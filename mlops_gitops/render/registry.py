"""The registry view (`models`) and a version's lineage as text and JSON."""

from __future__ import annotations

from typing import Any

from mlops_gitops.render.base import Lines, Paint, document, plain


def models_text(report: dict[str, Any], paint: Paint = plain) -> str:
    out = Lines(paint)
    if not report["versions"]:
        out.add("No model versions match.")
        return out.text()
    rows: list[tuple[str, ...]] = [
        ("MODEL", "VERSION", "STATUS", "OWNER", "TAGS", "PARENT", "CREATED")
    ]
    for item in report["versions"]:
        rows.append(
            (
                item["model"],
                item["version"],
                item["status"],
                item["owner"] or "-",
                ",".join(item["tags"]) or "-",
                item["parent"] or "-",
                item["created"] or "-",
            )
        )
    out.table(rows, {2: {"production": "green", "archived": "dim", "deprecated": "yellow"}})
    return out.text()


def models_json(report: dict[str, Any]) -> str:
    return document(report)


def lineage_text(report: dict[str, Any], paint: Paint = plain) -> str:
    out = Lines(paint)
    out.add(f"{report['model']}@{report['version']}", "bold")
    chain = " <- ".join(f"{p['model']}@{p['version']}" for p in report["parents"])
    out.add(f"  parents:       {chain or '-'}")
    children = ", ".join(f"{c['model']}@{c['version']}" for c in report["children"])
    if children:
        out.add(f"  children:      {children}")
    out.add(f"  pipeline:      {report['pipeline'] or '-'}")
    out.add(f"  spec commit:   {report['spec_commit'] or '-'}")
    if report["trained_at_commit"]:
        out.add(f"  trained at:    {report['trained_at_commit']}")
    artifact = report["artifact"]
    out.add(f"  artifact:      {artifact['path'] or '-'} sha256 {artifact['sha256'] or '-'}")
    if report["training_data"]:
        data = report["training_data"]
        out.add(f"  training data: {data['uri']} sha256 {data.get('sha256') or '-'}")
    for source in report["data"]:
        count = f", {source['rows']} rows" if source.get("rows") is not None else ""
        out.add(f"  data source:   {source.get('source')} sha256 {source.get('sha256')}{count}")
    if report["trainer"]:
        trainer = report["trainer"]
        out.add(f"  trainer:       {trainer.get('entrypoint')} sha256 {trainer.get('sha256')}")
    pins = ", ".join(f"{name}{pin}" for name, pin in sorted(report["dependencies"].items()))
    out.add(f"  dependencies:  {pins or '-'}")
    if report["registered_at"]:
        out.add(f"  registered:    {report['registered_at']}")
    if report["archived_at"]:
        out.add(f"  archived:      {report['archived_at']}")
    if not report["deployments"]:
        out.add("  served:        never")
        return out.text()
    out.add("  served:")
    rows: list[tuple[str, ...]] = [("    DEPLOYMENT", "STAGE", "ROLE", "FROM", "UNTIL")]
    for item in report["deployments"]:
        rows.append(
            (
                f"    {item['deployment']}",
                item["stage"] or "-",
                item["role"],
                item["from"],
                item["until"] or "now",
            )
        )
    out.table(rows)
    return out.text()


def lineage_json(report: dict[str, Any]) -> str:
    return document(report)
