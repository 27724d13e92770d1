"""The alert outbox against a real warehouse and the loopback receiver, through the real Slack and HTTP
provider hooks: queued once per run attempt, sent once, retried with backoff, never sent twice."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from include.sandbox.alert_receiver import AlertReceiver
from recon import warehouse
from recon.alerts.outbox import (
    BACKOFF_SECONDS,
    MAX_ATTEMPTS,
    MAX_PAUSE_SECONDS,
    TRIES,
    Alert,
    deliver,
    queue,
)
from tests.alerts.conftest import (
    ROUTING_KEY,
    SLACK_TOKEN,
    WINDOW,
    outbox_rows,
    page,
    slack_result,
    window,
)

pytestmark = pytest.mark.integration

RUN_ID = WINDOW.run_id
KEY = "recon/stripe_billing/2026-11-19"


def make_due(conn: psycopg.Connection) -> None:
    """Let the next round come: what ``recon_maintenance`` finds once ``next_attempt_at`` has passed."""
    conn.execute(
        "update reconciliation.alert_outbox set next_attempt_at = now() - interval '1 minute'"
        " where status = 'failed'"
    )


def only_row(conn: psycopg.Connection) -> dict[str, Any]:
    rows = outbox_rows(conn)
    assert len(rows) == 1
    return rows[0]


def statuses(receiver: AlertReceiver) -> list[int]:
    return [item["status"] for item in receiver.received()]


# Queuing


def test_queuing_the_same_alerts_twice_for_one_attempt_adds_nothing(db: psycopg.Connection) -> None:
    alerts = [slack_result(), page()]

    assert queue(db, RUN_ID, "stripe_billing", 1, alerts) == 2
    assert queue(db, RUN_ID, "stripe_billing", 1, alerts) == 0
    assert queue(db, RUN_ID, "stripe_billing", 1, alerts[:1]) == 0

    assert [(row["alert_id"], row["status"], row["attempts"]) for row in outbox_rows(db)] == [
        (f"{RUN_ID}#1#pagerduty#trigger#recon/stripe_billing/2026-11-19", "pending", 0),
        (f"{RUN_ID}#1#slack#result", "pending", 0),
    ]


def test_a_new_attempt_queues_again_and_supersedes_the_older_unsent_alerts_only(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [slack_result("first"), page(summary="first")])
    assert deliver(db, "stripe_billing", channel="slack", run_id=RUN_ID, pause=[].append).sent == 1

    assert queue(db, RUN_ID, "stripe_billing", 2, [slack_result("second"), page(summary="second")]) == 2

    assert {row["alert_id"]: row["status"] for row in outbox_rows(db)} == {
        f"{RUN_ID}#1#slack#result": "sent",
        f"{RUN_ID}#1#pagerduty#trigger#recon/stripe_billing/2026-11-19": "superseded",
        f"{RUN_ID}#2#slack#result": "pending",
        f"{RUN_ID}#2#pagerduty#trigger#recon/stripe_billing/2026-11-19": "pending",
    }
    deliver(db, "stripe_billing", run_id=RUN_ID, pause=[].append)
    # The outdated page never goes out; each Slack message once.
    assert [
        (item["channel"], item["body"].get("text") or item["body"]["payload"]["summary"])
        for item in receiver.received()
    ] == [("slack", "first"), ("pagerduty", "second"), ("slack", "second")]


def test_a_newer_alert_about_the_same_incident_supersedes_an_unsent_one_of_another_run(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    morning, afternoon = window(0, 12), window(12, 12)
    queue(db, morning.run_id, "stripe_billing", 1, [page("trigger")])

    queue(db, afternoon.run_id, "stripe_billing", 1, [page("resolve")])
    deliver(db, pause=[].append)

    assert [(row["run_id"], row["event"], row["status"]) for row in outbox_rows(db)] == [
        (morning.run_id, "trigger", "superseded"),
        (afternoon.run_id, "resolve", "sent"),
    ]
    assert [item["body"]["event_action"] for item in receiver.received()] == ["resolve"]


# Delivering


def test_deliver_sends_pending_alerts_through_the_hooks_and_marks_them_sent(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [slack_result("3 breaks"), page()])
    pauses: list[float] = []
    before = db.execute("select now()").fetchone()[0]

    delivery = deliver(db, "stripe_billing", run_id=RUN_ID, pause=pauses.append)

    assert (delivery.sent, delivery.undelivered, pauses) == (2, [], [])
    received = receiver.received()
    assert [(item["channel"], item["path"], item["status"]) for item in received] == [
        ("pagerduty", "/v2/enqueue", 202),
        ("slack", f"/services/{SLACK_TOKEN}", 200),
    ]
    event = received[0]["body"]
    assert (event["routing_key"], event["event_action"], event["dedup_key"]) == (ROUTING_KEY, "trigger", KEY)
    assert event["payload"] == {
        "summary": "recon stripe_billing 2026-11-19: trigger",
        "severity": "critical",
        "source": "recon/stripe_billing",
    }
    assert received[1]["body"] == {"text": "3 breaks"}
    pagerduty_row, slack_row = outbox_rows(db)
    for row in (pagerduty_row, slack_row):
        assert (row["status"], row["attempts"], row["last_error"], row["next_attempt_at"]) == (
            "sent",
            1,
            None,
            None,
        )
        assert row["sent_at"] >= before
    assert json.loads(pagerduty_row["response"]) == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": KEY,
    }
    assert slack_row["response"] == "ok"


def test_delivering_again_sends_nothing_twice(db: psycopg.Connection, receiver: AlertReceiver) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [slack_result(), page()])
    deliver(db, "stripe_billing", run_id=RUN_ID, pause=[].append)

    again = deliver(db, "stripe_billing", run_id=RUN_ID, pause=[].append)
    later = deliver(db, pause=[].append)

    assert (again.sent, again.undelivered, later.sent, later.undelivered) == (0, [], 0, [])
    assert len(receiver.received()) == 2


def test_deliver_keeps_to_the_channel_and_spec_it_is_given(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [slack_result(), page()])
    queue(db, "other_spec/run", "other_spec", 1, [slack_result("other spec")])

    assert deliver(db, "stripe_billing", channel="pagerduty", run_id=RUN_ID, pause=[].append).sent == 1
    assert deliver(db, "stripe_billing", pause=[].append).sent == 1

    assert [item["channel"] for item in receiver.received()] == ["pagerduty", "slack"]
    assert {row["spec"]: row["status"] for row in outbox_rows(db, "channel = 'slack'")} == {
        "stripe_billing": "sent",
        "other_spec": "pending",
    }


def test_alerts_are_sent_in_the_order_they_were_queued(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    # The afternoon's page is queued first, though the morning's run id sorts before it.
    queue(db, window(12, 12).run_id, "stripe_billing", 1, [page("trigger", KEY)])
    queue(db, window(0, 12).run_id, "stripe_billing", 1, [slack_result("morning")])
    queue(db, window(0, 12).run_id, "stripe_billing", 2, [page("resolve", f"{KEY}/failure")])

    assert deliver(db, pause=[].append).sent == 3

    assert [(item["channel"], item["body"].get("event_action")) for item in receiver.received()] == [
        ("pagerduty", "trigger"),
        ("slack", None),
        ("pagerduty", "resolve"),
    ]


def test_a_server_error_is_retried_after_a_pause(db: psycopg.Connection, receiver: AlertReceiver) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [slack_result()])
    receiver.fail_next(500)
    pauses: list[float] = []

    delivery = deliver(db, run_id=RUN_ID, pause=pauses.append)

    assert (delivery.sent, pauses) == (1, [BACKOFF_SECONDS])
    assert statuses(receiver) == [500, 200]
    row = only_row(db)
    assert (row["status"], row["attempts"], row["last_error"]) == ("sent", 2, None)


@pytest.mark.parametrize("alert", [slack_result(), page()], ids=["slack", "pagerduty"])
@pytest.mark.parametrize(("retry_after", "paused"), [(7, 7.0), (120, MAX_PAUSE_SECONDS)])
def test_a_rate_limited_send_waits_as_long_as_retry_after_says_up_to_a_cap(
    db: psycopg.Connection, receiver: AlertReceiver, alert: Alert, retry_after: int, paused: float
) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [alert])
    receiver.fail_next(429, retry_after=retry_after)
    pauses: list[float] = []

    assert deliver(db, run_id=RUN_ID, pause=pauses.append).sent == 1

    assert pauses == [paused]
    assert statuses(receiver) == [429, 200 if alert.channel == "slack" else 202]


def test_a_channel_down_for_the_whole_round_is_left_failed_for_a_later_round(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [page()])
    receiver.fail_next(500, times=TRIES)
    pauses: list[float] = []
    before = db.execute("select now()").fetchone()[0]

    delivery = deliver(db, "stripe_billing", run_id=RUN_ID, pause=pauses.append)

    assert delivery.sent == 0
    assert [(item["alert_id"], item["status"], item["attempts"]) for item in delivery.undelivered] == [
        (f"{RUN_ID}#1#pagerduty#trigger#recon/stripe_billing/2026-11-19", "failed", 3)
    ]
    assert pauses == [BACKOFF_SECONDS, 2 * BACKOFF_SECONDS]
    assert statuses(receiver) == [500, 500, 500]
    row = only_row(db)
    assert (row["status"], row["attempts"], row["sent_at"]) == ("failed", 3, None)
    assert row["last_error"].startswith("HTTP 500: ")
    assert timedelta(minutes=4) < row["next_attempt_at"] - before < timedelta(minutes=6)

    # Not due yet: neither recon_maintenance nor another run's notify task tries it.
    assert deliver(db, pause=pauses.append).sent == 0
    assert deliver(db, "stripe_billing", run_id=window(0, 12).run_id, pause=pauses.append).sent == 0
    assert len(receiver.received()) == 3

    make_due(db)
    assert deliver(db, pause=pauses.append).sent == 1

    assert statuses(receiver) == [500, 500, 500, 202]
    row = only_row(db)
    assert (row["status"], row["attempts"], row["last_error"], row["next_attempt_at"]) == (
        "sent",
        4,
        None,
        None,
    )


def test_the_pause_before_the_next_round_doubles(db: psycopg.Connection, receiver: AlertReceiver) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [slack_result()])
    receiver.fail_next(500, times=2 * TRIES)

    deliver(db, pause=[].append)
    make_due(db)
    before = db.execute("select now()").fetchone()[0]
    deliver(db, pause=[].append)

    row = only_row(db)
    assert (row["status"], row["attempts"]) == ("failed", 6)
    assert timedelta(minutes=9) < row["next_attempt_at"] - before < timedelta(minutes=11)


@pytest.mark.parametrize("alert", [slack_result(), page()], ids=["slack", "pagerduty"])
def test_an_unreachable_receiver_fails_the_alert_and_a_later_round_sends_it(
    db: psycopg.Connection, receiver: AlertReceiver, alert: Alert
) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [alert])
    port = int(receiver.base_url.rsplit(":", 1)[1])
    receiver.stop()
    pauses: list[float] = []

    delivery = deliver(db, run_id=RUN_ID, pause=pauses.append)

    assert (delivery.sent, len(delivery.undelivered), len(pauses)) == (0, 1, TRIES - 1)
    row = only_row(db)
    assert (row["status"], row["attempts"]) == ("failed", TRIES)
    assert row["last_error"].startswith(f"connection '{alert.connection_id}': ")
    assert row["next_attempt_at"] is not None

    # The same address comes back: the connection in the environment is unchanged.
    with AlertReceiver(receiver.store, port=port) as restarted:
        assert deliver(db, pause=pauses.append).sent == 0  # not due yet
        make_due(db)
        assert deliver(db, pause=pauses.append).sent == 1
        assert [item["channel"] for item in restarted.received()] == [alert.channel]

    assert (only_row(db)["status"], only_row(db)["attempts"]) == ("sent", TRIES + 1)


@pytest.mark.parametrize(
    ("alert", "error"),
    [
        (Alert("slack", "result", "slack_alerts", {"unfurl_links": False}), "HTTP 400: no_text"),
        (
            Alert("pagerduty", "trigger", "pagerduty_alerts", {**page().payload, "severity": "urgent"}, KEY),
            "HTTP 400: ",
        ),
    ],
    ids=["slack", "pagerduty"],
)
def test_an_invalid_alert_is_not_retried_within_the_round(
    db: psycopg.Connection, receiver: AlertReceiver, alert: Alert, error: str
) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [alert])
    pauses: list[float] = []

    delivery = deliver(db, run_id=RUN_ID, pause=pauses.append)

    assert (delivery.sent, pauses, statuses(receiver)) == (0, [], [400])
    row = only_row(db)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["last_error"].startswith(error)


def test_an_alert_is_given_up_after_max_attempts_requests(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [page()])
    receiver.fail_next(503, times=MAX_ATTEMPTS + TRIES)
    rounds = []
    for _ in range(MAX_ATTEMPTS):
        delivery = deliver(db, pause=[].append)
        assert delivery.sent == 0
        rounds.append([(item["status"], item["attempts"]) for item in delivery.undelivered])
        if only_row(db)["status"] != "failed":
            break
        make_due(db)

    assert rounds == [[("failed", 3)], [("failed", 6)], [("failed", 9)], [("failed", 12)], [("gave_up", 15)]]
    assert len(receiver.received()) == MAX_ATTEMPTS
    row = only_row(db)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("gave_up", MAX_ATTEMPTS, None)
    assert row["last_error"].startswith("HTTP 503: ")

    # Given up is final, even for its own run's notify task.
    make_due(db)
    assert deliver(db, "stripe_billing", run_id=RUN_ID, pause=[].append).sent == 0
    assert len(receiver.received()) == MAX_ATTEMPTS


def test_a_round_never_makes_more_requests_than_max_attempts_allows(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [page()])
    # Four rounds of invalid payloads (one request each) and three of outages: 13 requests so far.
    db.execute(
        "update reconciliation.alert_outbox set status = 'failed', attempts = %s,"
        " next_attempt_at = now() - interval '1 minute'",
        (MAX_ATTEMPTS - 2,),
    )
    receiver.fail_next(500, times=TRIES)

    deliver(db, pause=[].append)

    assert len(receiver.received()) == 2
    assert (only_row(db)["status"], only_row(db)["attempts"]) == ("gave_up", MAX_ATTEMPTS)


def test_two_senders_never_send_one_alert_twice(
    db: psycopg.Connection, warehouse_url: str, receiver: AlertReceiver
) -> None:
    queue(db, RUN_ID, "stripe_billing", 1, [slack_result()])
    db.execute("set lock_timeout = '5s'")  # a sender that waits for the claim fails instead of hanging

    with psycopg.connect(warehouse_url) as other, other.transaction():
        # The other sender has claimed the alert and is still sending it.
        claimed = other.execute(
            "select alert_id from reconciliation.alert_outbox where run_id = %s for update", (RUN_ID,)
        ).fetchall()
        assert len(claimed) == 1

        delivery = deliver(db, "stripe_billing", run_id=RUN_ID, pause=[].append)

        assert (delivery.sent, delivery.undelivered) == (0, [])
        assert receiver.received() == []
        assert (only_row(db)["status"], only_row(db)["attempts"]) == ("pending", 0)

    assert deliver(db, "stripe_billing", run_id=RUN_ID, pause=[].append).sent == 1
    assert deliver(db, pause=[].append).sent == 0
    assert len(receiver.received()) == 1


def test_an_alert_sent_before_the_sender_died_is_not_sent_again(
    db: psycopg.Connection, receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_PAGERDUTY_DOWN",
        json.dumps({"conn_type": "http", "host": "http://127.0.0.1:1", "password": ROUTING_KEY}),
    )
    queue(db, RUN_ID, "stripe_billing", 1, [slack_result()])
    queue(
        db,
        RUN_ID,
        "stripe_billing",
        1,
        [Alert("pagerduty", "trigger", "pagerduty_down", page().payload, KEY)],
    )

    def killed(_seconds: float) -> None:
        raise SystemExit("the worker was killed in the backoff pause")

    # On a connection as tasks.notify opens it (not autocommit): the Slack message goes out, then the
    # page's first request gets no answer and the worker is killed before the next.
    with pytest.raises(SystemExit), warehouse.connect("recon_warehouse") as conn:
        deliver(conn, "stripe_billing", run_id=RUN_ID, pause=killed)
    assert [item["channel"] for item in receiver.received()] == ["slack"]

    deliver(db, "stripe_billing", run_id=RUN_ID, pause=[].append)

    assert [item["channel"] for item in receiver.received()] == ["slack"]


def test_secrets_never_reach_the_outbox_or_the_logs(
    db: psycopg.Connection, receiver: AlertReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    queue(db, RUN_ID, "stripe_billing", 1, [slack_result(), page()])
    queue(db, RUN_ID, "stripe_billing", 2, [slack_result(), page()])
    receiver.fail_next(500, times=TRIES)  # the first page: failed
    undelivered = deliver(db, run_id=RUN_ID, pause=[].append).undelivered
    queue(db, RUN_ID, "stripe_billing", 3, [slack_result(), page()])
    receiver.fail_next(429, retry_after=1)
    deliver(db, run_id=RUN_ID, pause=[].append)
    receiver.stop()
    queue(db, RUN_ID, "stripe_billing", 4, [slack_result(), page()])
    undelivered += deliver(db, run_id=RUN_ID, pause=[].append).undelivered

    rows = outbox_rows(db)
    assert {row["status"] for row in rows} == {"sent", "failed", "superseded"}
    stored = json.dumps(rows, default=str)
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}"
        for record in caplog.records
        if record.name.startswith("recon")
    )
    assert "not delivered" in logged and "sent the" in logged
    for secret in (SLACK_TOKEN, ROUTING_KEY, SLACK_TOKEN.split("/")[-1]):
        assert secret not in stored
        assert secret not in logged
        assert secret not in json.dumps(undelivered, default=str)
