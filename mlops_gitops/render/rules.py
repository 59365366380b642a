"""`rule test` as text and JSON: every trigger's verdict with its number, then the decision."""

from __future__ import annotations

from mlops_gitops.automate.ruletest import RuleTest
from mlops_gitops.render.base import Lines, Paint, document, plain


def rule_test_text(result: RuleTest, paint: Paint = plain) -> str:
    out = Lines(paint)
    evaluation = result.outcome.evaluation
    against = evaluation.evidence or "no monitoring report"
    out.add(f"rule {evaluation.rule} on {evaluation.deployment}, judged against {against}:")
    for trigger in evaluation.triggers:
        verdict = "FIRED" if trigger.fired else "quiet"
        out.add(f"  {trigger.type}: {verdict}: {trigger.explanation}")
    if result.would_act:
        out.add(f"WOULD ACT: {evaluation.explanation}", "yellow")
        for action in result.actions:
            out.add(f"  {action}")
    else:
        out.add(f"would not act: {evaluation.explanation}", "dim")
    out.add("(nothing was changed, sent or committed)")
    return out.text()


def rule_test_json(result: RuleTest) -> str:
    return document(result.to_json())
