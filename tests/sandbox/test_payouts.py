"""The payouts week (``include.sandbox.payouts``) plants what the ``stripe_payouts`` scenario says it does:
refunds inside the settlements, and each bank line where the shipped spec's key, rule and timing put it.
"""

from __future__ import annotations

import collections
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from include.sandbox.payouts import LATE_DAYS, SHARED_LINES, UNTAGGED_PURPOSE, PayoutWeek
from include.sandbox.stripe_objects import _days, stripe_objects
from include.scenarios.stripe_payouts import Scenario
from recon.spec import load_spec

SPEC = load_spec(Path(__file__).resolve().parents[2] / "include" / "specs" / "stripe_payouts.yml")
BANK_PAIR = next(pair for pair in SPEC.reconcile.pairs if pair.name == "payouts_vs_bank")
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = dt.date(2026, 11, 16)
# The e2e test's seed and the demo's.
SEEDS = (3, 42)


def created(payout: dict) -> dt.datetime:
    return dt.datetime.fromtimestamp(payout["created"], dt.UTC)


def booked_at(line) -> dt.datetime:
    # The statement's booking day, as the spec's source loads it: midnight in Berlin.
    return dt.datetime.combine(line.booked_on, dt.time(), BERLIN)


def extracted(purpose: str) -> str:
    """The bank line's reference, as the spec's pattern cuts it out of the purpose text."""
    source = next(s for s in SPEC.sources if s.name == "bank")
    match = re.search(source.fields.reference.pattern, purpose)
    assert match is not None
    return match.group(1)


@pytest.mark.parametrize("seed", SEEDS)
def test_settlements_hold_refunds_and_each_payout_pays_out_their_net(seed: int) -> None:
    week = PayoutWeek(seed=seed, monday=MONDAY)
    objects, plan = week.objects, week.plan
    settled = collections.defaultdict(list)
    for txn in objects.balance_transactions:
        if txn["type"] in ("charge", "refund"):
            settled[objects.settlements[txn["id"]]].append(txn)
    refunds = [t for ts in settled.values() for t in ts if t["type"] == "refund"]
    assert refunds and all(t["net"] < 0 for t in refunds)
    assert len(objects.refunds) == len(refunds)
    for payout in objects.payouts:
        txns = settled[payout["id"]]
        # One payout per currency and day of transactions, two days before it.
        days = {dt.datetime.fromtimestamp(t["created"], dt.UTC).date() for t in txns}
        assert days == {created(payout).date() - dt.timedelta(days=2)}
        assert {t["currency"] for t in txns} == {payout["currency"]}
        extra = week.break_minor if payout["id"] == plan.unbalanced else 0
        assert payout["amount"] == sum(t["net"] for t in txns) + extra
    start, end = week.window
    assert all(start <= created(p) < end for p in objects.payouts)


@pytest.mark.parametrize("seed", SEEDS)
def test_each_planted_bank_line_is_where_the_shipped_spec_classes_it(seed: int) -> None:
    week = PayoutWeek(seed=seed, monday=MONDAY)
    plan = week.plan
    payouts = {p["id"]: p for p in week.objects.payouts}
    roles = (plan.unbalanced, plan.unbooked, plan.misbooked, plan.late, plan.untagged, plan.untagged_late)
    assert len({*roles, plan.recent}) == 7
    lines = week.bank_lines()
    assert len({line.bank_ref for line in lines}) == len(lines)
    by_payout = collections.defaultdict(list)
    for line in lines:
        by_payout[line.payout_id].append(line)
    start, end = week.window
    late_after, drift = BANK_PAIR.timing.late_after, BANK_PAIR.rules[0].time_drift
    assert late_after < drift

    assert plan.unbooked not in by_payout
    assert created(payouts[plan.unbooked]) < end - BANK_PAIR.timing.settlement_window  # missing
    (recent,) = by_payout[plan.recent]
    assert recent.booked_on >= end.date()  # in a statement the week's run does not read
    for payout_id, payout in payouts.items():
        if payout_id in (plan.unbooked, plan.recent):
            continue
        (line,) = by_payout[payout_id]
        assert start <= booked_at(line) < end  # in a statement of the week, and in its window
        gap = booked_at(line) - created(payout)
        if payout_id in (plan.late, plan.untagged_late):
            assert late_after < gap <= drift, "late, and within the rule's drift"
            assert line.booked_on - created(payout).date() == dt.timedelta(days=LATE_DAYS)
        else:
            assert dt.timedelta(0) < gap <= late_after
        short = week.shortfall_minor if payout_id == plan.misbooked else 0
        assert (line.amount_minor, line.currency) == (payout["amount"] - short, payout["currency"])
        untagged = payout_id in (plan.untagged, plan.untagged_late)
        assert (line.purpose, extracted(line.purpose)) == (
            (UNTAGGED_PURPOSE, "") if untagged else (f"STRIPE PAYOUT {payout_id} RECON SANDBOX", payout_id)
        )

    # The strangers: ids no payout has, amounts no payout (and no other stranger) has.
    assert {plan.unknown, plan.shared}.isdisjoint(payouts)
    strangers = by_payout[plan.unknown] + by_payout[plan.shared]
    assert (len(by_payout[plan.unknown]), len(by_payout[plan.shared])) == (1, SHARED_LINES)
    amounts = [(line.currency, line.amount_minor) for line in strangers]
    assert len(set(amounts)) == len(amounts)
    assert set(amounts).isdisjoint((p["currency"], p["amount"]) for p in payouts.values())
    for line in strangers:
        assert extracted(line.purpose) == line.payout_id
        assert start <= booked_at(line) < end - BANK_PAIR.timing.settlement_window  # missing, not pending
    # Every amount a line without a usable key can be paired by is unique to its payout.
    assert len({(p["currency"], p["amount"]) for p in payouts.values()}) == len(payouts)


