"""Severity is how loud, not whether to stop: a ticketing business that wants negative sales as critical
alerts, not as a reconciliation that never happened. The shipped ``ticket_orders`` spec, with its
``amount_not_negative`` critical but marking (``on_fail: mark``) and Slack and PagerDuty on, through the
real DAG over ``NegativeSales``: 2 of 240 orders are negative (returns booked as sales, on both sides).
The run publishes its breaks, is critical because of the rule (no pair and currency is), pages on-call,
and Slack lists every failed rule with its count. The till also wrote one order twice with a different
amount: that copy is ``missing`` on the platform's side, not a ``duplicate``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
import yaml

from include.scenarios.ticket_orders import NEGATIVE_ORDERS, NEGATIVE_SALES, NegativeSales

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 11, 19)
RUN_ID = "ticket_orders/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00"
ALERTS = {"slack": {"connection": "slack_alerts"}, "pagerduty": {"connection": "pagerduty_alerts"}}
NOT_NEGATIVE = {
    "rule": "not_negative",
    "name": "amount_not_negative",  # replaces the default rule of that name
    "field": "amount",
    "severity": "critical",
    "on_fail": "mark",
}


def variant_rules() -> dict:
    """The shipped spec's rules, with ``amount_not_negative`` critical and marking."""
    shipped = yaml.safe_load((PROJECT_ROOT / "include" / "specs" / "ticket_orders.yml").read_text())["rules"]
    return {**shipped, "checks": [*shipped["checks"], NOT_NEGATIVE]}


def test_a_handful_of_negative_sales_under_a_critical_marking_rule_publish_page_and_are_listed(
    shipped_dag,
    run_scenario,
    alert_receiver,
    warehouse: psycopg.Connection,
) -> None:
    scenario = NegativeSales(seed=5, day=DAY)
    plan = scenario.plan
    assert NEGATIVE_SALES * 100 < NEGATIVE_ORDERS, "the premise: under 1 % of the orders"
    dag = shipped_dag("ticket_orders", rules=variant_rules(), alerts=ALERTS)

    (dag_run,) = run_scenario(dag, scenario)

    assert dag_run.state == "success"
    assert warehouse.execute(
        "select status, severity, error_message from reconciliation.runs where run_id = %s", (RUN_ID,)
    ).fetchone() == ("discrepancy_found", "critical", None)
    # Critical because of the rule: no pair and currency is over the critical percent.
    lines = warehouse.execute(
        "select distinct severity from reconciliation.run_summary where run_id = %s", (RUN_ID,)
    ).fetchall()
    assert {severity for (severity,) in lines} <= {"ok", "info", "warning"}

    breaks = warehouse.execute(
        "select break_class, missing_in, left_record_keys, right_record_keys"
        " from reconciliation.run_breaks where run_id = %s",
        (RUN_ID,),
    ).fetchall()
    (missing,), (changed,), (unbooked,) = plan.missing, plan.amount_changed, plan.refund_not_booked
    (repeated,), (copied,) = plan.repeated, plan.repeated_changed
    assert sorted(breaks, key=repr) == sorted(
        [
            ("missing", "box_office", [missing], None),
            ("amount_mismatch", None, [changed], [changed]),
            ("status_mismatch", None, [unbooked], [unbooked]),
            ("duplicate", "platform", None, [repeated]),
            # The copy that differs from the till's first row (one minor unit more): not a repeat.
            ("missing", "platform", None, [copied]),
        ],
        key=repr,
    )
    # The negative sales are reconciled like any other: each matches its till row.
    negatives = warehouse.execute(
        "select left_record_keys, outcome from reconciliation.matches where run_id = %s"
        " and left_record_keys && %s::text[]",
        (RUN_ID, scenario.negative),
    ).fetchall()
    assert sorted(negatives) == [([order], "matched") for order in scenario.negative]

    failed = warehouse.execute(
        "select rule_name, source, severity, unexpected_count, sample_record_ids"
        " from reconciliation.integrity_results where run_id = %s and not is_success",
        (RUN_ID,),
    ).fetchall()
    expected = scenario.expected_integrity()
    source_of = {
        "event_exists": ["platform"],
        "quantity_positive": ["platform"],
        "customer_email_not_null": ["platform"],
        "tickets_sold_match_orders": ["events"],
        "no_duplicates": ["box_office"],
        "amount_not_negative": ["box_office", "platform"],
    }
    assert sorted((rule, source, count, sample) for rule, source, _, count, sample in failed) == sorted(
        (rule, source, *expected[rule]) for rule, sources in source_of.items() for source in sources
    )
    assert {(source, severity) for rule, source, severity, *_ in failed if rule == "amount_not_negative"} == {
        ("platform", "critical"),
        ("box_office", "critical"),
    }

    received = alert_receiver.received()
    assert sorted(item["channel"] for item in received) == ["pagerduty", "slack"]
    (page,) = [item["body"] for item in received if item["channel"] == "pagerduty"]
    assert (page["event_action"], page["payload"]["severity"]) == ("trigger", "critical")
    assert "amount_not_negative" in str(page)
    slack = str(next(item["body"] for item in received if item["channel"] == "slack"))
    for rule, sources in source_of.items():
        count = expected[rule][0]
        for source in sources:
            assert f"{rule} on {source}: {count} row{'' if count == 1 else 's'}" in slack, (rule, source)
