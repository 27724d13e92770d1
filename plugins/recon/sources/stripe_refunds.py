"""Stripe refunds created in the window, through the official SDK, mapped to canonical records.

Key = refund id; reference = the refunded charge's id, so refunds can be matched to charges (or to the
app's refund export, which knows the charge). A refund without a charge cannot be matched and goes to
quarantine.
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
    quarantine_or,
    required_text,
    window_params,
)
from recon.sources.registry import register
from recon.window import RunWindow

if TYPE_CHECKING:
    import stripe


@register
class StripeRefundsSource(StripeSource):
    """Stripe refunds created in the window; the refund id is the record key."""

    BUILTIN_ATTRIBUTES: ClassVar[frozenset[str]] = frozenset(
        {
            "charge",
            "payment_intent",
            "reason",
            "balance_transaction",
            "failure_reason",
            "receipt_number",
            "metadata",
        }
    )

    type: Literal["stripe_refunds"]

    def read(self, window: RunWindow) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        client = self.client()
        return refund_records(client, window, self.connection, self.page_size, self.attributes)


def refund_records(
    client: stripe.StripeClient,
    window: RunWindow,
    conn_id: str,
    page_size: int = 100,
    attributes: Mapping[str, str] | None = None,
) -> Iterator[CanonicalRecord | QuarantinedRecord]:
    """Every refund created in ``[window.start, window.end)``, newest first, page by page."""
    pages = list_pages(client, "refunds", window_params("created", window), conn_id, page_size)
    return mapped(pages, partial(refund_to_record, attributes=attributes))


def refund_to_record(
    refund: dict[str, Any], origin: str, position: int, attributes: Mapping[str, str] | None = None
) -> CanonicalRecord | QuarantinedRecord:
    """Map one refund; one missing what matching needs goes to quarantine with the reason."""

    def fields(refund: dict[str, Any]) -> dict[str, Any]:
        key = object_id(refund, "refund")
        currency = currency_of(refund)
        return {
            "record_key": key,
            "amount": money(refund, "amount", currency),
            "currency": currency,
            "occurred_at": moment(refund, "created"),
            "status": refund.get("status"),
            "reference": required_text(refund, "charge", "refund"),
            "attributes": {
                "charge": required_text(refund, "charge", "refund"),
                "payment_intent": id_of(refund.get("payment_intent")),
                "reason": refund.get("reason"),
                "balance_transaction": id_of(refund.get("balance_transaction")),
                "failure_reason": refund.get("failure_reason"),
                "receipt_number": refund.get("receipt_number"),
                "metadata": refund.get("metadata") or {},
                **extra_attributes(refund, attributes or {}),
            },
        }

    return quarantine_or(fields, refund, origin, position)
