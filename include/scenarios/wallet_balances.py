"""Scenario of ``wallet_balances``: the app's wallet balances against the chain's, to 1e-8.

The app database (``include.sandbox.app_db``, a database of its own next to the warehouse) holds a dozen
wallets in ETH, FLOW and USDC (tokens the spec declares), and a chain indexer's table of the same
addresses in checksum case (``include.sandbox.wallets``). Both are read whole (``snapshot: true``).
Every address differs in letter case between the two, and none is a break for it (``key_form``).
The planted wallets:

* ``edge``: off by exactly 0.00000001: ``matched_within_tolerance`` (the tolerance is inclusive);
* ``drift``: off by 0.00000002: ``balance_mismatch``, corrected to the chain's balance;
* ``doubled``: listed twice by the indexer (a stale reading, then the current one): a
  ``balance_mismatch`` against the earlier reading and a ``duplicate`` on the chain; no correction;
* ``unfunded``: in the app only: ``missing`` on the chain (rated critical: it pages);
* ``new_on_chain``: on the chain only: ``missing`` in the app, corrected by an insert;
* ``overprecise``: a FLOW reading with 9 decimals, quarantined: ``unreadable`` on the chain.

The app database and the indexer's table share one sandbox database; the spec reads them through
two connections (``app_db``, ``chain_indexer``), as it would two databases.
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
        self.app_db: str | None = None  # the app database's URL while served

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
            self.app_db = url
            connection = postgres_connection(url)
            # The writer is the same database here; in production, a role with write rights.
            yield {"app_db": connection, "chain_indexer": connection, "app_db_writer": connection}
        finally:
            self.app_db = None
            drop_app_database(server, name)

    def expected_breaks(self) -> collections.Counter[tuple[str, str | None]]:
        return collections.Counter(
            {
                ("balance_mismatch", None): 2,  # drift, doubled
                ("duplicate", "balances"): 1,  # doubled's later reading, with no counterpart in the app
                ("missing", "chain"): 1,  # unfunded
                ("missing", "balances"): 1,  # new_on_chain
                ("unreadable", "chain"): 1,  # overprecise
            }
        )
