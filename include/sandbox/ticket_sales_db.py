"""The box office's own record of ticket sales: a ``ticket_sales`` table added to the sandbox app database.

The venue's till software writes one row per ticket order it sells or refunds, keyed by the order id
the ticketing platform gave it (``order_ref``), with its own status words (``sold``, ``refunded``,
``reserved``) and its own row id. The rows are derived from the platform's orders
(``include.sandbox.ticketing``), so the two sides agree except where a ``TicketSalesPlan`` plants a
difference:

* ``missing``: platform orders the till never recorded;
* ``amount_changed``: orders recorded with an amount one minor unit higher;
* ``refund_not_booked``: platform ``refunded`` orders the till still has as ``sold``;
* ``repeated``: orders the till recorded twice (the till retried an insert that had succeeded), the
  second row a minute after the first, with its own row id and the same ``order_ref``;
* ``repeated_changed``: orders the till recorded twice, the second row a minute later and one minor
  unit higher (an edit the till wrote as a new row): a copy that differs, not a repeat.

Next to it, the box office's event catalogue (``events``): one row per event the platform sells,
with ``tickets_sold``, the tally of the day's orders (every order, whatever its status: the tally
counts tickets issued, refunds are settled apart), reset at midnight UTC and bumped on each sale
(``updated_at``). It equals the sum of the platform's order quantities per event, except:

* ``miscounted``: events whose stored tally is one ticket more than their orders add up to.

An order for an event the catalogue lacks (``ticketing.UNKNOWN_EVENT``) counts towards no tally.

``add_ticket_sales`` and ``add_events`` only add their table to an existing app database
(``app_db.create_app_database``): the app database's own tables are left as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import psycopg

from include.sandbox.ticketing import EVENTS, EXPONENTS, TicketingScenario

# The platform's status words -> the till's.
TILL_STATUS = {"paid": "sold", "refunded": "refunded", "pending": "reserved"}
_SCHEMA = """
create table ticket_sales (
    sale_id text primary key, order_ref text not null, amount numeric not null, currency text not null,
    sold_at timestamptz not null, status text not null, till text not null);
create index on ticket_sales (sold_at);
"""
_EVENTS_SCHEMA = """
create table events (
    event_id text primary key, name text not null, starts_at timestamptz not null,
    tickets_sold integer not null, updated_at timestamptz not null);
"""


@dataclass(frozen=True)
class TicketSalesPlan:
    """Platform order ids the till gets wrong, each in one way (see the module docstring)."""

    missing: frozenset[str] = frozenset()
    amount_changed: frozenset[str] = frozenset()
    refund_not_booked: frozenset[str] = frozenset()
    repeated: frozenset[str] = frozenset()
    repeated_changed: frozenset[str] = frozenset()
    # Event ids (not order ids): the catalogue's stored tally is one more than the orders add up to.
    miscounted: frozenset[str] = frozenset()


class TicketSale(NamedTuple):
    sale_id: str
    order_ref: str
    amount: Decimal
    currency: str
    sold_at: dt.datetime
    status: str
    till: str


class Event(NamedTuple):
    event_id: str
    name: str
    starts_at: dt.datetime
    tickets_sold: int
    updated_at: dt.datetime


def ticket_sales(platform: TicketingScenario, plan: TicketSalesPlan) -> Iterator[TicketSale]:
    """The till's rows for every platform order, with the plan's differences."""
    row = 0
    for index in range(platform.count):
        order = platform.sale(index)
        if order["id"] in plan.missing:
            continue
        currency = order["total"]["currency"]
        amount = platform.amount(index)
        if order["id"] in plan.amount_changed:
            amount += Decimal(1).scaleb(-EXPONENTS[currency])
        status = TILL_STATUS[order["status"]]
        if order["id"] in plan.refund_not_booked:
            if order["status"] != "refunded":
                raise ValueError(f"{order['id']} is {order['status']!r} on the platform, not refunded")
            status = "sold"
        sold_at = dt.datetime.fromisoformat(order["created_at"])
        row += 1
        sale = TicketSale(
            f"ts_{row:06d}", order["id"], amount, currency, sold_at, status, f"till_{index % 3 + 1}"
        )
        yield sale
        if order["id"] in plan.repeated or order["id"] in plan.repeated_changed:
            row += 1
            again = sale._replace(sale_id=f"ts_{row:06d}", sold_at=sold_at + dt.timedelta(minutes=1))
            if order["id"] in plan.repeated_changed:
                again = again._replace(amount=amount + Decimal(1).scaleb(-EXPONENTS[currency]))
            yield again


def add_ticket_sales(app_db_url: str, platform: TicketingScenario, plan: TicketSalesPlan) -> int:
    """Create and fill ``ticket_sales`` in the app database at ``app_db_url``; return the row count."""
    rows = list(ticket_sales(platform, plan))  # a few hundred rows at most: one COPY
    return _create_and_fill(app_db_url, _SCHEMA, "ticket_sales", rows)


def events(platform: TicketingScenario, plan: TicketSalesPlan) -> list[Event]:
    """The catalogue's rows: every event the platform sells, with the day's tally of its orders."""
    sold: dict[str, int] = {}
    last_sale: dict[str, dt.datetime] = {}
    for index in range(platform.count):
        sale = platform.sale(index)
        event_id = sale["event"]["id"]
        sold[event_id] = sold.get(event_id, 0) + sale["quantity"]
        last_sale[event_id] = platform.created_at(index)  # the real time, even of a malformed sale
    if unknown := sorted(plan.miscounted - {event_id for event_id, _name in EVENTS}):
        raise ValueError(f"cannot miscount {unknown}: the catalogue has no such event")
    return [
        Event(
            event_id,
            name,
            # Shows a week or more after the day of sales, one a day, at half past seven in the evening.
            platform.end + dt.timedelta(days=7 + number, hours=19, minutes=30),
            sold.get(event_id, 0) + (1 if event_id in plan.miscounted else 0),
            # A tally untouched since the midnight reset was last written then.
            last_sale.get(event_id, platform.start),
        )
        for number, (event_id, name) in enumerate(EVENTS)
    ]


def add_events(app_db_url: str, platform: TicketingScenario, plan: TicketSalesPlan) -> int:
    """Create and fill ``events`` in the app database at ``app_db_url``; return the row count."""
    return _create_and_fill(app_db_url, _EVENTS_SCHEMA, "events", events(platform, plan))


def _create_and_fill(app_db_url: str, schema: str, table: str, rows: list) -> int:
    """Run ``schema`` (the table's DDL), then COPY ``rows`` (named tuples) into ``table``."""
    with psycopg.connect(app_db_url) as conn, conn.cursor() as cur:
        cur.execute(schema)
        if rows:
            with cur.copy(f"copy {table} ({', '.join(rows[0]._fields)}) from stdin") as copy:
                for row in rows:
                    copy.write_row(row)
    return len(rows)
