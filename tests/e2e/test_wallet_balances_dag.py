"""Wallet balances to 18 decimals, end to end: the shipped ``wallet_balances`` spec through the real DAG
against its scenario's app database and chain indexer, both read whole (snapshots), then its corrections
planned and applied. What it proves: addresses spelled in another letter case are one wallet (the
pair's key form), tokens keep their declared decimals (a FLOW reading with one digit too many is
quarantined and its wallet unreadable, not missing), the 1e-8 tolerance holds on both sides of its
edge, an address the chain lists twice is a duplicate and never corrected from, and apply writes the
clean truth only.
"""

from __future__ import annotations

import collections
import datetime as dt
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from include.scenarios.wallet_balances import Scenario
from recon.corrections.apply import apply_corrections
from recon.corrections.plan import plan_corrections
from recon.spec import load_spec
from recon.warehouse import airflow_connection
from tests.e2e.conftest import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SCENARIO = Scenario(seed=11, day=dt.date(2026, 11, 19))
RUN_ID = "wallet_balances/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00"
PAIR = "wallet_balances_vs_chain"


def app_balances(url: str) -> dict[str, tuple[Decimal, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("select user_id, balance, currency from wallet_balances").fetchall()
    return {user: (balance, currency) for user, balance, currency in rows}


def test_wallets_match_the_chain_in_any_letter_case_and_corrections_write_only_clean_truth(
    shipped_dag,
    warehouse: psycopg.Connection,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    book, plan = SCENARIO.book, SCENARIO.book.plan
    dag = shipped_dag("wallet_balances")
    spec = load_spec(PROJECT_ROOT / "include" / "specs" / "wallet_balances.yml")
    monkeypatch.setenv("AIRFLOW_CONN_RECON_WAREHOUSE", airflow_connection(warehouse_url))
    warehouse.commit()
    with SCENARIO.serve(tmp_path) as connections:
        for conn_id, value in connections.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        app_db = SCENARIO.app_db
        assert app_db is not None
        dag_run = dag.test(logical_date=SCENARIO.logical_dates()[0])
        before = app_balances(app_db)

        # The dry run, then apply: what reaches the app is the chain's clean balances only.
        corrections = plan_corrections(warehouse, spec, "ada")
        unchanged_by_plan = app_balances(app_db)
        outcomes = apply_corrections(warehouse, spec, "ada")
        after = app_balances(app_db)

    assert dag_run.state == "success"
    run = warehouse.execute("select status, severity from reconciliation.runs where run_id = %s", (RUN_ID,))
    assert run.fetchone() == ("discrepancy_found", "critical")

    # The FLOW reading with 9 decimals is quarantined, naming the token's declared decimals.
    quarantined = warehouse.execute("select source, record_key, reason from staging.quarantine").fetchall()
    overprecise = book.spelled_on_chain(plan.overprecise)
    assert [(source, key) for source, key, _ in quarantined] == [("chain", overprecise)]
    assert "more decimals than FLOW allows (8, as declared under currencies)" in quarantined[0][2]

    breaks = warehouse.execute(
        "select match_key, break_class, missing_in, left_amount, right_amount"
        " from reconciliation.run_breaks where run_id = %s",
        (RUN_ID,),
    ).fetchall()
    doubled_rows = book.chain_rows(plan.doubled)
    assert len(doubled_rows) == 2 and doubled_rows[0].balance != book.balance(plan.doubled)
    drift_chain = book.chain_rows(plan.drift)[0].balance
    new_on_chain = book.chain_rows(plan.new_on_chain)[0]
    assert sorted(breaks, key=lambda b: (b[0], b[1])) == sorted(
        [
            (plan.drift, "balance_mismatch", None, book.balance(plan.drift), drift_chain),
            # Against the indexer's earlier reading; the later one is a repeat, never added to it.
            (plan.doubled, "balance_mismatch", None, book.balance(plan.doubled), doubled_rows[0].balance),
            (plan.doubled, "duplicate", "balances", None, doubled_rows[1].balance),  # no counterpart there
            (plan.unfunded, "missing", "chain", book.balance(plan.unfunded), None),
            (plan.new_on_chain, "missing", "balances", None, new_on_chain.balance),
            (plan.overprecise, "unreadable", "chain", book.balance(plan.overprecise), None),
        ],
        key=lambda b: (b[0], b[1]),
    )  # fmt: skip
    assert collections.Counter((b[1], b[2]) for b in breaks) == SCENARIO.expected_breaks()

    # Every other wallet matched although no address is spelled alike on both sides: exactly, or (the
    # planted edge) within the inclusive tolerance, with all 18 decimals carried through.
    outcomes_by_key = warehouse.execute(
        "select match_key, outcome, amount_difference, left_record_keys[1], right_record_keys[1]"
        " from recon_intermediate.int_records_matched where run_id = %s and pair = %s and not is_break",
        (RUN_ID, PAIR),
    ).fetchall()
    planted = {plan.drift, plan.doubled, plan.unfunded, plan.new_on_chain, plan.overprecise}
    expected = {a: ("matched", Decimal(0)) for a in book.addresses if a not in planted}
    expected[plan.edge] = ("matched_within_tolerance", Decimal("0.00000001"))
    assert {key: (outcome, diff) for key, outcome, diff, _, _ in outcomes_by_key} == expected
    assert all(
        left == key and right != key and right.lower() == key for key, _, _, left, right in outcomes_by_key
    )

    # Snapshots: every wallet is read, whenever the app last changed it (most before the day).
    staged = dict(
        warehouse.execute(
            "select source, count(*) from staging.records where run_id = %s group by source", (RUN_ID,)
        ).fetchall()
    )
    app_rows, chain_rows = book.rows
    assert staged == {"balances": len(app_rows), "chain": len(chain_rows) - 1}
    assert sum(w.updated_at < book.window[0] for w in app_rows) > 0
    tokens = warehouse.execute(
        "select currency, count(*) from staging.records where run_id = %s and source = 'balances'"
        " group by currency order by currency",
        (RUN_ID,),
    ).fetchall()
    assert tokens == sorted(collections.Counter(w.currency for w in app_rows).items())

    # Corrections: the drift is set to the chain's balance, the new address inserted in the app's
    # lower case; the doubled wallet's truth is in doubt, so it is refused, and the plan says why.
    assert unchanged_by_plan == before
    assert sorted((c.kind, c.record_key) for c in corrections.changes) == [
        ("insert", plan.new_on_chain),
        ("update", plan.drift),
    ]
    reasons = dict(corrections.skipped)
    break_of = dict(
        warehouse.execute(
            "select match_key || '/' || break_class, break_id from reconciliation.breaks where spec = %s",
            (spec.name,),
        ).fetchall()
    )
    assert reasons[break_of[f"{plan.doubled}/balance_mismatch"]].startswith(
        f"refused: the source of truth chain lists '{plan.doubled}' 2 times in run {RUN_ID}"
    )
    assert sorted(o.status for o in outcomes) == ["applied", "applied"]
    assert after == {
        **before,
        plan.drift: (drift_chain, before[plan.drift][1]),
        plan.new_on_chain: (new_on_chain.balance, new_on_chain.token),
    }
    assert after[plan.doubled] == before[plan.doubled], "nothing doubtful written"
    stored = warehouse.execute(
        "select status, outcome from reconciliation.corrections where break_id = %s",
        (break_of[f"{plan.doubled}/balance_mismatch"],),
    ).fetchall()
    assert [status for status, _ in stored] == ["refused"]
