"""Field mapping for record sources (REST, GraphQL, Postgres): nested item -> canonical record.

A spec maps each canonical field to a dotted path into the item (``total.value``, ``buyer.email``,
``lines.0.sku``). A value that cannot be used (missing key, unparsable amount or time, too many
decimals for the currency) sends the item to quarantine with a reason naming the field and the path;
it never fails the extract or disappears.

``amount`` and ``currency`` may be left unmapped by a reference (a catalogue of events or products
holds no money: its records are stored with both null), and ``occurred_at`` by a source read whole
(``reads_whole``: a snapshot, which has no window for a time to fall in). A reconciled source must
map an amount and a currency, because matching compares them; the spec checks that
(``recon.spec``), since only the spec knows which sources are references.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from recon.masking import PersonalFields, mask_personal, mask_text
from recon.money import CODE_TEXT, DeclaredCurrencies, decimals_rule
from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources.base import StrictModel

_CURRENCY = re.compile(CODE_TEXT)
_MISSING = object()


class RecordFields(StrictModel):
    """Dotted path of each canonical field in a source item; only ``record_key`` always is required."""

    record_key: str
    # Required for a reconciled source (the spec checks it); a reference may hold no money.
    amount: str | None = None
    # Required unless the source is read whole (a snapshot): a window needs a time to put records in.
    occurred_at: str | None = None
    currency: str | None = None  # may be left out when the spec sets a fixed ``currency``
    status: str | None = None
    customer_email: str | None = None
    reference: str | None = None
    group_key: str | None = None


class RecordMapping(StrictModel, DeclaredCurrencies, PersonalFields):
    """The mapping part of a record source's spec (mixed into REST, GraphQL and Postgres sources)."""

    fields: RecordFields
    # Extra values kept in ``attributes`` (jsonb) for compared fields and integrity rules.
    attributes: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")], str] = {}
    amount_unit: Literal["major", "minor"] = "major"
    # Most decimals a major-unit amount may carry; default: the currency's ISO 4217 exponent (or the
    # decimals the spec declares for it under ``currencies``). Ledgers
    # that keep balances finer than the minor unit (wallets at 18 decimals) set it, so those exact
    # values are loaded instead of quarantined as "more decimals than the currency allows".
    amount_decimals: Annotated[int | None, Field(ge=0, le=38)] = None
    # A fixed currency: an ISO 4217 code or one the spec declares under ``currencies`` (the spec checks).
    currency: Annotated[str | None, Field(pattern=CODE_TEXT)] = None
    # strptime format for text timestamps; default: ISO 8601 text or Unix epoch seconds.
    timestamp_format: str | None = None
    # The zone of timestamps that carry no offset.
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Europe/Berlin'") from None
        return value

    @property
    def reads_whole(self) -> bool:
        """True for a source read whole every run (a snapshot); such a source needs no time."""
        return False

    @property
    def maps_money(self) -> bool:
        """Whether the records carry an amount and a currency (a reference may carry neither)."""
        return self.fields.amount is not None

    @model_validator(mode="after")
    def _currency_known(self) -> RecordMapping:
        if self.fields.amount is not None and self.fields.currency is None and self.currency is None:
            raise ValueError("map fields.currency or set a fixed currency for the source")
        return self

    @model_validator(mode="after")
    def _time_known(self) -> RecordMapping:
        if self.fields.occurred_at is None and not self.reads_whole:
            raise ValueError(
                "fields.occurred_at: required for a source read by run window (the time that puts a record"
                " in its window); a table read whole every run (snapshot: true on a postgres source) needs"
                " none"
            )
        return self

    def map_item(
        self, item: Mapping[str, Any], origin: str, position: int
    ) -> CanonicalRecord | QuarantinedRecord:
        """One source item as a canonical record, or as a quarantined record with the reason."""
        try:
            return self._map(item, origin, position)
        except _Reject as reject:
            key = lookup(item, self.fields.record_key)
            return QuarantinedRecord(
                reason=mask_text(str(reject)) if self.personal else str(reject),
                # The raw item holds the personal fields in clear: mask the whole of it.
                raw=mask_personal(dict(item)) if self.personal else dict(item),
                origin=origin,
                origin_line=position,
                record_key=None if key in (None, _MISSING) else str(key),
            )

    def _map(self, item: Mapping[str, Any], origin: str, position: int) -> CanonicalRecord:
        fields = self.fields
        key = _text(item, "record_key", fields.record_key, required=True)
        currency = self._currency(item)
        amount = None if fields.amount is None else self._amount(item, currency)
        occurred_at = None if fields.occurred_at is None else self._timestamp(item)
        attributes = {}
        for name, path in self.attributes.items():
            value = lookup(item, path)
            attributes[name] = None if value is _MISSING else value
            if self.is_personal(f"attributes.{name}"):
                attributes[name] = mask_personal(attributes[name])
        masked = {
            name: mask_personal(_text(item, name, getattr(fields, name)))
            if self.is_personal(name)
            else _text(item, name, getattr(fields, name))
            for name in ("status", "customer_email", "reference", "group_key")
        }
        return CanonicalRecord(
            record_key=key,
            amount=amount,
            currency=currency,
            occurred_at=occurred_at,
            origin=origin,
            origin_line=position,
            status=masked["status"],
            customer_email=masked["customer_email"],
            reference=masked["reference"],
            group_key=masked["group_key"],
            attributes=attributes,
        )

    def _currency(self, item: Mapping[str, Any]) -> str | None:
        if self.fields.currency is None:
            if self.currency is not None and not self.currencies.knows(self.currency):
                raise _Reject(f"the source's currency {self.currencies.unknown(self.currency)}")
            return None if self.currency is None else self.currency.upper()
        value = _text(item, "currency", self.fields.currency, required=True)
        if not _CURRENCY.match(value) or not self.currencies.knows(value):
            raise _Reject(f"currency {value!r} at {self.fields.currency!r} {self.currencies.unknown(value)}")
        return value.upper()

    def _amount(self, item: Mapping[str, Any], currency: str | None) -> Decimal:
        path = str(self.fields.amount)
        raw = lookup(item, path)
        if raw is _MISSING or raw is None or raw == "":
            raise _Reject(f"amount is missing at {path!r}")
        amount = _decimal(raw)
        if amount is None:
            raise _Reject(f"amount {raw!r} at {path!r} is not a number")
        if currency is None:  # unreachable: _currency_known demands one wherever an amount is mapped
            raise _Reject(f"amount at {path!r} has no currency to read it in")
        exponent = self.currencies.exponent(currency)
        if self.amount_unit == "minor":
            if amount != amount.to_integral_value():
                raise _Reject(f"amount {raw!r} at {path!r} is not a whole number of minor units")
            return amount.to_integral_value().scaleb(-exponent)
        allowed, rule = exponent, decimals_rule(currency, exponent, self.currencies)
        if self.amount_decimals is not None:
            allowed, rule = self.amount_decimals, f"the source's amount_decimals allows ({allowed})"
        if -amount.normalize().as_tuple().exponent > allowed:  # type: ignore[operator]
            raise _Reject(f"amount {raw!r} at {path!r} has more decimals than {rule}")
        return amount

    def _timestamp(self, item: Mapping[str, Any]) -> datetime:
        path = str(self.fields.occurred_at)
        raw = lookup(item, path)
        if raw is _MISSING or raw is None or raw == "":
            raise _Reject(f"occurred_at is missing at {path!r}")
        moment = _datetime(raw, self.timestamp_format)
        if moment is None:
            expected = self.timestamp_format or "ISO 8601 or Unix seconds"
            raise _Reject(f"occurred_at {raw!r} at {path!r} is not a timestamp ({expected})")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(self.timezone))
        return moment.astimezone(UTC)


