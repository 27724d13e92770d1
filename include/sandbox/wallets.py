"""Wallet balances and the ledger they must add up to, to 18 decimals, with planted differences.

The rows go into the app database's own ``wallet_balances`` and ``wallet_ledger`` tables
(``include.sandbox.app_db``: ``numeric(38, 18)``), replacing what that module seeded, so a scenario
decides every wallet. Each wallet has ``entries_per_wallet`` ledger entries, the last one posted inside
the day and the others in the thirty days before; its balance, updated at its last entry, is the exact
sum of its entries, except three planted wallets:

* ``edge``: the balance is off by exactly ``tolerance`` (a balance check with that tolerance matches it:
  the boundary is inclusive);
* ``drift``: off by twice ``tolerance`` (a ``balance_mismatch``);
* ``unledgered``: a balance updated in the day with no ledger entry at all (missing in the ledger).

Every ledger amount is a credit (positive), so the default integrity rule ``amount_not_negative``
(critical) holds; a ledger with debits would turn it off in its spec.
Wallets are kept in several currencies, one of them a code outside ISO 4217 (``ETH``), all to 18
decimals. Everything derives from one seed.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

import psycopg

from include.sandbox.app_db import LedgerEntry, Wallet

_CURRENCIES = ("USD", "EUR", "ETH")


@dataclass(frozen=True)
class Plan:
    edge: str
    drift: str
    unledgered: str


@dataclass(frozen=True)
class WalletBook:
    seed: int
    day: dt.date
    wallets: int = 12
    entries_per_wallet: int = 4
    tolerance: Decimal = Decimal("0.00000001")

    def __post_init__(self) -> None:
        if self.wallets < 4 or self.entries_per_wallet < 1:
            raise ValueError("at least 4 wallets (3 planted, 1 clean) and 1 entry per wallet")

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.combine(self.day, dt.time(), tzinfo=dt.UTC)
        return start, start + dt.timedelta(days=1)

    @cached_property
    def plan(self) -> Plan:
        rng = random.Random(f"recon-wallet-plan:{self.seed}:{self.day.isoformat()}")
        edge, drift, unledgered = rng.sample([_user(i) for i in range(self.wallets)], 3)
        return Plan(edge=edge, drift=drift, unledgered=unledgered)

    @cached_property
    def rows(self) -> tuple[list[Wallet], list[LedgerEntry]]:
        """The balances and the ledger entries, as the app database holds them."""
        rng = random.Random(f"recon-wallets:{self.seed}:{self.day.isoformat()}")
        start, end = self.window
        offsets = {self.plan.edge: self.tolerance, self.plan.drift: -2 * self.tolerance}
        wallets, entries = [], []
        for i in range(self.wallets):
            user, currency = _user(i), _CURRENCIES[i % len(_CURRENCIES)]
            # The last entry inside the day; the others in the thirty days before it.
            times = sorted(
                _moment(rng, start - dt.timedelta(days=30), start) for _ in range(self.entries_per_wallet - 1)
            )
            times.append(_moment(rng, start, end))
            own = [
                LedgerEntry(len(entries) + n + 1, user, _amount(rng), currency, at)
                for n, at in enumerate(times)
            ]
            if user == self.plan.unledgered:
                # A balance the app changed with no ledger entry behind it: the entries never exist.
                balance = sum((e.amount for e in own), Decimal(0))
            else:
                entries.extend(own)
                balance = sum((e.amount for e in own), Decimal(0)) + offsets.get(user, Decimal(0))
            wallets.append(Wallet(user, balance, currency, times[-1]))
        return wallets, entries

    def ledger_sum(self, user: str) -> Decimal:
        return sum((e.amount for e in self.rows[1] if e.user_id == user), Decimal(0))

    def balance(self, user: str) -> Decimal:
        return next(w.balance for w in self.rows[0] if w.user_id == user)


def load_wallets(url: str, book: WalletBook) -> None:
    """Replace the app database's wallets and ledger with ``book``'s rows."""
    wallets, entries = book.rows
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("truncate wallet_balances, wallet_ledger")
        with cur.copy("copy wallet_balances (user_id, balance, currency, updated_at) from stdin") as copy:
            for row in wallets:
                copy.write_row(row)
        with cur.copy(
            "copy wallet_ledger (entry_id, user_id, amount, currency, posted_at) from stdin"
        ) as copy:
            for row in entries:
                copy.write_row(row)


def _user(i: int) -> str:
    return f"wallet_{i:05d}"


def _amount(rng: random.Random) -> Decimal:
    # Up to a hundred thousand major units, every one of the 18 decimals used.
    return Decimal(rng.randrange(10**15, 10**23)).scaleb(-18)


def _moment(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    span = int((end - start) / dt.timedelta(microseconds=1))
    return start + dt.timedelta(microseconds=rng.randrange(span))