def test_the_scenario_expects_one_break_per_planted_case() -> None:
    scenario = Scenario(seed=3, day=dt.date(2026, 11, 19))
    assert scenario.expected_breaks() == collections.Counter(
        {
            ("group_mismatch", None): 1,
            ("missing", "bank"): 1,
            ("amount_mismatch", None): 1,
            ("late", None): 2,
            ("missing", "payouts"): 4,
        }
    )
    assert scenario.logical_dates() == [dt.datetime(2026, 11, 23, tzinfo=dt.UTC)]


def test_the_statements_are_the_same_bytes_from_the_same_seed_and_read_as_cp1252() -> None:
    first, second = PayoutWeek(seed=3, monday=MONDAY), PayoutWeek(seed=3, monday=MONDAY)
    files = first.statements()
    assert files == second.statements()
    lines = first.bank_lines()
    rows = [row for text in files.values() for row in text.encode("cp1252").decode("cp1252").splitlines()[1:]]
    assert len(rows) == len(lines)
    line = next(line for line in lines if line.payout_id == first.plan.misbooked)
    amount = f"{Decimal(line.amount_minor).scaleb(-2):f}".replace(".", ",")
    assert (
        f"{line.booked_on:%d.%m.%Y};{line.booked_on:%d.%m.%Y};{amount};{line.currency.upper()};"
        in "\n".join(rows)
    )


def test_a_week_refuses_a_day_that_is_not_a_monday_and_a_refund_share_out_of_range() -> None:
    with pytest.raises(ValueError) as not_monday:
        PayoutWeek(seed=3, monday=MONDAY + dt.timedelta(days=1))
    with pytest.raises(ValueError) as share:
        PayoutWeek(seed=3, monday=MONDAY, refund_share=1.5)
    assert "is not a Monday" in str(not_monday.value)
    assert "refund_share" in str(share.value)


def test_daily_payouts_settle_one_day_each_and_a_day_without_positive_net_waits_for_the_next() -> None:
    day = 86_400
    base = 1_795_000_000 // day * day
    charges = [
        {"id": f"ch_{n}", "amount": 10_000, "currency": "usd", "created": base + n * day + 60}
        for n in range(3)
    ]
    out = stripe_objects(charges, seed=1, refund_share=0, daily=True)
    settled_days = collections.defaultdict(set)
    by_id = {t["id"]: t for t in out.balance_transactions}
    for txn_id, payout_id in out.settlements.items():
        if by_id[txn_id]["type"] != "payout":
            settled_days[payout_id].add(by_id[txn_id]["created"] // day)
    assert sorted(settled_days.values()) == [{base // day + n} for n in range(3)]

    # Day 1 nets below zero (a refund of an earlier charge): it waits for day 2; a last day below
    # zero joins the payout before it.
    txns = [{"created": base + n * day, "net": net} for n, net in enumerate((500, -200, 300, -900))]
    assert [[t["net"] for t in group] for group in _days(txns)] == [[500], [-200, 300, -900]]
