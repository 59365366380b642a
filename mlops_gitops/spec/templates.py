"""Rendering `*.yaml.j2` spec files in a Jinja2 sandbox, within CPU and size budgets."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CPU_SECONDS = 2.0
"""Default CPU time one template may take to render."""
OUTPUT_BYTES = 10 * 1024 * 1024
"""Default size of one template's output, and of any single value it builds."""


@dataclass(frozen=True)
class Budget:
    """What one template may spend; set per repository in the Project's `security` section."""

    cpu_seconds: float = CPU_SECONDS
    output_bytes: int = OUTPUT_BYTES

    def key(self) -> str:
        return f"{self.cpu_seconds!r}/{self.output_bytes}"


DEFAULT_BUDGET = Budget()


class OverBudget(Exception):
    """Raised while rendering when a budget would be exceeded."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.line: int | None = None


class TemplateProblem(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def render(
    source: str, filename: str, values: dict[str, Any], budget: Budget = DEFAULT_BUDGET
) -> str:
    """Render with an immutable, metered sandbox and strict undefined: a typo is an error, not
    a blank; a template that would run too long or build too much stops at the budget."""
    import jinja2
    from jinja2.exceptions import SecurityError

    from mlops_gitops.spec.sandbox import MeteredSandbox

    env = MeteredSandbox(
        budget, undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    try:
        tree = env.mark(env.parse(source, name=filename, filename=filename))
        code = env.compile(tree, name=filename, filename=filename)
        template = env.template_class.from_code(env, code, env.make_globals(None), None)
        env.meter.restart()
        return _stream(template, env.meter.check_time, values, budget.output_bytes)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno) from None
    except OverBudget as exc:
        line = exc.line or _template_line(exc, filename)
        raise TemplateProblem(f"template over budget: {exc.message}", line) from None
    except SecurityError as exc:
        raise TemplateProblem(f"unsafe template: {exc}", _template_line(exc, filename)) from None
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(
            f"undefined template variable: {exc.message} (set it in the Project's spec.values)",
            _template_line(exc, filename),
        ) from None
    except jinja2.TemplateError as exc:
        raise TemplateProblem(f"template error: {exc}", _template_line(exc, filename)) from None
    except MemoryError:
        raise TemplateProblem("template over budget: out of memory", None) from None
    except Exception as exc:  # an error raised inside an expression, e.g. 1/0
        raise TemplateProblem(
            f"template error: {type(exc).__name__}: {exc}", _template_line(exc, filename)
        ) from None


def _stream(
    template: Any, check_time: Callable[[], None], values: dict[str, Any], limit: int
) -> str:
    """The output, collected piece by piece so it stops at the budget, not after it."""
    chunks = template.generate(**values)
    parts = []
    size = 0
    try:
        for chunk in chunks:
            size += len(chunk) if chunk.isascii() else len(chunk.encode("utf-8", "surrogatepass"))
            if size > limit:
                raise OverBudget(
                    f"the output exceeds {limit} bytes (security.template_output_bytes)"
                )
            check_time()
            parts.append(chunk)
    except OverBudget as exc:
        exc.line = _suspended_line(chunks, template)
        raise
    return "".join(parts)


def _suspended_line(generator: Any, template: Any) -> int | None:
    """The template line where rendering paused for the output it was just checked on."""
    line = None
    while generator is not None:
        frame = getattr(generator, "gi_frame", None)
        if frame is not None and frame.f_code.co_filename == template.filename:
            line = template.get_corresponding_lineno(frame.f_lineno)
        generator = getattr(generator, "gi_yieldfrom", None)
    return line


def _template_line(exc: BaseException, filename: str) -> int | None:
    """Jinja2 rewrites tracebacks so template frames carry the template's own line numbers."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line
