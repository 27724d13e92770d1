"""The discrepancy trend as inline SVG, drawn on the server: no chart library, nothing to download.

One point per run, oldest left: published runs on a line of their discrepancy percent, failed runs
as red marks on the baseline (they have no figure), a dashed line at the spec's critical percent.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 300, 64, 4


def trend_svg(runs: list[dict[str, Any]], critical_percent: Decimal | None = None, spec: str = "") -> str:
    """An SVG line of ``discrepancy_percent`` over ``runs`` (oldest first), with a title per point."""
    label = f"discrepancy % over the last {len(runs)} run(s) of {spec}".strip()
    if not runs:
        return (
            f'<svg class="trend trend-empty" viewBox="0 0 {WIDTH} {HEIGHT}" role="img"'
            f' aria-label="{escape(label)}"><text x="{WIDTH / 2}" y="{HEIGHT / 2}"'
            ' text-anchor="middle">no runs yet</text></svg>'
        )
    values = [_percent(run) for run in runs]
    top = max([v for v in values if v is not None] + [critical_percent or Decimal(0), Decimal(1)])
    step = (WIDTH - 2 * PAD) / max(len(runs) - 1, 1)

    def x(i: int) -> float:
        return round(PAD + i * step if len(runs) > 1 else WIDTH / 2, 1)

    def y(value: Decimal) -> float:
        return round(HEIGHT - PAD - float(value / top) * (HEIGHT - 2 * PAD), 1)

    parts = [
        f'<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img"'
        f' aria-label="{escape(label)}">'
    ]
    if critical_percent is not None:
        level = y(critical_percent)
        parts.append(f'<line class="critical" x1="0" x2="{WIDTH}" y1="{level}" y2="{level}"/>')
    points = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values) if v is not None)
    if points:
        parts.append(f'<polyline class="line" points="{points}"/>')
    for i, (run, value) in enumerate(zip(runs, values, strict=True)):
        when = f"{run['window_start']:%Y-%m-%d %H:%M}"
        if value is None:
            title = f"{when}: {run['status']}"
            parts.append(
                f'<rect class="point point-{escape(run["status"])}" x="{x(i) - 2}" y="{HEIGHT - PAD - 4}"'
                f' width="4" height="6"><title>{escape(title)}</title></rect>'
            )
        else:
            title = f"{when}: {value} %"
            parts.append(
                f'<circle class="point point-{escape(run["status"])}" cx="{x(i)}" cy="{y(value)}" r="2.5">'
                f"<title>{escape(title)}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _percent(run: dict[str, Any]) -> Decimal | None:
    if run["status"] not in ("success", "discrepancy_found") or run.get("discrepancy_percent") is None:
        return None
    return Decimal(run["discrepancy_percent"])
