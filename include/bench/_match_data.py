"""The two payment files of the matching benchmark, with a known number of each injected break.

Every payment is derived from its number alone (a splitmix64 hash), so the ledger file can list the
same payments in another order than the processor file without holding either in memory: real exports
of two systems are not sorted alike, and an ordering shared by both files would flatter any method
that happens to benefit from it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path

LEFT, RIGHT = "processor", "ledger"
HEADER = "payment_id,amount,currency,created_at\n"
WINDOW_DAY = date(2026, 11, 19)
MINOR_PER_MAJOR = 100  # every generated currency has two decimals
_CURRENCIES = ("USD", "USD", "EUR", "GBP")
_MASK = (1 << 64) - 1
# Kinds of payment, as drawn from the hash: same on both sides unless one of these.
ONLY_LEFT, ONLY_RIGHT, AMOUNT_OFF, WITHIN_TOLERANCE, SAME = range(5)


@dataclasses.dataclass(frozen=True)
class PairFiles:
    left: Path
    right: Path
    rows: int
    bytes: int
    expected: dict[str, int]  # break counts, named as the benchmark reports them
    within_tolerance: int


def _mix(number: int) -> int:
    """splitmix64: a well-spread 64-bit hash of ``number``."""
    z = (number + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def payment(number: int, seed: int, break_rate: float) -> tuple[int, str, str | None, str | None]:
    """``(kind, fixed part, processor amount, ledger amount)`` of payment ``number``; None: absent there."""
    z = _mix(number * 1_000_003 + seed)
    share = (z & 0xFFFFF) / 0x100000
    # Four bands of width break_rate at the bottom of [0, 1): one per kind of difference.
    kind = SAME if share >= 4 * break_rate else min(int(share / break_rate), SAME)
    minor = 100 + (z >> 20) % 499_900
    second = (z >> 40) % 86_400
    fixed = (
        f"pay_{number:012d},{{}},{_CURRENCIES[(z >> 60) & 3]},"
        f"{WINDOW_DAY.isoformat()}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
    )
    left = _major(minor)
    right: str | None = left
    if kind == ONLY_LEFT:
        right = None
    elif kind == ONLY_RIGHT:
        left = None
    elif kind == AMOUNT_OFF:
        # 0.02 to 10.00 away: always beyond the 0.01 tolerance.
        delta = 2 + (z >> 8) % 999
        right = _major(minor + delta if (z >> 7) & 1 or minor <= delta else minor - delta)
    elif kind == WITHIN_TOLERANCE:
        # Exactly the tolerance away: the inclusive boundary, which is a match, not a break.
        right = _major(minor + 1 if (z >> 7) & 1 else minor - 1)
    return kind, fixed, left, right


def _major(minor: int) -> str:
    return f"{minor // MINOR_PER_MAJOR}.{minor % MINOR_PER_MAJOR:02d}"


def ledger_order(count: int) -> Iterator[int]:
    """Every number below ``count`` once, in a scattered order (a stride coprime with ``count``)."""
    stride = max(1, int(count * 0.618)) | 1
    while math.gcd(stride, count) != 1:
        stride += 1
    for position in range(count):
        yield position * stride % count


def write_pair(directory: Path, count: int, seed: int, break_rate: float) -> PairFiles:
    """Write ``processor.csv`` and ``ledger.csv`` of ``count`` payments each, streamed."""
    if 4 * break_rate > 1:
        raise ValueError("break_rate above 0.25 leaves no room for the four kinds")
    counts = [0] * 5
    left_path, right_path = directory / f"{LEFT}.csv", directory / f"{RIGHT}.csv"
    with left_path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        for number in range(count):
            kind, fixed, left, _ = payment(number, seed, break_rate)
            counts[kind] += 1
            if left is not None:
                handle.write(fixed.format(left) + "\n")
    with right_path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER)
        for number in ledger_order(count):
            _, fixed, _, right = payment(number, seed, break_rate)
            if right is not None:
                handle.write(fixed.format(right) + "\n")
    expected = {
        f"missing_in_{RIGHT}": counts[ONLY_LEFT],
        f"missing_in_{LEFT}": counts[ONLY_RIGHT],
        "amount_mismatch": counts[AMOUNT_OFF],
    }
    return PairFiles(
        left=left_path,
        right=right_path,
        rows=count,
        bytes=left_path.stat().st_size + right_path.stat().st_size,
        expected=expected,
        within_tolerance=counts[WITHIN_TOLERANCE],
    )
