"""The ``ticket_orders`` example spec end to end: the ticketing platform's REST API against the till's
``ticket_sales`` table in the app database, through the real DAG, with the spec's scenario as the peers.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import psycopg
import pytest

from include.sandbox.ticket_sales_db import TILL_STATUS
from include.scenarios.ticket_orders import ORDERS, Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DAY = dt.date(2026, 11, 19)
RUN_ID = "ticket_orders/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00"


@pytest.fixture
def ticket_orders_dag(shipped_dag):
    return shipped_dag("ticket_orders")


def test_platform_orders_against_the_tills_table_find_exactly_the_planted_breaks(
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
            (missing, "missing", "box_office", platform_status[missing], None),
            (
                changed,
                "amount_mismatch",
                None,
                platform_status[changed],
                TILL_STATUS[platform_status[changed]],
            ),
            (unbooked, "status_mismatch", None, "refunded", "sold"),
            (repeated, "duplicate", "platform", None, TILL_STATUS[platform_status[repeated]]),
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
    # The repeated key fails the staging contract's uniqueness check, which only warns.
    assert warehouse.execute(
        "select severity, is_success, unexpected_count from reconciliation.integrity_results"
        " where run_id = %s and expectation = 'expect_compound_columns_to_be_unique'",
        (RUN_ID,),
    ).fetchall() == [("warning", False, 2)]
