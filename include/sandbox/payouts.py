"""A week of Stripe payouts, the balance transactions each one settles, and the bank lines they make.

Stripe pays out every day: a payout created on day *d* (06:00 UTC) settles the charges and refunds of
day *d - 2* (``stripe_objects`` builds their balance transactions, fees included, and the payouts that
settle them). ``refund_share`` of the charges are refunded the same day, so a settlement sums positive
and negative nets, as a real one does. The bank books each payout one or two days later, on the
operating account's daily statement (``stmt_YYYYMMDD.csv``, one file per booking day), with the payout
id inside the free-text purpose.

Seven things are planted, each on its own payout (``PayoutWeek.plan``):

* ``unbalanced``: the payout's amount is ``break_minor`` more than the net of what it settles;
* ``unbooked``: the bank never books the payout (created before Friday);
* ``misbooked``: the bank books ``shortfall_minor`` less than the payout, with its id;
* ``late``: the bank books it, with its id, ``LATE_DAYS`` days after Stripe created it;
* ``untagged``: the bank books it on time, but its purpose text lost the payout id (``UNTAGGED_PURPOSE``);
* ``untagged_late``: both: no id, and booked ``LATE_DAYS`` days after;
* ``recent``: the last payout of the week, which the bank books after the week is over (its line is in
  the next Monday's statement, which a run of this week does not read).

And the statements credit money no payout of this account made (``Plan.unknown``, ``Plan.shared``):
one line quoting a payout id the account never made, and ``SHARED_LINES`` unrelated lines (different
amounts and days) that all quote one other such id, as a bank does when several credits carry the
same reference. Their amounts (10.00 to 99.99) equal no payout's.

Every other payout is booked, with its id, in a statement of the same week. Amounts are integer minor
units in Stripe and decimal-comma major units in the statement; everything derives from one seed, so
the same ``PayoutWeek`` gives the same objects and byte-identical files.
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
_REFUND_SPAN = 6 * 3600  # stripe_objects refunds a charge at most six hours after it
LATE_DAYS = 4  # the late lines are booked four days after their payout (two is the usual most)
SHARED_LINES = 3
UNTAGGED_PURPOSE = "STRIPE TRANSFER RECON SANDBOX"
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
    payout_id: str  # the payout the line credits (for the strangers' lines: the id it quotes)
    amount_minor: int
    currency: str
    purpose: str


@dataclass(frozen=True)
class Plan:
    """Which payout carries which planted discrepancy."""

    unbalanced: str
    unbooked: str
    misbooked: str
    late: str
    untagged: str
    untagged_late: str
    recent: str
    unknown: str  # a payout id no payout has, quoted by one line
    shared: str  # another, quoted by SHARED_LINES lines


@dataclass(frozen=True)
class PayoutWeek:
    """The payouts created in the week ``[monday, monday + 7 days)`` UTC, and what surrounds them."""

    seed: int
    monday: dt.date
    charges_per_payout: int = 4
    break_minor: int = 100
    shortfall_minor: int = 1
    refund_share: float = 0.25

    def __post_init__(self) -> None:
        if self.monday.weekday() != 0:
            raise ValueError(f"{self.monday} is not a Monday")
        if self.charges_per_payout < 1 or self.break_minor == 0 or self.shortfall_minor == 0:
            raise ValueError("charges_per_payout must be at least 1, break_minor and shortfall_minor not 0")
        if not 0 <= self.refund_share <= 1:
            raise ValueError("refund_share must be between 0 and 1")

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        start = dt.datetime.combine(self.monday, dt.time(), tzinfo=dt.UTC)
        return start, start + dt.timedelta(days=7)

    @cached_property
    def _settled(self) -> StripeObjects:
        # One payout per currency and day of charges (and their refunds, the same day).
        out = stripe_objects(self._charges(), seed=self.seed, refund_share=self.refund_share, daily=True)
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
            # Lines without a payout id are matched by amount and date: equal amounts would be ambiguous.
            raise ValueError(f"seed {self.seed} gives two payouts of the same amount; choose another")
        return out

    @cached_property
    def plan(self) -> Plan:
        rng = random.Random(f"recon-payout-week:{self.seed}:{self.monday.isoformat()}")
        by_day = sorted(self._settled.payouts, key=lambda p: (p["created"], p["currency"], p["id"]))
        recent = next(p["id"] for p in reversed(by_day) if p["currency"] == "usd")

        def created_before(weekday: int, taken: tuple[str, ...]) -> list[str]:
            until = self._epoch(self.monday + dt.timedelta(days=weekday))
            return [p["id"] for p in by_day if p["created"] < until and p["id"] not in taken]

        # The late lines (booked LATE_DAYS later) are of payouts created Monday to Wednesday, so they
        # are booked inside the week; the unbooked payout is created before Friday, older than a
        # three-day settlement window at the week's end, so it is missing, not pending.
        late, untagged_late = rng.sample(created_before(3, ()), 2)
        unbooked = rng.choice(created_before(4, (late, untagged_late)))
        taken = (late, untagged_late, unbooked, recent)
        misbooked, untagged, unbalanced = rng.sample([p["id"] for p in by_day if p["id"] not in taken], 3)
        return Plan(
            unbalanced=unbalanced,
            unbooked=unbooked,
            misbooked=misbooked,
            late=late,
            untagged=untagged,
            untagged_late=untagged_late,
            recent=recent,
            unknown=_payout_id(rng),
            shared=_payout_id(rng),
        )

    def bank_lines(self) -> list[BankLine]:
        """Every line the bank books: the week's payouts', the recent one's, and the strangers'."""
        rng = random.Random(f"recon-payout-bank:{self.seed}:{self.monday.isoformat()}")
        plan = self.plan
        sunday = self.monday + dt.timedelta(days=6)
        lines = []
        for number, payout in enumerate(sorted(self.objects.payouts, key=lambda p: (p["created"], p["id"]))):
            if payout["id"] == plan.unbooked:
                continue
            created = dt.datetime.fromtimestamp(payout["created"], dt.UTC).date()
            lag = rng.choice((1, 2))
            if payout["id"] in (plan.late, plan.untagged_late):
                lag = LATE_DAYS
            elif payout["id"] != plan.recent:
                lag = min(lag, (sunday - created).days)  # booked inside the week
            booked = created + dt.timedelta(days=lag)
            ref = f"BR{booked:%Y%m%d}{number:05d}"
            amount = payout["amount"] - (self.shortfall_minor if payout["id"] == plan.misbooked else 0)
            untagged = payout["id"] in (plan.untagged, plan.untagged_late)
            purpose = UNTAGGED_PURPOSE if untagged else _purpose(payout["id"])
            lines.append(BankLine(ref, booked, payout["id"], amount, payout["currency"], purpose))
        return lines + self._strangers(rng, len(lines))

    def _strangers(self, rng: random.Random, numbered: int) -> list[BankLine]:
        # Credits of no payout of this account, booked Tuesday to Friday (older than a three-day
        # settlement window at the week's end, so missing, not pending), of 10.00 to 99.99 (small
        # beside a day's payout), with amounts no payout has (nor each other), so no rule can pair
        # them with a payout.
        taken = {(p["currency"], p["amount"]) for p in self.objects.payouts}
        lines = []
        for payout_id in (self.plan.unknown, *[self.plan.shared] * SHARED_LINES):
            currency = rng.choice(("usd", "eur"))
            amount = rng.randrange(1_000, 10_000)
            while (currency, amount) in taken:
                amount += 1
            taken.add((currency, amount))
            booked = self.monday + dt.timedelta(days=rng.randrange(1, 5))
            ref = f"BR{booked:%Y%m%d}{numbered + len(lines):05d}"
            lines.append(BankLine(ref, booked, payout_id, amount, currency, _purpose(payout_id)))
        return lines

    def statements(self) -> dict[str, str]:
        """SFTP path -> content of each daily statement that has lines (``;``, decimal comma, cp1252)."""
        files: dict[str, list[str]] = {}
        for line in sorted(self.bank_lines(), key=lambda b: (b.booked_on, b.bank_ref)):
            path = f"/statements/operating/stmt_{line.booked_on:%Y%m%d}.csv"
            rows = files.setdefault(path, [";".join(STATEMENT_COLUMNS)])
            amount = f"{Decimal(line.amount_minor).scaleb(-currency_exponent(line.currency)):f}"
            rows.append(
                f"{line.booked_on:%d.%m.%Y};{line.booked_on:%d.%m.%Y};{amount.replace('.', ',')};"
                f"{line.currency.upper()};Stripe Payments Europe Ltd;{line.purpose};{line.bank_ref}"
            )
        return {path: "\r\n".join(rows) + "\r\n" for path, rows in files.items()}

    def _charges(self) -> list[dict[str, Any]]:
        # ``charges_per_payout`` charges per currency on each settled day, early enough that their
        # refunds fall on the same UTC day, so each day's transactions are exactly one payout.
        rng = random.Random(f"recon-payout-charges:{self.seed}:{self.monday.isoformat()}")
        charges = []
        for currency, weekdays in _PAYOUT_DAYS.items():
            for weekday in weekdays:
                day = self.monday + dt.timedelta(days=weekday - _SETTLEMENT_LAG_DAYS)
                for _ in range(self.charges_per_payout):
                    created = self._epoch(day) + rng.randrange(_DAY - _REFUND_SPAN)
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


def _payout_id(rng: random.Random) -> str:
    return "po_" + "".join(rng.choices(string.ascii_letters + string.digits, k=24))


def _purpose(payout_id: str) -> str:
    return f"STRIPE PAYOUT {payout_id} RECON SANDBOX"
