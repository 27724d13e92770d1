"""The app database the sandbox plays: payments and wallets of an internal app, in Postgres.

It is a database of its own next to the warehouse (same server, never the warehouse's database), so a
``postgres`` source reads it exactly as it would read a production replica. Everything is derived
from one ``random.Random`` seeded by the scenario: the same scenario gives the same rows everywhere,
and the functions that yield rows are the truth tests compare against. Rows are generated lazily and
loaded with COPY in chunks, so ten rows and ten million rows take the same memory.

Tables (window ``[day 00:00, day+1 00:00)`` UTC):

* ``payments``: ``id`` (text key), ``amount numeric`` (major units, exactly the currency's decimals:
  USD/EUR 2, JPY 0, KWD 3), ``currency``, ``created_at timestamptz``, ``booked_at timestamp`` (the
  same moment, naive, in the app's zone ``APP_TIMEZONE``), ``status``, ``customer jsonb``
  (``email``, ``name``, ``address.country``), ``metadata jsonb`` (``order.id``, ``order.lines[].sku``,
  ``fee_minor``). Payment 0 is exactly at the window start and payment 1 one microsecond before its
  end; of the neighbours, the first is exactly at the window end and the second one microsecond
  before the start (both outside). ``malformed_payments`` more rows inside the window must each be
  quarantined by a mapping of the payments (reasons in ``MALFORMED``).
* ``wallet_balances``: ``user_id``, ``balance numeric(38,18)``, ``currency``, ``updated_at`` (inside
  the window); ``wallet_ledger``: ``entry_id``, ``user_id``, ``amount numeric(38,18)``, ``currency``,
  ``posted_at``. Each balance is the exact sum of its ledger entries, except ``wallet_drifts``
  wallets (off by ``DRIFT``, beyond a 1e-8 tolerance) and ``wallet_dust`` wallets (off by ``DUST``,
  within it); ``wallet_differences`` lists them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import psycopg

APP_TIMEZONE = "Europe/Berlin"
DRIFT = Decimal("0.00000002")
DUST = Decimal("0.000000000000000001")
# Malformed payment kinds, cycled in order: (amount, currency, what the quarantine reason says).
MALFORMED: tuple[tuple[Decimal | None, str, str], ...] = (
    (Decimal("NaN"), "USD", "is not a number"),
    (None, "USD", "amount is missing"),
    (Decimal("12.50"), "XX", "is not an ISO 4217 code"),
    (Decimal("1234.5"), "JPY", "more decimals than JPY allows (0)"),
    (Decimal("1.2345"), "KWD", "more decimals than KWD allows (3)"),
)
_EXPONENTS = {"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}
_CURRENCY_WEIGHTS = (("USD", 50), ("EUR", 30), ("JPY", 12), ("KWD", 8))
_NAMES = ("ada", "alan", "grace", "edsger", "barbara", "donald", "margaret", "dennis", "frances", "radia")
_COUNTRIES = ("DE", "FR", "JP", "KW", "US", "GB")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SCHEMA = """
create table payments (
    id text primary key, amount numeric, currency text, created_at timestamptz not null,
    booked_at timestamp not null, status text not null, customer jsonb, metadata jsonb);
create table wallet_balances (
    user_id text primary key, balance numeric(38, 18) not null, currency text not null,
    updated_at timestamptz not null);
create table wallet_ledger (
    entry_id bigint primary key, user_id text not null, amount numeric(38, 18) not null,
    currency text not null, posted_at timestamptz not null);
