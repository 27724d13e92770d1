"""The generator is the ground truth for every reconciliation test, so it is checked independently here."""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from include.sandbox import generator as g

DAY = dt.date(2026, 11, 19)
TOLERANCE = Decimal("0.01")
AMOUNT_PATTERNS = {
    "usd": re.compile(r"^-?\d+\.\d{2}$"),
    "eur": re.compile(r"^-?\d+\.\d{2}$"),
    "jpy": re.compile(r"^-?\d+$"),
    "kwd": re.compile(r"^-?\d+\.\d{3}$"),
}


@pytest.fixture(scope="module")
def scenario() -> g.BillingScenario:
    return g.BillingScenario(seed=7, day=DAY)


@pytest.fixture(scope="module", params=[7, 42, 11])
def example(request: pytest.FixtureRequest) -> g.BillingScenario:
    """The stripe_billing example's data: every optional case on, a two-hour settlement window."""
    return g.billing_example(request.param, DAY)


def _window_charges(s: g.BillingScenario) -> list[dict]:
    start, end = g.window_bounds(s.day)
    return [c for c in g.stripe_charges(s) if start <= c["created"] < end]


def _major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-g.currency_exponent(currency))


def _at(text: str) -> int:
    return int(dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp())


def _reconcile(s: g.BillingScenario) -> tuple[set[g.InjectedBreak], set[str]]:
    """A deliberately naive reconciliation, written apart from the generator, to cross-check its truth:
    the stripe_billing spec's rules (tolerance 0.01, refunded vs succeeded, late after 1 h, near
    duplicates on email within 5 min, settlement window = the scenario's). Returns (breaks, pending)."""
    _, end = g.window_bounds(s.day)
    stripe = {c["id"]: c for c in _window_charges(s)}
    found: set[g.InjectedBreak] = set()
    internal: dict[str, dict] = {}
    kept: list[dict] = []
    for row in g.payment_rows(s):
        if row["stripe_charge_id"] in internal:
            found.add(g.InjectedBreak(row["stripe_charge_id"], "duplicate", "stripe"))
            continue
        internal[row["stripe_charge_id"]] = row
        if row["stripe_charge_id"] not in stripe:
            near = [
                earlier
                for earlier in kept
                if (earlier["customer_email"], earlier["currency"], earlier["amount"])
                == (row["customer_email"], row["currency"], row["amount"])
                and 0 <= _at(row["created_at"]) - _at(earlier["created_at"]) <= 300
            ]
            found.add(
                g.InjectedBreak(row["stripe_charge_id"], "near_duplicate" if near else "missing", "stripe")
            )
        kept.append(row)
    pending = set()
    for key in stripe.keys() - internal.keys():
        if s.settlement_window_seconds and stripe[key]["created"] >= end - s.settlement_window_seconds:
            pending.add(key)
        else:
            found.add(g.InjectedBreak(key, "missing", "internal"))
    for key in stripe.keys() & internal.keys():
        charge, row = stripe[key], internal[key]
        status = "refunded" if charge["refunded"] else charge["status"]
        if row["currency"] != charge["currency"]:
            found.add(g.InjectedBreak(key, "currency_mismatch", None))
        elif abs(Decimal(row["amount"]) - _major(charge["amount"], charge["currency"])) > TOLERANCE:
            found.add(g.InjectedBreak(key, "amount_mismatch", None))
        elif status != row["status"]:
            found.add(g.InjectedBreak(key, "status_mismatch", None))
        elif abs(_at(row["created_at"]) - charge["created"]) > 3600:
            found.add(g.InjectedBreak(key, "late", None))
    return found, pending


