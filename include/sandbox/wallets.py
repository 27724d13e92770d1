"""On-chain wallet balances and the app's balance table, to 18 decimals, with planted differences.

The app keeps one balance per wallet address in its own ``wallet_balances`` table (``include.sandbox.
app_db``: ``numeric(38, 18)``; this module replaces the rows that module seeded, so a scenario decides
every wallet), addresses in lower case. A chain indexer keeps what the chain says each address holds in
``chain_balances`` (``address``, ``balance numeric``, ``token``, ``indexed_at``), addresses in checksum
case: the same hex, some letters upper case. So every address of the book is spelled differently on the
two sides, and only a key form (``case: lower``) makes them one wallet.

Wallets hold tokens that ISO 4217 does not list, each with its own decimals (``DECIMALS``): ETH 18,
FLOW 8, USDC 6; every chain balance uses exactly its token's decimals. Each app balance equals its
chain balance, except the planted wallets (``Plan``):

* ``edge``: the app is off by exactly ``tolerance`` (matched within the inclusive tolerance);
* ``drift``: the app is off by twice ``tolerance`` (a ``balance_mismatch``, corrected to the chain's);
* ``doubled``: the indexer lists the address twice, an earlier stale reading and the current one (the
  app holds the current one): the earlier row is the chain's balance, the later a ``duplicate``; the
  truth is in doubt, so no correction may be written from it;
* ``unfunded``: an app wallet the chain does not hold (missing on the chain);
* ``new_on_chain``: an address the chain holds and the app lacks (missing in the app; a correction
  inserts it, in the app's lower case);
* ``overprecise``: a FLOW balance the indexer wrote with 9 decimals, more than FLOW has: quarantined
  on the chain's side, so the app's wallet is ``unreadable`` there, not missing.

Everything derives from one seed.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import NamedTuple

import psycopg

from include.sandbox.app_db import Wallet

DECIMALS = {"ETH": 18, "FLOW": 8, "USDC": 6}
_TOKENS = tuple(DECIMALS)
_CHAIN = """
create table chain_balances (
    address text not null, balance numeric not null, token text not null, indexed_at timestamptz not null);
"""


class ChainBalance(NamedTuple):
    address: str
    balance: Decimal
    token: str
    indexed_at: dt.datetime


@dataclass(frozen=True)
class Plan:
    edge: str
    drift: str
    doubled: str
    unfunded: str
    new_on_chain: str
    overprecise: str


@dataclass(frozen=True)
class WalletBook:
    seed: int
    day: dt.date
    wallets: int = 12
    tolerance: Decimal = Decimal("0.00000001")

    def __post_init__(self) -> None:
        if self.wallets < 2 * len(_TOKENS) + 1:
            raise ValueError(f"at least {2 * len(_TOKENS) + 1} wallets (6 planted, one FLOW among them)")

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.combine(self.day, dt.time(), tzinfo=dt.UTC)
        return start, start + dt.timedelta(days=1)

    @cached_property
    def addresses(self) -> list[str]:
        """Every wallet's address as the app stores it (lower case), in book order."""
        rng = random.Random(f"recon-wallet-addresses:{self.seed}")
        return [f"0x{rng.getrandbits(160):040x}" for _ in range(self.wallets)]

    def token(self, address: str) -> str:
        return _TOKENS[self.addresses.index(address) % len(_TOKENS)]

    @cached_property
    def plan(self) -> Plan:
        rng = random.Random(f"recon-wallet-plan:{self.seed}:{self.day.isoformat()}")
        flow = [a for a in self.addresses if self.token(a) == "FLOW"]
        overprecise = rng.choice(flow)
        others = rng.sample([a for a in self.addresses if a != overprecise], 5)
        return Plan(*others, overprecise=overprecise)

    @cached_property
    def rows(self) -> tuple[list[Wallet], list[ChainBalance]]:
        """The app's balances and the indexer's rows, as the databases hold them."""
        rng = random.Random(f"recon-wallets:{self.seed}:{self.day.isoformat()}")
        start, end = self.window
        plan = self.plan
        offsets = {plan.edge: self.tolerance, plan.drift: -2 * self.tolerance}
        app, chain = [], []
        for address in self.addresses:
            token = self.token(address)
            balance = _amount(rng, DECIMALS[token])
            # The app last changed a wallet any time in the last month: a snapshot reads it all the same.
            updated = _moment(rng, start - dt.timedelta(days=30), end)
            indexed = _moment(rng, start, end)
            spelled = checksum_case(address, rng)
            if address == plan.overprecise:
                # One digit past FLOW's 8 decimals: the indexer's value cannot be read as FLOW.
                chain.append(ChainBalance(spelled, balance + Decimal("0.000000001"), token, indexed))
            elif address == plan.doubled:
                stale = (balance / 2).quantize(Decimal(1).scaleb(-DECIMALS[token]))
                earlier = indexed - dt.timedelta(hours=1)
                chain.append(ChainBalance(spelled, stale, token, earlier))
                chain.append(ChainBalance(spelled, balance, token, indexed))
            elif address != plan.unfunded:
                chain.append(ChainBalance(spelled, balance, token, indexed))
            if address != plan.new_on_chain:
                app.append(Wallet(address, balance + offsets.get(address, Decimal(0)), token, updated))
        return app, chain

    def balance(self, address: str) -> Decimal:
        """The app's balance of ``address``."""
        return next(w.balance for w in self.rows[0] if w.user_id == address)

    def chain_rows(self, address: str) -> list[ChainBalance]:
        """The indexer's rows of ``address`` (in checksum case), earliest first."""
        found = [row for row in self.rows[1] if row.address.lower() == address]
        return sorted(found, key=lambda row: row.indexed_at)

    def spelled_on_chain(self, address: str) -> str:
        return self.chain_rows(address)[0].address


def checksum_case(address: str, rng: random.Random) -> str:
    """``address`` with some of its hex letters in upper case, at least one (as checksum case is)."""
    letters = [i for i, char in enumerate(address) if char in "abcdef"]
    upper = {i for i in letters if rng.random() < 0.5} or {letters[0]}
    return "".join(char.upper() if i in upper else char for i, char in enumerate(address))


def load_wallets(url: str, book: WalletBook) -> None:
    """Replace the app database's wallets with ``book``'s and add the indexer's ``chain_balances``."""
    app, chain = book.rows
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("truncate wallet_balances, wallet_ledger")
        # A wallet inserted by a correction is stamped when it is written.
        cur.execute("alter table wallet_balances alter column updated_at set default now()")
        with cur.copy("copy wallet_balances (user_id, balance, currency, updated_at) from stdin") as copy:
            for row in app:
                copy.write_row(row)
        cur.execute(_CHAIN)
        with cur.copy("copy chain_balances (address, balance, token, indexed_at) from stdin") as copy:
            for row in chain:
                copy.write_row(row)


def _amount(rng: random.Random, decimals: int) -> Decimal:
    # Up to a hundred thousand whole tokens, every one of the token's decimals used.
    return Decimal(rng.randrange(10 ** (decimals - 3), 10 ** (decimals + 5))).scaleb(-decimals)


def _moment(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    span = int((end - start) / dt.timedelta(microseconds=1))
    return start + dt.timedelta(microseconds=rng.randrange(span))