"""
_INDEXES = """
create index on payments (created_at);
create index on payments (booked_at);
create index on wallet_balances (updated_at);
create index on wallet_ledger (user_id);
analyze;
"""


@dataclass(frozen=True)
class AppScenario:
    """One day of app data; see the module docstring for what each count plants."""

    seed: int
    day: dt.date
    payments: int = 50
    neighbour_payments: int = 4
    malformed_payments: int = 0
    wallets: int = 20
    ledger_entries_per_wallet: int = 3
    wallet_drifts: int = 0
    wallet_dust: int = 0
    chunk_size: int = 10_000

    def __post_init__(self) -> None:
        if self.payments < 2 or self.neighbour_payments < 2:
            raise ValueError("payments and neighbour_payments must each be at least 2 (the window edges)")
        if min(self.malformed_payments, self.wallets, self.wallet_drifts, self.wallet_dust) < 0:
            raise ValueError("counts must not be negative")
        if self.wallet_drifts + self.wallet_dust > self.wallets:
            raise ValueError("wallet_drifts + wallet_dust must not exceed wallets")
        if self.ledger_entries_per_wallet < 1 or self.chunk_size < 1:
            raise ValueError("ledger_entries_per_wallet and chunk_size must be at least 1")

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.combine(self.day, dt.time(), tzinfo=dt.UTC)
        return start, start + dt.timedelta(days=1)


class Payment(NamedTuple):
    id: str
    amount: Decimal | None
    currency: str
    created_at: dt.datetime
    booked_at: dt.datetime  # naive, APP_TIMEZONE
    status: str
    customer: dict[str, Any]
    metadata: dict[str, Any]


class Wallet(NamedTuple):
    user_id: str
    balance: Decimal
    currency: str
    updated_at: dt.datetime


class LedgerEntry(NamedTuple):
    entry_id: int
    user_id: str
    amount: Decimal
    currency: str
    posted_at: dt.datetime


def create_app_database(server_url: str, name: str, scenario: AppScenario) -> str:
    """(Re)create database ``name`` on the server of ``server_url``, seed it, and return its URL."""
    if not _NAME.match(name):
        raise ValueError(f"app database name {name!r} must match {_NAME.pattern}")
    if name == urlsplit(server_url).path.lstrip("/"):
        raise ValueError(f"refusing to seed {name!r}: it is the database of the server URL (the warehouse?)")
    drop_app_database(server_url, name)
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(_SCHEMA)
        _copy(cur, "payments", Payment._fields, payments(scenario), scenario.chunk_size)
        _copy(cur, "wallet_balances", Wallet._fields, wallets(scenario), scenario.chunk_size)
        _copy(cur, "wallet_ledger", LedgerEntry._fields, ledger_entries(scenario), scenario.chunk_size)
        cur.execute(_INDEXES)
    return url


def drop_app_database(server_url: str, name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"app database name {name!r} must match {_NAME.pattern}")
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')


def _copy(
    cur: psycopg.Cursor, table: str, columns: tuple[str, ...], rows: Iterable[tuple], chunk: int
) -> None:
    # One COPY per chunk: the generator is drained chunk by chunk, never into one list.
    iterator = iter(rows)
    while batch := list(islice(iterator, chunk)):
        with cur.copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
            for row in batch:
                copy.write_row([json.dumps(v) if isinstance(v, dict) else v for v in row])


def payments(s: AppScenario) -> Iterator[Payment]:
    """Every payment row, in insertion order: window payments, neighbours, then malformed ones."""
    rng = random.Random(f"app-payments:{s.seed}:{s.day.isoformat()}")
    start, end = s.window
    tick = dt.timedelta(microseconds=1)
    for i in range(s.payments):
        at = start if i == 0 else end - tick if i == 1 else _moment(rng, start, end)
        yield _payment(rng, f"pay_{i:08d}", at)
    for i in range(s.neighbour_payments):
        if i == 0:
            at = end
        elif i == 1:
            at = start - tick
        else:
            day_before = rng.random() < 0.5
            at = (
                _moment(rng, start - dt.timedelta(days=1), start)
                if day_before
                else _moment(rng, end, end + (end - start))
            )
        yield _payment(rng, f"pay_n{i:07d}", at)
    for i in range(s.malformed_payments):
        amount, currency, _ = MALFORMED[i % len(MALFORMED)]
        yield _payment(rng, f"pay_bad_{i:04d}", _moment(rng, start, end))._replace(
            amount=amount, currency=currency
        )


def malformed_reasons(s: AppScenario) -> dict[str, str]:
    """Id of each planted malformed payment -> a phrase its quarantine reason contains."""
    return {f"pay_bad_{i:04d}": MALFORMED[i % len(MALFORMED)][2] for i in range(s.malformed_payments)}


def window_payments(s: AppScenario) -> Iterator[Payment]:
    """The well-formed payments inside the window: what a clean extract must load, exactly."""
    start, end = s.window
    return (p for p in payments(s) if start <= p.created_at < end and not p.id.startswith("pay_bad_"))


def wallets(s: AppScenario) -> Iterator[Wallet]:
    differences = wallet_differences(s)
    for user_id, currency, updated_at, entries in _wallet_plan(s):
        balance = sum((e.amount for e in entries), Decimal(0)) + differences.get(user_id, Decimal(0))
        yield Wallet(user_id, balance, currency, updated_at)


def ledger_entries(s: AppScenario) -> Iterator[LedgerEntry]:
    for *_, entries in _wallet_plan(s):
        yield from entries


def wallet_differences(s: AppScenario) -> dict[str, Decimal]:
    """user_id -> balance minus ledger sum, for the planted drifts and dust; all others are exact."""
    differences = {_user(i): DRIFT for i in range(s.wallet_drifts)}
    differences |= {_user(s.wallet_drifts + i): DUST for i in range(s.wallet_dust)}
    return differences


def _wallet_plan(s: AppScenario) -> Iterator[tuple[str, str, dt.datetime, list[LedgerEntry]]]:
    rng = random.Random(f"app-wallets:{s.seed}:{s.day.isoformat()}")
    start, end = s.window
    entry_id = 0
    for i in range(s.wallets):
        currency = _currency(rng)
        entries = []
        for _ in range(s.ledger_entries_per_wallet):
            entry_id += 1
            # 18 decimals, up to a million major units, debits too: sums must stay exact.
            amount = Decimal(rng.randrange(-(10**23), 10**24)).scaleb(-18)
            entries.append(
                LedgerEntry(
                    entry_id, _user(i), amount, currency, _moment(rng, start - dt.timedelta(days=30), start)
                )
            )
        yield _user(i), currency, _moment(rng, start, end), entries


def _user(i: int) -> str:
    return f"user_{i:06d}"


def _payment(rng: random.Random, key: str, at: dt.datetime) -> Payment:
    currency = _currency(rng)
    exponent = _EXPONENTS[currency]
    amount = Decimal(rng.randrange(1, 500_000) * (10 if currency == "JPY" else 1)).scaleb(-exponent)
    name = rng.choice(_NAMES)
    order = f"ord_{rng.randrange(16**10):010x}"
    return Payment(
        id=key,
        amount=amount,
        currency=currency,
        created_at=at,
        booked_at=at.astimezone(ZoneInfo(APP_TIMEZONE)).replace(tzinfo=None),
        status="refunded" if rng.random() < 0.05 else "succeeded",
        customer={
            "email": f"{name}.{key}@example.com",
            "name": name.title(),
            "address": {"country": rng.choice(_COUNTRIES)},
        },
        metadata={
            "order": {
                "id": order,
                "lines": [{"sku": f"sku-{rng.randrange(100):03d}", "qty": rng.randrange(1, 4)}],
            },
            "fee_minor": rng.randrange(0, 300),
        },
    )


def _currency(rng: random.Random) -> str:
    codes, weights = zip(*_CURRENCY_WEIGHTS, strict=True)
    return rng.choices(codes, weights)[0]


def _moment(rng: random.Random, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """A random moment in ``[start, end)`` to the microsecond, as timestamptz keeps it."""
    span = int((end - start) / dt.timedelta(microseconds=1))
    return start + dt.timedelta(microseconds=rng.randrange(span))
