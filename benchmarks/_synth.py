"""Synthetic GitOps repositories for the benchmarks."""

from __future__ import annotations

from pathlib import Path

PROJECT = """apiVersion: mlops-gitops/v1
kind: Project
metadata: {name: bench}
spec:
  values: {region: eu}
"""

MODEL = """apiVersion: mlops-gitops/v1
kind: Model
metadata: {{name: model-{i}, labels: {{team: t{team}}}}}
spec:
  description: Synthetic model {i}
  owner: team{team}@example.com
  framework: sklearn
  task: classification
  tags: [bench]
  versions:
{versions}"""

VERSION = """    - version: "1.{v}.0"
      artifact: artifacts/model-{i}/1.{v}.0/model.skops
      format: skops
      sha256: "{sha}"
      metrics: {{accuracy: 0.9{v}, roc_auc: 0.9{v}}}
      hyperparameters: {{max_depth: {v}}}
      reference_data: data/reference/model-{i}.csv
      created: "2026-01-1{v}"
"""

DEPLOYMENT = """apiVersion: mlops-gitops/v1
kind: Deployment
metadata: {{name: deploy-{i}}}
spec:
  model: model-{i}
  stage: production
  version: "1.{stable}.0"
  canary: {{version: "1.{canary}.0", traffic: 10}}
  promotion:
    gates: {{roc_auc: ">= 0.90"}}
  monitoring:
    predictions: logs/deploy-{i}/
    window: {{records: 50000}}
"""

TEMPLATE = """apiVersion: mlops-gitops/v1
kind: Deployment
metadata:
  name: deploy-@I@
  labels: {region: "{{ region }}", tier: "{{ 'prod' | upper }}"}
spec:
  model: model-@I@
  stage: production
  version: "1.@STABLE@.0"
  canary: {version: "1.@CANARY@.0", traffic: {{ 5 * 2 }}}
  promotion:
    gates:
{%- for metric in ["roc_auc", "accuracy"] %}
      {{ metric }}: ">= 0.{{ 80 + loop.index }}"
{%- endfor %}
  monitoring:
    predictions: logs/{{ region }}/deploy-@I@/
    window: {records: 50000}
"""
"""A deployment as a `*.yaml.j2` template: values, a filter, arithmetic and a loop."""

RULE = """apiVersion: mlops-gitops/v1
kind: Rule
metadata: {{name: rule-{i}}}
spec:
  deployment: deploy-{i}
  triggers:
    - {{type: data_drift, share_above: 0.3}}
    - {{type: latency, p99_ms_above: 250}}
  conditions: {{match: any, min_samples: 500, cooldown: 24h}}
  actions:
    - {{type: rollback_deployment}}
    - {{type: send_alert, channel: log}}
"""


def write_repo(
    root: Path,
    models: int,
    versions: int,
    deployments: int,
    rules: int = 0,
    templates: bool = False,
) -> int:
    """Write a repository; returns the number of spec files. `templates`: deployments are
    `*.yaml.j2` files."""
    for folder in ("models", "deployments", "rules"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "mlops.yaml").write_text(PROJECT)
    files = 1
    for i in range(models):
        body = "".join(
            VERSION.format(i=i, v=v, sha=f"{(i * 31 + v) % 2**32:064x}") for v in range(versions)
        )
        (root / "models" / f"model-{i}.yaml").write_text(
            MODEL.format(i=i, team=i % 7, versions=body)
        )
        files += 1
    for i in range(deployments):
        stable, canary = max(versions - 2, 0), versions - 1
        if templates:
            body = TEMPLATE.replace("@I@", str(i)).replace("@STABLE@", str(stable))
            path = root / "deployments" / f"deploy-{i}.yaml.j2"
            path.write_text(body.replace("@CANARY@", str(canary)))
        else:
            path = root / "deployments" / f"deploy-{i}.yaml"
            path.write_text(DEPLOYMENT.format(i=i, stable=stable, canary=canary))
        files += 1
    for i in range(rules):
        (root / "rules" / f"rule-{i}.yaml").write_text(RULE.format(i=i))
        files += 1
    return files
