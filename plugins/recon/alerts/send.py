"""Send a run's pending alerts from the outbox through the Airflow Slack and PagerDuty providers."""

from __future__ import annotations

import logging
from typing import Any

import pagerduty
import psycopg
from airflow.providers.pagerduty.hooks.pagerduty_events import PagerdutyEventsHook, prepare_event_data
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
    PagerdutyEventsRoutedHook(pagerduty_events_conn_id=conn_id).send_event(**payload)


class PagerdutyEventsRoutedHook(PagerdutyEventsHook):
    """The provider's Events API v2 hook, honouring the connection's host as the API base URL.

    The provider hook always posts to events.pagerduty.com; EU accounts
    (events.eu.pagerduty.com), proxies and the demo's local receiver need another base URL. The
    event itself is still built by the provider (``prepare_event_data``) and sent by the
    ``pagerduty`` client library; only the address differs, and only when the host is set.
    """

    def __init__(self, pagerduty_events_conn_id: str) -> None:
        super().__init__(pagerduty_events_conn_id=pagerduty_events_conn_id)
        host = self.get_connection(pagerduty_events_conn_id).host
        self.base_url = host.rstrip("/") if host else None

    def send_event(self, **kwargs: Any) -> str:
        client = pagerduty.EventsApiV2Client(self.integration_key, base_url=self.base_url)
        return client.send_event(**prepare_event_data(**kwargs))


_SENDERS = {"slack": send_slack, "pagerduty": send_pagerduty}


def _record(conn: psycopg.Connection, alert_id: str, status: str, error: str | None) -> None:
    with conn.transaction():
        conn.execute(
            "update reconciliation.alert_outbox set status = %s, attempts = attempts + 1, last_error = %s,"
            " sent_at = case when %s = 'sent' then now() end where alert_id = %s",
            (status, error, status, alert_id),
        )
