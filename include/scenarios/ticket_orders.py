"""Scenario of ``ticket_orders``: the ticketing platform's orders (REST) vs the till's ``ticket_sales``.

The platform serves one day of orders from the ticketing sandbox; the till's table in the sandbox app
database holds the same orders, except four planted differences, each on its own order:

* one order the till never recorded: ``missing`` on the box-office side;
* one recorded one minor unit higher: ``amount_mismatch``;
* one refunded on the platform but still ``sold`` at the till: ``status_mismatch`` (the spec maps
  both vocabularies to one: ``refunded`` and ``sold`` stay different);
* one recorded twice: the second row is a ``duplicate`` (its order matches on the first row). The
  default ``no_duplicates`` rule is low severity, so the run goes on and reports it.

The app database also holds the box office's event catalogue (``events``, the spec's reference),
and the integrity rules of the spec find four more planted problems, on orders the differences above
leave alone (so the breaks stay the same) and none of them critical, so the run still publishes:

* one order for an event the catalogue lacks (``event_exists``);
* one order for 0 tickets (``quantity_positive``);
* one order without a buyer email (``customer_email_not_null``);
* one event whose stored ``tickets_sold`` is one more than its orders add up to
  (``tickets_sold_match_orders``).

``NegativeSales`` is the same day with more orders (``NEGATIVE_ORDERS``), for a variant of the spec whose
``amount_not_negative`` is critical but marks rather than stops: ``NEGATIVE_SALES`` of them (under 1 %)
are returns the platform books as negative sales, and the till with them (both sides negative, so they
match); and the till writes one more order twice, the second row one minor unit higher: a copy that
differs from the row it repeats, so it is ``missing`` on the platform's side, not a ``duplicate``.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import random
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from include.sandbox.ticket_sales_db import TicketSalesPlan, add_events, add_ticket_sales
from include.sandbox.ticketing import EVENTS, TicketingScenario
from include.sandbox.ticketing_server import TicketingSandbox
from include.scenarios._peers import app_database, day_start, http_connection, postgres_connection

ORDERS = 60
NEGATIVE_ORDERS = 240
NEGATIVE_SALES = 2
# The rule of include/specs/ticket_orders.yml that each planted flaw of an order breaks.
RULE_OF_FLAW = {
    "unknown_event": "event_exists",
    "zero_quantity": "quantity_positive",
    "no_buyer_email": "customer_email_not_null",
}


class Scenario:
    spec = "ticket_orders"

    def __init__(
        self, seed: int, day: dt.date, orders: int = ORDERS, negative_sales: int = 0, changed_copies: int = 0
    ) -> None:
        self.seed = seed
        self.day = day
        self.orders = orders
        clean = TicketingScenario(
            seed=seed, start=day_start(day), end=day_start(day + dt.timedelta(days=1)), count=orders
        )
        plan = self._plan(clean)
        # Drawn after the differences and from a generator of their own, so that adding them left the
        # differences (and the breaks they make) as they were.
        rng = random.Random(f"ticket_orders:integrity:{seed}:{day.isoformat()}")
        planned = {order_id for ids in dataclasses.astuple(plan) for order_id in ids}
        untouched = [i for i in range(5, orders) if clean.sale(i)["id"] not in planned]
        flawed = dict(zip(RULE_OF_FLAW, rng.sample(untouched, len(RULE_OF_FLAW)), strict=True))
        miscounted, _name = rng.choice(EVENTS)
        # The variant's additions, drawn last, so that the orders above stay as they were.
        spare = [i for i in untouched[:-2] if i not in flawed.values()]
        negative = rng.sample(spare, negative_sales)
        copied = rng.sample([i for i in spare if i not in negative], changed_copies)
        flaws = [(i, kind) for kind, i in flawed.items()] + [(i, "negative_total") for i in negative]
        self.platform = dataclasses.replace(clean, flaws=tuple(flaws))
        # Flaw kind -> the order id that carries it.
        self.flawed = {kind: self.platform.sale(index)["id"] for kind, index in flawed.items()}
        self.negative = sorted(self.platform.sale(index)["id"] for index in negative)
        self.plan = dataclasses.replace(
            plan,
            miscounted=frozenset({miscounted}),
            repeated_changed=frozenset(clean.sale(index)["id"] for index in copied),
        )

    def _plan(self, platform: TicketingScenario) -> TicketSalesPlan:
        # Orders 0-4 are the platform's edge cases (JPY, KWD, a 2**53 amount): keep them clean, and
        # keep the last ones clean so a repeated row a minute later stays inside the day.
        statuses = {index: platform.sale(index)["status"] for index in range(5, self.orders - 2)}
        refunded = sorted(index for index, status in statuses.items() if status == "refunded")
        if not refunded:
            raise ValueError(f"seed {self.seed} gives no refunded order to plant a status mismatch on")
        rng = random.Random(f"ticket_orders:{self.seed}:{self.day.isoformat()}")
        unbooked = rng.choice(refunded)
        missing, changed, repeated = rng.sample(sorted(set(statuses) - {unbooked}), 3)
        order = platform.sale
        return TicketSalesPlan(
            missing=frozenset({order(missing)["id"]}),
            amount_changed=frozenset({order(changed)["id"]}),
            refund_not_booked=frozenset({order(unbooked)["id"]}),
            repeated=frozenset({order(repeated)["id"]}),
        )

    def logical_dates(self) -> list[dt.datetime]:
        return [day_start(self.day + dt.timedelta(days=1))]

    @contextmanager
    def serve(self, workdir: Path) -> Iterator[dict[str, str]]:
        token = "tix_" + secrets.token_hex(12)
        with ExitStack() as stack:
            api = stack.enter_context(TicketingSandbox(self.platform, token=token))
            app_db = stack.enter_context(app_database(workdir, self.spec, self.seed, self.day))
            add_ticket_sales(app_db, self.platform, self.plan)
            add_events(app_db, self.platform, self.plan)
            yield {
                "ticketing_api": http_connection(api.base_url, token),
                "box_office_db": postgres_connection(app_db),
                # The spec's corrections write through a connection of their own (the sandbox's
                # database takes both; in production the read one is a read-only role).
                "box_office_writer": postgres_connection(app_db),
            }

    def expected_breaks(self) -> collections.Counter[tuple[str, str | None]]:
        # A repeated till row is reported on the till's side; the engine names the other source in
        # missing_in for every unit that stands alone, a duplicate included.
        expected = collections.Counter(
            {
                ("missing", "box_office"): len(self.plan.missing),
                ("amount_mismatch", None): len(self.plan.amount_changed),
                ("status_mismatch", None): len(self.plan.refund_not_booked),
                ("duplicate", "platform"): len(self.plan.repeated),
            }
        )
        if self.plan.repeated_changed:
            # A copy that differs from the row it repeats stands alone on the till's side: missing.
            expected["missing", "platform"] = len(self.plan.repeated_changed)
        return expected

    def expected_integrity(self) -> dict[str, tuple[int, list[str]]]:
        """Every integrity rule the run must find broken: rule name -> (rows that break it, their
        record keys, sorted), on each source it fails on. Every other rule of the spec, the defaults
        included, passes."""
        failing = {RULE_OF_FLAW[kind]: (1, [order_id]) for kind, order_id in self.flawed.items()}
        failing["tickets_sold_match_orders"] = (len(self.plan.miscounted), sorted(self.plan.miscounted))
        # The till's repeated row is the matching's duplicate, which the default no_duplicates reports.
        failing["no_duplicates"] = (len(self.plan.repeated), sorted(self.plan.repeated))
        if self.negative:  # on both sides: the till books the returns as the platform does
            failing["amount_not_negative"] = (len(self.negative), self.negative)
        return failing


class NegativeSales(Scenario):
    """The day with ``NEGATIVE_ORDERS`` orders, ``NEGATIVE_SALES`` of them negative, and a changed copy."""

    def __init__(self, seed: int, day: dt.date) -> None:
        super().__init__(seed, day, orders=NEGATIVE_ORDERS, negative_sales=NEGATIVE_SALES, changed_copies=1)
