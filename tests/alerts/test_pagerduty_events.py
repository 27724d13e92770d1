"""PagerDuty events are pure functions of a run's facts, and valid Events API v2 bodies once the
PagerDuty provider builds them (checked as the loopback receiver, like PagerDuty, checks them)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from airflow.providers.pagerduty.hooks.pagerduty_events import prepare_event_data

from include.sandbox.alert_receiver import _pagerduty_problem
from recon.alerts.facts import ClassCount, Links, RunFacts
from recon.alerts.pagerduty import dedup_key, failure, failure_dedup_key, resolve, trigger
from tests.alerts._rows import (
    AIRFLOW_RUN_ID,
    RUN_ID,
    WINDOW_END,
    WINDOW_START,
    break_row,
    missing_row,
    run_facts,
    run_row,
    summary_row,
)

ROUTING_KEY = "R0123456789abcdef0123456789abcd"
AIRFLOW_URL = "http://localhost:8080/dags/recon_stripe_billing/runs/scheduled__2026-11-20"
DASHBOARD_URL = "http://localhost:8501/?run=stripe_billing%2F2026-11-19"
LOG_URL = "http://localhost:8080/dags/recon_stripe_billing/runs/scheduled__2026-11-20/tasks/load_staging"
KEY = "recon/stripe_billing/2026-11-19"

SUMMARY = [
    summary_row(
        "EUR",
        left_total="980.10",
        right_total="980.10",
    ),
    summary_row(
        "USD",
        left_total="123456.78",
        right_total="115999.99",
        discrepancy="7456.79",
        discrepancy_percent="6.0400",
        severity="critical",
    ),
]
BREAKS = [
    missing_row("ch_unsynced", "internal", "7000.00", customer_email="ada.lovelace@example.com"),
    break_row(
        "+44 20 7946 0958",
        "amount_mismatch",
        left_amount=Decimal("500.00"),
        right_amount=Decimal("43.21"),
        amount_difference=Decimal("456.79"),
        discrepancy_amount=Decimal("456.79"),
    ),
]
RECOMMENDATIONS = [
    "1 record is in stripe but not in internal: sync it.",
    "Ask ada.lovelace@example.com about the refund.",
    "1 record differs in amount between stripe and internal beyond the tolerance.",
    "A fourth one that is not sent.",
]


def critical_facts(**run_values: Any) -> RunFacts:
    run = run_row(
        severity="critical",
        discrepancy_percent=Decimal("6.0400"),
        recommendations=RECOMMENDATIONS,
        **run_values,
    )
    counts = [ClassCount("missing", "internal", 1207), ClassCount("amount_mismatch", None, 1)]
    return run_facts(run, SUMMARY, BREAKS, counts=counts, links=Links(AIRFLOW_URL, DASHBOARD_URL))


def failure_event(
    error: str = "UniqueViolation: duplicate key for ada.lovelace@example.com",
) -> dict[str, Any]:
    return failure(
        "stripe_billing",
        "data-team",
        "error",
        dag_id="recon_stripe_billing",
        task_id="load_staging",
        airflow_run_id=AIRFLOW_RUN_ID,
        window_start=WINDOW_START,
        window="2026-11-19",
        error=error,
        log_url=LOG_URL,
    )


def events_api_body(event: dict[str, Any]) -> dict[str, Any]:
    """The body recon.alerts.send posts: the provider's event with the connection's routing key."""
    return {"routing_key": ROUTING_KEY, **prepare_event_data(**event, action_key_name="event_action")}


def test_the_dedup_key_is_one_per_spec_and_utc_day() -> None:
    assert dedup_key("stripe_billing", WINDOW_START) == KEY
    assert dedup_key("stripe_billing", WINDOW_START + timedelta(hours=23, minutes=45)) == KEY
    assert dedup_key("stripe_billing", WINDOW_END) == "recon/stripe_billing/2026-11-20"
    assert failure_dedup_key("stripe_billing", WINDOW_START) == f"{KEY}/failure"


def test_the_dedup_key_takes_the_utc_date_of_a_window_given_in_another_time_zone() -> None:
    start = datetime(2026, 11, 19, 1, 0, tzinfo=timezone(timedelta(hours=2)))

    assert dedup_key("stripe_billing", start) == "recon/stripe_billing/2026-11-18"
    assert failure_dedup_key("stripe_billing", start) == "recon/stripe_billing/2026-11-18/failure"


def test_a_trigger_is_keyed_by_the_utc_day_of_its_window() -> None:
    assert trigger(critical_facts(), "critical", "data-team")["dedup_key"] == KEY

    east = timezone(timedelta(hours=2))
    event = trigger(
        critical_facts(
            window_start=datetime(2026, 11, 19, 1, 0, tzinfo=east),
            window_end=datetime(2026, 11, 19, 1, 15, tzinfo=east),
        ),
        "critical",
        "data-team",
    )

    assert event["dedup_key"] == "recon/stripe_billing/2026-11-18"


def test_a_trigger_summarises_spec_window_percent_and_critical_threshold() -> None:
    event = trigger(critical_facts(), "critical", "data-team")

    assert event["summary"] == (
        "recon stripe_billing 2026-11-19: 6.04 % discrepancy (critical above 5.00 %), 1,208 breaks"
    )


def test_a_trigger_says_how_many_breaks_are_of_a_class_rated_critical() -> None:
    summary = [summary_row("KES", discrepancy="5.00", discrepancy_percent="0.5", severity="critical",
                           critical_class_break_count=1)]  # fmt: skip
    facts = run_facts(run_row(severity="critical", discrepancy_percent=Decimal("0.5")), summary, [])

    event = trigger(facts, "critical", "payments-ops")

    assert event["summary"].endswith(
        "0.50 % discrepancy (critical above 5.00 %), 0 breaks; 1 of a class rated critical"
        " (reconcile severity.classes)"
    )


FAILURES = [
    {"rule_name": "amount_not_negative", "severity": "critical", "on_fail": "mark", "source": "internal",
     "unexpected_count": 3, "unexpected_percent": "0.4231"},
    {"rule_name": "records_have_a_key", "severity": "critical", "on_fail": "quarantine", "source": "stripe",
     "unexpected_count": 1, "unexpected_percent": "0.01"},
    {"rule_name": "customer_email_format", "severity": "medium", "on_fail": "mark", "source": "internal",
     "unexpected_count": 12, "unexpected_percent": "1.5"},
]  # fmt: skip


def test_a_trigger_names_every_critical_rule_failed_and_details_every_failed_rule() -> None:
    event = trigger(critical_facts(integrity_failures=FAILURES), "critical", "data-team")

    assert event["summary"] == (
        "recon stripe_billing 2026-11-19: 6.04 % discrepancy (critical above 5.00 %), 1,208 breaks;"
        " critical integrity rules failed: amount_not_negative on internal (3 rows),"
        " records_have_a_key on stripe (1 row)"
    )
    assert event["custom_details"]["integrity_rules_failed"] == [
        "critical amount_not_negative on internal: 3 rows (0.42 %)",
        "critical records_have_a_key on stripe: 1 row (0.01 %), moved to quarantine",
        "medium customer_email_format on internal: 12 rows (1.50 %)",
    ]
    assert _pagerduty_problem(events_api_body(event)) is None


def test_a_trigger_without_failed_rules_says_nothing_of_them() -> None:
    event = trigger(critical_facts(), "critical", "data-team")

    assert "integrity" not in event["summary"]
    assert event["custom_details"]["integrity_rules_failed"] == []
    assert event["custom_details"]["quarantined_rows"] == 0


def test_a_trigger_summary_is_cut_to_pagerdutys_limit() -> None:
    event = trigger(critical_facts(spec="stripe_" + "billing" * 300), "critical", "data-team")

    assert len(event["summary"]) == 1024
    assert event["summary"].startswith("recon stripe_billing")


@pytest.mark.parametrize("severity", ["critical", "error", "warning"])
def test_a_trigger_has_the_severity_it_is_given(severity: str) -> None:
    assert trigger(critical_facts(), severity, "data-team")["severity"] == severity


def test_a_trigger_names_source_component_group_and_class() -> None:
    event = trigger(critical_facts(), "critical", "data-team")

    assert event["action"] == "trigger"
    assert event["source"] == "recon/stripe_billing"
    assert event["component"] == "stripe_vs_internal"
    assert event["group"] == "data-team"
    assert event["class_type"] == "reconciliation_discrepancy"


def test_the_component_lists_each_pair_once_and_falls_back_to_the_spec() -> None:
    summary = [
        *SUMMARY,
        summary_row("USD", pair="stripe_vs_ledger", right_source="ledger"),
        summary_row("EUR", pair="stripe_vs_ledger", right_source="ledger"),
    ]
    facts = run_facts(run_row(severity="critical"), summary, BREAKS)

    assert trigger(facts, "critical", "data-team")["component"] == "stripe_vs_internal, stripe_vs_ledger"
    assert trigger(run_facts(run_row(), [], []), "critical", "data-team")["component"] == "stripe_billing"


def test_custom_details_carry_exact_totals_per_pair_and_currency() -> None:
    details = trigger(critical_facts(), "critical", "data-team")["custom_details"]

    assert details["run_id"] == RUN_ID
    assert (details["window_start"], details["window_end"]) == (
        "2026-11-19T00:00:00+00:00",
        "2026-11-20T00:00:00+00:00",
    )
    assert details["status"] == "discrepancy_found"
    assert details["discrepancy_percent"] == "6.0400"
    assert details["totals"] == [
        {
            "pair": "stripe_vs_internal",
            "currency": "EUR",
            "stripe": "980.10",
            "internal": "980.10",
            "discrepancy_amount": "0",
            "discrepancy_percent": "0",
            "severity": "ok",
        },
        {
            "pair": "stripe_vs_internal",
            "currency": "USD",
            "stripe": "123456.78",
            "internal": "115999.99",
            "discrepancy_amount": "7456.79",
            "discrepancy_percent": "6.0400",
            "severity": "critical",
        },
    ]


def test_custom_details_count_breaks_per_class_in_words() -> None:
    details = trigger(critical_facts(), "critical", "data-team")["custom_details"]

    assert details["breaks_by_class"] == {"missing in internal": 1207, "amount mismatches": 1}
    assert details["still_open_from_earlier_runs"] == 0


def test_custom_details_count_the_breaks_still_open_from_earlier_runs() -> None:
    facts = critical_facts()
    facts = run_facts(
        facts.run, facts.summary, facts.breaks, counts=facts.counts, still_open=35, seen_again=7
    )

    assert trigger(facts, "critical", "data-team")["custom_details"]["still_open_from_earlier_runs"] == 35


def test_custom_details_carry_the_top_three_recommendations_masked() -> None:
    details = trigger(critical_facts(), "critical", "data-team")["custom_details"]

    assert details["recommendations"] == [
        "1 record is in stripe but not in internal: sync it.",
        "Ask a***@e***.com about the refund.",
        "1 record differs in amount between stripe and internal beyond the tolerance.",
    ]


def test_custom_details_list_the_largest_breaks_masked() -> None:
    event = trigger(critical_facts(), "critical", "data-team")

    assert event["custom_details"]["largest_breaks"] == [
        "ch_unsynced missing in internal: 7,000.00 USD in stripe [stripe vs internal] · a***@e***.com",
        "***58 amount mismatch: 500.00 vs 43.21 USD (456.79 apart) [stripe vs internal]",
    ]
    text = json.dumps(event, ensure_ascii=False)
    for personal in ("ada.lovelace", "lovelace@", "7946", "+44 20"):
        assert personal not in text


def test_a_trigger_links_the_airflow_run_and_the_dashboard() -> None:
    assert trigger(critical_facts(), "critical", "data-team")["links"] == [
        {"href": AIRFLOW_URL, "text": "Airflow run"},
        {"href": DASHBOARD_URL, "text": "recon dashboard"},
    ]
    no_dashboard = run_facts(run_row(severity="critical"), SUMMARY, BREAKS, links=Links(AIRFLOW_URL))
    assert trigger(no_dashboard, "critical", "data-team")["links"] == [
        {"href": AIRFLOW_URL, "text": "Airflow run"}
    ]
    assert (
        trigger(run_facts(run_row(severity="critical"), SUMMARY, BREAKS), "critical", "data-team")["links"]
        == []
    )


def test_a_trigger_is_a_valid_events_api_v2_body_once_the_provider_builds_it() -> None:
    event = trigger(critical_facts(), "critical", "data-team")

    body = events_api_body(event)

    assert _pagerduty_problem(body) is None
    assert body["event_action"] == "trigger"
    assert body["dedup_key"] == KEY
    assert body["links"] == event["links"]
    payload = body["payload"]
    assert payload["summary"] == event["summary"]
    assert payload["source"] == "recon/stripe_billing"
    assert payload["severity"] == "critical"
    assert payload["component"] == "stripe_vs_internal"
    assert payload["group"] == "data-team"
    assert payload["class"] == "reconciliation_discrepancy"
    assert payload["custom_details"] == event["custom_details"]
    assert json.loads(json.dumps(body)) == body  # JSON as it is: stored in jsonb, posted over HTTP


def test_a_resolve_closes_the_days_incident() -> None:
    event = resolve(
        KEY, "stripe_billing", "stripe_billing 2026-11-19: a rerun is within the critical threshold"
    )

    assert event == {
        "action": "resolve",
        "dedup_key": KEY,
        "summary": "stripe_billing 2026-11-19: a rerun is within the critical threshold",
        "severity": "info",
        "source": "recon/stripe_billing",
    }
    body = events_api_body(event)
    assert _pagerduty_problem(body) is None
    assert (body["event_action"], body["dedup_key"]) == ("resolve", KEY)


def test_a_failure_pages_under_the_days_failure_key() -> None:
    event = failure_event()

    assert event["action"] == "trigger"
    assert event["dedup_key"] == f"{KEY}/failure"
    assert event["class_type"] == "pipeline_failure"
    assert event["severity"] == "error"
    assert event["source"] == "recon/stripe_billing"
    assert event["component"] == "load_staging"
    assert event["group"] == "data-team"
    assert event["summary"] == (
        "recon stripe_billing 2026-11-19: the reconciliation failed in load_staging:"
        " UniqueViolation: duplicate key for a***@e***.com"
    )
    assert event["custom_details"] == {
        "dag_id": "recon_stripe_billing",
        "task_id": "load_staging",
        "airflow_run_id": AIRFLOW_RUN_ID,
        "error": "UniqueViolation: duplicate key for a***@e***.com",
    }
    assert event["links"] == [{"href": LOG_URL, "text": "Task log in Airflow"}]


def test_a_failure_that_lists_several_rules_is_summarised_on_one_line() -> None:
    error = (
        "AirflowFailException: staging checkpoint: 1 rule set to stop the run failed (2 failed in all):\n"
        "- amount_not_negative on internal (stop, critical): 2 unexpected rows (1.2 %), e.g. o1, o2\n"
        "- customer_email_format on internal (mark, medium): 1 unexpected row (0.6 %), e.g. o3"
    )

    event = failure_event(error)

    assert event["summary"] == (
        "recon stripe_billing 2026-11-19: the reconciliation failed in load_staging: AirflowFailException:"
        " staging checkpoint: 1 rule set to stop the run failed (2 failed in all):"
        " amount_not_negative on internal (stop, critical): 2 unexpected rows (1.2 %), e.g. o1, o2;"
        " customer_email_format on internal (mark, medium): 1 unexpected row (0.6 %), e.g. o3"
    )
    assert event["custom_details"]["error"] == error  # as the task said it, one rule a line


def test_a_failure_is_a_valid_events_api_v2_body_even_with_a_long_error() -> None:
    event = failure_event("Traceback (most recent call last):\n" + "  line\n" * 2000)

    body = events_api_body(event)

    assert _pagerduty_problem(body) is None
    assert body["dedup_key"] == f"{KEY}/failure"
    assert body["payload"]["class"] == "pipeline_failure"
    assert len(body["payload"]["summary"]) == 1024
    assert len(body["payload"]["custom_details"]["error"]) == 4000


def test_the_receiver_would_reject_an_event_without_its_routing_key() -> None:
    # The check the events above pass is a real one.
    body = events_api_body(trigger(critical_facts(), "critical", "data-team"))

    assert _pagerduty_problem({**body, "routing_key": ""}) == "'routing_key' is missing or blank"
    assert _pagerduty_problem({**body, "payload": {**body["payload"], "severity": "fatal"}}) == (
        "'payload.severity' is missing or invalid"
    )
