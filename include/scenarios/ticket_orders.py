"""Scenario of ``ticket_orders``: the ticketing platform's orders (REST) vs the till's ``ticket_sales``.

The platform serves one day of orders from the ticketing sandbox; the till's table in the sandbox app
database holds the same orders, except four planted differences, each on its own order:

* one order the till never recorded: ``missing`` on the box-office side;
* one recorded one minor unit higher: ``amount_mismatch``;
* one refunded on the platform but still ``sold`` at the till: ``status_mismatch`` (the spec maps
  both vocabularies to one: ``refunded`` and ``sold`` stay different);
* one recorded twice: the second row is a ``duplicate`` (its order matches on the first row). The
  staging contract only warns about a repeated key, so the run goes on and reports it.
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from include.sandbox.ticket_sales_db import TicketSalesPlan, add_ticket_sales
from include.sandbox.ticketing import TicketingScenario
from include.sandbox.ticketing_server import TicketingSandbox
from include.scenarios._peers import app_database, day_start, http_connection, postgres_connection

ORDERS = 60


class Scenario:
    spec = "ticket_orders"

    def __init__(self, seed: int, day: dt.date) -> None:
        self.seed = seed
        self.day = day
        self.platform = TicketingScenario(
            seed=seed, start=day_start(day), end=day_start(day + dt.timedelta(days=1)), count=ORDERS
        )
        self.plan = self._plan()

    def _plan(self) -> TicketSalesPlan:
        # Orders 0-4 are the platform's edge cases (JPY, KWD, a 2**53 amount): keep them clean, and
        # keep the last ones clean so a repeated row a minute later stays inside the day.
        statuses = {index: self.platform.sale(index)["status"] for index in range(5, ORDERS - 2)}
        refunded = sorted(index for index, status in statuses.items() if status == "refunded")
        if not refunded:
            raise ValueError(f"seed {self.seed} gives no refunded order to plant a status mismatch on")
        rng = random.Random(f"ticket_orders:{self.seed}:{self.day.isoformat()}")
        unbooked = rng.choice(refunded)
        missing, changed, repeated = rng.sample(sorted(set(statuses) - {unbooked}), 3)
        order = self.platform.sale
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
            yield {
                "ticketing_api": http_connection(api.base_url, token),
                "box_office_db": postgres_connection(app_db),
            }

    def expected_breaks(self) -> collections.Counter[tuple[str, str | None]]:
        # A repeated till row is reported on the till's side; the engine names the other source in
        # missing_in for every unit that stands alone, a duplicate included.
        return collections.Counter(
            {
                ("missing", "box_office"): len(self.plan.missing),
                ("amount_mismatch", None): len(self.plan.amount_changed),
                ("status_mismatch", None): len(self.plan.refund_not_booked),
                ("duplicate", "platform"): len(self.plan.repeated),
            }
        )