def test_same_scenario_gives_identical_data(tmp_path: Path) -> None:
    first, second = g.BillingScenario(seed=11, day=DAY), g.BillingScenario(seed=11, day=DAY)
    assert g.stripe_charges(first) == g.stripe_charges(second)
    g.write_payments_csv(first, tmp_path / "a.csv")
    g.write_payments_csv(second, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert g.injected_breaks(first) == g.injected_breaks(second)


def test_seed_and_day_change_the_data(scenario: g.BillingScenario) -> None:
    ids = {c["id"] for c in g.stripe_charges(scenario)}
    assert ids.isdisjoint(c["id"] for c in g.stripe_charges(g.BillingScenario(seed=8, day=DAY)))
    other_day = g.BillingScenario(seed=7, day=DAY + dt.timedelta(days=1))
    assert ids.isdisjoint(c["id"] for c in g.stripe_charges(other_day))


def test_returned_charges_are_copies(scenario: g.BillingScenario) -> None:
    g.stripe_charges(scenario)[0]["amount"] = -1
    assert g.stripe_charges(scenario)[0]["amount"] != -1


def _counts(s: g.BillingScenario) -> dict[tuple[str, str | None], int]:
    return {
        ("missing", "stripe"): s.missing_in_stripe,
        ("missing", "internal"): s.missing_internally,
        ("amount_mismatch", None): s.amount_mismatches,
        ("duplicate", "stripe"): s.duplicate_rows,
        ("near_duplicate", "stripe"): s.near_duplicates,
        ("currency_mismatch", None): s.currency_mismatches,
        ("status_mismatch", None): s.refunded_charges,
        ("late", None): s.late_records,
    }


def test_injected_break_counts(scenario: g.BillingScenario) -> None:
    breaks = g.injected_breaks(scenario)
    got = Counter((b.break_class, b.missing_in) for b in breaks)
    assert got == Counter({kind: n for kind, n in _counts(scenario).items() if n})
    assert got == Counter(
        {("missing", "stripe"): 3, ("missing", "internal"): 4, ("amount_mismatch", None): 5}
    )
    assert g.injected_pending(scenario) == set()


def test_the_example_injects_one_of_each_class_and_two_pending_charges(example: g.BillingScenario) -> None:
    got = Counter((b.break_class, b.missing_in) for b in g.injected_breaks(example))
    assert got == Counter({kind: n for kind, n in _counts(example).items() if n})
    assert set(got) == set(_counts(example))  # every class is there
    assert len(g.injected_pending(example)) == example.pending_charges == 2


def test_injected_breaks_match_an_independent_reconciliation(scenario: g.BillingScenario) -> None:
    assert _reconcile(scenario) == (g.injected_breaks(scenario), set())


def test_the_example_matches_an_independent_reconciliation(example: g.BillingScenario) -> None:
    assert _reconcile(example) == (g.injected_breaks(example), g.injected_pending(example))


def test_the_example_cases_look_as_the_systems_write_them(example: g.BillingScenario) -> None:
    start, end = g.window_bounds(example.day)
    stripe = {c["id"]: c for c in _window_charges(example)}
    rows = list(g.payment_rows(example))
    by_class = {b.break_class: b.record_key for b in g.injected_breaks(example) if b.break_class != "missing"}

    repeated = [r for r in rows if r["stripe_charge_id"] == by_class["duplicate"]]
    assert len(repeated) == 2 and repeated[0] == repeated[1]  # the same row, written twice

    near = next(r for r in rows if r["stripe_charge_id"] == by_class["near_duplicate"])
    assert near["stripe_charge_id"] not in stripe
    original = next(
        r for r in rows if r["customer_email"] == near["customer_email"] and r["stripe_charge_id"] in stripe
    )
    assert (original["amount"], original["currency"]) == (near["amount"], near["currency"])
    assert original["payment_id"] != near["payment_id"]
    assert _at(near["created_at"]) - _at(original["created_at"]) == 120

    for key in g.injected_pending(example):
        assert end - 3600 <= stripe[key]["created"] < end  # the last hour, not exported yet
        assert not any(r["stripe_charge_id"] == key for r in rows)

    mismatch = next(r for r in rows if r["stripe_charge_id"] == by_class["currency_mismatch"])
    assert (stripe[mismatch["stripe_charge_id"]]["currency"], mismatch["currency"]) == ("usd", "eur")
    assert Decimal(mismatch["amount"]) == _major(stripe[mismatch["stripe_charge_id"]]["amount"], "usd")

    refunded = stripe[by_class["status_mismatch"]]
    assert (refunded["status"], refunded["refunded"]) == ("succeeded", True)  # as Stripe leaves it
    assert refunded["amount_refunded"] == refunded["amount"]
    assert next(r for r in rows if r["stripe_charge_id"] == refunded["id"])["status"] == "succeeded"
    assert [c["id"] for c in stripe.values() if c["refunded"] or c["amount_refunded"]] == [refunded["id"]]

    late = next(r for r in rows if r["stripe_charge_id"] == by_class["late"])
    assert _at(late["created_at"]) - stripe[by_class["late"]]["created"] == 3 * 3600
    assert start <= _at(late["created_at"]) < end

    # Records missing on one side sit before the settlement window, so the spec calls them missing.
    lone = [b.record_key for b in g.injected_breaks(example) if b.break_class == "missing"]
    times = {r["stripe_charge_id"]: _at(r["created_at"]) for r in rows} | {
        k: c["created"] for k, c in stripe.items()
    }
    assert all(times[key] < end - example.settlement_window_seconds for key in lone)


def test_the_optional_cases_leave_the_rest_of_the_data_as_it_was(example: g.BillingScenario) -> None:
    plain = g.BillingScenario(seed=example.seed, day=DAY, settlement_window_seconds=2 * 3600)
    before = {c["id"]: c for c in g.stripe_charges(plain)}
    after = {c["id"]: c for c in g.stripe_charges(example)}
    refunded = {b.record_key for b in g.injected_breaks(example) if b.break_class == "status_mismatch"}
    assert before.keys() == after.keys()
    # In Stripe only the pending charges (moved to the last hour) and the refunded one differ.
    assert {k for k in before if before[k] != after[k]} == g.injected_pending(example) | refunded
    touched = {b.record_key for b in g.injected_breaks(example) if b.break_class != "missing"}
    touched |= g.injected_pending(example)
    rows_before = [r for r in g.payment_rows(plain) if r["stripe_charge_id"] not in touched]
    rows_after = [r for r in g.payment_rows(example) if r["stripe_charge_id"] not in touched]
    assert rows_before == rows_after


def test_within_tolerance_rows_differ_by_exactly_one_cent(scenario: g.BillingScenario) -> None:
    stripe = {c["id"]: c for c in _window_charges(scenario)}
    one_cent_off = [
        row
        for row in g.payment_rows(scenario)
        if row["stripe_charge_id"] in stripe
        and abs(Decimal(row["amount"]) - _major(stripe[row["stripe_charge_id"]]["amount"], row["currency"]))
        == TOLERANCE
    ]
    assert len(one_cent_off) == scenario.within_tolerance
    flagged = {b.record_key for b in g.injected_breaks(scenario)}
    assert flagged.isdisjoint(row["stripe_charge_id"] for row in one_cent_off)


def test_row_and_charge_counts(scenario: g.BillingScenario) -> None:
    rows = list(g.payment_rows(scenario))
    assert len(rows) == scenario.expected_row_count == 200 - 4 + 3
    assert len(_window_charges(scenario)) == scenario.charge_count
    assert len(g.stripe_charges(scenario)) == scenario.charge_count + scenario.neighbour_day_charges
    assert len({r["stripe_charge_id"] for r in rows}) == len(rows)
    assert len({r["payment_id"] for r in rows}) == len(rows)


def test_charge_objects_look_like_stripe(scenario: g.BillingScenario) -> None:
    for charge in g.stripe_charges(scenario):
        assert re.fullmatch(r"ch_[A-Za-z0-9]{24}", charge["id"])
        assert charge["object"] == "charge"
        assert isinstance(charge["amount"], int) and charge["amount"] > 0
        assert charge["amount_captured"] == charge["amount"]
        assert charge["amount_refunded"] == 0
        assert charge["currency"] in g.CURRENCY_EXPONENTS
        assert isinstance(charge["created"], int)
        assert (charge["status"], charge["paid"], charge["livemode"]) == ("succeeded", True, False)
        assert charge["billing_details"]["email"] == charge["receipt_email"]
        assert charge["metadata"]["payment_id"].startswith("pay_")
        if charge["currency"] == "kwd":
            assert charge["amount"] % 10 == 0  # Stripe's rule for three-decimal currencies


def test_matched_rows_carry_the_charge_metadata(scenario: g.BillingScenario) -> None:
    stripe = {c["id"]: c for c in g.stripe_charges(scenario)}
    for row in g.payment_rows(scenario):
        charge = stripe.get(row["stripe_charge_id"])
        if charge is None:
            continue
        assert row["payment_id"] == charge["metadata"]["payment_id"]
        assert row["customer_email"] == charge["receipt_email"]
        assert row["currency"] == charge["currency"]
        created = dt.datetime.strptime(row["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
        assert int(created.timestamp()) == charge["created"]


def test_currency_mix(scenario: g.BillingScenario) -> None:
    currencies = [c["currency"] for c in _window_charges(scenario)]
    assert currencies.count("kwd") == 1
    assert currencies.count("jpy") > 0
    assert currencies.count("usd") + currencies.count("eur") > len(currencies) / 2


def test_csv_amounts_use_the_currency_exponent(scenario: g.BillingScenario) -> None:
    rows = list(g.payment_rows(scenario))
    for row in rows:
        assert AMOUNT_PATTERNS[row["currency"]].fullmatch(row["amount"]), row
        assert Decimal(row["amount"]).as_tuple().exponent == -g.currency_exponent(row["currency"])
    assert {row["currency"] for row in rows} == {"usd", "eur", "jpy", "kwd"}


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1234, "usd", "12.34"),
        (5, "eur", "0.05"),
        (1200, "jpy", "1200"),
        (1250, "kwd", "1.250"),
        (-1234, "usd", "-12.34"),
        (100000, "USD", "1000.00"),
    ],
)
def test_format_amount(minor: int, currency: str, text: str) -> None:
    assert g.format_amount(minor, currency) == text


