"""Seedable ticket sales for the ticketing sandbox API: from ten rows to millions, never all in memory.

A ``TicketingScenario`` describes ``count`` sales spread evenly over ``[start, end)``. Sale ``i`` is
computed on demand from its own ``random.Random`` seeded by ``(seed, i)``, so any sale (or any page)
can be built without building the ones before it, and the same scenario gives the same sales on every
machine. Sale times never decrease with the index, so a time window is an index range found by
bisection: serving one page of a million-row scenario costs one page of work.

What the sales look like (nested, as ticketing platforms send them)::

    {"id": "sale_00000042", "created_at": "2026-11-19T08:15:02Z", "status": "paid", "quantity": 2,
     "total": {"value": "25.00", "currency": "EUR"}, "buyer": {"email": "ada.lovelace@example.com"},
     "event": {"id": "evt_0007", "name": "Jazz night"}}

Planted on purpose:

* sale 0 is at exactly ``start``; several sales share a second when ``count`` exceeds the seconds;
* amounts are text (``"25.00"``) except every ``number_every``-th, which is a JSON number with its
  decimals (``25.00``), written exactly from a ``Decimal`` (see ``to_json``), never through a float;
* sale 1 is JPY (zero decimals, a JSON number), sale 2 KWD (three decimals, text, last digit not 0),
  sale 3 KWD as a JSON number; the rest are mostly EUR/USD/GBP with some JPY and KWD;
* when ``malformed_every`` > 0, every such sale (counting from 5) is broken in one of
  ``MALFORMED_KINDS`` (rotating), and ``malformed_kind(i)`` says how. The API still filters it by its
  real time: the broken value is in the item, not in the platform's database.
* ``flaws`` plants, on the sales it names, a value that is well formed but wrong (``FLAW_KINDS``): the
  sale maps and loads like any other, and only an integrity rule catches it (quantity 0, no buyer
  email, an event id the box office's catalogue does not have, a negative total).
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

EXPONENTS: dict[str, int] = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KWD": 3}
_CURRENCY_WEIGHTS = (("EUR", 45), ("USD", 30), ("GBP", 13), ("JPY", 8), ("KWD", 4))
_STATUSES = (("paid", 85), ("refunded", 10), ("pending", 5))
_EVENT_NAMES = (
    "Jazz night",
    "Open air opera",
    "Derby day",
    "Comedy club",
    "Indie showcase",
    "Symphony No. 9",
)
# Every event the platform sells tickets for: (event id, name).
EVENTS: tuple[tuple[str, str], ...] = tuple((f"evt_{i:04d}", name) for i, name in enumerate(_EVENT_NAMES))
_NAMES = ("ada", "alan", "grace", "edsger", "barbara", "donald", "radia", "hedy", "claude", "annie")

MALFORMED_KINDS = (
    "missing_total",  # no total object at all
    "amount_not_a_number",  # "12,50"
    "bad_currency",  # "EURO"
    "bad_timestamp",  # "yesterday"
    "too_many_decimals",  # "12.505" EUR
    "missing_id",
)

FLAW_KINDS = (
    "zero_quantity",  # "quantity": 0, an order for no tickets
    "no_buyer_email",  # "buyer": {"email": null}
    "unknown_event",  # "event": {"id": "evt_9999", ...}, an event no catalogue lists
    "negative_total",  # "total": {"value": "-25.00", ...}, a return booked as a negative sale
)
UNKNOWN_EVENT = {"id": "evt_9999", "name": "Private hire"}

_DECIMAL_MARK = "\u0000decimal:"
_DECIMAL_TOKEN = re.compile(r'"\\u0000decimal:(-?[0-9]+(?:\.[0-9]+)?)"')


@dataclass(frozen=True)
class TicketingScenario:
    seed: int = 7
    start: dt.datetime = dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
    end: dt.datetime = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    count: int = 100
    number_every: int = 5  # every n-th amount is a JSON number; 0 = all text
    malformed_every: int = 0  # every n-th sale (from sale 5) is malformed; 0 = none
    flaws: tuple[tuple[int, str], ...] = ()  # (sale index, one of FLAW_KINDS), at most one per sale

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end <= self.start:
            raise ValueError("a scenario needs an aware start before its end")
        if self.count < 0:
            raise ValueError("count must not be negative")
        indexes = [index for index, _kind in self.flaws]
        if unknown := sorted({kind for _index, kind in self.flaws} - set(FLAW_KINDS)):
            raise ValueError(f"unknown flaw(s) {unknown}; the kinds are {list(FLAW_KINDS)}")
        if repeated := sorted({index for index in indexes if indexes.count(index) > 1}):
            raise ValueError(f"sale(s) {repeated} have several flaws; a sale can carry one flaw at most")

    # --- time <-> index ------------------------------------------------------------------------

    def created_at(self, index: int) -> dt.datetime:
        """The real time of sale ``index``: spread evenly, whole seconds, never decreasing."""
        span = int((self.end - self.start).total_seconds())
        return self.start + dt.timedelta(seconds=index * span // max(self.count, 1))

    def index_range(self, since: dt.datetime | None, until: dt.datetime | None) -> range:
        """Indexes of the sales in ``[since, until)`` (either bound may be open), by bisection."""
        everything = range(self.count)
        low = 0 if since is None else bisect.bisect_left(everything, since, key=self.created_at)
        high = self.count if until is None else bisect.bisect_left(everything, until, key=self.created_at)
        return range(low, max(low, high))

    # --- sales ---------------------------------------------------------------------------------

    def sale(self, index: int) -> dict[str, Any]:
        """Sale ``index`` as the API serves it (amounts that are JSON numbers are ``Decimal``)."""
        rng = random.Random(f"ticketing:{self.seed}:{index}")
        currency = {1: "JPY", 2: "KWD", 3: "KWD"}.get(index) or _weighted(rng, _CURRENCY_WEIGHTS)
        quantity = 1 if index == 2 else rng.randint(1, 6)
        exponent = EXPONENTS[currency]
        unit_minor = rng.randint(5, 250) * 10**exponent + rng.randint(0, 10**exponent - 1)
        if index == 2:
            unit_minor = unit_minor // 10 * 10 + 5  # a KWD amount whose third decimal matters
        elif index == 3:
            unit_minor = unit_minor // 10 * 10  # a trailing zero a float would drop: 993.660
        value = Decimal(unit_minor * quantity).scaleb(-exponent)
        if index == 4:  # 2**53 + 1 cents-and-more: no float can hold it; a corporate block booking
            currency, quantity, value = "USD", 1, Decimal("9007199254740993.01")
        as_number = index in (1, 3, 4) or (self.number_every and index % self.number_every == 4)
        name = rng.choice(_NAMES)
        event_id, event_name = EVENTS[rng.randrange(len(EVENTS))]
        sale: dict[str, Any] = {
            "id": f"sale_{index:08d}",
            "created_at": self.created_at(index).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": _weighted(rng, _STATUSES),
            "quantity": quantity,
            "total": {"value": value if as_number else f"{value:.{exponent}f}", "currency": currency},
            "buyer": {"email": f"{name}.{index}@example.com"},
            "event": {"id": event_id, "name": event_name},
        }
        flaw = self.flaw(index)
        if flaw:
            _plant(sale, flaw)
        kind = self.malformed_kind(index)
        if kind:
            _break(sale, kind)
        return sale

    def sales(self, since: dt.datetime | None = None, until: dt.datetime | None = None) -> Iterator[dict]:
        """The sales in ``[since, until)``, one at a time."""
        for index in self.index_range(since, until):
            yield self.sale(index)

    def malformed_kind(self, index: int) -> str | None:
        if not self.malformed_every or index < 5 or (index - 5) % self.malformed_every:
            return None
        return MALFORMED_KINDS[((index - 5) // self.malformed_every) % len(MALFORMED_KINDS)]

    def flaw(self, index: int) -> str | None:
        return dict(self.flaws).get(index)

    def amount(self, index: int) -> Decimal:
        """The exact amount of a well-formed sale, in major units (what a source must load)."""
        value = self.sale(index)["total"]["value"]
        return value if isinstance(value, Decimal) else Decimal(value)


def _weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    names, weights = zip(*choices, strict=True)
    return rng.choices(names, weights=weights)[0]


def _plant(sale: dict[str, Any], flaw: str) -> None:
    if flaw == "zero_quantity":
        sale["quantity"] = 0
    elif flaw == "no_buyer_email":
        sale["buyer"]["email"] = None
    elif flaw == "unknown_event":
        sale["event"] = dict(UNKNOWN_EVENT)
    elif flaw == "negative_total":
        value = sale["total"]["value"]
        sale["total"]["value"] = -value if isinstance(value, Decimal) else f"-{value}"


def _break(sale: dict[str, Any], kind: str) -> None:
    if kind == "missing_total":
        del sale["total"]
    elif kind == "amount_not_a_number":
        sale["total"]["value"] = "12,50"
    elif kind == "bad_currency":
        sale["total"]["currency"] = "EURO"
    elif kind == "bad_timestamp":
        sale["created_at"] = "yesterday"
    elif kind == "too_many_decimals":
        sale["total"] = {"value": "12.505", "currency": "EUR"}
    elif kind == "missing_id":
        del sale["id"]


def to_json(body: Any) -> str:
    """JSON text with each ``Decimal`` written as a JSON number of exactly its digits (``25.00``).

    ``json`` cannot write a Decimal as a number without going through float; the sandbox must send
    numbers like ``1.125`` with every digit, because the client is tested to read them exactly.
    """
    text = json.dumps(body, default=_mark_decimal)
    return _DECIMAL_TOKEN.sub(r"\1", text)


def _mark_decimal(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{_DECIMAL_MARK}{value:f}"
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
