"""Scenario of ``wallet_balances``: wallets of the sandbox app database against their ledger, to 1e-8.

The app database (``include.sandbox.app_db``, a database of its own next to the warehouse) holds a dozen
wallets in USD, EUR and ETH to 18 decimals, each balance the exact sum of its ledger entries except
three planted wallets (``include.sandbox.wallets``):

* one off by exactly 0.00000001: ``matched_within_tolerance`` (the tolerance is inclusive), no break;
* one off by 0.00000002: ``balance_mismatch``;
* one with a balance and no ledger entry: ``missing`` in the ledger.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from include.sandbox.app_db import AppScenario, create_app_database, drop_app_database
from include.sandbox.wallets import WalletBook, load_wallets
from include.scenarios._peers import day_start, postgres_connection
from recon.warehouse import configured_url, start_embedded


class Scenario:
    spec = "wallet_balances"

    def __init__(self, seed: int, day: dt.date) -> None:
        self.seed = seed
        self.day = day
        self.book = WalletBook(seed=seed, day=day)

    def logical_dates(self) -> list[dt.datetime]:
        return [day_start(self.day + dt.timedelta(days=1))]

    @contextmanager
    def serve(self, workdir: Path) -> Iterator[dict[str, str]]:
        # On the configured Postgres server, or an embedded one under workdir; never the warehouse's
        # database. The process id keeps parallel test processes apart.
        server = configured_url() or start_embedded(workdir / "app-db" / "pgdata")
        name = f"recon_app_wallets_{os.getpid()}"
        # The app database's own wallets are left empty: the book supplies every one.
        url = create_app_database(
            server,
            name,
            AppScenario(seed=self.seed, day=self.day, payments=2, neighbour_payments=2, wallets=0),
        )
        try:
            load_wallets(url, self.book)
            yield {"app_db": postgres_connection(url)}
        finally:
            drop_app_database(server, name)

    def expected_breaks(self) -> collections.Counter[tuple[str, str | None]]:
        return collections.Counter({("balance_mismatch", None): 1, ("missing", "ledger"): 1})
