"""Three sources, two pairs, end to end: the shipped ``stripe_payouts`` spec through the real DAG against
the Stripe and SFTP sandboxes of its scenario. Payouts are matched N:1 with the balance transactions
they settle, refunds (negative nets) included, and with the bank's statement lines by the payout id cut
out of the purpose text, or by the fallback rule for lines whose text lost it. One run, every planted
case asserted: a late credit (by key and by the rule), a short credit, a credit for an unknown payout,
several unrelated lines quoting one unknown payout id.
"""

from __future__ import annotations

import collections
import datetime as dt
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from include.sandbox.payouts import SHARED_LINES
from include.scenarios.stripe_payouts import Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SCENARIO = Scenario(seed=3, day=dt.date(2026, 11, 19))
RUN_ID = "stripe_payouts/2026-11-16T00:00:00+00:00/2026-11-23T00:00:00+00:00"
RULE = "same_amount_within_5_days"
SPEC_PATH = Path(__file__).resolve().parents[2] / "include" / "specs" / "stripe_payouts.yml"


def major(minor: int) -> Decimal:
    return Decimal(minor).scaleb(-2)  # USD and EUR, the week's currencies


@pytest.fixture
def payouts_dag(shipped_dag):
    return shipped_dag("stripe_payouts")


def test_payouts_with_refunds_are_checked_against_their_settlement_and_the_bank_and_each_planted_case_shows(
    payouts_dag,
    run_scenario,
    warehouse: psycopg.Connection,
) -> None:
    week, plan = SCENARIO.week, SCENARIO.week.plan
    objects = week.objects
    payouts = {p["id"]: p for p in objects.payouts}
    lines = week.bank_lines()
    ref = {line.payout_id: line.bank_ref for line in lines if line.payout_id != plan.shared}
    shared_refs = sorted(line.bank_ref for line in lines if line.payout_id == plan.shared)
    settled = collections.defaultdict(list)
    for txn in objects.balance_transactions:
        if txn["type"] in ("charge", "refund"):
            settled[objects.settlements[txn["id"]]].append(txn)
    refunds = [t for t in objects.balance_transactions if t["type"] == "refund"]
    # The premises: refunds are settled by payouts that match, and the unbooked payout is over the
    # critical 5 % of its currency's volume (the larger side's sum) while each stranger's line is under.
    with_refunds = {p for p, txns in settled.items() if any(t["type"] == "refund" for t in txns)}
    assert with_refunds - {plan.unbalanced}
    unbooked = payouts[plan.unbooked]
    in_currency = [p["amount"] for p in objects.payouts if p["currency"] == unbooked["currency"]]
    assert unbooked["amount"] * 100 > 5 * sum(in_currency)
    assert len(shared_refs) == SHARED_LINES

    (dag_run,) = run_scenario(payouts_dag, SCENARIO)

    assert dag_run.state == "success"
    status, severity, recommendations = warehouse.execute(
        "select status, severity, recommendations from reconciliation.runs where run_id = %s", (RUN_ID,)
    ).fetchone()
    assert (status, severity) == ("discrepancy_found", "critical")
    # The spec's hints for the bank pair reach the recommendations of the classes it found.
    hints = yaml.safe_load(SPEC_PATH.read_text())["reconcile"]["pairs"][1]["hints"]
    for hint in hints.values():
        assert sum(hint in sentence for sentence in recommendations) == 1, hint
    # Refunds are normal here: balance transactions are signed, and the default rules know it (no
    # amount_not_negative on them, no in_window on transactions selected by their payouts).
    failed_rules = warehouse.execute(
        "select rule_name, source from reconciliation.integrity_results where run_id = %s and not is_success",
        (RUN_ID,),
    ).fetchall()
    assert failed_rules == []
    staged = dict(
        warehouse.execute(
            "select source, count(*) from staging.records where run_id = %s group by source", (RUN_ID,)
        ).fetchall()
    )
    assert staged == {
        "payouts": len(payouts),
        "settled": sum(len(txns) for txns in settled.values()),
        "bank": len(lines) - 1,  # the recent payout's line is in next Monday's statement
    }
    negative = warehouse.execute(
        "select count(*) from staging.records where run_id = %s and source = 'settled' and amount < 0",
        (RUN_ID,),
    ).fetchone()
    assert negative == (len(refunds),)

    breaks = warehouse.execute(
        "select pair, break_class, missing_in, left_record_keys, right_record_keys, severity, match_rule"
        " from reconciliation.run_breaks where run_id = %s",
        (RUN_ID,),
    ).fetchall()
    unbalanced_txns = sorted(t["id"] for t in settled[plan.unbalanced])
    bank = "payouts_vs_bank"
    expected = [
        (
            "payouts_vs_settlement",
            "group_mismatch",
            None,
            [plan.unbalanced],
            unbalanced_txns,
            "warning",
            "key",
        ),
        (bank, "missing", "bank", [plan.unbooked], None, "critical", None),
        (bank, "amount_mismatch", None, [plan.misbooked], [ref[plan.misbooked]], "warning", "key"),
        (bank, "late", None, [plan.late], [ref[plan.late]], "warning", "key"),
        (bank, "late", None, [plan.untagged_late], [ref[plan.untagged_late]], "warning", RULE),
        (bank, "missing", "payouts", None, [ref[plan.unknown]], "warning", None),
        *[(bank, "missing", "payouts", None, [shared], "warning", None) for shared in shared_refs],
    ]
    found = [(*row[:4], sorted(row[4]) if row[4] else row[4], *row[5:]) for row in breaks]
    assert sorted(found, key=repr) == sorted(expected, key=repr)
    assert collections.Counter((b[1], b[2]) for b in breaks) == SCENARIO.expected_breaks()

    # The group mismatch is the planted 1.00: the payout against the sum of its settled nets, refunds
    # included; the short credit is the planted 0.01.
    differences = {
        break_class: rest
        for break_class, *rest in warehouse.execute(
            "select break_class, left_amount, right_amount, amount_difference from reconciliation.run_breaks"
            " where run_id = %s and break_class in ('group_mismatch', 'amount_mismatch')",
            (RUN_ID,),
        ).fetchall()
    }
    unbalanced, misbooked = payouts[plan.unbalanced], payouts[plan.misbooked]
    assert differences == {
        "group_mismatch": [
            major(unbalanced["amount"]),
            major(sum(t["net"] for t in settled[plan.unbalanced])),
            Decimal("1.00"),
        ],
        "amount_mismatch": [major(misbooked["amount"]), major(misbooked["amount"] - 1), Decimal("0.01")],
    }

    summary = {
        pair: rest
        for pair, *rest in warehouse.execute(
            "select pair, sum(matched_count), sum(pending_count), sum(group_mismatch_count),"
            " sum(amount_mismatch_count), sum(late_count), sum(missing_in_left_count),"
            " sum(missing_in_right_count), sum(duplicate_count), sum(break_count)"
            " from reconciliation.run_summary where run_id = %s group by pair",
            (RUN_ID,),
        ).fetchall()
    }
    # Bank: matched are the payouts other than the unbooked, short, two late and recent ones.
    assert summary == {
        "payouts_vs_settlement": [len(payouts) - 1, 0, 1, 0, 0, 0, 0, 0, 1],
        bank: [len(payouts) - 5, 1, 0, 1, 2, 1 + SHARED_LINES, 1, 0, 5 + SHARED_LINES],
    }
    pending = warehouse.execute(
        "select left_record_keys from recon_intermediate.int_records_matched"
        " where run_id = %s and outcome = 'pending'",
        (RUN_ID,),
    ).fetchall()
    assert pending == [([plan.recent],)]
    # Lines with the payout id matched by key; the on-time line whose text lost it, by the rule.
    rules = warehouse.execute(
        "select match_rule, right_record_keys from reconciliation.matches"
        " where run_id = %s and pair = %s and outcome = 'matched'",
        (RUN_ID, bank),
    ).fetchall()
    plain = set(payouts) - {plan.unbooked, plan.misbooked, plan.late, plan.untagged_late, plan.recent}
    assert sorted(rules, key=repr) == sorted(
        [("key" if p != plan.untagged else RULE, [ref[p]]) for p in plain], key=repr
    )
