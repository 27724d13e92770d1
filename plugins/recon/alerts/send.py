"""Send a run's pending alerts from the outbox through the Airflow Slack and PagerDuty providers."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from airflow.providers.http.hooks.http import HttpHook
from airflow.providers.pagerduty.hooks.pagerduty_events import prepare_event_data
from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
from psycopg.rows import dict_row

from recon.window import RunWindow

log = logging.getLogger(__name__)


def send_pending(conn: psycopg.Connection, window: RunWindow, channel: str) -> int:
    """Send each unsent alert of ``channel`` for the run; mark it sent. Returns how many were sent.

    Alerts that failed on an earlier try are sent again, so a task retry finishes the job.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select alert_id, connection_id, payload from reconciliation.alert_outbox"
            " where run_id = %s and channel = %s and status in ('pending', 'failed') order by alert_id",
            (window.run_id, channel),
        )
        pending = cur.fetchall()
    sent = 0
    for alert in pending:
        try:
            _SENDERS[channel](alert["connection_id"], alert["payload"])
        except Exception as exc:
            _record(conn, alert["alert_id"], "failed", f"{type(exc).__name__}: {exc}")
            raise RuntimeError(
                f"connection {alert['connection_id']!r}: sending the {channel} alert failed: {exc}"
            ) from exc
        _record(conn, alert["alert_id"], "sent", None)
        sent += 1
    log.info("sent %d %s alert(s) for %s", sent, channel, window.run_id)
    return sent


def send_slack(conn_id: str, payload: dict[str, Any]) -> None:
    response = SlackWebhookHook(slack_webhook_conn_id=conn_id).send(
        text=payload["text"], blocks=payload.get("blocks")
    )
    if response.status_code >= 300:
        raise RuntimeError(f"Slack answered {response.status_code}: {response.body}")


def send_pagerduty(conn_id: str, payload: dict[str, Any]) -> None:
    """Post one Events API v2 event with the HTTP provider's hook.

    Why not ``PagerdutyEventsHook``: it always posts to events.pagerduty.com and the ``pagerduty``
    library it uses refuses any base URL that is not https, so neither EU accounts behind a proxy
    nor a local receiver can be reached. The event body is still built by the PagerDuty provider
    (``prepare_event_data``); the connection is an ``http`` one: host = Events API base URL
    (https://events.pagerduty.com in production), password = the integration's routing key.
    """
    hook = HttpHook(method="POST", http_conn_id=conn_id)
    routing_key = hook.get_connection(conn_id).password
    if not routing_key:
        raise RuntimeError(f"connection {conn_id!r}: no routing key (set the connection's password)")
    event = prepare_event_data(**payload, action_key_name="event_action")
    response = hook.run("v2/enqueue", json={"routing_key": routing_key, **event})
    log.info("PagerDuty accepted the event: %s", response.status_code)


_SENDERS = {"slack": send_slack, "pagerduty": send_pagerduty}


def _record(conn: psycopg.Connection, alert_id: str, status: str, error: str | None) -> None:
    with conn.transaction():
        conn.execute(
            "update reconciliation.alert_outbox set status = %s, attempts = attempts + 1, last_error = %s,"
            " sent_at = case when %s = 'sent' then now() end where alert_id = %s",
            (status, error, status, alert_id),
        )
