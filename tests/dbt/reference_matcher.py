"""A second, independent reading of the core matching semantics (docs/matching.md), in plain Python.

Covers what the reference test generates: key matching, amount tolerance (absolute or percent, both
inclusive), currency, missing records and repeated keys (without fallback rules or near duplicates).
Written from the stated rules, not from the SQL, so that the two can disagree: amounts are integers in
minor units and every comparison is exact.

The rules, as documented:
- On each side, the records of one key are ordered by time (then record key, then load order); the
  first is kept. When the other side has no record of the key, every record of it is ``missing``
  (there is nothing to duplicate). When it has one, a later record with the kept one's currency and
  amount, at most ``copy_within`` after it, is a ``duplicate`` unit of its own; any other later record
  is a record of its own, and without a fallback rule ``missing``.
- Kept records with equal keys on both sides form one unit. Different currencies: ``currency_mismatch``.
  Same currency: equal amounts ``matched``; a difference within the absolute tolerance or within the
  percent tolerance of the larger absolute amount ``matched_within_tolerance``; else ``amount_mismatch``.
- A kept record without a counterpart is ``missing`` in the other side's source.
- A lone unit (missing, duplicate) names the source it has no counterpart in (``missing_in``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

Side = Literal["left", "right"]
# Digits after the decimal point of each currency the tests use (ISO 4217 minor units).
MINOR_UNIT_DIGITS = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KRW": 0, "BHD": 3}
NOT_BREAKS = frozenset({"matched", "matched_within_tolerance", "pending"})


@dataclass(frozen=True)
class Record:
    side: Side
    key: str
    amount_minor: int
    currency: str
    occurred_at: datetime
    load_order: int

    @property
    def amount(self) -> Decimal:
        """The amount in major units, exactly (what is loaded into staging)."""
        return Decimal(self.amount_minor).scaleb(-MINOR_UNIT_DIGITS[self.currency])


@dataclass(frozen=True)
class Unit:
    outcome: str
    left_key: str | None
    right_key: str | None
    missing_in: str | None

    @property
    def is_break(self) -> bool:
        return self.outcome not in NOT_BREAKS


@dataclass(frozen=True)
class Tolerance:
    absolute: Decimal = Decimal(0)  # in major units of the records' currency
    percent: Decimal = Decimal(0)  # of the larger absolute amount of the two

    def accepts(self, left: Record, right: Record) -> bool:
        difference = abs(left.amount_minor - right.amount_minor)
        absolute_minor = self.absolute.scaleb(MINOR_UNIT_DIGITS[left.currency])
        larger = max(abs(left.amount_minor), abs(right.amount_minor))
        return difference <= absolute_minor or difference * 100 <= self.percent * larger


def reconcile(
    records: list[Record],
    tolerance: Tolerance,
    left_source: str,
    right_source: str,
    copy_within: timedelta = timedelta(minutes=5),
) -> Counter[Unit]:
    """Every unit the records form, as a multiset (two duplicates of one key are two equal units)."""
    other_source = {"left": right_source, "right": left_source}
    other_side: dict[Side, Side] = {"left": "right", "right": "left"}
    units: Counter[Unit] = Counter()
    kept: dict[Side, dict[str, Record]] = {"left": {}, "right": {}}
    keys = {side: {r.key for r in records if r.side == side} for side in ("left", "right")}
    for side in ("left", "right"):
        by_key: dict[str, list[Record]] = defaultdict(list)
        for record in records:
            if record.side == side:
                by_key[record.key].append(record)
        for key, same_key in by_key.items():
            first, *later = sorted(same_key, key=lambda r: (r.occurred_at, r.key, r.load_order))
            kept[side][key] = first
            for record in later:
                is_copy = (
                    key in keys[other_side[side]]
                    and record.currency == first.currency
                    and record.amount_minor == first.amount_minor
                    and record.occurred_at - first.occurred_at <= copy_within
                )
                units[_lone("duplicate" if is_copy else "missing", side, key, other_source[side])] += 1
    for key in kept["left"].keys() | kept["right"].keys():
        left, right = kept["left"].get(key), kept["right"].get(key)
        if left is None or right is None:
            side: Side = "left" if right is None else "right"
            units[_lone("missing", side, key, other_source[side])] += 1
        else:
            units[Unit(_compare(left, right, tolerance), key, key, None)] += 1
    return units


def breaks(units: Counter[Unit]) -> Counter[Unit]:
    return Counter({unit: count for unit, count in units.items() if unit.is_break})


def _compare(left: Record, right: Record, tolerance: Tolerance) -> str:
    if left.currency != right.currency:
        return "currency_mismatch"
    if left.amount_minor == right.amount_minor:
        return "matched"
    return "matched_within_tolerance" if tolerance.accepts(left, right) else "amount_mismatch"


def _lone(outcome: str, side: Side, key: str, missing_in: str) -> Unit:
    return Unit(outcome, key if side == "left" else None, key if side == "right" else None, missing_in)
