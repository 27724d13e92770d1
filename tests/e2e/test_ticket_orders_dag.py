"""The ``ticket_orders`` example spec end to end: the ticketing platform's REST API against the till's
``ticket_sales`` table in the app database, through the real DAG, with the spec's scenario as the peers.
The box office's event catalogue is the spec's reference: the integrity rules check orders against it.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import psycopg
import pytest

from include.sandbox.ticket_sales_db import TILL_STATUS
from include.scenarios.ticket_orders import ORDERS, Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DAY = dt.date(2026, 11, 19)
RUN_ID = "ticket_orders/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00"
# The rules include/specs/ticket_orders.yml declares on top of the defaults.
DECLARED_RULES = ("quantity_positive", "customer_email_not_null", "event_exists", "tickets_sold_match_orders")


@pytest.fixture
def ticket_orders_dag(shipped_dag):
    return shipped_dag("ticket_orders")


def test_platform_orders_against_the_tills_table_find_exactly_the_planted_breaks_and_flaws(
    ticket_orders_dag,
    run_scenario,
    warehouse: psycopg.Connection,
) -> None:
    scenario = Scenario(seed=5, day=DAY)
    plan = scenario.plan
    (dag_run,) = run_scenario(ticket_orders_dag, scenario)

    assert dag_run.state == "success"
    assert warehouse.execute(
        "select status, error_message from reconciliation.runs where run_id = %s", (RUN_ID,)
    ).fetchone() == ("discrepancy_found", None)
    breaks = warehouse.execute(
        "select coalesce(left_record_keys, right_record_keys), break_class, missing_in, left_status,"
        " right_status from reconciliation.run_breaks where run_id = %s",
        (RUN_ID,),
    ).fetchall()
    platform_status = {sale["id"]: sale["status"] for sale in scenario.platform.sales()}
    (missing,) = plan.missing
    (changed,) = plan.amount_changed
    (unbooked,) = plan.refund_not_booked
    (repeated,) = plan.repeated
    assert sorted(breaks) == sorted(
        [
            ([missing], "missing", "box_office", platform_status[missing], None),
            (
                [changed],
                "amount_mismatch",
                None,
                platform_status[changed],
                TILL_STATUS[platform_status[changed]],
            ),
            ([unbooked], "status_mismatch", None, "refunded", "sold"),
            ([repeated], "duplicate", "platform", None, TILL_STATUS[platform_status[repeated]]),
        ]
    )
    assert Counter((row[1], row[2]) for row in breaks) == scenario.expected_breaks()

    summary = warehouse.execute(
        "select sum(left_record_count), sum(right_record_count), sum(matched_count),"
        " sum(missing_in_right_count), sum(amount_mismatch_count), sum(status_mismatch_count),"
        " sum(duplicate_count), sum(break_count) from reconciliation.run_summary where run_id = %s",
        (RUN_ID,),
    ).fetchone()
    # The till holds every order but one, plus the repeated row; all orders but the three with a
    # break on both sides (and the missing one) match.
    assert summary == (ORDERS, ORDERS, ORDERS - 3, 1, 1, 1, 1, 4)

    # Every rule the spec declares is stored as planted; none is critical, so the run published.
    integrity = warehouse.execute(
        "select rule_name, source, checkpoint, severity, is_success, unexpected_count, sample_record_ids,"
        " element_count from reconciliation.integrity_results where run_id = %s",
        (RUN_ID,),
    ).fetchall()
    declared = {row[0]: row[1:7] for row in integrity if row[0] in DECLARED_RULES}
    assert declared == {
        "quantity_positive": ("platform", "staging", "high", False, 1, [scenario.flawed["zero_quantity"]]),
        "customer_email_not_null": (
            "platform", "staging", "medium", False, 1, [scenario.flawed["no_buyer_email"]]
        ),
        "event_exists": ("platform", "staging", "high", False, 1, [scenario.flawed["unknown_event"]]),
        "tickets_sold_match_orders": ("events", "staging", "medium", False, 1, sorted(plan.miscounted)),
    }  # fmt: skip
    # The repeated till row, a duplicate in the matching, breaks the default no_duplicates (low).
    assert sorted(row[1:7] for row in integrity if row[0] == "no_duplicates") == [
        ("box_office", "results", "low", False, 1, [repeated]),
        ("platform", "results", "low", True, 0, []),
    ]
    # Nothing else failed: no record lost or counted twice, every default contract rule holds.
    failed = {row[0]: (row[5], row[6]) for row in integrity if not row[4]}
    assert failed == scenario.expected_integrity()
    invariants = {row[0]: (row[2], row[3], row[4], row[7]) for row in integrity if row[1] is None}
    assert invariants == {  # each checked on both sides of the one pair
        "records_accounted_once": ("results", "critical", True, 2),
        "counts_add_up": ("results", "critical", True, 2),
    }
    assert warehouse.execute(
        "select rule_name, source, unexpected_count from jsonb_to_recordset("
        "(select integrity_failures from reconciliation.runs where run_id = %s))"
        " as failure (rule_name text, source text, unexpected_count bigint)",
        (RUN_ID,),
    ).fetchall() == [
        ("event_exists", "platform", 1),
        ("quantity_positive", "platform", 1),
        ("customer_email_not_null", "platform", 1),
        ("tickets_sold_match_orders", "events", 1),
        ("no_duplicates", "box_office", 1),
    ]

    # Corrections of the till: every break planned, and the amount one minor unit off fixed by the run
    # itself when that unit is at most the spec's auto_apply_up_to (0.01: a cent, not a yen).
    corrections = {
        (key, kind): (status, auto, applied_by)
        for key, kind, status, auto, applied_by in warehouse.execute(
            "select record_key, kind, status, auto_apply, applied_by from reconciliation.corrections"
        ).fetchall()
    }
    (difference,) = warehouse.execute(
        "select abs(amount_difference) from reconciliation.run_breaks where run_id = %s"
        " and break_class = 'amount_mismatch'",
        (RUN_ID,),
    ).fetchone()
    auto = difference <= Decimal("0.01")
    assert corrections == {
        (missing, "insert"): ("planned", False, None),
        (changed, "update"): ("applied", True, "recon (auto)") if auto else ("planned", False, None),
        (unbooked, "update"): ("planned", False, None),
        (repeated, "delete"): ("planned", False, None),
    }
    audit = warehouse.execute("select actor, action from reconciliation.audit_log").fetchall()
    assert audit == ([("recon (auto)", "correction.apply")] if auto else [])
