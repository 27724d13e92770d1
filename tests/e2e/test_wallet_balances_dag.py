"""Per-entity balances to 18 decimals, end to end: the shipped ``wallet_balances`` spec through the real
DAG against its scenario's app database, with a tolerance of 1e-8 tested on both sides of its edge.
"""

from __future__ import annotations

import collections
import datetime as dt
from decimal import Decimal

import psycopg
import pytest

from include.scenarios.wallet_balances import Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SCENARIO = Scenario(seed=11, day=dt.date(2026, 11, 19))
RUN_ID = "wallet_balances/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00"
PAIR = "wallet_balances_vs_ledger"


@pytest.fixture
def wallets_dag(shipped_dag):
    return shipped_dag("wallet_balances")


def test_wallet_balances_match_their_ledger_to_the_inclusive_1e_8_edge_and_no_further(
    wallets_dag,
    run_scenario,
    warehouse: psycopg.Connection,
) -> None:
    book, plan = SCENARIO.book, SCENARIO.book.plan
    (dag_run,) = run_scenario(wallets_dag, SCENARIO)

    assert dag_run.state == "success"
    status = warehouse.execute("select status from reconciliation.runs where run_id = %s", (RUN_ID,))
    assert status.fetchone() == ("discrepancy_found",)
    assert warehouse.execute("select count(*) from staging.quarantine").fetchone() == (0,)

    breaks = warehouse.execute(
        "select match_key, break_class, missing_in, left_amount, right_amount, amount_difference"
        " from reconciliation.run_breaks where run_id = %s order by break_class",
        (RUN_ID,),
    ).fetchall()
    drift = book.balance(plan.drift) - book.ledger_sum(plan.drift)
    assert drift == Decimal("-0.00000002")
    assert breaks == [
        (plan.drift, "balance_mismatch", None, book.balance(plan.drift), book.ledger_sum(plan.drift), drift),
        (plan.unledgered, "missing", "ledger", book.balance(plan.unledgered), None, None),
    ]
    found = collections.Counter((b[1], b[2]) for b in breaks)
    assert found == SCENARIO.expected_breaks()

    # Every other wallet matched: exactly, or (the planted edge) within the inclusive tolerance, with
    # all 18 decimals carried through staging and the sums.
    outcomes = warehouse.execute(
        "select match_key, outcome, amount_difference from recon_intermediate.int_records_matched"
        " where run_id = %s and pair = %s and not is_break",
        (RUN_ID, PAIR),
    ).fetchall()
    expected_matched = {
        wallet.user_id: ("matched", Decimal(0))
        for wallet in book.rows[0]
        if wallet.user_id not in (plan.edge, plan.drift, plan.unledgered)
    }
    expected_matched[plan.edge] = ("matched_within_tolerance", Decimal("0.00000001"))
    assert {key: (outcome, difference) for key, outcome, difference in outcomes} == expected_matched
    entries = len(book.rows[1])
    staged = dict(
        warehouse.execute(
            "select source, count(*) from staging.records where run_id = %s group by source", (RUN_ID,)
        ).fetchall()
    )
    assert staged == {"balances": book.wallets, "ledger": entries}
    currencies = warehouse.execute(
        "select currency, count(*) from staging.records where run_id = %s and source = 'balances'"
        " group by currency order by currency",
        (RUN_ID,),
    ).fetchall()
    assert currencies == [("ETH", 4), ("EUR", 4), ("USD", 4)]
