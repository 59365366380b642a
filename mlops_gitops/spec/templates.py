"""Rendering `*.yaml.j2` spec files in a Jinja2 sandbox before they are parsed."""

from __future__ import annotations

import traceback
from typing import Any


class TemplateProblem(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def render(source: str, filename: str, values: dict[str, Any]) -> str:
    """Render with an immutable sandbox and strict undefined: a typo is an error, not a blank."""
    import jinja2
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    try:
        code = env.compile(source, name=filename, filename=filename)
        template = env.template_class.from_code(env, code, env.make_globals(None), None)
        return template.render(**values)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno) from None
    except SecurityError as exc:
        raise TemplateProblem(f"unsafe template: {exc}", _template_line(exc, filename)) from None
    except jinja2.UndefinedError as exc:
        raise TemplateProblem(
            f"undefined template variable: {exc.message} (set it in the Project's spec.values)",
            _template_line(exc, filename),
        ) from None
    except jinja2.TemplateError as exc:
        raise TemplateProblem(f"template error: {exc}", _template_line(exc, filename)) from None
    except Exception as exc:  # an error raised inside an expression, e.g. 1/0
        raise TemplateProblem(
            f"template error: {type(exc).__name__}: {exc}", _template_line(exc, filename)
        ) from None


def _template_line(exc: BaseException, filename: str) -> int | None:
    """Jinja2 rewrites tracebacks so template frames carry the template's own line numbers."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line
