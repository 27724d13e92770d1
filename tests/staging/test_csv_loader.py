"""Loading CSV files into staging: mapping, quarantine, replacement and clear errors."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from recon.staging.csv_loader import CsvLayout, SourceFileError, replace_window_from_csv
from recon.window import RunWindow

pytestmark = pytest.mark.integration

WINDOW = RunWindow("billing", datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))
LAYOUT = CsvLayout(
    columns={
        "record_key": "charge",
        "amount": "amount",
        "currency": "currency",
        "occurred_at": "created_at",
        "customer_email": "email",
        "reference": "payment_id",
    }
)
HEADER = "payment_id,charge,amount,currency,created_at,email,note\n"


def load(conn: psycopg.Connection, body: str, layout: CsvLayout = LAYOUT, header: str = HEADER):
    stream = io.BytesIO((header + body).encode())
    return replace_window_from_csv(conn, WINDOW, "internal", stream, layout, "sftp://exports/p.csv")


def rows(conn: psycopg.Connection, query: str) -> list[tuple]:
    return conn.execute(query).fetchall()


def test_valid_rows_become_canonical_records_with_exact_amounts(warehouse: psycopg.Connection) -> None:
    result = load(
        warehouse,
        "p1,ch_1,12.34,usd,2026-11-19T08:00:00Z,a@x.io,hi\np2,ch_2,1200,JPY,2026-11-19 09:30:00,,\n",
    )

    assert (result.loaded, result.quarantined) == (2, 0)
    assert rows(
        warehouse,
        "select record_key, amount, currency, occurred_at, customer_email, reference,"
        " attributes, origin_line from staging.records order by record_key",
    ) == [
        (
            "ch_1",
            Decimal("12.34"),
            "USD",
            datetime(2026, 11, 19, 8, tzinfo=UTC),
            "a@x.io",
            "p1",
            {"note": "hi"},
            2,
        ),
        (
            "ch_2",
            Decimal("1200"),
            "JPY",
            datetime(2026, 11, 19, 9, 30, tzinfo=UTC),
            None,
            "p2",
            {"note": None},
            3,
        ),
    ]


def test_malformed_rows_are_quarantined_with_reason_and_line(warehouse: psycopg.Connection) -> None:
    result = load(
        warehouse,
        "p1,ch_1,12.34,usd,2026-11-19T08:00:00Z,,\n"
        "p2,,5.00,usd,2026-11-19T08:00:00Z,,\n"
        "p3,ch_3,abc,usd,2026-11-19T08:00:00Z,,\n"
        "p4,ch_4,1.005,usd,2026-11-19T08:00:00Z,,\n"
        "p5,ch_5,1.00,us,2026-11-19T08:00:00Z,,\n"
        "p6,ch_6,1.00,usd,2026-13-45T08:00:00Z,,\n",
    )

    assert (result.loaded, result.quarantined) == (1, 5)
    quarantined = rows(
        warehouse,
        "select origin_line, reason, raw->>'payment_id' from staging.quarantine order by origin_line",
    )
    assert quarantined == [
        (3, "record_key is empty (column charge)", "p2"),
        (4, "amount 'abc' is not a number (column amount)", "p3"),
        (5, "amount '1.005' has more decimals than USD allows (2) (column amount)", "p4"),
        (6, "currency 'US' is not an ISO 4217 code (column currency)", "p5"),
        (7, "occurred_at '2026-13-45T08:00:00Z' is not a timestamp (column created_at)", "p6"),
    ]


def test_minor_units_are_converted_by_currency_exponent(warehouse: psycopg.Connection) -> None:
    layout = CsvLayout(columns=LAYOUT.columns, amount_unit="minor")
    load(
        warehouse,
        "p1,ch_1,1234,usd,2026-11-19T08:00:00Z,,\np2,ch_2,1250,kwd,2026-11-19T08:00:00Z,,\n"
        "p3,ch_3,1200,jpy,2026-11-19T08:00:00Z,,\n",
        layout,
    )

    assert rows(warehouse, "select record_key, amount from staging.records order by record_key") == [
        ("ch_1", Decimal("12.34")),
        ("ch_2", Decimal("1.250")),
        ("ch_3", Decimal("1200")),
    ]


def test_reloading_a_window_replaces_its_rows(warehouse: psycopg.Connection) -> None:
    load(warehouse, "p1,ch_1,12.34,usd,2026-11-19T08:00:00Z,,\np2,,1,usd,2026-11-19T08:00:00Z,,\n")
    load(warehouse, "p1,ch_1,99.00,usd,2026-11-19T08:00:00Z,,\n")

    assert rows(warehouse, "select record_key, amount from staging.records") == [("ch_1", Decimal("99.00"))]
    assert rows(warehouse, "select count(*) from staging.quarantine") == [(0,)]


def test_a_missing_mapped_column_names_file_line_and_field(warehouse: psycopg.Connection) -> None:
    with pytest.raises(SourceFileError) as raised:
        load(warehouse, "", header="payment_id,charge,amount,created_at\n")

    assert str(raised.value) == (
        "sftp://exports/p.csv: line 1: column 'currency' (mapped to field 'currency') is not in the header"
        " ['payment_id', 'charge', 'amount', 'created_at']"
    )


def test_a_structurally_broken_line_fails_the_load_and_keeps_earlier_rows(
    warehouse: psycopg.Connection,
) -> None:
    load(warehouse, "p1,ch_1,12.34,usd,2026-11-19T08:00:00Z,,\n")

    with pytest.raises(SourceFileError) as raised:
        load(warehouse, "p1,ch_1,1.00,usd,2026-11-19T08:00:00Z,,\np2,ch_2,1.00,usd,x,,,extra,cells\n")

    assert str(raised.value).startswith("sftp://exports/p.csv: line 3: extra data after last expected column")
    assert rows(warehouse, "select record_key, amount from staging.records") == [("ch_1", Decimal("12.34"))]