def test_window_edges(scenario: g.BillingScenario) -> None:
    start, end = g.window_bounds(scenario.day)
    assert end - start == 86_400
    assert start == int(dt.datetime(2026, 11, 19, tzinfo=dt.UTC).timestamp())
    charges = g.stripe_charges(scenario)
    rows = {r["stripe_charge_id"]: r for r in g.payment_rows(scenario)}

    at_start = [c for c in charges if c["created"] == start]
    assert at_start and all(c["id"] in rows for c in at_start)
    assert rows[at_start[0]["id"]]["created_at"] == "2026-11-19T00:00:00Z"

    outside = [c for c in charges if not start <= c["created"] < end]
    assert len(outside) == scenario.neighbour_day_charges
    assert sum(c["created"] == end for c in outside) >= 2
    assert any(c["created"] == start - 1 for c in outside)
    assert all(start - 86_400 <= c["created"] < end + 86_400 for c in outside)
    assert not any(c["id"] in rows for c in outside)


def test_every_row_is_inside_the_window(scenario: g.BillingScenario) -> None:
    for row in g.payment_rows(scenario):
        assert row["created_at"].startswith("2026-11-19T")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["created_at"])


def test_csv_file_format(scenario: g.BillingScenario, tmp_path: Path) -> None:
    path = tmp_path / "nested" / g.payments_file_name(DAY)
    written = g.write_payments_csv(scenario, path)
    raw = path.read_bytes()
    assert path.name == "payments_2026-11-19.csv"
    assert b"\r" not in raw
    header = b"payment_id,stripe_charge_id,amount,currency,created_at,status,customer_email"
    assert raw.split(b"\n", 1)[0] == header
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert written == len(rows) == scenario.expected_row_count
    assert rows == list(g.payment_rows(scenario))
    order = [(r["created_at"], r["payment_id"]) for r in rows]
    assert order == sorted(order)
    for row in rows:
        assert row["status"] == "succeeded"
        assert re.fullmatch(r"[a-z]+\.[a-z-]+\d{1,2}@example\.com", row["customer_email"])


