"""Three sources, two pairs, end to end: the shipped ``stripe_payouts`` spec through the real DAG against
the Stripe and SFTP sandboxes of its scenario. Payouts are matched N:1 with the balance transactions
they settle (by payout id) and with the bank's statement lines by a fallback rule (no shared key).
"""

from __future__ import annotations

import collections
import datetime as dt
from decimal import Decimal

import psycopg
import pytest

from include.scenarios.stripe_payouts import Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SCENARIO = Scenario(seed=3, day=dt.date(2026, 11, 19))
RUN_ID = "stripe_payouts/2026-11-16T00:00:00+00:00/2026-11-23T00:00:00+00:00"


@pytest.fixture
def payouts_dag(shipped_dag):
    return shipped_dag("stripe_payouts")


def test_payouts_are_checked_against_their_settlement_and_the_bank_and_only_the_planted_breaks_show(
    payouts_dag,
    run_scenario,
    warehouse: psycopg.Connection,
) -> None:
    week, plan = SCENARIO.week, SCENARIO.week.plan
    misbooked_line = next(line for line in week.bank_lines() if line.payout_id == plan.misbooked)
    (dag_run,) = run_scenario(payouts_dag, SCENARIO)

    assert dag_run.state == "success"
    assert warehouse.execute(
        "select status from reconciliation.runs where run_id = %s", (RUN_ID,)
    ).fetchone() == ("discrepancy_found",)
    breaks = warehouse.execute(
        "select pair, array_to_string(coalesce(left_record_keys, right_record_keys), ','), break_class,"
        " missing_in from reconciliation.run_breaks where run_id = %s",
        (RUN_ID,),
    ).fetchall()
    assert sorted(breaks) == sorted(
        [
            ("payouts_vs_bank", plan.unbooked, "missing", "bank"),
            ("payouts_vs_bank", plan.misbooked, "missing", "bank"),
            ("payouts_vs_bank", misbooked_line.bank_ref, "missing", "payouts"),
            ("payouts_vs_settlement", plan.unbalanced, "group_mismatch", None),
        ]
    )
    found = collections.Counter((break_class, missing_in) for _, _, break_class, missing_in in breaks)
    assert found == SCENARIO.expected_breaks()

    # The group mismatch is the planted 1.00: the payout against the sum of its settled nets.
    unbalanced = next(p for p in week.objects.payouts if p["id"] == plan.unbalanced)
    settled_net = sum(
        t["net"]
        for t in week.objects.balance_transactions
        if week.objects.settlements.get(t["id"]) == plan.unbalanced and t["type"] != "payout"
    )
    difference = warehouse.execute(
        "select left_amount, right_amount, amount_difference from reconciliation.run_breaks"
        " where run_id = %s and break_class = 'group_mismatch'",
        (RUN_ID,),
    ).fetchone()
    assert difference == (
        Decimal(unbalanced["amount"]) / 100,
        Decimal(settled_net) / 100,
        Decimal("1.00"),
    )

    payouts = len(week.objects.payouts)
    summary = dict(
        (pair, rest)
        for pair, *rest in warehouse.execute(
            "select pair, sum(matched_count), sum(pending_count), sum(group_mismatch_count),"
            " sum(missing_in_left_count), sum(missing_in_right_count), sum(break_count)"
            " from reconciliation.run_summary where run_id = %s group by pair",
            (RUN_ID,),
        ).fetchall()
    )
    assert summary == {
        "payouts_vs_settlement": [payouts - 1, 0, 1, 0, 0, 1],
        "payouts_vs_bank": [payouts - 3, 1, 0, 1, 2, 3],
    }
    pending = warehouse.execute(
        "select left_record_keys from recon_intermediate.int_records_matched"
        " where run_id = %s and outcome = 'pending'",
        (RUN_ID,),
    ).fetchall()
    assert pending == [([plan.recent],)]
    # Every bank line this week was matched by the fallback rule, none by key.
    rules = warehouse.execute(
        "select match_rule, count(*) from reconciliation.matches"
        " where run_id = %s and pair = 'payouts_vs_bank' and outcome = 'matched' group by match_rule",
        (RUN_ID,),
    ).fetchall()
    assert rules == [("same_amount_within_3_days", payouts - 3)]
    staged = dict(
        warehouse.execute(
            "select source, count(*) from staging.records where run_id = %s group by source",
            (RUN_ID,),
        ).fetchall()
    )
    charges = sum(1 for t in week.objects.balance_transactions if t["type"] == "charge")
    assert staged == {"payouts": payouts, "settled": charges, "bank": payouts - 2}
