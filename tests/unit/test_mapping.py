"""Mapping nested source items into canonical records: exact money, times, and reasons for rejects."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources.mapping import RecordMapping, lookup

SALE = {
    "id": "sale_1",
    "total": {"value": "12.50", "currency": "eur"},
    "buyer": {"email": "ada@example.com"},
    "created_at": "2026-11-19T10:00:00Z",
    "state": "paid",
    "event": {"id": 42},
    "lines": [{"sku": "A-1", "quantity": 2}],
}


def mapping(**overrides: object) -> RecordMapping:
    settings: dict[str, object] = {
        "fields": {
            "record_key": "id",
            "amount": "total.value",
            "currency": "total.currency",
            "occurred_at": "created_at",
            "status": "state",
            "customer_email": "buyer.email",
            "group_key": "event.id",
        },
        "attributes": {"first_sku": "lines.0.sku", "quantity": "lines.0.quantity"},
    }
    settings.update(overrides)
    return RecordMapping.model_validate(settings)


def mapped(item: dict, **overrides: object) -> CanonicalRecord:
    record = mapping(**overrides).map_item(item, "rest://tickets/v1/sales?page=1", 3)
    assert isinstance(record, CanonicalRecord), record
    return record


def rejected(item: dict, **overrides: object) -> QuarantinedRecord:
    record = mapping(**overrides).map_item(item, "rest://tickets/v1/sales?page=1", 3)
    assert isinstance(record, QuarantinedRecord), record
    return record


def test_dotted_paths_reach_into_nested_objects_and_lists() -> None:
    record = mapped(SALE)

    assert record.record_key == "sale_1"
    assert record.amount == Decimal("12.50")
    assert record.currency == "EUR"
    assert record.customer_email == "ada@example.com"
    assert record.group_key == "42"
    assert record.attributes == {"first_sku": "A-1", "quantity": 2}
    assert (record.origin, record.origin_line) == ("rest://tickets/v1/sales?page=1", 3)


def test_lookup_tells_a_missing_path_from_a_null_value() -> None:
    assert lookup({"a": {"b": None}}, "a.b") is None
    assert lookup({"a": {"b": None}}, "a.c") is not None  # the missing marker, not None
    assert lookup({"a": [1, 2]}, "a.5") is lookup({}, "x")


def test_minor_units_become_exact_major_units_by_the_currency_exponent() -> None:
    yen = mapped({**SALE, "total": {"value": 1200, "currency": "JPY"}}, amount_unit="minor")
    dinar = mapped({**SALE, "total": {"value": "12345", "currency": "KWD"}}, amount_unit="minor")

    assert (yen.amount, dinar.amount) == (Decimal("1200"), Decimal("12.345"))


def test_a_json_number_with_decimals_stays_exact() -> None:
    record = mapped({**SALE, "total": {"value": Decimal("0.1"), "currency": "USD"}})
    from_float = mapped({**SALE, "total": {"value": 0.1, "currency": "USD"}})

    assert record.amount == from_float.amount == Decimal("0.1")


def test_a_fixed_currency_serves_sources_that_carry_none() -> None:
    fields = {"record_key": "id", "amount": "total.value", "occurred_at": "created_at"}

    record = mapped(SALE, fields=fields, currency="chf")

    assert record.currency == "CHF"


def test_a_spec_without_any_currency_is_refused() -> None:
    fields = {"record_key": "id", "amount": "total.value", "occurred_at": "created_at"}

    with pytest.raises(ValidationError) as raised:
        RecordMapping.model_validate({"fields": fields})

    assert "currency" in str(raised.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-19T10:00:00Z", datetime(2026, 11, 19, 10, tzinfo=UTC)),
        ("2026-11-19T11:00:00+01:00", datetime(2026, 11, 19, 10, tzinfo=UTC)),
        (1763546400, datetime(2025, 11, 19, 10, tzinfo=UTC)),
        ("1763546400", datetime(2025, 11, 19, 10, tzinfo=UTC)),
    ],
)
def test_timestamps_are_read_as_iso_text_or_unix_seconds(raw: object, expected: datetime) -> None:
    assert mapped({**SALE, "created_at": raw}).occurred_at == expected


def test_a_date_value_is_midnight_in_the_spec_timezone() -> None:
    record = mapped({**SALE, "created_at": date(2026, 11, 19)}, timezone="Europe/Berlin")

    assert record.occurred_at == datetime(2026, 11, 18, 23, tzinfo=UTC)


def test_naive_timestamps_are_read_in_the_spec_timezone_and_stored_in_utc() -> None:
    record = mapped(
        {**SALE, "created_at": "19.11.2026 11:00"},
        timestamp_format="%d.%m.%Y %H:%M",
        timezone="Europe/Berlin",
    )

    assert record.occurred_at == datetime(2026, 11, 19, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "record_key is missing at 'id'"),
        ({"total": {"currency": "EUR"}}, "amount is missing at 'total.value'"),
        ({"total": {"value": "12,50", "currency": "EUR"}}, "amount '12,50' at 'total.value' is not a number"),
        ({"total": {"value": "1.234", "currency": "EUR"}}, "has more decimals than EUR allows (2)"),
        ({"total": {"value": "1", "currency": "euro"}}, "currency 'euro' at 'total.currency' is not"),
        ({"created_at": "yesterday"}, "occurred_at 'yesterday' at 'created_at' is not a timestamp"),
        ({"state": {"code": "paid"}}, "status at 'state' is an object"),
    ],
)
def test_an_unusable_item_is_quarantined_with_the_field_and_path(change: dict, reason: str) -> None:
    record = rejected({**SALE, **change})

    assert reason in record.reason
    assert record.raw["total"] == {**SALE, **change}["total"]
    assert (record.origin, record.origin_line) == ("rest://tickets/v1/sales?page=1", 3)


def test_a_quarantined_item_keeps_its_key_when_it_has_one() -> None:
    assert rejected({**SALE, "created_at": None}).record_key == "sale_1"


def test_minor_units_with_a_fraction_are_quarantined() -> None:
    record = rejected({**SALE, "total": {"value": "12.5", "currency": "USD"}}, amount_unit="minor")

    assert "not a whole number of minor units" in record.reason


def test_an_unknown_time_zone_is_refused_at_load() -> None:
    with pytest.raises(ValidationError) as raised:
        mapping(timezone="Mars/Olympus")

    assert "unknown time zone 'Mars/Olympus'" in str(raised.value)


def test_a_mapping_without_amount_or_currency_stores_neither() -> None:
    catalogue = {"record_key": "id", "occurred_at": "created_at", "group_key": "event.id"}

    record = mapped(SALE, fields=catalogue)

    assert (record.record_key, record.amount, record.currency, record.group_key) == (
        "sale_1",
        None,
        None,
        "42",
    )
    assert record.occurred_at == datetime(2026, 11, 19, 10, tzinfo=UTC)


def test_a_fixed_currency_without_an_amount_is_kept() -> None:
    record = mapped(SALE, fields={"record_key": "id", "occurred_at": "created_at"}, currency="chf")

    assert (record.amount, record.currency) == (None, "CHF")


def test_a_mapping_read_by_window_must_map_occurred_at() -> None:
    with pytest.raises(ValidationError) as raised:
        mapping(fields={"record_key": "id", "amount": "total.value", "currency": "total.currency"})

    message = str(raised.value)
    assert "fields.occurred_at: required for a source read by run window" in message
    assert "snapshot: true" in message
