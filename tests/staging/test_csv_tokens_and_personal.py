"""CSV files with a spec's own currency codes and personal columns, through the real loader."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from recon.money import Currencies
from recon.sources.base import FetchedFile
from recon.staging.csv_loader import SourceFileError, replace_window_from_files
from tests.staging.conftest import FIELDS, WINDOW, quarantine, records, source

HEADER = "charge,amount,currency,created_at,note,msisdn\n"


def load_with(
    warehouse: psycopg.Connection,
    write_file: Callable[..., FetchedFile],
    body: str,
    declared: dict[str, int] | None = None,
    **options: Any,
) -> None:
    csv = source(**options)
    csv.use_currencies(Currencies(declared))
    replace_window_from_files(warehouse, WINDOW, csv, [write_file(body)])


def test_declared_tokens_load_by_their_decimals_on_both_paths(warehouse, write_file) -> None:
    body = (
        HEADER + "t_1,1.50000000,FLOW,2026-11-19,,\n"
        "t_2,2.500001,usdc,2026-11-19,,\n"
        # A fraction of a second sends this row to the row-by-row path, which must read FLOW alike.
        "t_3,0.00000001,FLOW,2026-11-19T10:00:00.25+00:00,,\n"
        "t_4,40,POINTS,2026-11-19,,\n"
    )

    load_with(warehouse, write_file, body, {"FLOW": 8, "USDC": 6, "POINTS": 0})

    assert records(warehouse) == [
        ("t_1", Decimal("1.50000000"), "FLOW"),
        ("t_2", Decimal("2.500001"), "USDC"),
        ("t_3", Decimal("0.00000001"), "FLOW"),
        ("t_4", Decimal("40"), "POINTS"),
    ]


def test_minor_units_of_a_token_scale_by_its_declared_decimals(warehouse, write_file) -> None:
    body = HEADER + "t_1,150000000,FLOW,2026-11-19,,\nt_2,1250,KWD,2026-11-19,,\n"

    load_with(warehouse, write_file, body, {"FLOW": 8}, amount_unit="minor")

    assert records(warehouse, "record_key, amount::text") == [("t_1", "1.50000000"), ("t_2", "1.250")]


def test_too_many_decimals_for_a_token_and_an_undeclared_code_are_quarantined(warehouse, write_file) -> None:
    body = (
        HEADER + "t_1,1.123456789,FLOW,2026-11-19,,\nt_2,0.5,POINTS,2026-11-19,,\nt_3,1,USDT,2026-11-19,,\n"
    )

    with pytest.raises(SourceFileError) as raised:
        load_with(warehouse, write_file, body, {"FLOW": 8, "POINTS": 0})

    assert "3 of 3 rows quarantined" in str(raised.value)
    assert records(warehouse) == []
    assert [row[2] for row in quarantine(warehouse)] == [
        "amount '1.123456789' has more decimals than FLOW allows (8, as declared under currencies)"
        " (column amount)",
        "amount '0.5' has more decimals than POINTS allows (0, as declared under currencies) (column amount)",
        "currency 'USDT' is not an ISO 4217 code nor one the spec declares under currencies"
        " (declared: FLOW, POINTS) (column currency)",
    ]


def test_a_fixed_token_currency_serves_a_file_without_currency_column(warehouse, write_file) -> None:
    fields = {k: v for k, v in FIELDS.items() if k != "currency"}

    load_with(
        warehouse,
        write_file,
        "charge,amount,created_at\np_1,12,2026-11-19\n",
        {"POINTS": 0},
        fields=fields,
        currency="points",
    )

    assert records(warehouse) == [("p_1", Decimal("12"), "POINTS")]


def test_personal_columns_are_masked_in_records_and_quarantine(warehouse, write_file) -> None:
    body = (
        HEADER + "c_1,1.00,KES,2026-11-19,paid by 254712345678 for order 4471,0712 345 678\n"
        # A fraction of a second: the row-by-row path masks alike.
        "c_2,2.00,KES,2026-11-19T10:00:00.25+00:00,from +254 722 000 111,0722000111\n"
        "c_3,1.001,KES,2026-11-19,from 0733 444 555,254733444555\n"
    )

    load_with(
        warehouse,
        write_file,
        body,
        fields={**FIELDS, "reference": "note"},
        attributes={"msisdn": "msisdn"},
        personal=["reference", "attributes.msisdn"],
    )

    assert records(warehouse, "record_key, reference, attributes") == [
        ("c_1", "paid by ***78 for order 4471", {"msisdn": "***78"}),
        ("c_2", "from ***11", {"msisdn": "***11"}),
    ]
    (row,) = quarantine(warehouse)
    assert row[2] == "amount '1.001' has more decimals than KES allows (2) (column amount)"
    assert row[3] == "c_3,1.001,KES,2026-11-19,from ***55,***55"
    raw = warehouse.execute("select raw from staging.quarantine").fetchone()[0]
    assert raw["note"] == "from ***55" and raw["msisdn"] == "***55"


def test_without_personal_columns_the_same_values_are_stored_as_read(warehouse, write_file) -> None:
    body = HEADER + "c_1,1.00,KES,2026-11-19,paid by 254712345678,0712 345 678\n"

    load_with(
        warehouse, write_file, body, fields={**FIELDS, "reference": "note"}, attributes={"msisdn": "msisdn"}
    )

    assert records(warehouse, "reference, attributes") == [
        ("paid by 254712345678", {"msisdn": "0712 345 678"})
    ]
