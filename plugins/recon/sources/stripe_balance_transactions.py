"""Stripe balance transactions: what moved the balance, with amount, fee and net, all exact.

Two selections, so a payout can be reconciled against the transactions it settles:

* ``select: created`` (default): transactions created in the window;
* ``select: payouts``: for every payout of the window (by ``payouts_by``: created or arrival_date),
  the transactions it settles (Stripe's ``payout=`` filter), with ``group_key`` = the payout id. One
  run yields each payout's whole settlement, including the payout's own transaction (type
  ``payout``, minus the payout), as Stripe lists it.

``types`` narrows either selection with Stripe's ``type=`` filter (one listing per type). The record's
``amount`` is ``net`` (default; what reaches the bank) or ``amount`` (gross); the other two are kept in
``attributes``. A transaction whose net is not amount - fee is corrupt and goes to quarantine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources._stripe import (
    Malformed,
    StripeSource,
    currency_of,
    extra_attributes,
    id_of,
    list_pages,
    mapped,
    moment,
    money,
    object_id,
    optional_moment,
    quarantine_or,
    window_params,
)
from recon.sources.registry import register
from recon.window import RunWindow

if TYPE_CHECKING:
    import stripe

AmountField = Literal["net", "amount"]
TypeName = Annotated[str, Field(pattern=r"^[a-z][a-z_]*$")]


@register
class StripeBalanceTransactionsSource(StripeSource):
    """Stripe balance transactions, created in the window or settled by the window's payouts."""

    BUILTIN_ATTRIBUTES: ClassVar[frozenset[str]] = frozenset(
        {"type", "reporting_category", "amount", "fee", "net", "available_on", "description", "source"}
        | {"payout", "exchange_rate"}
    )
    # Refunds, fees, payouts and adjustments move the balance down: Stripe signs them negative.
    SIGNED_AMOUNTS: ClassVar[bool] = True

    type: Literal["stripe_balance_transactions"]
    select: Literal["created", "payouts"] = "created"
    # Only with select: payouts. Which payout date puts a payout in the window; default created.
    payouts_by: Literal["created", "arrival_date"] | None = None
    # Stripe's transaction types to read (charge, refund, payout, adjustment, stripe_fee, ...); [] = all.
    types: list[TypeName] = []
    # Which of Stripe's figures is the record's amount; all three are in attributes.
    amount: AmountField = "net"

    @model_validator(mode="after")
    def _consistent(self) -> StripeBalanceTransactionsSource:
        if self.payouts_by is not None and self.select != "payouts":
            raise ValueError("payouts_by only applies with select: payouts")
        if len(set(self.types)) != len(self.types):
            raise ValueError(f"types lists a type twice: {self.types}")
        return self

    @property
    def windowed_by_occurred_at(self) -> bool:
        # select: payouts reads what each payout settles, created whenever (before the window, mostly).
        return self.select == "created"

    def read(self, window: RunWindow) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        client = self.client()
        reader = BalanceReader(client, self.connection, self.page_size, self.amount, self.attributes)
        if self.select == "payouts":
            return reader.settled_by_payouts(window, self.payouts_by or "created", self.types)
        return reader.created(window, self.types)


class BalanceReader:
    """Reads balance transactions with one client and one mapping; each method streams pages."""

    def __init__(
        self,
        client: stripe.StripeClient,
        conn_id: str,
        page_size: int = 100,
        amount: AmountField = "net",
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        self._client, self._conn_id, self._page_size = client, conn_id, page_size
        self._amount, self._attributes = amount, dict(attributes or {})

    def created(
        self, window: RunWindow, types: list[str] | tuple[str, ...] = ()
    ) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        """Transactions created in ``[window.start, window.end)``, one listing per type when given."""
        for type_filter in types or [None]:
            yield from self.listing(window_params("created", window), type_filter)

    def settled_by(
        self, payout_id: str, types: list[str] | tuple[str, ...] = ()
    ) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        """Every transaction ``payout_id`` settles, whenever it was created; group_key = the payout."""
        for type_filter in types or [None]:
            yield from self.listing({"payout": payout_id}, type_filter, group_key=payout_id)

    def settled_by_payouts(
        self, window: RunWindow, payouts_by: str = "created", types: list[str] | tuple[str, ...] = ()
    ) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        """The settlement of every payout whose ``payouts_by`` date is in the window."""
        params = window_params(payouts_by, window)
        for origin, payouts in list_pages(self._client, "payouts", params, self._conn_id, self._page_size):
            for position, payout in enumerate(payouts, start=1):
                payout_id = payout.get("id")
                if not isinstance(payout_id, str) or not payout_id:
                    # Its transactions cannot be asked for; keep the payout itself, so it is not lost.
                    yield QuarantinedRecord(
                        reason="payout has no id; the transactions it settles cannot be listed",
                        raw=payout,
                        origin=origin,
                        origin_line=position,
                    )
                    continue
                yield from self.settled_by(payout_id, types)

    def listing(
        self, params: dict[str, Any], type_filter: str | None = None, group_key: str | None = None
    ) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        if type_filter is not None:
            params = {**params, "type": type_filter}
        pages = list_pages(self._client, "balance_transactions", params, self._conn_id, self._page_size)
        return mapped(
            pages,
            partial(
                transaction_to_record, amount=self._amount, group_key=group_key, attributes=self._attributes
            ),
        )


def transaction_to_record(
    txn: dict[str, Any],
    origin: str,
    position: int,
    amount: AmountField = "net",
    group_key: str | None = None,
    attributes: Mapping[str, str] | None = None,
) -> CanonicalRecord | QuarantinedRecord:
    """Map one balance transaction; a malformed or inconsistent one goes to quarantine."""

    def fields(txn: dict[str, Any]) -> dict[str, Any]:
        key = object_id(txn, "balance transaction")
        currency = currency_of(txn)
        figures = {name: money(txn, name, currency) for name in ("amount", "fee", "net")}
        if figures["net"] != figures["amount"] - figures["fee"]:
            raise Malformed(f"net {txn['net']!r} is not amount {txn['amount']!r} - fee {txn['fee']!r}")
        rate = txn.get("exchange_rate")
        return {
            "record_key": key,
            "amount": figures[amount],
            "currency": currency,
            "occurred_at": moment(txn, "created"),
            "status": txn.get("status"),
            "reference": id_of(txn.get("source")),
            "group_key": group_key,
            "attributes": {
                **figures,
                "type": txn.get("type"),
                "reporting_category": txn.get("reporting_category"),
                "available_on": optional_moment(txn, "available_on"),
                "description": txn.get("description"),
                "source": id_of(txn.get("source")),
                "payout": group_key,
                # Stripe sends a JSON number; its shortest text is exactly what was sent, a float is not.
                "exchange_rate": None if rate is None else repr(rate),
                **extra_attributes(txn, attributes or {}),
            },
        }

    return quarantine_or(fields, txn, origin, position)
