"""A week of Stripe payouts, the balance transactions each one settles, and the bank lines they make.

Stripe pays out every day: a payout created on day *d* (06:00 UTC) settles the charges of day *d - 2*
(``stripe_objects`` builds the charges' balance transactions, fees included, and the payouts that settle
them). The bank books each payout one or two days later, on the operating account's daily statement
(``stmt_YYYYMMDD.csv``, one file per booking day), with the payout id inside the free-text purpose.

Four things are planted, each on its own payout (``PayoutWeek.plan``):

* ``unbalanced``: the payout's amount is ``break_minor`` more than the net of what it settles;
* ``unbooked``: the bank never books the payout;
* ``misbooked``: the bank books ``shortfall_minor`` less than the payout;
* ``recent``: the last payout of the week, which the bank books after the week is over (its line is in
  the next Monday's statement, which a run of this week does not read).

Every other payout is booked in a statement of the same week. Amounts are integer minor units in Stripe
and decimal-comma major units in the statement; everything derives from one seed, so the same
``PayoutWeek`` gives the same objects and byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from include.sandbox.generator import currency_exponent
from include.sandbox.stripe_objects import StripeObjects, stripe_objects

_DAY = 86_400
_SETTLEMENT_LAG_DAYS = 2  # a payout settles the charges of two days before it
# Currencies paid out, and the weekdays (0 = Monday) on which each has a payout.
_PAYOUT_DAYS = {"usd": range(7), "eur": (0, 2, 4)}
STATEMENT_COLUMNS = (
    "Buchungstag",
    "Valuta",
    "Betrag",
    "Waehrung",
    "Auftraggeber",
    "Verwendungszweck",
    "Bankref",
)


@dataclass(frozen=True)
class BankLine:
    bank_ref: str
    booked_on: dt.date
    payout_id: str
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class Plan:
    """Which payout carries which planted discrepancy."""

    unbalanced: str
    unbooked: str
    misbooked: str
    recent: str


@dataclass(frozen=True)
class PayoutWeek:
    """The payouts created in the week ``[monday, monday + 7 days)`` UTC, and what surrounds them."""

    seed: int
    monday: dt.date
    charges_per_payout: int = 4
    break_minor: int = 100
    shortfall_minor: int = 1

    def __post_init__(self) -> None:
        if self.monday.weekday() != 0:
            raise ValueError(f"{self.monday} is not a Monday")
        if self.charges_per_payout < 1 or self.break_minor == 0 or self.shortfall_minor == 0:
            raise ValueError("charges_per_payout must be at least 1, break_minor and shortfall_minor not 0")

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.combine(self.monday, dt.time(), tzinfo=dt.UTC)
        return start, start + dt.timedelta(days=7)

    @cached_property
    def _settled(self) -> StripeObjects:
        # Refunds would be negative balance transactions, which the staging contract (amount >= 0,
        # critical) refuses today; the settled side is charges (net of fees) only.
        out = stripe_objects(
            self._charges(), seed=self.seed, refund_share=0, per_payout=self.charges_per_payout
        )
        start, end = self.window
        for payout in out.payouts:
            created = dt.datetime.fromtimestamp(payout["created"], dt.UTC)
            if not start <= created < end:
                raise AssertionError(f"payout {payout['id']} created {created}, outside the week")
        return out

    @cached_property
    def objects(self) -> StripeObjects:
        """The Stripe account: charges, their balance transactions and the week's payouts, planted."""
        out = self._settled
        unbalanced = next(p for p in out.payouts if p["id"] == self.plan.unbalanced)
        unbalanced["amount"] += self.break_minor
        amounts = [(p["currency"], p["amount"]) for p in out.payouts]
        if len(set(amounts)) != len(amounts):
            # The bank side is matched by amount and date alone: equal amounts would make it ambiguous.
            raise ValueError(f"seed {self.seed} gives two payouts of the same amount; choose another")
        return out

    @cached_property
    def plan(self) -> Plan:
        rng = random.Random(f"recon-payout-week:{self.seed}:{self.monday.isoformat()}")
        by_day = sorted(self._settled.payouts, key=lambda p: (p["created"], p["currency"], p["id"]))
        recent = next(p for p in reversed(by_day) if p["currency"] == "usd")
        # The unbooked and misbooked payouts, and the misbooked one's bank line (at most two days
        # later), are older than a three-day settlement window (created Monday to Wednesday), so they
        # are missing, not pending; the unbalanced one is any other but the recent one.
        early = [p["id"] for p in by_day if p["created"] < self._epoch(self.monday + dt.timedelta(days=3))]
        unbooked, misbooked = rng.sample(early, 2)
        taken = (unbooked, misbooked, recent["id"])
        unbalanced = rng.choice([p["id"] for p in by_day if p["id"] not in taken])
        return Plan(unbalanced=unbalanced, unbooked=unbooked, misbooked=misbooked, recent=recent["id"])

    def bank_lines(self) -> list[BankLine]:
        """Every line the bank books for the week's payouts, this week's and the recent one's."""
        rng = random.Random(f"recon-payout-bank:{self.seed}:{self.monday.isoformat()}")
        sunday = self.monday + dt.timedelta(days=6)
        lines = []
        for number, payout in enumerate(sorted(self.objects.payouts, key=lambda p: (p["created"], p["id"]))):
            if payout["id"] == self.plan.unbooked:
                continue
            created = dt.datetime.fromtimestamp(payout["created"], dt.UTC).date()
            lag = rng.choice((1, 2))
            if payout["id"] != self.plan.recent:
                lag = min(lag, (sunday - created).days)  # booked inside the week
            booked = created + dt.timedelta(days=lag)
            ref = f"BR{booked:%Y%m%d}{number:05d}"
            amount = payout["amount"] - (self.shortfall_minor if payout["id"] == self.plan.misbooked else 0)
            lines.append(BankLine(ref, booked, payout["id"], amount, payout["currency"]))
        paid = {(p["currency"], p["amount"]) for p in self.objects.payouts}
        misbooked = next(b for b in lines if b.payout_id == self.plan.misbooked)
        if (misbooked.currency, misbooked.amount_minor) in paid:
            raise ValueError(
                f"seed {self.seed}: the misbooked line's amount equals a payout's; choose another"
            )
        return lines

    def statements(self) -> dict[str, str]:
        """SFTP path -> content of each daily statement that has lines (``;``, decimal comma, cp1252)."""
        files: dict[str, list[str]] = {}
        for line in sorted(self.bank_lines(), key=lambda b: (b.booked_on, b.bank_ref)):
            path = f"/statements/operating/stmt_{line.booked_on:%Y%m%d}.csv"
            rows = files.setdefault(path, [";".join(STATEMENT_COLUMNS)])
            amount = f"{Decimal(line.amount_minor).scaleb(-currency_exponent(line.currency)):f}"
            purpose = f"STRIPE PAYOUT {line.payout_id} RECON SANDBOX"
            rows.append(
                f"{line.booked_on:%d.%m.%Y};{line.booked_on:%d.%m.%Y};{amount.replace('.', ',')};"
                f"{line.currency.upper()};Stripe Payments Europe Ltd;{purpose};{line.bank_ref}"
            )
        return {path: "\r\n".join(rows) + "\r\n" for path, rows in files.items()}

    def _charges(self) -> list[dict[str, Any]]:
        # ``charges_per_payout`` charges per currency on each settled day, so the settlement's chunks
        # of that many transactions are exactly the days.
        rng = random.Random(f"recon-payout-charges:{self.seed}:{self.monday.isoformat()}")
        charges = []
        for currency, weekdays in _PAYOUT_DAYS.items():
            for weekday in weekdays:
                day = self.monday + dt.timedelta(days=weekday - _SETTLEMENT_LAG_DAYS)
                for _ in range(self.charges_per_payout):
                    created = self._epoch(day) + rng.randrange(_DAY)
                    charges.append(_charge(rng, currency, created))
        return charges

    @staticmethod
    def _epoch(day: dt.date) -> int:
        return int(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC).timestamp())


def _charge(rng: random.Random, currency: str, created: int) -> dict[str, Any]:
    return {
        "id": "ch_" + "".join(rng.choices(string.ascii_letters + string.digits, k=24)),
        "object": "charge",
        "amount": rng.randrange(500, 250_000),
        "currency": currency,
        "created": created,
        "description": "Order",
        "metadata": {},
        "paid": True,
        "status": "succeeded",
    }
