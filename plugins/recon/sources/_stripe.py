"""What the Stripe source types share: the SDK client, paging, error mapping, field checks.

The SDK retries connection errors and 5xx itself (``NETWORK_RETRIES``), but it does not retry a 429
unless Stripe adds ``Stripe-Should-Retry: true``, and it never reads ``Retry-After``. A rate limit is
the one failure where waiting is known to help, so ``_call`` waits as told (capped) and tries again a
few times before giving up as ``SourceUnavailable``. Credentials and bad requests are permanent
(``SourceRejected``): the same request fails the same way, so retries would only delay the page.

Paging is done here rather than with ``auto_paging_iter`` so each record can say which page it came
from (its origin) and so memory never holds more than one page.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, TypeVar
from urllib.parse import urlencode

from pydantic import Field, model_validator

from recon.money import minor_to_major
from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources import SourceRejected, SourceUnavailable
from recon.sources.base import RecordSource
from recon.sources.mapping import lookup
from recon.window import RunWindow

if TYPE_CHECKING:
    import stripe

log = logging.getLogger(__name__)

NETWORK_RETRIES = 2  # the SDK's own retries of connection errors, 409 and 5xx
RATE_LIMIT_RETRIES = 3  # ours, for 429
DEFAULT_TIMEOUT_S = 60.0  # per request; the SDK's own default of 80 s, times three tries, is too patient
MAX_RETRY_AFTER_S = 30.0  # a longer Retry-After fails the attempt; Airflow's retry can wait longer
_MISSING_VALUES = (None, "")
_JSON = (str, int, float, bool, dict, list)  # what jsonb can hold; anything else is the missing marker
T = TypeVar("T")


class StripeSource(RecordSource):
    """Settings every Stripe type has; subclasses add ``type`` and what they list."""

    # Names the type itself fills in ``attributes``; a spec's extra attributes may not reuse them.
    BUILTIN_ATTRIBUTES: ClassVar[frozenset[str]] = frozenset()

    connection: str = "stripe_default"
    page_size: Annotated[int, Field(ge=1, le=100)] = 100
    # Seconds to wait for one response; a slower one counts as a connection error (retried by the SDK).
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = DEFAULT_TIMEOUT_S
    # Extra values kept in ``attributes``: name -> dotted path into the Stripe object (metadata.order_id).
    attributes: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], str] = {}

    def client(self) -> stripe.StripeClient:
        return client_from_connection(self.connection, self.timeout_seconds)

    @model_validator(mode="after")
    def _attribute_names_free(self) -> StripeSource:
        taken = sorted(set(self.attributes) & self.BUILTIN_ATTRIBUTES)
        if taken:
            raise ValueError(f"attributes {taken} are filled by the source type itself; choose other names")
        return self


def client_from_connection(conn_id: str, timeout_seconds: float = DEFAULT_TIMEOUT_S) -> stripe.StripeClient:
    """Build the SDK client from an Airflow connection: password = API key, host = API base URL."""
    import stripe
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if not conn.password:
        # A configuration mistake, not an outage: fail the task now rather than after its retries.
        raise SourceRejected(f"connection {conn_id!r}: no API key (set the connection's password)")
    base = conn.host or ""
    if base and "://" not in base:
        base = f"{conn.schema or 'https'}://{base}" + (f":{conn.port}" if conn.port else "")
    addresses = {"api": base.rstrip("/")} if base else None
    return stripe.StripeClient(
        conn.password,
        base_addresses=addresses,
        max_network_retries=NETWORK_RETRIES,
        http_client=stripe.RequestsClient(timeout=timeout_seconds),
    )


def window_params(field: str, window: RunWindow) -> dict[str, Any]:
    """Stripe's range filter for the half-open window: ``field[gte]=start&field[lt]=end``."""
    return {field: {"gte": int(window.start.timestamp()), "lt": int(window.end.timestamp())}}


