"""Renderers: every result of the library as text, Markdown, JSON or GitHub annotations.

The CLI only chooses a renderer and writes what it returns, so each output is one function that
can be tested with plain values, like the plan renderer.
"""

from mlops_gitops.render.plan import plan_json, plan_markdown, plan_text, summary_line

__all__ = ["plan_json", "plan_markdown", "plan_text", "summary_line"]
