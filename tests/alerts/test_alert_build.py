"""Alert messages are pure functions of the result rows: what on-call receives is tested exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from recon.alerts.build import build_alerts, dedup_key, pagerduty_event, read_run, slack_message
from recon.spec import Alerts, PagerDutyAlert, SlackAlert, Spec, load_spec
from recon.window import RunWindow

EXAMPLE = Path(__file__).resolve().parents[2] / "include" / "specs" / "stripe_billing.yml"
SPEC = load_spec(EXAMPLE)
WINDOW = RunWindow("stripe_billing", datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))
RUN_ID = WINDOW.run_id


def with_alerts(slack: SlackAlert | None, pagerduty: PagerDutyAlert | None) -> Spec:
    return SPEC.model_copy(update={"alerts": Alerts(slack=slack, pagerduty=pagerduty, max_breaks_listed=10)})


def run_row(status: str, run_id: str = RUN_ID) -> dict:
    return {
        "run_id": run_id,
        "spec": "stripe_billing",
        "window_start": WINDOW.start,
        "window_end": WINDOW.end,
        "status": status,
        "airflow_run_id": "scheduled__2026-11-20T00:00:00+00:00",
        "error_message": None,
        "started_at": datetime(2026, 11, 20, 0, 5, tzinfo=UTC),
        "finished_at": datetime(2026, 11, 20, 0, 9, tzinfo=UTC),
    }


def summary_row(
    currency: str, *, discrepancy: str, breaks: tuple[int, int, int] = (0, 0, 0), **extra
) -> dict:
    missing_left, missing_right, mismatches = breaks
    count = missing_left + missing_right + mismatches
    return {
        "run_id": RUN_ID,
        "spec": "stripe_billing",
        "window_start": WINDOW.start,
        "window_end": WINDOW.end,
        "pair": "stripe_vs_internal",
        "currency": currency,
        "left_source": "stripe",
        "right_source": "internal",
        "left_record_count": 10,
        "right_record_count": 10 - missing_right + missing_left,
        "left_total_amount": Decimal("1000.00"),
        "right_total_amount": Decimal("1000.00") - Decimal(discrepancy),
        "net_difference_amount": Decimal(discrepancy),
        "matched_count": 10 - missing_right - mismatches,
        "missing_in_left_count": missing_left,
        "missing_in_right_count": missing_right,
        "amount_mismatch_count": mismatches,
        "break_count": count,
        "discrepancy_amount": Decimal(discrepancy),
        "discrepancy_percent": Decimal(discrepancy) / 10,
        "status": "discrepancy_found" if count else "success",
        "summarized_at": datetime(2026, 11, 20, 0, 8, tzinfo=UTC),
        **extra,
    }


def break_row(record_key: str, break_class: str, **values) -> dict:
    return {
        "break_id": f"id-{record_key}",
        "pair": "stripe_vs_internal",
        "run_id": RUN_ID,
        "spec": "stripe_billing",
        "window_start": WINDOW.start,
        "window_end": WINDOW.end,
        "left_record_keys": record_key,
        "right_record_keys": record_key,
        "break_class": break_class,
        "missing_in": None,
        "left_source": "stripe",
        "right_source": "internal",
        "left_amount": None,
        "right_amount": None,
        "amount_difference": None,
        "currency": "USD",
        "left_currency": "USD",
        "right_currency": "USD",
        "left_status": None,
        "right_status": None,
        "discrepancy_amount": Decimal(0),
        "occurred_at": datetime(2026, 11, 19, 8, tzinfo=UTC),
        "customer_email": None,
        "reference": None,
        "detected_at": datetime(2026, 11, 20, 0, 8, tzinfo=UTC),
        **values,
    }


BROKEN_SUMMARY = [
    summary_row("EUR", discrepancy="0"),
    summary_row("USD", discrepancy="62.50", breaks=(1, 1, 1)),
]
BREAKS = [
    break_row(
        "ch_mismatch",
        "amount_mismatch",
        left_amount=Decimal("50.00"),
        right_amount=Decimal("10.00"),
        amount_difference=Decimal("40.00"),
        customer_email="ada.lovelace@example.com",
    ),
    break_row(
        "ch_only_stripe",
        "missing",
        right_record_keys=None,
        missing_in="internal",
        left_amount=Decimal("12.50"),
        customer_email="grace.hopper@navy.mil",
    ),
    break_row(
        "ch_only_internal",
        "missing",
        left_record_keys=None,
        missing_in="stripe",
        right_amount=Decimal("10.00"),
    ),
]
CLEAN_SUMMARY = [summary_row("EUR", discrepancy="0"), summary_row("USD", discrepancy="0")]


def test_a_discrepancy_alerts_slack_and_pagerduty_on_their_connections() -> None:
    alerts = build_alerts(SPEC, run_row("discrepancy_found"), BROKEN_SUMMARY, BREAKS)

    assert [(alert.channel, alert.connection_id) for alert in alerts] == [
        ("slack", "slack_alerts"),
        ("pagerduty", "pagerduty_alerts"),
    ]


def test_a_success_alerts_slack_only_when_notify_on_success_is_set() -> None:
    quiet = with_alerts(SlackAlert(connection="slack_alerts"), PagerDutyAlert(connection="pd"))
    chatty = with_alerts(
        SlackAlert(connection="slack_alerts", notify_on_success=True), PagerDutyAlert(connection="pd")
    )

    assert build_alerts(quiet, run_row("success"), CLEAN_SUMMARY, []) == []
    alerts = build_alerts(chatty, run_row("success"), CLEAN_SUMMARY, [])
    assert [alert.channel for alert in alerts] == ["slack"]
    assert alerts[0].payload["text"].endswith("all records match")


def test_a_discrepancy_alerts_slack_even_without_notify_on_success() -> None:
    spec = with_alerts(SlackAlert(connection="slack_alerts", notify_on_success=False), None)

    alerts = build_alerts(spec, run_row("discrepancy_found"), BROKEN_SUMMARY, BREAKS)

    assert [alert.channel for alert in alerts] == ["slack"]


@pytest.mark.parametrize(
    ("threshold", "pages"),
    [("0", True), ("62.49", True), ("62.50", True), ("62.51", False), ("1000", False)],
)
def test_pagerduty_pages_only_when_the_gross_discrepancy_reaches_the_threshold(
    threshold: str, pages: bool
) -> None:
    spec = with_alerts(None, PagerDutyAlert(connection="pd", min_discrepancy_amount=Decimal(threshold)))

    alerts = build_alerts(spec, run_row("discrepancy_found"), BROKEN_SUMMARY, BREAKS)

    assert [alert.channel for alert in alerts] == (["pagerduty"] if pages else [])


def test_the_gross_discrepancy_adds_up_every_currency() -> None:
    spec = with_alerts(None, PagerDutyAlert(connection="pd", min_discrepancy_amount=Decimal("70")))
    summary = [summary_row("EUR", discrepancy="10.00", breaks=(0, 0, 1)), *BROKEN_SUMMARY[1:]]

    alerts = build_alerts(spec, run_row("discrepancy_found"), summary, BREAKS)

    assert [alert.channel for alert in alerts] == ["pagerduty"]  # 10.00 + 62.50 >= 70


def test_pagerduty_never_pages_for_a_successful_run() -> None:
    spec = with_alerts(None, PagerDutyAlert(connection="pd", min_discrepancy_amount=Decimal("0")))

    assert build_alerts(spec, run_row("success"), CLEAN_SUMMARY, []) == []


def test_the_slack_message_states_window_totals_and_largest_breaks() -> None:
    message = slack_message(SPEC, run_row("discrepancy_found"), BROKEN_SUMMARY, BREAKS)

    assert message["text"] == ":red_circle: *stripe_billing* 2026-11-19 00:00–2026-11-20 00:00 UTC: 3 breaks"
    texts = [block["text"]["text"] for block in message["blocks"] if block["type"] == "section"]
    assert texts[0] == message["text"]
    assert texts[1].splitlines()[1] == (
        "`USD` stripe 1000.00 (10) vs internal 937.50 (10): 3 breaks, missing in stripe 1,"
        " missing in internal 1, amount mismatches 1, discrepancy 62.50 (6.25%)"
    )
    assert texts[2].splitlines() == [
        "Largest breaks:",
        "`ch_mismatch / ch_mismatch` amount mismatch: 50.00 vs 10.00 USD (diff 40.00) · a***@e***.com",
        "`ch_only_stripe` missing in internal: 12.50 USD · g***@n***.mil",
        "`ch_only_internal` missing in stripe: 10.00 USD",
    ]
    context = message["blocks"][-1]["elements"][0]["text"]
    assert "reconciliation.run_breaks" in context
    assert RUN_ID in context


def test_the_slack_message_lists_the_runs_recommendations() -> None:
    run = {**run_row("discrepancy_found"), "recommendations": ["1 record is in stripe but not in internal."]}

    message = slack_message(SPEC, run, BROKEN_SUMMARY, BREAKS)

    texts = [block["text"]["text"] for block in message["blocks"] if block["type"] == "section"]
    assert "What to do:\n• 1 record is in stripe but not in internal." in texts


def test_emails_are_masked_in_both_messages() -> None:
    run = run_row("discrepancy_found")

    slack = json.dumps(slack_message(SPEC, run, BROKEN_SUMMARY, BREAKS))
    pagerduty = json.dumps(pagerduty_event(SPEC, run, BROKEN_SUMMARY, BREAKS))

    for text in (slack, pagerduty):
        assert "ada.lovelace@example.com" not in text
        assert "grace.hopper@navy.mil" not in text
        assert "lovelace" not in text
        assert "a***@e***.com" in text
        assert "g***@n***.mil" in text


def test_the_pagerduty_event_summarises_the_run_per_currency() -> None:
    event = pagerduty_event(SPEC, run_row("discrepancy_found"), BROKEN_SUMMARY, BREAKS)

    assert event["summary"] == "recon stripe_billing 2026-11-19 00:00–2026-11-20 00:00 UTC: 3 breaks"
    assert (event["severity"], event["source"], event["action"]) == (
        "error",
        "recon/stripe_billing",
        "trigger",
    )
    assert event["custom_details"]["run_id"] == RUN_ID
    assert event["custom_details"]["by_pair_and_currency"] == {
        "stripe_vs_internal EUR": {"breaks": 0, "discrepancy_amount": "0", "discrepancy_percent": "0"},
        "stripe_vs_internal USD": {"breaks": 3, "discrepancy_amount": "62.50", "discrepancy_percent": "6.25"},
    }
    assert len(event["custom_details"]["largest_breaks"]) == 3
    json.dumps(event)  # the payload goes into a jsonb column and over HTTP as it is


def test_the_dedup_key_is_stable_per_run_and_differs_across_runs() -> None:
    other = RunWindow(
        "stripe_billing", datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
    )

    first = pagerduty_event(SPEC, run_row("discrepancy_found"), BROKEN_SUMMARY, BREAKS)
    rerun = pagerduty_event(SPEC, run_row("discrepancy_found"), BROKEN_SUMMARY[1:], BREAKS[:1])
    next_day = pagerduty_event(SPEC, run_row("discrepancy_found", other.run_id), BROKEN_SUMMARY, BREAKS)

    assert first["dedup_key"] == rerun["dedup_key"] == dedup_key(RUN_ID)
    assert first["dedup_key"].startswith("recon-")
    assert next_day["dedup_key"] != first["dedup_key"]
    assert RUN_ID not in first["dedup_key"]


@pytest.mark.integration
@pytest.mark.parametrize("status", ["running", "error"])
def test_read_run_refuses_a_run_that_is_not_published(warehouse: psycopg.Connection, status: str) -> None:
    with warehouse.transaction():
        warehouse.execute(
            "insert into reconciliation.runs (run_id, spec, window_start, window_end, status)"
            " values (%s, %s, %s, %s, %s)",
            (RUN_ID, WINDOW.spec, WINDOW.start, WINDOW.end, status),
        )

    with pytest.raises(RuntimeError) as raised:
        read_run(warehouse, WINDOW, 10)

    assert str(raised.value) == f"run {RUN_ID!r} is not published; no alert is built from it"


@pytest.mark.integration
def test_read_run_refuses_a_run_that_was_never_started(warehouse: psycopg.Connection) -> None:
    with pytest.raises(RuntimeError) as raised:
        read_run(warehouse, WINDOW, 10)

    assert "is not published" in str(raised.value)