def test_negative_amounts_are_not_breaks() -> None:
    s = g.BillingScenario(seed=3, day=DAY, charge_count=40, negative_amounts=2)
    stripe = {c["id"]: c for c in g.stripe_charges(s)}
    negative = [r for r in g.payment_rows(s) if r["amount"].startswith("-")]
    assert len(negative) == 2
    for row in negative:
        charge = stripe[row["stripe_charge_id"]]
        assert -Decimal(row["amount"]) == _major(charge["amount"], charge["currency"])
    assert {r["stripe_charge_id"] for r in negative}.isdisjoint(b.record_key for b in g.injected_breaks(s))


def test_small_scenarios_still_hold_their_promises() -> None:
    s = g.BillingScenario(
        seed=1,
        day=DAY,
        charge_count=8,
        missing_internally=1,
        amount_mismatches=2,
        within_tolerance=3,
        missing_in_stripe=1,
        neighbour_day_charges=1,
    )
    assert _reconcile(s) == (g.injected_breaks(s), set())
    assert len(g.injected_breaks(s)) == 4
    assert len(list(g.payment_rows(s))) == s.expected_row_count


@pytest.mark.parametrize(
    "overrides",
    [
        {"charge_count": 0},
        {"missing_in_stripe": -1},
        {"charge_count": 10, "missing_internally": 5, "amount_mismatches": 4},
        {"pending_charges": 1},  # a last-hour charge is pending only under a settlement window
        {"settlement_window_seconds": 50_000},
        {"charge_count": 10, "late_records": 9},
    ],
)
def test_impossible_scenarios_are_rejected(overrides: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        g.BillingScenario(seed=1, day=DAY, **overrides)