def list_pages(
    client: stripe.StripeClient,
    resource: str,
    params: Mapping[str, Any],
    conn_id: str,
    page_size: int = 100,
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """``(origin, objects)`` for each page of ``GET /v1/<resource>``, newest first, one page in memory.

    The origin names the resource, the filters that are not the window, and the page number, so a
    quarantined record can be found again: ``stripe:/v1/balance_transactions?payout=po_1&page=2``.
    """
    query: dict[str, Any] = {**params, "limit": page_size}
    scope = urlencode({k: v for k, v in sorted(params.items()) if not isinstance(v, Mapping)})
    page_number = 0
    while True:
        page_number += 1
        # raw_request keeps the SDK's auth, retries and error classes but skips building a
        # StripeObject per object only to turn it back into a dict: 5x the records/s (bench-extract).
        page = _call(conn_id, resource, lambda: client.raw_request("get", f"/v1/{resource}", **query)).data
        objects = page.get("data") or []
        origin = f"stripe:/v1/{resource}?{scope + '&' if scope else ''}page={page_number}"
        yield origin, [dict(obj) for obj in objects]
        if not page.get("has_more") or not objects:
            return
        query["starting_after"] = objects[-1]["id"]


def mapped(
    pages: Iterable[tuple[str, list[dict[str, Any]]]],
    to_record: Callable[[dict[str, Any], str, int], CanonicalRecord | QuarantinedRecord],
) -> Iterator[CanonicalRecord | QuarantinedRecord]:
    """Each object of each page through ``to_record(object, origin, position in the page)``."""
    for origin, objects in pages:
        for position, obj in enumerate(objects, start=1):
            yield to_record(obj, origin, position)


def _call(conn_id: str, resource: str, request: Callable[[], T]) -> T:
    """Run one SDK request; Stripe's errors become ours, naming the connection, never the key."""
    import stripe

    for attempt in range(RATE_LIMIT_RETRIES + 1):
        try:
            return request()
        except stripe.RateLimitError as exc:
            wait = _retry_after(exc, attempt)
            if attempt == RATE_LIMIT_RETRIES or wait is None:
                raise SourceUnavailable(
                    f"connection {conn_id!r}: Stripe rate-limited /v1/{resource} "
                    f"{attempt + 1} times: {exc.user_message}"
                ) from None
            log.warning("connection %r: rate-limited on /v1/%s, waiting %.1f s", conn_id, resource, wait)
            time.sleep(wait)
        except stripe.AuthenticationError as exc:
            raise SourceRejected(
                f"connection {conn_id!r}: Stripe refused the API key: {exc.user_message}"
            ) from None
        except stripe.PermissionError as exc:
            raise SourceRejected(
                f"connection {conn_id!r}: the API key may not read /v1/{resource}: {exc.user_message}"
            ) from None
        except stripe.InvalidRequestError as exc:
            raise SourceRejected(
                f"connection {conn_id!r}: Stripe rejected the request for /v1/{resource}"
                f" (param {exc.param!r}): {exc.user_message}"
            ) from None
        except stripe.APIConnectionError as exc:
            raise SourceUnavailable(
                f"connection {conn_id!r}: cannot reach Stripe after {NETWORK_RETRIES} retries:"
                f" {exc.user_message}"
            ) from None
        except stripe.StripeError as exc:  # 5xx and anything else after the SDK's retries
            raise SourceUnavailable(
                f"connection {conn_id!r}: Stripe failed on /v1/{resource} after {NETWORK_RETRIES} retries"
                f" (HTTP {exc.http_status}): {exc.user_message}"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _retry_after(exc: stripe.RateLimitError, attempt: int) -> float | None:
    """Seconds to wait before retrying a 429: Retry-After when given, else a doubling backoff.

    None when the server asks for more than ``MAX_RETRY_AFTER_S``: holding a worker slot that long is
    worse than failing the attempt and letting Airflow retry the task later.
    """
    headers = {name.lower(): value for name, value in (exc.headers or {}).items()}
    backoff = min(0.5 * 2**attempt, MAX_RETRY_AFTER_S)
    try:
        wait = float(headers["retry-after"])
    except (KeyError, ValueError):
        return backoff
    return max(wait, 0.0) if wait <= MAX_RETRY_AFTER_S else None


# --- mapping checks shared by the types --------------------------------------------------------


class Malformed(ValueError):
    """An object that lacks what matching needs; the message is the quarantine reason."""


def quarantine_or(
    mapper: Callable[[dict[str, Any]], dict[str, Any]],
    obj: dict[str, Any],
    origin: str,
    position: int,
) -> CanonicalRecord | QuarantinedRecord:
    """The record whose fields ``mapper(obj)`` returns, or ``obj`` in quarantine with the reason."""
    try:
        return CanonicalRecord(**mapper(obj), origin=origin, origin_line=position)
    except Malformed as problem:
        key = obj.get("id")
        return QuarantinedRecord(
            reason=str(problem),
            raw=obj,
            origin=origin,
            origin_line=position,
            record_key=key if isinstance(key, str) and key else None,
        )


def object_id(obj: Mapping[str, Any], noun: str) -> str:
    key = obj.get("id")
    if not isinstance(key, str) or not key:
        raise Malformed(f"{noun} has no id")
    return key


def currency_of(obj: Mapping[str, Any]) -> str:
    currency = obj.get("currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise Malformed(f"currency {currency!r} is not an ISO 4217 code")
    return currency.upper()


def money(obj: Mapping[str, Any], field: str, currency: str) -> Decimal:
    """An integer minor-unit field as exact major units (JPY 0 decimals, KWD 3)."""
    value = obj.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Malformed(f"{field} {value!r} is not an integer of minor units")
    return minor_to_major(value, currency)


def moment(obj: Mapping[str, Any], field: str) -> datetime:
    value = obj.get(field)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Malformed(f"{field} {value!r} is not a Unix timestamp")
    return datetime.fromtimestamp(value, tz=UTC)


def optional_moment(obj: Mapping[str, Any], field: str) -> str | None:
    """A timestamp field kept in attributes, as ISO 8601 text (jsonb has no timestamp type)."""
    value = obj.get(field)
    return None if value in _MISSING_VALUES else moment(obj, field).isoformat()


def optional_money(obj: Mapping[str, Any], field: str, currency: str) -> Decimal | None:
    """A money field kept in attributes: exact major units (jsonb holds it as text), or None."""
    return None if obj.get(field) in _MISSING_VALUES else money(obj, field, currency)


def extra_attributes(obj: Mapping[str, Any], paths: Mapping[str, str]) -> dict[str, Any]:
    """The spec's extra attributes of ``obj`` (name -> dotted path); a path that is not there gives None."""
    values = {name: lookup(obj, path) for name, path in paths.items()}
    return {name: value if isinstance(value, _JSON) else None for name, value in values.items()}


def id_of(value: Any) -> Any:
    """A reference field's id; fields come as whole objects when a caller asked to expand them."""
    return value.get("id") if isinstance(value, Mapping) else value


def required_text(obj: Mapping[str, Any], field: str, noun: str) -> str:
    value = obj.get(field)
    if isinstance(value, Mapping):  # an expanded object: its id is the reference
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise Malformed(f"{noun} has no {field}")
    return value
