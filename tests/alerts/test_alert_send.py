"""Sending the outbox through the real Airflow Slack and HTTP hooks to a loopback alert receiver."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from include.sandbox.alert_receiver import AlertReceiver
from recon.alerts.build import Alert, build_alerts, dedup_key, write_outbox
from recon.alerts.send import send_pending
from recon.spec import load_spec
from recon.window import RunWindow

pytestmark = pytest.mark.integration

SPEC = load_spec(Path(__file__).resolve().parents[2] / "include" / "specs" / "stripe_billing.yml")
WINDOW = RunWindow("stripe_billing", datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))
SLACK_TOKEN = "T0TEST/B0TEST/x"
ROUTING_KEY = "R" + secrets.token_hex(15)

RUN = {
    "run_id": WINDOW.run_id,
    "window_start": WINDOW.start,
    "window_end": WINDOW.end,
    "status": "discrepancy_found",
}
SUMMARY = [
    {
        "pair": "stripe_vs_internal",
        "currency": "USD",
        "left_source": "stripe",
        "right_source": "internal",
        "left_total_amount": Decimal("100.00"),
        "right_total_amount": Decimal("60.00"),
        "left_record_count": 2,
        "right_record_count": 2,
        "missing_in_left_count": 0,
        "missing_in_right_count": 0,
        "amount_mismatch_count": 1,
        "break_count": 1,
        "discrepancy_amount": Decimal("40.00"),
        "discrepancy_percent": Decimal("40.0000"),
    }
]
BREAKS = [
    {
        "left_record_keys": "ch_mismatch",
        "right_record_keys": "ch_mismatch",
        "break_class": "amount_mismatch",
        "missing_in": None,
        "left_amount": Decimal("50.00"),
        "right_amount": Decimal("10.00"),
        "amount_difference": Decimal("40.00"),
        "currency": "USD",
        "customer_email": "ada.lovelace@example.com",
    }
]


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertReceiver]:
    with AlertReceiver(tmp_path / "alerts.jsonl") as running:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SLACK_ALERTS",
            json.dumps(
                {"conn_type": "slackwebhook", "host": f"{running.base_url}/services", "password": SLACK_TOKEN}
            ),
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_PAGERDUTY_ALERTS",
            json.dumps({"conn_type": "http", "host": running.base_url, "password": ROUTING_KEY}),
        )
        yield running


def queue_alerts(conn: psycopg.Connection) -> list[Alert]:
    alerts = build_alerts(SPEC, RUN, SUMMARY, BREAKS)
    assert [alert.channel for alert in alerts] == ["slack", "pagerduty"]
    assert write_outbox(conn, WINDOW, alerts) == 2
    return alerts


def outbox(conn: psycopg.Connection) -> dict[str, tuple]:
    rows = conn.execute(
        "select channel, status, attempts, last_error, sent_at is not null from reconciliation.alert_outbox"
        " where run_id = %s",
        (WINDOW.run_id,),
    ).fetchall()
    return {row[0]: row[1:] for row in rows}


def test_pending_alerts_reach_slack_and_pagerduty_and_are_marked_sent(
    warehouse: psycopg.Connection, receiver: AlertReceiver
) -> None:
    alerts = queue_alerts(warehouse)

    assert send_pending(warehouse, WINDOW, "slack") == 1
    assert send_pending(warehouse, WINDOW, "pagerduty") == 1

    received = receiver.received()
    assert [(item["channel"], item["path"]) for item in received] == [
        ("slack", f"/services/{SLACK_TOKEN}"),
        ("pagerduty", "/v2/enqueue"),
    ]
    slack_body, pagerduty_body = received[0]["body"], received[1]["body"]
    assert slack_body["text"] == alerts[0].payload["text"]
    assert slack_body["blocks"] == alerts[0].payload["blocks"]
    assert pagerduty_body["routing_key"] == ROUTING_KEY
    assert pagerduty_body["event_action"] == "trigger"
    assert pagerduty_body["dedup_key"] == dedup_key(WINDOW.run_id)
    assert pagerduty_body["payload"]["summary"] == alerts[1].payload["summary"]
    assert pagerduty_body["payload"]["severity"] == "error"
    assert pagerduty_body["payload"]["source"] == "recon/stripe_billing"
    assert pagerduty_body["payload"]["custom_details"]["run_id"] == WINDOW.run_id
    assert "ada.lovelace@example.com" not in json.dumps(received)
    assert outbox(warehouse) == {"slack": ("sent", 1, None, True), "pagerduty": ("sent", 1, None, True)}


def test_sent_alerts_are_not_sent_again(warehouse: psycopg.Connection, receiver: AlertReceiver) -> None:
    queue_alerts(warehouse)
    send_pending(warehouse, WINDOW, "slack")

    assert send_pending(warehouse, WINDOW, "slack") == 0

    assert [item["channel"] for item in receiver.received()] == ["slack"]
    assert outbox(warehouse)["slack"] == ("sent", 1, None, True)
    assert outbox(warehouse)["pagerduty"] == ("pending", 0, None, False)


@pytest.mark.parametrize(
    ("channel", "conn_id"), [("slack", "slack_alerts"), ("pagerduty", "pagerduty_alerts")]
)
def test_an_unreachable_receiver_fails_the_alert_and_a_later_call_sends_it(
    warehouse: psycopg.Connection, receiver: AlertReceiver, channel: str, conn_id: str
) -> None:
    queue_alerts(warehouse)
    port = int(receiver.base_url.rsplit(":", 1)[1])
    receiver.stop()

    with pytest.raises(RuntimeError) as raised:
        send_pending(warehouse, WINDOW, channel)

    assert str(raised.value).startswith(f"connection {conn_id!r}: sending the {channel} alert failed:")
    status, attempts, last_error, sent = outbox(warehouse)[channel]
    assert (status, attempts, sent) == ("failed", 1, False)
    assert last_error
    assert receiver.received() == []

    # The same address comes back: the connection in the environment is unchanged.
    with AlertReceiver(receiver.store, port=port) as restarted:
        assert send_pending(warehouse, WINDOW, channel) == 1
        assert [item["channel"] for item in restarted.received()] == [channel]

    assert outbox(warehouse)[channel] == ("sent", 2, None, True)
