"""dbt's matching against an independent reference (tests/dbt/reference_matcher.py) on generated data.

A few thousand seeded random records with the cases that are easy to get wrong set-based: amounts at,
just inside and just beyond both tolerances (positive and negative, two- and zero-decimal currencies),
currency flips, records on one side only, keys repeated on either or both sides (copies and records that
differ in amount, currency or time, some at the same instant, where load order decides, some exactly at
the copy window's edge), and keys repeated on a side whose other side lacks them. Every unit, and so
every break, must be the reference's exactly.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from recon.window import RunWindow
from tests.dbt.harness import day_window, make_spec, rows, run_matching
from tests.dbt.reference_matcher import Record, Side, Tolerance, Unit, breaks, reconcile

pytestmark = pytest.mark.integration

SEED = 20261119
KEYS = 1500
TOLERANCE = Tolerance(absolute=Decimal("0.05"), percent=Decimal("1"))
CURRENCIES = ("USD", "EUR", "JPY")


def generate(window: RunWindow, rng: random.Random) -> list[Record]:
    records: list[Record] = []

    def add(side: Side, key: str, amount_minor: int, currency: str, at_second: int) -> None:
        at = window.start + timedelta(seconds=at_second)
        records.append(Record(side, key, amount_minor, currency, at, len(records) + 1))

    for number in range(KEYS):
        key = f"ch_{number:05d}"
        currency = rng.choice(CURRENCIES)
        # Small amounts make the absolute tolerance the wider one, large ones the percent tolerance.
        amount = rng.choice((1, -1, 1, 1)) * rng.choice((rng.randint(1, 400), rng.randint(1_000, 2_000_000)))
        at = rng.randint(0, 86_399 - 600)
        kind = rng.choices(
            ("both", "left_only", "right_only", "currency_flip", "duplicates", "repeated_alone"),
            weights=(50, 10, 10, 8, 17, 5),
        )[0]
        if kind == "repeated_alone":
            # A reference several lines share, unknown to the other side: none of them is a duplicate.
            side = rng.choice(("left", "right"))
            for _ in range(rng.choice((2, 3))):
                add(side, key, amount + rng.choice((0, 0, 9)), currency, at + rng.choice((0, 0, 60)))
        elif kind == "left_only":
            add("left", key, amount, currency, at)
        elif kind == "right_only":
            add("right", key, amount, currency, at)
        elif kind == "currency_flip":
            other = rng.choice([c for c in CURRENCIES if c != currency])
            add("left", key, amount, currency, at)
            add("right", key, amount + rng.choice((0, 0, 1, -7)), other, at + rng.randint(0, 60))
        else:
            add("left", key, amount, currency, at)
            add("right", key, amount + offset(amount, rng), currency, at + rng.randint(0, 60))
            if kind == "duplicates":
                for side in rng.choice((("left",), ("right",), ("left", "right"), ("left", "left"))):
                    # Zero seconds later ties on time: the earlier-loaded record must be the kept one.
                    # 300 and 301 seconds: at the 5-minute copy window's edge and just beyond it.
                    later = at + rng.choice((0, 1, 30, 300, 301, 500))
                    copy_currency = currency if rng.random() < 0.9 else rng.choice(CURRENCIES)
                    add(side, key, amount + rng.choice((0, 0, 3, -250)), copy_currency, later)
    rng.shuffle(records)  # load order independent of key order, so ties are decided by it alone
    return [
        Record(r.side, r.key, r.amount_minor, r.currency, r.occurred_at, order)
        for order, r in enumerate(records, start=1)
    ]


def offset(amount: int, rng: random.Random) -> int:
    """A difference at, just inside or just beyond either tolerance, or far from both."""
    absolute = 5  # 0.05 in cents; in yen the absolute tolerance rounds to nothing
    percent = abs(amount) // 100  # 1 % of the left amount, in minor units
    step = rng.choice((-1, 1))
    return step * rng.choice(
        (0, 0, 1, absolute - 1, absolute, absolute + 1, percent - 1, percent, percent + 1, percent + 2,
         rng.randint(0, 5_000))
    )  # fmt: skip


def load_rows(records: list[Record], sources: dict[Side, str]) -> list[dict]:
    return [
        {"source": sources[r.side], "record_key": r.key, "amount": r.amount, "currency": r.currency,
         "occurred_at": r.occurred_at}
        for r in sorted(records, key=lambda r: r.load_order)
    ]  # fmt: skip


def test_dbt_units_and_breaks_equal_the_reference_on_generated_data(
    warehouse: psycopg.Connection, warehouse_url: str, tmp_path: Path
) -> None:
    warehouse.commit()
    warehouse.autocommit = True
    spec = make_spec(
        "reference",
        {
            "pairs": [
                {
                    "left": "stripe",
                    "right": "ledger",
                    "compare": {"amount": {"tolerance": "0.05", "tolerance_percent": "1"}},
                    "duplicates": {"near": None, "copy_within": "5m"},
                }
            ]
        },
        sources=("stripe", "ledger"),
    )
    window = day_window(spec, "2026-11-19")
    records = generate(window, random.Random(SEED))
    expected = reconcile(records, TOLERANCE, "stripe", "ledger", copy_within=timedelta(minutes=5))
    # The generator must actually produce every case, or equality would prove little.
    outcomes = Counter(unit.outcome for unit in expected.elements())
    assert set(outcomes) == {"matched", "matched_within_tolerance", "amount_mismatch", "currency_mismatch",
                             "missing", "duplicate"}, outcomes  # fmt: skip
    assert min(outcomes.values()) >= 40, outcomes
    assert len(records) > 3000

    command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))
    loaded = load_rows(records, {"left": "stripe", "right": "ledger"})
    run_matching(warehouse, warehouse_url, spec, window, loaded, command=command)

    units = rows(
        warehouse,
        "select outcome, left_record_keys, right_record_keys, missing_in"
        " from recon_intermediate.int_records_matched where run_id = %s",
        window.run_id,
    )
    assert diff(Counter(unit(*u.values()) for u in units), expected) == ({}, {})
    found = rows(
        warehouse,
        "select break_class, left_record_keys, right_record_keys, missing_in"
        " from reconciliation.run_breaks where run_id = %s",
        window.run_id,
    )
    assert diff(Counter(unit(*b.values()) for b in found), breaks(expected)) == ({}, {})


def unit(
    outcome: str, left_keys: list[str] | None, right_keys: list[str] | None, missing_in: str | None
) -> Unit:
    """A reference unit holds one record a side: the key array's only element."""
    assert left_keys is None or len(left_keys) == 1, left_keys
    assert right_keys is None or len(right_keys) == 1, right_keys
    return Unit(outcome, left_keys and left_keys[0], right_keys and right_keys[0], missing_in)


def diff(actual: Counter[Unit], expected: Counter[Unit]) -> tuple[dict, dict]:
    """What only dbt found and what only the reference found (a readable failure, not 3000 rows)."""
    return dict(actual - expected), dict(expected - actual)
