"""Stripe charges through the official SDK, one page at a time, mapped to canonical records.

Pagination is done here rather than with ``auto_paging_iter`` so each record can say which page it
came from (its origin) and so memory never holds more than one page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from recon.money import minor_to_major
from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources import SourceRejected, SourceUnavailable
from recon.sources.base import RecordSource
from recon.sources.registry import register
from recon.window import RunWindow

if TYPE_CHECKING:
    import stripe

NETWORK_RETRIES = 2


@register
class StripeChargesSource(RecordSource):
    """Stripe charges read with the official SDK; the charge id is the record key."""

    type: Literal["stripe_charges"]
    connection: str = "stripe_default"
    page_size: Annotated[int, Field(ge=1, le=100)] = 100

    def read(self, window: RunWindow) -> Iterator[CanonicalRecord | QuarantinedRecord]:
        client = client_from_connection(self.connection)
        return charge_records(client, window, self.connection, self.page_size)


def client_from_connection(conn_id: str) -> stripe.StripeClient:
    """Build the SDK client from an Airflow connection: password = API key, host = API base URL."""
    import stripe
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if not conn.password:
        raise SourceUnavailable(f"connection {conn_id!r}: no API key (set the connection's password)")
    base = conn.host or ""
    if base and "://" not in base:
        base = f"{conn.schema or 'https'}://{base}" + (f":{conn.port}" if conn.port else "")
    addresses = {"api": base.rstrip("/")} if base else None
    return stripe.StripeClient(conn.password, base_addresses=addresses, max_network_retries=NETWORK_RETRIES)


def charge_records(
    client: stripe.StripeClient, window: RunWindow, conn_id: str, page_size: int = 100
) -> Iterator[CanonicalRecord | QuarantinedRecord]:
    """Every charge created in ``[window.start, window.end)``, newest first, page by page."""
    params: dict[str, Any] = {
        "limit": page_size,
        "created": {"gte": int(window.start.timestamp()), "lt": int(window.end.timestamp())},
    }
    page_number = 0
    while True:
        page_number += 1
        page = _fetch_page(client, params, conn_id)
        origin = f"stripe:/v1/charges?page={page_number}"
        for position, charge in enumerate(page.data, start=1):
            yield charge_to_record(charge.to_dict(), origin, position)
        if not page.has_more or not page.data:
            return
        params["starting_after"] = page.data[-1].id


def _fetch_page(client: stripe.StripeClient, params: dict[str, Any], conn_id: str) -> Any:
    import stripe

    try:
        return client.v1.charges.list(params=params)
    except stripe.AuthenticationError as exc:
        raise SourceRejected(
            f"connection {conn_id!r}: Stripe refused the API key: {exc.user_message}"
        ) from None
    except stripe.APIConnectionError as exc:
        raise SourceUnavailable(
            f"connection {conn_id!r}: cannot reach Stripe after {NETWORK_RETRIES} retries: {exc.user_message}"
        ) from None


def charge_to_record(
    charge: dict[str, Any], origin: str, position: int
) -> CanonicalRecord | QuarantinedRecord:
    """Map one charge; a charge missing what matching needs goes to quarantine, not away."""
    key = charge.get("id")
    amount, currency, created = charge.get("amount"), charge.get("currency"), charge.get("created")
    problem = None
    if not key:
        problem = "charge has no id"
    elif not isinstance(amount, int) or isinstance(amount, bool):
        problem = f"amount {amount!r} is not an integer of minor units"
    elif not isinstance(currency, str) or len(currency) != 3:
        problem = f"currency {currency!r} is not an ISO 4217 code"
    elif not isinstance(created, int):
        problem = f"created {created!r} is not a Unix timestamp"
    if problem:
        return QuarantinedRecord(
            reason=problem, raw=charge, origin=origin, origin_line=position, record_key=key
        )
    billing = charge.get("billing_details") or {}
    return CanonicalRecord(
        record_key=key,
        amount=minor_to_major(amount, currency),
        currency=currency.upper(),
        occurred_at=datetime.fromtimestamp(created, tz=UTC),
        status=charge.get("status"),
        customer_email=billing.get("email") or charge.get("receipt_email"),
        reference=(charge.get("metadata") or {}).get("payment_id"),
        attributes={
            "amount_refunded": charge.get("amount_refunded"),
            "description": charge.get("description"),
        },
        origin=origin,
        origin_line=position,
    )
