"""Refunds, payouts and balance transactions derived consistently from a list of Stripe charges.

Stripe's books balance: every charge and refund moves the balance by one balance transaction
(``net = amount - fee``), and a payout pays out the net of the transactions it settles, recorded by
a ``payout`` transaction of minus that amount. This module plays that out from the charges of a
scenario (``generator.stripe_charges``), seeded, so the payout-side reconciliations have data whose
truth is known:

* each charge gets a ``charge`` transaction with a fee; ``refund_share`` of them are refunded (fully
  or in part, a few hours later) with a ``refund`` transaction of minus the refund;
* per currency, transactions are settled in creation order by payouts of about ``per_payout``
  transactions each, or (``daily``) by one payout per UTC day of transactions, as Stripe's automatic
  daily payouts do. A payout's net is never allowed to be zero or negative: such a chunk or day waits
  for the next. Each payout settles its own ``payout`` transaction too, so a payout's transactions
  sum to zero, as Stripe lists them;
* ``broken_payouts`` payouts then get an amount that differs from their transactions' net by
  ``break_minor`` minor units; ``payout_breaks`` reports them.

Amounts are integer minor units; three-decimal currencies keep amounts that end in 0, as Stripe wants.
"""

from __future__ import annotations

import copy
import itertools
import random
import string
from dataclasses import dataclass, field
from typing import Any

from include.sandbox.generator import currency_exponent

_DAY = 86_400
_ALPHABET = string.ascii_letters + string.digits
_REASONS = ("requested_by_customer", "duplicate", "fraudulent")


@dataclass(frozen=True)
class PayoutBreak:
    """A payout whose amount differs from the net of the transactions it settles."""

    payout_id: str
    currency: str
    settled_net_minor: int  # the sum of the settled transactions' net (without the payout's own)
    payout_amount_minor: int


