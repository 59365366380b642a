"""Small self-contained SVG charts for reports: no browser, no plotting server, no library."""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT = 560, 240
MARGIN = {"left": 48, "right": 16, "top": 32, "bottom": 56}
REFERENCE, CURRENT = "#8da0cb", "#fc8d62"


def _frame(title: str, body: list[str], legend: list[tuple[str, str]]) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>',
    ]
    parts += body
    x = MARGIN["left"]
    for label, color in legend:
        parts.append(f'<rect x="{x}" y="{HEIGHT - 16}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 7}">{escape(label)}</text>')
        x += 14 + 7 * len(label) + 16
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _y_axis(top: float) -> list[str]:
    x0, y0 = MARGIN["left"], HEIGHT - MARGIN["bottom"]
    height = y0 - MARGIN["top"]
    out = [f'<line x1="{x0}" y1="{MARGIN["top"]}" x2="{x0}" y2="{y0}" stroke="#444"/>']
    for i in range(5):
        value = top * i / 4
        y = y0 - height * i / 4
        out.append(f'<text x="{x0 - 4}" y="{y + 4:.1f}" text-anchor="end">{value:.3g}</text>')
        out.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{WIDTH - MARGIN["right"]}" '
            f'y2="{y:.1f}" stroke="#eee"/>'
        )
    return out


def bars(title: str, labels: list[str], reference: list[float], current: list[float]) -> str:
    """Reference vs current share per bin or category, side by side."""
    top = max([*reference, *current, 1e-9]) * 1.1
    x0, y0 = MARGIN["left"], HEIGHT - MARGIN["bottom"]
    width = WIDTH - MARGIN["left"] - MARGIN["right"]
    height = y0 - MARGIN["top"]
    slot = width / max(len(labels), 1)
    body = _y_axis(top)
    for i, label in enumerate(labels):
        for j, (value, color) in enumerate(((reference[i], REFERENCE), (current[i], CURRENT))):
            h = height * value / top
            x = x0 + i * slot + slot * 0.1 + j * slot * 0.4
            body.append(
                f'<rect x="{x:.1f}" y="{y0 - h:.1f}" width="{slot * 0.4:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{escape(label)}: {value:.4f}</title></rect>'
            )
        if len(labels) <= 12:
            cx = x0 + (i + 0.5) * slot
            body.append(
                f'<text x="{cx:.1f}" y="{y0 + 14}" text-anchor="middle">{escape(label[:10])}</text>'
            )
    return _frame(title, body, [("reference", REFERENCE), ("current", CURRENT)])


def lines(title: str, x_labels: list[str], series: dict[str, list[float]]) -> str:
    """One line per series over shared x positions (e.g. latency per hour)."""
    palette = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e"]
    values = [v for s in series.values() for v in s]
    top = max([*values, 1e-9]) * 1.1
    x0, y0 = MARGIN["left"], HEIGHT - MARGIN["bottom"]
    width = WIDTH - MARGIN["left"] - MARGIN["right"]
    height = y0 - MARGIN["top"]
    n = max(len(x_labels), 2)
    body = _y_axis(top)
    legend = []
    for k, (name, points) in enumerate(sorted(series.items())):
        color = palette[k % len(palette)]
        coords = " ".join(
            f"{x0 + width * i / (n - 1):.1f},{y0 - height * v / top:.1f}"
            for i, v in enumerate(points)
        )
        body.append(f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="2"/>')
        legend.append((name, color))
    for i in (0, len(x_labels) - 1):
        if 0 <= i < len(x_labels):
            anchor = "start" if i == 0 else "end"
            x = x0 + width * i / (n - 1)
            body.append(
                f'<text x="{x:.1f}" y="{y0 + 14}" text-anchor="{anchor}">'
                f"{escape(x_labels[i])}</text>"
            )
    return _frame(title, body, legend)
