"""What every renderer shares: colouring, escaping of untrusted text, tables, JSON documents.

Names, paths and messages can come from repository content written by anyone who opens a pull
request. A line break or escape sequence in them could forge lines in a CI log (`::warning`
commands), break a Markdown table or recolour a terminal, so every renderer passes each line it
builds through `scrub`, and only then adds colour of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mlops_gitops.safeio import dumps
from mlops_gitops.urls import redact_data

Paint = Callable[[str, str], str]
"""`paint(text, style)`: colour text for a terminal, or return it unchanged."""

JSON_FORMAT_VERSION = "1"

# C0 controls but tab, C1 controls, DEL, line and paragraph separators, and the bidirectional
# overrides and isolates that can make text read differently from what it is.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def plain(text: str, _style: str) -> str:
    return text


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def scrub(text: str) -> str:
    """`text` with every control or direction-changing character shown as an escape."""
    return _UNSAFE.sub(_escape, text)


class Lines:
    """Builds text output line by line: each line scrubbed, then painted."""

    def __init__(self, paint: Paint = plain) -> None:
        self.paint = paint
        self.lines: list[str] = []

    def add(self, text: str = "", style: str | None = None) -> None:
        clean = scrub(text)
        self.lines.append(self.paint(clean, style) if style else clean)

    def add_parts(self, parts: Iterable[tuple[str, str | None]]) -> None:
        """One line made of differently styled parts."""
        self.lines.append("".join(self.paint(scrub(t), s) if s else scrub(t) for t, s in parts))

    def table(
        self, rows: Sequence[Sequence[str]], colors: dict[int, dict[str, str]] | None = None
    ) -> None:
        """Columns padded to their widest cell; `colors[col][value]` styles matching cells."""
        clean = [[scrub(cell) for cell in row] for row in rows]
        widths = [max(len(row[i]) for row in clean) for i in range(len(clean[0]))]
        for index, row in enumerate(clean):
            cells = []
            for col, cell in enumerate(row):
                padded = cell.ljust(widths[col]) if col < len(row) - 1 else cell
                style = (colors or {}).get(col, {}).get(cell)
                cells.append(self.paint(padded, style) if style and index else padded)
            self.lines.append("  ".join(cells).rstrip())

    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)


def document(payload: dict[str, Any]) -> str:
    """A JSON output document: sorted keys, two-space indent, no NaN, newline-terminated;
    every URL in it without its credentials (userinfo, query values)."""
    try:
        text = dumps(payload, indent=2, sort_keys=True)
    except (TypeError, ValueError):
        text = "://"  # the full way below reports it as before
    # No string holds "://" (JSON escapes none of those characters): nothing to redact, and a
    # status of thousands of objects spares the walk over every string and a second encoding.
    if "://" not in text:
        return text + "\n"
    return dumps(redact_data(payload), indent=2, sort_keys=True) + "\n"


def versioned(**fields: Any) -> dict[str, Any]:
    """A JSON output body carrying the contract's `format_version`."""
    return {"format_version": JSON_FORMAT_VERSION, **fields}
