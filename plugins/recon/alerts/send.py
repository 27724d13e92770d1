"""Post one alert through the Airflow Slack and HTTP providers, and say how it went (never raise).

The caller (``recon.alerts.outbox``) decides whether to try again: these functions make exactly one
request each. Webhook URLs and routing keys stay inside the hooks: nothing here logs or returns them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Response:
    status: int | None  # None when no HTTP answer came (refused, timed out)
    body: str
    retry_after: float | None = None  # seconds, from a 429's Retry-After

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def worth_retrying(self) -> bool:
        """No answer, rate limited or a server error; a 4xx other than 429 would fail the same way."""
        return self.status is None or self.status == 429 or self.status >= 500

    def describe(self) -> str:
        return f"HTTP {self.status}: {self.body}"[:500] if self.status is not None else self.body[:500]


def post(channel: str, conn_id: str, payload: dict[str, Any]) -> Response:
    try:
        return _SENDERS[channel](conn_id, payload)
    except Exception as exc:  # noqa: BLE001 - a missing connection or a refused socket is an answer too
        return Response(None, f"connection {conn_id!r}: {type(exc).__name__}: {exc}")


def post_slack(conn_id: str, payload: dict[str, Any]) -> Response:
    """One incoming-webhook post. The hook resolves the ``slackwebhook`` connection; its client's
    response is read directly (``SlackWebhookHook.send`` raises on any non-200 and drops Retry-After).
    """
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    # No retry handlers: the outbox counts and paces every request itself.
    hook = SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=TIMEOUT_SECONDS, retry_handlers=[])
    response = hook.client.send_dict(payload)
    return Response(response.status_code, str(response.body), _retry_after(response.headers))


def post_pagerduty(conn_id: str, payload: dict[str, Any]) -> Response:
    """One Events API v2 event, built by the PagerDuty provider, posted with the HTTP provider's hook.

    Why not ``PagerdutyEventsHook``: it always posts to events.pagerduty.com and the ``pagerduty``
    library it uses refuses any base URL that is not https, so neither EU accounts behind a proxy
    nor a local receiver can be reached. The connection is an ``http`` one: host = Events API base
    URL (https://events.pagerduty.com in production), password = the integration's routing key.
    """
    from airflow.providers.http.hooks.http import HttpHook
    from airflow.providers.pagerduty.hooks.pagerduty_events import prepare_event_data

    hook = HttpHook(method="POST", http_conn_id=conn_id)
    routing_key = hook.get_connection(conn_id).password
    if not routing_key:
        return Response(None, f"connection {conn_id!r}: no routing key (set the connection's password)")
    event = prepare_event_data(**payload, action_key_name="event_action")
    # A timeout of our own: an endpoint that never answers must not hold the outbox row forever.
    options = {"check_response": False, "timeout": TIMEOUT_SECONDS}
    response = hook.run("v2/enqueue", json={"routing_key": routing_key, **event}, extra_options=options)
    return Response(response.status_code, response.text, _retry_after(response.headers))


_SENDERS = {"slack": post_slack, "pagerduty": post_pagerduty}


def _retry_after(headers: Any) -> float | None:
    value = None
    for key, item in dict(headers or {}).items():
        if key.lower() == "retry-after":
            value = item[0] if isinstance(item, list) else item
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
