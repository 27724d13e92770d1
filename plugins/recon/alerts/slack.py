"""Slack messages: a run's result and a pipeline failure, as Block Kit inside a coloured attachment.

Built with slack_sdk's block models, whose ``to_dict`` refuses what Slack would (a section over 3,000
characters, a header over 150), so a message that would bounce fails here, in a test, instead.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.attachments import BlockAttachment
from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from recon.alerts.facts import RunFacts, integrity_lines, percent, totals_line
from recon.masking import mask_text

# The colour bar: orange up to the spec's critical percent, red above it and for failures.
GREEN, ORANGE, RED = "#2EB67D", "#FFA500", "#FF0000"
_SECTION_LIMIT = 3000
_RECOMMENDATIONS = 3


def result_message(facts: RunFacts) -> dict[str, Any]:
    """The message for a published run: ``{"text": ..., "attachments": [{"color", "blocks"}]}``."""
    run = facts.run
    found = facts.break_count > 0
    integrity = integrity_lines(run)
    # Orange for a discrepancy or a failed high or medium rule (run severity warning), red for critical.
    loud = run["status"] == "discrepancy_found" or run["severity"] == "warning"
    colour = RED if facts.critical else ORANGE if loud else GREEN
    headline = (
        f"{facts.spec} {facts.window}: {facts.break_count:,} break{'' if facts.break_count == 1 else 's'},"
        f" {percent(facts.discrepancy_percent)} discrepancy"
        if found
        else f"{facts.spec} {facts.window}: all records match"
    )
    if integrity:
        headline += f"; {len(integrity)} integrity rule{'' if len(integrity) == 1 else 's'} failed"
    state = {"critical": "CRITICAL", "warning": "warning", "info": "within tolerance", "ok": "clean"}
    status_line = f"*Status:* `{run['status']}` · *severity:* {state.get(run['severity'], run['severity'])}"
    if facts.critical_percent is not None:
        status_line += f" (critical above {percent(facts.critical_percent)} of a pair and currency's total)"
    blocks: list[Block] = [
        HeaderBlock(text=headline[:150]),
        _section(status_line),
        _section("*Totals*\n" + "\n".join(_escape(totals_line(row)) for row in facts.summary)
                 if facts.summary else "*Totals*\nno records in the window"),
    ]  # fmt: skip
    if facts.counts or facts.still_open or run.get("pending_count"):
        counts = [f"{item.label}: *{item.count:,}*" for item in facts.counts]
        if run.get("pending_count"):
            counts.append(f"pending (held for a later run): {run['pending_count']:,}")
        if facts.still_open:  # the spec's open breaks that earlier runs found (facts.read_run_facts)
            again = f" ({facts.seen_again:,} still missing in this run)" if facts.seen_again else ""
            counts.append(f"still open from earlier runs: {facts.still_open:,}{again}")
        blocks.append(_section("*Breaks by class*\n" + _escape(" · ".join(counts))))
    recommendations = (run.get("recommendations") or [])[:_RECOMMENDATIONS]
    if recommendations:
        blocks.append(
            _section("*What to do*\n" + "\n".join(f"• {_escape(mask_text(s))}" for s in recommendations))
        )
    if facts.breaks:
        lines = [f"• {_escape(facts.describe(item))}" for item in facts.breaks]
        blocks.append(_section("*Largest breaks*\n" + "\n".join(lines)))
    if integrity or facts.quarantined:
        lines = [f"• {_escape(line)}" for line in integrity]
        if facts.quarantined:
            lines.append(f"• {facts.quarantined:,} malformed row(s) quarantined (staging.quarantine)")
        blocks.append(_section("*Integrity rules failed*\n" + "\n".join(lines)))
    blocks += [DividerBlock(), _links(facts.links.airflow_run, facts.links.dashboard_run, run["run_id"])]
    fallback = mask_text(headline)
    return {
        "text": fallback,
        "attachments": [BlockAttachment(blocks=blocks, color=colour, fallback=fallback).to_dict()],
    }


def failure_message(
    spec: str, dag_id: str, task_id: str, airflow_run_id: str, window: str, error: str, log_url: str | None
) -> dict[str, Any]:
    """The message for a task that failed for good: what failed, where, why, and its log."""
    headline = f"{spec} {window}: the reconciliation failed in {task_id}"
    error_text = mask_text(error)
    blocks: list[Block] = [
        HeaderBlock(text=headline[:150]),
        _section(
            f"*DAG:* `{_escape(dag_id)}` · *task:* `{_escape(task_id)}`\n"
            f"*Airflow run:* `{_escape(airflow_run_id)}`"
        ),
        _section("*Error*\n```" + _escape(error_text)[: _SECTION_LIMIT - 40] + "```"),
        _section(
            "Nothing of this run was published. Fix the cause, then clear the failed task in Airflow"
            " (or rerun the window): the rerun replaces this run."
        ),
        ContextBlock(
            elements=[
                MarkdownTextObject(text=f"<{log_url}|Task log in Airflow>" if log_url else "no log link")
            ]
        ),
    ]
    return {
        "text": mask_text(headline),
        "attachments": [BlockAttachment(blocks=blocks, color=RED, fallback=mask_text(headline)).to_dict()],
    }


def _section(text: str) -> SectionBlock:
    if len(text) > _SECTION_LIMIT:  # cut at a line, and say so
        text = text[: _SECTION_LIMIT - 20].rsplit("\n", 1)[0] + "\n…(more in the run)"
    return SectionBlock(text=MarkdownTextObject(text=text))


def _links(airflow_run: str | None, dashboard_run: str | None, run_id: str) -> ContextBlock:
    links = [
        f"<{airflow_run}|Airflow run>" if airflow_run else "",
        f"<{dashboard_run}|Dashboard>" if dashboard_run else "",
    ]
    where = f"run `{_escape(run_id)}` · `reconciliation.run_breaks`"
    return ContextBlock(elements=[MarkdownTextObject(text=" · ".join([*filter(None, links), where]))])


def _escape(text: str) -> str:
    """Slack's three control characters; anything else in mrkdwn is shown as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
