"""Each CSV dialect option of CsvFormat, loaded through the real loader into the real warehouse."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from recon.staging.csv_format import CsvFormat
from tests.staging.conftest import FIELDS, quarantine, records

pytestmark = pytest.mark.integration

AT = "occurred_at"


def test_a_semicolon_delimiter_and_a_single_quote_char_split_and_unquote(warehouse, load) -> None:
    load("charge;amount;currency;created_at\n'ch;1';12.50;EUR;2026-11-19\n", delimiter=";", quote="'")

    assert records(warehouse) == [("ch;1", Decimal("12.50"), "EUR")]


def test_a_backslash_escape_keeps_an_escaped_quote_in_the_value(warehouse, load) -> None:
    load('charge,amount,currency,created_at\n"ch\\"1",1.00,EUR,2026-11-19\n', escape="\\")

    assert records(warehouse, "record_key") == [('ch"1',)]


def test_without_header_fields_are_column_numbers(warehouse, load) -> None:
    fields = {"record_key": 2, "amount": 3, "currency": 4, "occurred_at": 1}
    load("2026-11-19,ch_1,5.00,usd\n2026-11-19,ch_2,6.00,usd\n", header=False, fields=fields)

    assert records(warehouse, "record_key, amount, origin_line") == [
        ("ch_1", Decimal("5.00"), 1),
        ("ch_2", Decimal("6.00"), 2),
    ]


def test_without_header_columns_names_the_columns(warehouse, load) -> None:
    load("ch_1,7.00,usd,2026-11-19\n", header=False, columns=["charge", "amount", "currency", "created_at"])

    assert records(warehouse) == [("ch_1", Decimal("7.00"), "USD")]


def test_skip_lines_skips_a_preamble_and_lines_stay_physical(warehouse, load) -> None:
    body = "Bank statement\nAccount 123\ncharge,amount,currency,created_at\nch_1,1.00,EUR,2026-11-19\n"
    load(body, skip_lines=2)

    assert records(warehouse, "record_key, origin_line") == [("ch_1", 4)]


def test_a_byte_order_mark_is_not_part_of_the_first_value(warehouse, load) -> None:
    load(
        "\ufeffch_1,1.00,EUR,2026-11-19\n",
        header=False,
        columns=["charge", "amount", "currency", "created_at"],
    )

    assert records(warehouse, "record_key") == [("ch_1",)]


def test_latin_1_text_is_decoded(warehouse, load) -> None:
    load(
        "charge,amount,currency,created_at,note\nch_1,1.00,EUR,2026-11-19,Müller\n",
        encoding="latin-1",
        attributes={"note": "note"},
    )

    assert records(warehouse, "record_key, attributes") == [("ch_1", {"note": "Müller"})]


def test_decimal_comma_with_dot_thousands_is_exact(warehouse, load) -> None:
    load(
        'charge;amount;currency;created_at\nch_1;1.234.567,89;EUR;2026-11-19\nch_2;"-0,05";EUR;2026-11-19\n',
        delimiter=";",
        decimal=",",
        thousands=".",
    )

    assert records(warehouse, "record_key, amount") == [
        ("ch_1", Decimal("1234567.89")),
        ("ch_2", Decimal("-0.05")),
    ]


def test_day_first_dates_are_midnight_in_the_given_timezone(warehouse, load) -> None:
    load(
        "charge,amount,currency,created_at\nch_1,1.00,EUR,19.11.2026\n",
        date_format="%d.%m.%Y",
        timezone="Europe/Berlin",
    )

    assert records(warehouse, "occurred_at") == [(datetime(2026, 11, 18, 23, tzinfo=UTC),)]


def test_datetime_format_reads_day_first_times(warehouse, load) -> None:
    load(
        "charge,amount,currency,created_at\nch_1,1.00,EUR,19.11.2026 08:30\n",
        datetime_format="%d.%m.%Y %H:%M",
    )

    assert records(warehouse, "occurred_at") == [(datetime(2026, 11, 19, 8, 30, tzinfo=UTC),)]


def test_a_debit_indicator_makes_the_amount_negative(warehouse, load) -> None:
    load(
        "charge,amount,currency,created_at,dc\nch_1,10.00,EUR,2026-11-19,D\nch_2,4.00,EUR,2026-11-19,C\n",
        debit_credit={"indicator": "dc", "debit": ["D"], "credit": ["C"]},
    )

    assert records(warehouse, "record_key, amount") == [
        ("ch_1", Decimal("-10.00")),
        ("ch_2", Decimal("4.00")),
    ]


def test_separate_debit_and_credit_columns_load_debits_negative(warehouse, load) -> None:
    fields = {k: v for k, v in FIELDS.items() if k != "amount"}
    load(
        "charge,debit,credit,currency,created_at\nch_1,10.00,,EUR,2026-11-19\nch_2,,4.00,EUR,2026-11-19\n",
        fields=fields,
        debit_credit={"debit_amount": "debit", "credit_amount": "credit"},
    )

    assert records(warehouse, "record_key, amount") == [
        ("ch_1", Decimal("-10.00")),
        ("ch_2", Decimal("4.00")),
    ]


def test_a_pattern_extracts_the_reference_from_free_text(warehouse, load) -> None:
    fields = {**FIELDS, "reference": {"column": "text", "pattern": r"INV-(\d+)"}}
    load(
        "charge,amount,currency,created_at,text\nch_1,1.00,EUR,2026-11-19,Payment INV-0042 thanks\n",
        fields=fields,
    )

    assert records(warehouse, "record_key, reference") == [("ch_1", "0042")]


def test_an_optional_field_whose_pattern_finds_nothing_is_empty_not_a_reject(warehouse, load) -> None:
    fields = {**FIELDS, "reference": {"column": "text", "pattern": r"INV-(\d+)"}}
    load(
        "charge,amount,currency,created_at,text\n"
        "ch_1,1.00,EUR,2026-11-19,Payment INV-0042\n"
        "ch_2,2.00,EUR,2026-11-19,Monthly rent\n"
        # A time the vectorised parser leaves to the row-by-row path, which must agree.
        "ch_3,3.00,EUR,2026-11-19T10:00:00.25+01:00,Bank fee\n",
        fields=fields,
    )

    assert records(warehouse, "record_key, reference") == [("ch_1", "0042"), ("ch_2", None), ("ch_3", None)]


def test_a_key_whose_pattern_finds_nothing_is_quarantined(warehouse, load) -> None:
    fields = {**FIELDS, "record_key": {"column": "text", "pattern": r"(po_\w+)"}}
    load(
        "charge,amount,currency,created_at,text\n"
        "x,1.00,EUR,2026-11-19,Payout po_123\n"
        "x,2.00,EUR,2026-11-19,Rent\n",
        fields=fields,
    )

    assert records(warehouse, "record_key") == [("po_123",)]
    assert "finds nothing in 'Rent'" in quarantine(warehouse)[0][2]


def test_a_fixed_currency_serves_a_file_without_currency_column(warehouse, load) -> None:
    fields = {k: v for k, v in FIELDS.items() if k != "currency"}
    load("charge,amount,created_at\nch_1,1200,2026-11-19\n", fields=fields, currency="jpy")

    assert records(warehouse) == [("ch_1", Decimal("1200"), "JPY")]


def test_only_mapped_attributes_are_kept(warehouse, load) -> None:
    load(
        "charge,amount,currency,created_at,iban,note\nch_1,1.00,EUR,2026-11-19,DE00123,hi\n",
        attributes={"note": "note"},
    )

    assert records(warehouse, "attributes") == [({"note": "hi"},)]


def test_zero_and_three_decimal_currencies_are_exact_in_minor_units(warehouse, load) -> None:
    body = "charge,amount,currency,created_at\nch_1,1200,JPY,2026-11-19\nch_2,1250,KWD,2026-11-19\n"
    load(body, amount_unit="minor")

    assert records(warehouse, "record_key, amount::text") == [("ch_1", "1200"), ("ch_2", "1.250")]


def test_zero_and_three_decimal_currencies_are_exact_in_major_units(warehouse, load) -> None:
    body = "charge,amount,currency,created_at\nch_1,1200,JPY,2026-11-19\nch_2,-0.005,KWD,2026-11-19\n"
    load(body)

    assert records(warehouse, "record_key, amount::text") == [("ch_1", "1200"), ("ch_2", "-0.005")]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"decimal": ",", "thousands": ","}, "decimal and thousands separators are both ','"),
        ({"fields": {**FIELDS, "reference": {"column": "x", "pattern": "a(b)(c)"}}}, "exactly one (group)"),
        ({"header": False}, "refer to columns by 1-based number"),
        ({"columns": ["a"]}, "set header: false"),
        ({"encoding": "klingon"}, "unknown encoding 'klingon'"),
        ({"date_format": "day"}, "has no % directive"),
    ],
)
def test_inconsistent_formats_are_rejected_with_a_clear_message(options: dict, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        CsvFormat.model_validate({"fields": FIELDS, **options})

    assert message in str(raised.value)
