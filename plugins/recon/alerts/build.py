"""Build Slack and PagerDuty messages for a published run, from the result tables only.

The message builders are pure functions of rows, so what on-call receives can be tested exactly.
Emails are masked before anything leaves the warehouse.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from recon.masking import mask_email
from recon.spec import Spec
from recon.window import RunWindow


@dataclass(frozen=True)
class Alert:
    channel: str  # "slack" | "pagerduty"
    connection_id: str
    payload: dict[str, Any]


def read_run(
    conn: psycopg.Connection, window: RunWindow, max_breaks: int
) -> tuple[dict, list[dict], list[dict]]:
    """The published run, its per-currency summary rows and its largest breaks."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("select * from reconciliation.runs where run_id = %s", (window.run_id,))
        run = cur.fetchone()
        if run is None or run["status"] not in ("success", "discrepancy_found"):
            raise RuntimeError(f"run {window.run_id!r} is not published; no alert is built from it")
        cur.execute(
            "select * from reconciliation.run_summary where run_id = %s order by pair, currency",
            (window.run_id,),
        )
        summary = cur.fetchall()
        cur.execute(
            "select * from reconciliation.run_breaks where run_id = %s"
            " order by discrepancy_amount desc, break_class, break_id limit %s",
            (window.run_id, max_breaks),
        )
        breaks = cur.fetchall()
    return run, summary, breaks


def build_alerts(spec: Spec, run: dict, summary: list[dict], breaks: list[dict]) -> list[Alert]:
    alerts = []
    slack = spec.alerts.slack
    if slack and (run["status"] == "discrepancy_found" or slack.notify_on_success):
        alerts.append(Alert("slack", slack.connection, slack_message(spec, run, summary, breaks)))
    pagerduty = spec.alerts.pagerduty
    gross = sum((row["discrepancy_amount"] or Decimal(0) for row in summary), Decimal(0))
    if pagerduty and run["status"] == "discrepancy_found" and gross >= pagerduty.min_discrepancy_amount:
        alerts.append(Alert("pagerduty", pagerduty.connection, pagerduty_event(spec, run, summary, breaks)))
    return alerts


def slack_message(spec: Spec, run: dict, summary: list[dict], breaks: list[dict]) -> dict[str, Any]:
    found = run["status"] == "discrepancy_found"
    headline = f"{':red_circle:' if found else ':white_check_mark:'} *{spec.name}* {_window_text(run)}: " + (
        f"{_break_count(summary)} breaks" if found else "all records match"
    )
    lines = [
        f"`{row['currency']}` {row['left_source']} {row['left_total_amount']}"
        f" ({row['left_record_count']}) vs "
        f"{row['right_source']} {row['right_total_amount']} ({row['right_record_count']}): "
        f"{row['break_count']} breaks, missing in {row['left_source']} {row['missing_in_left_count']}, "
        f"missing in {row['right_source']} {row['missing_in_right_count']}, "
        f"amount mismatches {row['amount_mismatch_count']}, discrepancy {row['discrepancy_amount']} "
        f"({row['discrepancy_percent'] if row['discrepancy_percent'] is not None else 'n/a'}%)"
        for row in summary
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines) or "no records in window"}},
    ]
    if run.get("recommendations"):
        advice = "\n".join(f"• {sentence}" for sentence in run["recommendations"])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "What to do:\n" + advice}})
    if breaks:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "Largest breaks:\n" + "\n".join(_break_line(item) for item in breaks),
                },
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": (
                        f"run `{run['run_id']}` · details: "
                        f"`reconciliation.run_breaks where run_id = '{run['run_id']}'`"
                    ),
                }
            ],
        }
    )
    return {"text": headline, "blocks": blocks}


def pagerduty_event(spec: Spec, run: dict, summary: list[dict], breaks: list[dict]) -> dict[str, Any]:
    assert spec.alerts.pagerduty is not None
    totals = {
        f"{row['pair']} {row['currency']}": {
            "breaks": row["break_count"],
            "discrepancy_amount": str(row["discrepancy_amount"]),
            "discrepancy_percent": None
            if row["discrepancy_percent"] is None
            else str(row["discrepancy_percent"]),
        }
        for row in summary
    }
    return {
        "summary": f"recon {spec.name} {_window_text(run)}: {_break_count(summary)} breaks"[:1024],
        "severity": spec.alerts.pagerduty.severity,
        "source": f"recon/{spec.name}",
        "action": "trigger",
        # One incident per run key: a rerun of the same window updates it instead of paging again.
        "dedup_key": dedup_key(run["run_id"]),
        "component": spec.name,
        "group": "reconciliation",
        "class_type": "discrepancy_found",
        "custom_details": {
            "run_id": run["run_id"],
            "by_pair_and_currency": totals,
            "recommendations": run.get("recommendations") or [],
            "largest_breaks": [_break_line(item) for item in breaks],
        },
    }


def dedup_key(run_id: str) -> str:
    return "recon-" + hashlib.sha256(run_id.encode()).hexdigest()[:32]


def write_outbox(conn: psycopg.Connection, window: RunWindow, alerts: list[Alert]) -> int:
    """Replace the run's unsent alerts with ``alerts``; return how many are pending."""
    with conn.transaction():
        conn.execute("delete from reconciliation.alert_outbox where run_id = %s", (window.run_id,))
        for alert in alerts:
            conn.execute(
                "insert into reconciliation.alert_outbox"
                " (alert_id, run_id, spec, channel, connection_id, payload) values (%s, %s, %s, %s, %s, %s)",
                (
                    f"{window.run_id}#{alert.channel}",
                    window.run_id,
                    window.spec,
                    alert.channel,
                    alert.connection_id,
                    json.dumps(alert.payload, default=str),
                ),
            )
    return len(alerts)


def _break_count(summary: list[dict]) -> int:
    return sum(row["break_count"] for row in summary)


def _window_text(run: dict) -> str:
    return f"{run['window_start']:%Y-%m-%d %H:%M}–{run['window_end']:%Y-%m-%d %H:%M} UTC"


def _break_line(item: dict) -> str:
    kind = item["break_class"].replace("_", " ")
    left, right = item["left_amount"], item["right_amount"]
    if left is None or right is None:
        amount = left if left is not None else right
        where = f" in {item['missing_in']}" if item["break_class"] == "missing" else ""
        what = f"{kind}{where}: {amount} {item['currency']}"
    elif item["break_class"] == "currency_mismatch":
        what = f"{kind}: {left} {item['left_currency']} vs {right} {item['right_currency']}"
    elif item["break_class"] == "status_mismatch":
        what = f"{kind}: {item['left_status']} vs {item['right_status']} ({left} {item['currency']})"
    else:
        what = f"{kind}: {left} vs {right} {item['currency']} (diff {item['amount_difference']})"
    keys = " / ".join(key for key in (item["left_record_keys"], item["right_record_keys"]) if key)
    email = mask_email(item.get("customer_email"))
    return f"`{keys}` {what}" + (f" · {email}" if email else "")