class _Reject(ValueError):
    """An item that cannot be mapped; the message is the quarantine reason."""


def lookup(item: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``total.value``, ``lines.0.sku``), or ``_MISSING``."""
    value = item
    for part in path.split("."):
        if isinstance(value, Mapping):
            if part not in value:
                return _MISSING
            value = value[part]
        elif isinstance(value, list | tuple) and part.lstrip("-").isdigit():
            index = int(part)
            if not -len(value) <= index < len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


def _text(item: Mapping[str, Any], field: str, path: str | None, required: bool = False) -> Any:
    if path is None:
        return None
    value = lookup(item, path)
    if value is _MISSING or value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _Reject(f"{field} is missing at {path!r}")
        return None
    if isinstance(value, Mapping | list):
        raise _Reject(f"{field} at {path!r} is an object, not a value; map a path below it")
    return str(value).strip()


def _decimal(raw: Any) -> Decimal | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float):
        raw = repr(raw)  # the shortest text that reads back as this float; never Decimal(float)
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _datetime(raw: Any, fmt: str | None) -> datetime | None:
    if isinstance(raw, datetime):
        return raw
    if isinstance(raw, date):  # a date column: midnight, in the spec's time zone
        return datetime.combine(raw, time())
    if isinstance(raw, int | Decimal) and not isinstance(raw, bool):
        return datetime.fromtimestamp(int(raw), tz=UTC)
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    try:
        if fmt:
            return datetime.strptime(text, fmt)
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text), tz=UTC)
        return datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
