"""Alerts as on-call sees them: a Slack message and a PagerDuty incident drawn as plain text.

`make demo` prints what the local alert receiver recorded through these, so a person can read the
message and the page without a Slack workspace or a PagerDuty account.
"""

from __future__ import annotations

import json
import re
from typing import Any

_COLOUR_NAMES = {"#FF0000": "red", "#FFA500": "orange", "#2EB67D": "green"}
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")


def render_slack(body: dict[str, Any]) -> str:
    """The message with its colour bar (``┃``), links shown as ``label (url)``."""
    lines = []
    for attachment in body.get("attachments") or [{"blocks": body.get("blocks") or []}]:
        colour = attachment.get("color")
        lines.append(f"Slack message, {_COLOUR_NAMES.get(colour, colour or 'no')} bar ({colour}):")
        for block in attachment.get("blocks") or []:
            lines += [f"  ┃ {line}" for line in _block_lines(block)]
    return "\n".join(lines) if lines else f"Slack message: {body.get('text')}"


def render_page(body: dict[str, Any]) -> str:
    """An Events API v2 event: action, severity, dedup key, then the incident's fields."""
    payload = body.get("payload") or {}
    lines = [
        f"PagerDuty {body.get('event_action')} · severity {payload.get('severity')}"
        f" · dedup key {body.get('dedup_key')}"
    ]
    if body.get("event_action") != "trigger":
        return "\n".join([*lines, f"  {payload.get('summary', '')}"])
    lines.append(f"  summary:   {payload.get('summary')}")
    lines.append(
        f"  source:    {payload.get('source')} · component {payload.get('component')}"
        f" · group {payload.get('group')} · class {payload.get('class')}"
    )
    for link in body.get("links") or []:
        lines.append(f"  link:      {link.get('text')}: {link.get('href')}")
    for key, value in (payload.get("custom_details") or {}).items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"  {key}: {shown[:300]}")
    return "\n".join(lines)


def _block_lines(block: dict[str, Any]) -> list[str]:
    kind = block.get("type")
    if kind == "divider":
        return ["─" * 40]
    if kind == "header":
        return [block["text"]["text"].upper()]
    if kind == "context":
        return [_plain(element.get("text", "")) for element in block.get("elements", [])]
    return _plain(block.get("text", {}).get("text", "")).splitlines()


def _plain(text: str) -> str:
    text = _LINK.sub(lambda match: f"{match.group(2)} ({match.group(1)})", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
