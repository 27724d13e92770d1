"""Stripe payouts in the window, by creation (default) or by arrival date at the bank.

Key = payout id. A bank statement sees a payout on its arrival date, so reconciling payouts against
the bank is done with ``window_by: arrival_date``; then ``occurred_at`` is the arrival date too, so
every record lies in the window that read it. Payouts reverse in sign for ``type: bank_account``
debits; the amount is Stripe's, signed as Stripe signs it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources._stripe import (
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

WindowField = Literal["created", "arrival_date"]


@register
class StripePayoutsSource(StripeSource):
    """Stripe payouts whose ``created`` (or ``arrival_date``) falls in the window."""

    BUILTIN_ATTRIBUTES: ClassVar[frozenset[str]] = frozenset(
        {
            "arrival_date",
            "created",
            "method",
            "type",
            "balance_transaction",
            "statement_descriptor",
            "destination",
            "automatic",
            "failure_code",
            "reconciliation_status",
        }
    )

    # A payout that debits the bank (a negative balance paid back) is negative, as Stripe signs it.
    SIGNED_AMOUNTS: ClassVar[bool] = True

    type: Literal["stripe_payouts"]
    # Which of the payout's dates puts it in a window: "created" or "arrival_date" (bank side).
    window_by: WindowField = "created"

    def read(self, window: RunWindow) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        client = self.client()
        return payout_records(
            client, window, self.connection, self.page_size, self.window_by, self.attributes
        )


def payout_records(
    client: stripe.StripeClient,
    window: RunWindow,
    conn_id: str,
    page_size: int = 100,
    window_by: WindowField = "created",
    attributes: Mapping[str, str] | None = None,
) -> Iterator[CanonicalRecord | QuarantinedRecord]:
    """Every payout whose ``window_by`` date is in ``[window.start, window.end)``, page by page."""
    pages = list_pages(client, "payouts", window_params(window_by, window), conn_id, page_size)
    return mapped(pages, partial(payout_to_record, window_by=window_by, attributes=attributes))


def payout_to_record(
    payout: dict[str, Any],
    origin: str,
    position: int,
    window_by: WindowField = "created",
    attributes: Mapping[str, str] | None = None,
) -> CanonicalRecord | QuarantinedRecord:
    """Map one payout; one missing what matching needs goes to quarantine with the reason."""

    def fields(payout: dict[str, Any]) -> dict[str, Any]:
        key = object_id(payout, "payout")
        currency = currency_of(payout)
        return {
            "record_key": key,
            "amount": money(payout, "amount", currency),
            "currency": currency,
            "occurred_at": moment(payout, window_by),
            "status": payout.get("status"),
            # Banks print the payout id in the line's text: a fallback rule with
            # `reference: contains` matches a statement line to its payout by it.
            "reference": key,
            "attributes": {
                "arrival_date": optional_moment(payout, "arrival_date"),
                "created": optional_moment(payout, "created"),
                "method": payout.get("method"),
                "type": payout.get("type"),
                "balance_transaction": id_of(payout.get("balance_transaction")),
                "statement_descriptor": payout.get("statement_descriptor"),
                "destination": id_of(payout.get("destination")),
                "automatic": payout.get("automatic"),
                "failure_code": payout.get("failure_code"),
                "reconciliation_status": payout.get("reconciliation_status"),
                **extra_attributes(payout, attributes or {}),
            },
        }

    return quarantine_or(fields, payout, origin, position)
