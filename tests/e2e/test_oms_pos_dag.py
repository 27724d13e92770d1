"""The ``oms_pos`` example spec end to end: in-store orders from the OMS's GraphQL API against the tills'
POS export over SFTP, keyed by (store, receipt number), through the real DAG and the spec's scenario.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal

import psycopg
import pytest

from include.scenarios.oms_pos import ORDERS, Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DAY = dt.date(2026, 11, 19)
RUN_ID = "oms_pos/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00"
SEP = chr(31)  # between the parts of a composite match key


@pytest.fixture
def oms_pos_dag(shipped_dag):
    return shipped_dag("oms_pos")


def test_orders_match_pos_lines_by_store_and_receipt_with_a_percent_tolerance(
    oms_pos_dag,
    run_scenario,
    warehouse: psycopg.Connection,
) -> None:
    scenario = Scenario(seed=3, day=DAY)
    (dag_run,) = run_scenario(oms_pos_dag, scenario)

    assert dag_run.state == "success"
    assert warehouse.execute(
        "select status, error_message from reconciliation.runs where run_id = %s", (RUN_ID,)
    ).fetchone() == ("discrepancy_found", None)

    missing, differs, close = scenario.missing_in_pos, scenario.channel_differs, scenario.within_tolerance
    breaks = warehouse.execute(
        "select match_key, left_record_keys, right_record_keys, break_class, missing_in, different_fields"
        " from reconciliation.run_breaks where run_id = %s order by break_class",
        (RUN_ID,),
    ).fetchall()
    assert breaks == [
        (
            f"S03{SEP}{differs['receiptNumber']}",
            [differs["id"]],
            [differs["receiptNumber"]],
            "attribute_mismatch",
            None,
            ["channel"],
        ),
        (f"S02{SEP}1002", [missing["id"]], None, "missing", "pos", []),
    ]
    assert Counter((row[3], row[4]) for row in breaks) == scenario.expected_breaks()
    # S01's receipt 1002 is a different order than the missing S02 one, and matched on its own.
    s01_1002 = warehouse.execute(
        "select left_record_keys, outcome from recon_intermediate.int_records_matched"
        " where run_id = %s and match_key = %s",
        (RUN_ID, f"S01{SEP}1002"),
    ).fetchall()
    assert s01_1002 == [([scenario.orders[3]["id"]], "matched")]

    tolerated = warehouse.execute(
        "select outcome, left_amount, right_amount, amount_difference from reconciliation.matches"
        " where run_id = %s and %s = any(left_record_keys)",
        (RUN_ID, close["id"]),
    ).fetchone()
    oms_total = Decimal(close["total"]["amount"])
    difference = (oms_total * Decimal("0.003")).quantize(Decimal("0.01"))
    assert difference > 0
    assert tolerated == ("matched_within_tolerance", oms_total, oms_total - difference, difference)

    summary = warehouse.execute(
        "select left_record_count, right_record_count, matched_count, matched_within_tolerance_count,"
        " attribute_mismatch_count, missing_in_right_count, break_count"
        " from reconciliation.run_summary where run_id = %s",
        (RUN_ID,),
    ).fetchall()
    assert summary == [(ORDERS, ORDERS - 1, ORDERS - 3, 1, 1, 1, 2)]
