"""Seedable orders for the sandbox order-management system (served over GraphQL by ``graphql_server``).

``GeneratedOrders`` is a lazy, read-only sequence: order ``i`` is built on demand from its own
``random.Random`` seeded by ``(seed, i)``, so ten orders and ten million cost the same memory, any slice
can be served without building what comes before it, and the same scenario gives the same orders on
every machine. Orders are in ``createdAt`` order (then ``id``), spread evenly over ``[start, start+span)``
in whole seconds; order 0 is created exactly at ``start``.

Currencies: every tenth order from index 3 is JPY (zero-decimal) and from index 7 KWD (three-decimal), so
even ten orders hold both; the others are mostly USD/EUR. Amounts are decimal strings with exactly the
currency's exponent (``"12.34"``, ``"1200"``, ``"1.250"``), as GraphQL APIs send a Decimal scalar.

``malformed`` plants orders that a mapping must quarantine (the API still serves them, as real ones do):
kind ``MALFORMED_KINDS[i % 3]`` for index ``i``: an amount that is not a number (``"12,34"``), an amount
with more decimals than the currency allows, or no currency. ``createdAt`` is never malformed: the
server orders and filters on it, as a real database would.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

CURRENCY_EXPONENTS: dict[str, int] = {"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}
MALFORMED_KINDS: tuple[str, ...] = ("amount_not_a_number", "too_many_decimals", "currency_missing")

_OTHER_CURRENCIES = ("USD", "USD", "USD", "EUR", "EUR", "JPY", "KWD")
_STATUSES = ("PAID", "PAID", "PAID", "PAID", "REFUNDED", "CANCELLED", "OPEN")
_CHANNELS = ("WEB", "WEB", "POS", "MARKETPLACE")
_NAMES = ("ada", "grace", "alan", "edsger", "barbara", "donald", "radia", "ken", "hedy", "frances")


@dataclass(frozen=True)
class OrdersScenario:
    """``count`` orders from ``start`` (timezone-aware) over ``span``; ``malformed`` = planted indices."""

    seed: int
    start: dt.datetime
    count: int
    span: dt.timedelta = dt.timedelta(days=1)
    malformed: frozenset[int] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.count < 0 or self.span <= dt.timedelta(0):
            raise ValueError("count must be >= 0 and span positive")
        outside = sorted(i for i in self.malformed if not 0 <= i < self.count)
        if outside:
            raise ValueError(f"malformed indices {outside} are outside 0..{self.count - 1}")


class GeneratedOrders(Sequence[dict[str, Any]]):
    """The scenario's orders as a lazy sequence in ``createdAt`` order; nothing is held in memory."""

    def __init__(self, scenario: OrdersScenario) -> None:
        self.scenario = scenario
        self._span_seconds = int(scenario.span.total_seconds())

    def __len__(self) -> int:
        return self.scenario.count

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._order(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"order {index} is outside 0..{len(self) - 1}")
        return self._order(index)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._order(i) for i in range(len(self)))

    def created_at(self, index: int) -> dt.datetime:
        # Integer arithmetic keeps the spacing exact and monotonic, whatever the count.
        offset = self._span_seconds * index // max(self.scenario.count, 1)
        return (self.scenario.start + dt.timedelta(seconds=offset)).astimezone(dt.UTC)

    def record_key(self, index: int) -> str:
        return order_id(index)

    def _order(self, index: int) -> dict[str, Any]:
        rng = random.Random(f"orders:{self.scenario.seed}:{index}")
        currency = _currency(index, rng)
        minor = rng.randint(100, 500_000)
        order: dict[str, Any] = {
            "id": order_id(index),
            "number": 100_001 + index,
            "total": {"amount": format_amount(minor, currency), "currency": currency},
            "createdAt": self.created_at(index).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": rng.choice(_STATUSES),
            "customer": {"email": f"{rng.choice(_NAMES)}.{index}@example.com"},
            "channel": rng.choice(_CHANNELS),
            "lines": [
                {"sku": f"SKU-{rng.randint(1, 9999):04d}", "quantity": rng.randint(1, 5)}
                for _ in range(rng.randint(1, 3))
            ],
        }
        if index in self.scenario.malformed:
            _plant(order, MALFORMED_KINDS[index % len(MALFORMED_KINDS)])
        return order


def order_id(index: int) -> str:
    # Zero-padded so ids sort like indices up to a billion orders.
    return f"ord_{index:09d}"


def format_amount(minor: int, currency: str) -> str:
    """Minor units as a decimal string with exactly the currency's exponent; no float involved."""
    exponent = CURRENCY_EXPONENTS[currency]
    if exponent == 0:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**exponent)
    return f"{sign}{whole}.{fraction:0{exponent}d}"


def _currency(index: int, rng: random.Random) -> str:
    if index % 10 == 3:
        return "JPY"
    if index % 10 == 7:
        return "KWD"
    return rng.choice(_OTHER_CURRENCIES)


def _plant(order: dict[str, Any], kind: str) -> None:
    total = order["total"]
    amount = total["amount"]
    if kind == "amount_not_a_number":
        total["amount"] = amount.replace(".", ",") if "." in amount else f"{amount},00"
    elif kind == "too_many_decimals":
        total["amount"] = f"{amount}5" if "." in amount else f"{amount}.5"
    else:
        total["currency"] = None
