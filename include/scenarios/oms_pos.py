"""Scenario of ``oms_pos``: in-store orders in the order-management system (GraphQL) vs the POS export.

Three stores each number their receipts from 1001, so a receipt number alone names three orders: the
key is (store, receipt number) on both sides, under different names. The OMS serves one day of in-store
orders; the POS export (a CSV on the SFTP host, local Berlin times) holds one line per order, except:

* one order of store S02 has no POS line, while S01 has a line with the same receipt number (a key
  on the receipt number alone would pair it with the wrong order): ``missing`` on the POS side;
* one order the OMS has as click-and-collect is a plain store sale at the till: ``attribute_mismatch``
  on the compared ``channel``;
* one POS total is 0.3 % lower than the OMS total (a rounding of a line discount): inside the spec's
  0.5 % tolerance, so ``matched_within_tolerance`` and no break.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import random
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from include.sandbox.graphql_server import OrdersGraphQLSandbox
from include.sandbox.sftp_server import SftpSandbox
from include.scenarios._peers import day_start, http_connection

STORES = ("S01", "S02", "S03")
ORDERS = 30
POS_DIR = "exports/pos"
TILL_ZONE = ZoneInfo("Europe/Berlin")
# What the POS total is off by on the within-tolerance order: 0.3 %, under the spec's 0.5 %.
WITHIN_TOLERANCE_SHARE = Decimal("0.003")
CENT = Decimal("0.01")


class Scenario:
    spec = "oms_pos"

    def __init__(self, seed: int, day: dt.date) -> None:
        self.seed = seed
        self.day = day
        self.orders = self._orders()
        # Planted on fixed positions: each store's orders take every third index.
        self.missing_in_pos = self.orders[4]  # S02, receipt 1002; S01 has a 1002 too (index 3)
        self.channel_differs = self.orders[11]  # S03
        self.within_tolerance = self.orders[18]  # S01

    def _orders(self) -> list[dict[str, Any]]:
        rng = random.Random(f"oms_pos:{self.seed}:{self.day.isoformat()}")
        opening = day_start(self.day) + dt.timedelta(hours=8)
        orders = []
        for index in range(ORDERS):
            store = STORES[index % len(STORES)]
            created = opening + dt.timedelta(minutes=25 * index, seconds=rng.randrange(60))
            orders.append(
                {
                    "id": f"ord_{index:09d}",
                    "number": 500_001 + index,
                    # At least 20.00: 0.3 % of it is a whole number of cents above zero.
                    "total": {
                        "amount": f"{Decimal(rng.randint(2_000, 40_000)).scaleb(-2)}",
                        "currency": "EUR",
                    },
                    "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "status": "PAID",
                    "customer": {"email": f"customer.{index}@example.com"},
                    "channel": "CLICK_AND_COLLECT" if index in (11, 13) else "STORE",
                    "lines": [{"sku": f"SKU-{rng.randint(1, 9999):04d}", "quantity": rng.randint(1, 3)}],
                    "storeId": store,
                    "receiptNumber": str(1001 + index // len(STORES)),
                }
            )
        return orders

    def pos_lines(self) -> list[list[str]]:
        """The export's rows: what the tills recorded for each order, with the planted differences."""
        rows = []
        for order in self.orders:
            if order is self.missing_in_pos:
                continue
            total = Decimal(order["total"]["amount"])
            if order is self.within_tolerance:
                total -= (total * WITHIN_TOLERANCE_SHARE).quantize(CENT, ROUND_HALF_EVEN)
            channel = "STORE" if order is self.channel_differs else order["channel"]
            # The till prints the receipt a few seconds after the OMS created the order.
            sold = dt.datetime.fromisoformat(order["createdAt"]) + dt.timedelta(seconds=20)
            local = sold.astimezone(TILL_ZONE).strftime("%Y-%m-%d %H:%M:%S")
            rows.append([order["storeId"], order["receiptNumber"], f"{total:.2f}", "EUR", local, channel])
        return rows

    def write_pos_export(self, sftp_root: Path) -> Path:
        folder = sftp_root / POS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"pos_{self.day:%Y%m%d}.csv"
        header = ["store_id", "receipt_no", "total", "currency", "sold_at", "channel"]
        lines = [",".join(header)] + [",".join(row) for row in self.pos_lines()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def logical_dates(self) -> list[dt.datetime]:
        return [day_start(self.day + dt.timedelta(days=1))]

    @contextmanager
    def serve(self, workdir: Path) -> Iterator[dict[str, str]]:
        token = "oms_" + secrets.token_hex(12)
        password = secrets.token_urlsafe(18)
        self.write_pos_export(workdir / "sftp")
        with ExitStack() as stack:
            oms = stack.enter_context(OrdersGraphQLSandbox(self.orders, token=token))
            sftp = stack.enter_context(SftpSandbox(workdir / "sftp", password=password))
            pos = {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": sftp.port,
                "login": sftp.username,
                "password": password,
                "extra": {"host_key": sftp.host_public_key, "look_for_keys": False},
            }
            yield {"oms_api": http_connection(oms.base_url, token), "pos_sftp": json.dumps(pos)}

    def expected_breaks(self) -> collections.Counter[tuple[str, str | None]]:
        return collections.Counter({("missing", "pos"): 1, ("attribute_mismatch", None): 1})
