"""The alert outbox: what to tell whom about a run, queued once, sent once, retried until delivered.

An alert is written to ``reconciliation.alert_outbox`` under its idempotency key
``<run_id>#<attempt>#<channel>#<event>[#<dedup key>]`` (``attempt`` counts the window's reruns),
then sent, then marked ``sent`` with the answer. So a retried task queues nothing new and sends
nothing twice, and a rerun of the window, a new attempt, tells people again. A send that fails is
tried ``TRIES`` times with backoff (a 429's Retry-After honoured), then left ``failed`` with a
``next_attempt_at``; the next run's notify task or the ``recon_maintenance`` DAG sends it then,
until ``MAX_ATTEMPTS`` requests, after which it is ``gave_up``. A newer unsent alert about the
same thing (the run's Slack message, the day's incident) marks the older one ``superseded``, so an
outdated page is never sent late.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from recon.alerts import pagerduty, slack
from recon.alerts.facts import RunFacts
from recon.alerts.send import Response, post
from recon.masking import mask_text
from recon.spec import Spec

log = logging.getLogger(__name__)

TRIES = 3  # requests per delivery round
BACKOFF_SECONDS = 1.0  # first pause between requests of a round, doubled each time
MAX_PAUSE_SECONDS = 30.0
NEXT_ROUND = timedelta(minutes=5)  # pause before the next round, doubled each round, up to 6 hours
MAX_ATTEMPTS = 15  # requests in all, then the alert is given up


@dataclass(frozen=True)
class Alert:
    channel: str  # "slack" | "pagerduty"
    event: str  # "result" | "trigger" | "resolve" | "failure"
    connection_id: str
    payload: dict[str, Any]
    dedup_key: str | None = None


@dataclass
class Delivery:
    sent: int = 0
    undelivered: list[dict[str, Any]] = field(default_factory=list)  # rows left failed or given up


def result_alerts(conn: psycopg.Connection, spec: Spec, facts: RunFacts) -> list[Alert]:
    """The alerts a published run calls for: its Slack message (a discrepancy, or a failed rule of
    severity medium or above); a page when it is critical (a pair and currency over the critical line,
    or a failed critical rule), or the resolve of the day's open incidents once no window of that day
    is critical or failed any more."""
    run, alerts = facts.run, []
    channel = spec.alerts.slack
    worth_telling = run["status"] == "discrepancy_found" or run["severity"] in ("warning", "critical")
    if channel and (worth_telling or channel.notify_on_success):
        alerts.append(Alert("slack", "result", channel.connection, slack.result_message(facts)))
    pager = spec.alerts.pagerduty
    if pager is None:
        return alerts
    day, key = run["window_start"], pagerduty.dedup_key(spec.name, run["window_start"])
    if facts.critical:
        event = pagerduty.trigger(facts, pager.severity, spec.owner)
        alerts.append(Alert("pagerduty", "trigger", pager.connection, event, key))
    elif _incident_open(conn, key) and not _day_has(
        conn, spec.name, day, run["run_id"], "severity", "critical"
    ):
        why = f"recon {spec.name} {facts.window}: no longer critical (run {run['run_id']})"
        alerts.append(
            Alert("pagerduty", "resolve", pager.connection, pagerduty.resolve(key, spec.name, why), key)
        )
    failure_key = pagerduty.failure_dedup_key(spec.name, day)
    if _incident_open(conn, failure_key) and not _day_has(
        conn, spec.name, day, run["run_id"], "status", "error"
    ):
        why = f"recon {spec.name} {facts.window}: the reconciliation ran again and published"
        event = pagerduty.resolve(failure_key, spec.name, why)
        alerts.append(Alert("pagerduty", "resolve", pager.connection, event, failure_key))
    return alerts


def queue(conn: psycopg.Connection, run_id: str, spec: str, attempt: int, alerts: list[Alert]) -> int:
    """Write ``alerts`` under their idempotency keys; return how many were new (a retried task: 0)."""
    queued = 0
    with conn.transaction():
        for alert in alerts:
            # The incident too: one run may resolve both the day's data and pipeline incidents.
            incident = f"#{alert.dedup_key}" if alert.dedup_key else ""
            alert_id = f"{run_id}#{attempt}#{alert.channel}#{alert.event}{incident}"
            inserted = conn.execute(
                "insert into reconciliation.alert_outbox (alert_id, run_id, spec, attempt, channel, event,"
                " connection_id, dedup_key, payload) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " on conflict (alert_id) do nothing",
                (alert_id, run_id, spec, attempt, alert.channel, alert.event, alert.connection_id,
                 alert.dedup_key, json.dumps(alert.payload, default=str)),
            ).rowcount  # fmt: skip
            queued += inserted
            if inserted:
                _supersede(conn, alert_id, run_id, alert)
    return queued


def deliver(
    conn: psycopg.Connection,
    spec: str | None = None,
    *,
    channel: str | None = None,
    run_id: str | None = None,
    pause: Callable[[float], None] = time.sleep,
) -> Delivery:
    """Send what is due: every unsent alert of ``run_id``, and the failed ones of earlier runs whose
    next attempt has come (of ``spec``, or of all specs). Oldest first, so a day's incident gets its
    trigger before its resolve. Never raises for a channel that is down.

    Commits what the connection has open first: each alert's claim and outcome must be committed on
    their own, or a sender that dies midway would forget alerts it had already sent.
    """
    conn.commit()
    with conn.transaction():
        rows = conn.execute(
            """
            select alert_id from reconciliation.alert_outbox
            where status in ('pending', 'failed')
              and (%(spec)s::text is null or spec = %(spec)s)
              and (%(channel)s::text is null or channel = %(channel)s)
              and (run_id = %(run_id)s or status = 'pending' and %(run_id)s::text is null
                   or next_attempt_at <= now())
            order by created_at, alert_id
            """,
            {"spec": spec, "channel": channel, "run_id": run_id},
        ).fetchall()
    delivery = Delivery()
    for (alert_id,) in rows:
        outcome = _deliver_one(conn, alert_id, pause)
        if outcome is None:
            continue  # another sender holds it, or sent it meanwhile
        if outcome["status"] == "sent":
            delivery.sent += 1
        else:
            delivery.undelivered.append(outcome)
    return delivery


def _deliver_one(
    conn: psycopg.Connection, alert_id: str, pause: Callable[[float], None]
) -> dict[str, Any] | None:
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # The row lock is the claim: a second sender skips the alert instead of sending it again.
        cur.execute(
            "select * from reconciliation.alert_outbox"
            " where alert_id = %s and status in ('pending', 'failed') for update skip locked",
            (alert_id,),
        )
        alert = cur.fetchone()
        if alert is None:
            return None
        response, tries = _send_with_retries(alert, min(TRIES, MAX_ATTEMPTS - alert["attempts"]), pause)
        attempts = alert["attempts"] + tries
        if response.ok:
            status, next_attempt = "sent", None
        elif attempts >= MAX_ATTEMPTS:
            status, next_attempt = "gave_up", None
        else:
            rounds = max(1, attempts // TRIES)
            next_attempt = datetime.now().astimezone() + min(
                NEXT_ROUND * 2 ** (rounds - 1), timedelta(hours=6)
            )
            status = "failed"
        cur.execute(
            """
            update reconciliation.alert_outbox set status = %s, attempts = %s, last_error = %s, response = %s,
                next_attempt_at = %s, sent_at = case when %s = 'sent' then now() end
            where alert_id = %s
            """,
            (status, attempts, None if response.ok else mask_text(response.describe()),
             mask_text(response.body)[:500], next_attempt, status, alert_id),
        )  # fmt: skip
    if status != "sent":
        log.warning(
            "the %s alert %s was not delivered (%s, %d request(s) so far)%s",
            alert["channel"], alert_id, mask_text(response.describe()), attempts,
            "; given up" if status == "gave_up" else f"; next try after {next_attempt:%Y-%m-%d %H:%M %Z}",
        )  # fmt: skip
    else:
        log.info("sent the %s alert %s", alert["channel"], alert_id)
    return {**alert, "status": status, "attempts": attempts, "last_error": response.describe()}


def _send_with_retries(
    alert: dict[str, Any], tries: int, pause: Callable[[float], None]
) -> tuple[Response, int]:
    delay = BACKOFF_SECONDS
    for tried in range(1, max(tries, 1) + 1):
        response = post(alert["channel"], alert["connection_id"], alert["payload"])
        if response.ok or not response.worth_retrying or tried >= tries:
            return response, tried
        pause(min(response.retry_after if response.retry_after is not None else delay, MAX_PAUSE_SECONDS))
        delay *= 2
    raise AssertionError("unreachable")


def _supersede(conn: psycopg.Connection, alert_id: str, run_id: str, alert: Alert) -> None:
    """Older unsent alerts about the same thing: the same incident, or the run's same Slack message
    (a failure message never replaces a result message, nor the other way round)."""
    if alert.dedup_key is not None:
        where, args = "dedup_key = %s", (alert.dedup_key,)
    else:
        where, args = "run_id = %s and channel = %s and event = %s", (run_id, alert.channel, alert.event)
    conn.execute(
        f"update reconciliation.alert_outbox set status = 'superseded'"  # noqa: S608 - fixed clauses
        f" where {where} and alert_id <> %s and status in ('pending', 'failed')",
        (*args, alert_id),
    )


def _incident_open(conn: psycopg.Connection, key: str) -> bool:
    """Whether the last event queued for this dedup key (sent or still to send) is a trigger."""
    row = conn.execute(
        "select event from reconciliation.alert_outbox where dedup_key = %s"
        " and status in ('pending', 'failed', 'sent') order by created_at desc, alert_id desc limit 1",
        (key,),
    ).fetchone()
    return row is not None and row[0] in ("trigger", "failure")


def _day_has(
    conn: psycopg.Connection, spec: str, day: datetime, run_id: str, column: str, value: str
) -> bool:
    """Whether another window of the same UTC day still stands at ``column = value``."""
    start = day.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    published = "status in ('success', 'discrepancy_found') and " if column == "severity" else ""
    return conn.execute(
        f"select exists (select 1 from reconciliation.runs where spec = %s and run_id <> %s"  # noqa: S608
        f" and window_start >= %s and window_start < %s and {published}{column} = %s)",
        (spec, run_id, start, start + timedelta(days=1), value),
    ).fetchone()[0]