@dataclass
class StripeObjects:
    """Everything a Stripe account holds for the charges; pass it to ``StripeSandbox`` as keywords."""

    charges: list[dict[str, Any]]
    refunds: list[dict[str, Any]] = field(default_factory=list)
    payouts: list[dict[str, Any]] = field(default_factory=list)
    balance_transactions: list[dict[str, Any]] = field(default_factory=list)
    settlements: dict[str, str] = field(default_factory=dict)  # transaction id -> payout id
    payout_breaks: list[PayoutBreak] = field(default_factory=list)

    def sandbox_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``StripeSandbox`` besides the charges."""
        return {
            "refunds": self.refunds,
            "payouts": self.payouts,
            "balance_transactions": self.balance_transactions,
            "settlements": self.settlements,
        }


def stripe_objects(
    charges: list[dict[str, Any]],
    seed: int = 0,
    refund_share: float = 0.15,
    per_payout: int = 6,
    broken_payouts: int = 0,
    break_minor: int = 100,
    payout_delay_days: int = 2,
    daily: bool = False,
) -> StripeObjects:
    """Derive refunds, balance transactions and payouts from ``charges`` (which are not changed).

    The returned charges are copies that point at their balance transaction and payment intent and
    say what was refunded, so every object of the account agrees with every other.
    """
    if per_payout < 1:
        raise ValueError("per_payout must be at least 1")
    if not 0 <= refund_share <= 1:
        raise ValueError("refund_share must be between 0 and 1")
    rng = random.Random(f"recon-stripe-objects:{seed}")
    ids = _Ids(rng)
    out = StripeObjects(charges=copy.deepcopy(charges))
    pending: list[dict[str, Any]] = []  # transactions waiting for a payout
    for charge in sorted(out.charges, key=lambda c: (c["created"], c["id"])):
        charge.setdefault("payment_intent", ids.make("pi_"))
        fee = _fee(charge["amount"], charge["currency"])
        txn = _transaction(ids, "charge", charge["id"], charge["amount"], fee, charge)
        charge["balance_transaction"] = txn["id"]
        pending.append(txn)
        if rng.random() < refund_share:
            refund, refund_txn = _refund(rng, ids, charge)
            out.refunds.append(refund)
            pending.append(refund_txn)
    pending.sort(key=lambda t: (t["created"], t["id"]))
    out.balance_transactions.extend(pending)
    for currency in sorted({t["currency"] for t in pending}):
        in_currency = [t for t in pending if t["currency"] == currency]
        for group in _days(in_currency) if daily else _groups(in_currency, per_payout):
            _settle(ids, out, group, payout_delay_days)
    for payout in rng.sample(out.payouts, min(broken_payouts, len(out.payouts))):
        _break(out, payout, break_minor)
    return out


def _fee(amount: int, currency: str) -> int:
    # Roughly Stripe's card pricing: 2.9 % + a fixed part; rounded to what the currency can hold.
    exponent = currency_exponent(currency)
    fixed = {0: 30, 2: 30, 3: 100}[exponent]
    fee = amount * 29 // 1000 + fixed
    return fee - fee % 10 if exponent == 3 else fee


def _transaction(
    ids: _Ids,
    kind: str,
    source: str,
    amount: int,
    fee: int,
    parent: dict[str, Any],
    created: int | None = None,
) -> dict[str, Any]:
    created = parent["created"] if created is None else created
    return {
        "id": ids.make("txn_"),
        "object": "balance_transaction",
        "amount": amount,
        "available_on": created + 2 * _DAY,
        "created": created,
        "currency": parent["currency"],
        "description": parent.get("description"),
        "exchange_rate": None,
        "fee": fee,
        "fee_details": (
            [
                {
                    "amount": fee,
                    "currency": parent["currency"],
                    "type": "stripe_fee",
                    "description": "Stripe fees",
                }
            ]
            if fee
            else []
        ),
        "net": amount - fee,
        "reporting_category": kind,
        "source": source,
        "status": "available",
        "type": kind,
    }


def _refund(rng: random.Random, ids: _Ids, charge: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    step = 10 if currency_exponent(charge["currency"]) == 3 else 1
    amount = charge["amount"]
    if rng.random() < 0.5 and amount > step:  # half are partial refunds
        amount = rng.randrange(step, amount, step)
    refund = {
        "id": ids.make("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": None,
        "charge": charge["id"],
        "created": charge["created"] + rng.randrange(600, 6 * 3600),
        "currency": charge["currency"],
        "metadata": {"payment_id": (charge.get("metadata") or {}).get("payment_id")},
        "payment_intent": charge["payment_intent"],
        "reason": rng.choice(_REASONS),
        "receipt_number": None,
        "status": "succeeded",
    }
    txn = _transaction(ids, "refund", refund["id"], -amount, 0, refund)
    refund["balance_transaction"] = txn["id"]
    charge["amount_refunded"] = charge.get("amount_refunded", 0) + amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    return refund, txn


def _groups(transactions: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    # Chunks of about ``size``; a chunk whose net is not positive waits for the next one, as a
    # negative balance would in Stripe. A trailing non-positive chunk joins the previous payout.
    groups: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    for txn in transactions:
        current.append(txn)
        if len(current) >= size and sum(t["net"] for t in current) > 0:
            groups.append(current)
            current = []
    return _close(groups, current)


def _days(transactions: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    # One group per UTC day of creation; a day whose net is not positive waits for the next day.
    groups: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    for _day, of_day in itertools.groupby(transactions, key=lambda t: t["created"] // _DAY):
        current.extend(of_day)
        if sum(t["net"] for t in current) > 0:
            groups.append(current)
            current = []
    return _close(groups, current)


def _close(groups: list[list[dict[str, Any]]], rest: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    # What is left after the last payout: its own payout if its net is positive, else the last one's.
    if rest:
        if groups and sum(t["net"] for t in rest) <= 0:
            groups[-1].extend(rest)
        else:
            groups.append(rest)
    return groups


def _settle(ids: _Ids, out: StripeObjects, group: list[dict[str, Any]], delay_days: int) -> None:
    currency = group[0]["currency"]
    net = sum(t["net"] for t in group)
    latest = max(t["created"] for t in group)
    created = (latest // _DAY + delay_days) * _DAY + 6 * 3600  # paid out at 06:00 UTC, days later
    payout = {
        "id": ids.make("po_"),
        "object": "payout",
        "amount": net,
        "arrival_date": (created // _DAY + 1) * _DAY,  # midnight UTC of the next day, as Stripe dates it
        "automatic": True,
        "balance_transaction": None,
        "created": created,
        "currency": currency,
        "description": "STRIPE PAYOUT",
        "destination": f"ba_sandbox{currency}",
        "failure_code": None,
        "failure_message": None,
        "method": "standard",
        "reconciliation_status": "completed",
        "source_type": "card",
        "statement_descriptor": "RECON SANDBOX",
        "status": "paid",
        "type": "bank_account",
    }
    own = _transaction(ids, "payout", payout["id"], -net, 0, payout)
    payout["balance_transaction"] = own["id"]
    out.payouts.append(payout)
    out.balance_transactions.append(own)
    for txn in [*group, own]:
        out.settlements[txn["id"]] = payout["id"]


def _break(out: StripeObjects, payout: dict[str, Any], delta: int) -> None:
    if currency_exponent(payout["currency"]) == 3:
        delta -= delta % 10
    settled = payout["amount"]
    payout["amount"] = settled + delta
    out.payout_breaks.append(PayoutBreak(payout["id"], payout["currency"], settled, payout["amount"]))


class _Ids:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def make(self, prefix: str) -> str:
        return prefix + "".join(self._rng.choices(_ALPHABET, k=24))
