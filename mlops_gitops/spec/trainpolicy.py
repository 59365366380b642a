"""Policies that would block a trained canary forever, found before `train` commits one.

A pipeline with `canary: {deployment: ...}` writes the fresh version into the deployment's
canary. When a Project policy can never let that step through without a person's help, the
commit would sit blocked in every plan; `validate` and `train` say so instead (as warnings:
the pipeline is valid, and a person may mean to take the step by hand).
"""

from __future__ import annotations

from mlops_gitops.spec import models as spec_models

TRAINED_FORMAT = "skops"
"""The format `train` writes."""


def blocked_canary(
    policies: spec_models.Policies, deployment: spec_models.DeploymentSpec, traffic: int
) -> list[str]:
    """Why the plan would block a freshly trained version put on canary in `deployment` at
    `traffic`% until someone steps in; [] when nothing would."""
    reasons = []
    stage = deployment.stage
    formats = policies.allowed_formats
    if formats is not None and TRAINED_FORMAT not in formats:
        reasons.append(
            f"policy allowed_formats {formats} has no {TRAINED_FORMAT}: the trained version can "
            "never be registered"
        )
    step = policies.max_canary_step
    if step is not None and traffic > step:
        reasons.append(
            f"policy max_canary_step {step}: a new canary starts at most at {step}%, the "
            f"pipeline starts it at {traffic}%"
        )
    order = policies.stage_order
    if stage in order and order.index(stage) > 0:
        before = order[order.index(stage) - 1]
        reasons.append(
            f"policy stage_order: a version enters a {stage} deployment only after serving "
            f"{before}, and a freshly trained version serves nowhere"
        )
    signed = policies.require_signed_commits
    if signed is not None and stage in signed.stages:
        reasons.append(
            f"policy require_signed_commits covers {stage}: the commit that adds the trained "
            "version is made by the tool and is not signed"
        )
    return reasons
