"""Stripe charges created in the window, through the official SDK, mapped to canonical records.

Spec: ``type: stripe_charges`` plus the settings every Stripe type has (``_stripe.StripeSource``).
Key = charge id; reference = ``metadata.payment_id`` (the app's id, which the internal side holds).
A fully refunded charge has status ``refunded``: Stripe leaves ``status: succeeded`` on it and sets
``refunded: true``, and a status compare must see the refund.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources._stripe import (
    NETWORK_RETRIES,
    StripeSource,
    client_from_connection,
    currency_of,
    extra_attributes,
    list_pages,
    mapped,
    moment,
    money,
    object_id,
    optional_money,
    quarantine_or,
    window_params,
)
from recon.sources.registry import register
from recon.window import RunWindow

if TYPE_CHECKING:
    import stripe

__all__ = [
    "NETWORK_RETRIES",
    "StripeChargesSource",
    "charge_records",
    "charge_status",
    "client_from_connection",
]


@register
class StripeChargesSource(StripeSource):
    """Stripe charges read with the official SDK; the charge id is the record key."""

    BUILTIN_ATTRIBUTES: ClassVar[frozenset[str]] = frozenset(
        {"amount_refunded", "description", "payment_intent", "balance_transaction"}
    )

    type: Literal["stripe_charges"]

    def read(self, window: RunWindow) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        client = self.client()
        return charge_records(client, window, self.connection, self.page_size, self.attributes)


def charge_records(
    client: stripe.StripeClient,
    window: RunWindow,
    conn_id: str,
    page_size: int = 100,
    attributes: Mapping[str, str] | None = None,
) -> Iterator[CanonicalRecord | QuarantinedRecord]:
    """Every charge created in ``[window.start, window.end)``, newest first, page by page."""
    pages = list_pages(client, "charges", window_params("created", window), conn_id, page_size)
    return mapped(pages, partial(charge_to_record, attributes=attributes))


def charge_to_record(
    charge: dict[str, Any], origin: str, position: int, attributes: Mapping[str, str] | None = None
) -> CanonicalRecord | QuarantinedRecord:
    """Map one charge; a charge missing what matching needs goes to quarantine, not away."""

    def fields(charge: dict[str, Any]) -> dict[str, Any]:
        key = object_id(charge, "charge")
        currency = currency_of(charge)  # before the amounts: its exponent scales them
        billing = charge.get("billing_details") or {}
        return {
            "record_key": key,
            "amount": money(charge, "amount", currency),
            "currency": currency,
            "occurred_at": moment(charge, "created"),
            "status": charge_status(charge),
            "customer_email": billing.get("email") or charge.get("receipt_email"),
            "reference": (charge.get("metadata") or {}).get("payment_id"),
            "attributes": {
                "amount_refunded": optional_money(charge, "amount_refunded", currency),
                "description": charge.get("description"),
                "payment_intent": charge.get("payment_intent"),
                "balance_transaction": charge.get("balance_transaction"),
                **extra_attributes(charge, attributes or {}),
            },
        }

    return quarantine_or(fields, charge, origin, position)


def charge_status(charge: dict[str, Any]) -> str | None:
    """Stripe's status, except ``refunded`` when the whole amount was refunded.

    Stripe sets ``refunded: true`` only once ``amount_refunded`` reaches the amount; a partly refunded
    charge keeps its status, and its ``amount_refunded`` attribute says how much went back.
    """
    return "refunded" if charge.get("refunded") is True else charge.get("status")
