"""The sandbox app database: seeded, separate from the warehouse, exact money, streamed into COPY."""

from __future__ import annotations

import datetime as dt
import os
import tracemalloc
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from urllib.parse import urlsplit

import psycopg
import pytest

from include.sandbox.app_db import (
    DRIFT,
    DUST,
    AppScenario,
    create_app_database,
    drop_app_database,
    ledger_entries,
    malformed_reasons,
    payments,
    wallet_differences,
    wallets,
)

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 11, 19)
SCENARIO = AppScenario(
    seed=5,
    day=DAY,
    payments=40,
    neighbour_payments=6,
    malformed_payments=5,
    wallets=9,
    wallet_drifts=2,
    wallet_dust=1,
)


@pytest.fixture
def database(warehouse_server_url: str) -> Iterator[tuple[str, str]]:
    name = f"recon_app_sandbox_{os.getpid()}"
    yield warehouse_server_url, name
    drop_app_database(warehouse_server_url, name)


def test_the_same_scenario_gives_the_same_rows_and_another_seed_other_rows() -> None:
    again = replace(SCENARIO)
    other = replace(SCENARIO, seed=6)

    assert list(payments(SCENARIO)) == list(payments(again))
    assert list(wallets(SCENARIO)) == list(wallets(again))
    assert list(payments(SCENARIO)) != list(payments(other))


def test_the_database_holds_exactly_the_generated_rows_even_in_small_copy_chunks(
    database: tuple[str, str],
) -> None:
    server_url, name = database
    scenario = replace(SCENARIO, chunk_size=7)

    url = create_app_database(server_url, name, scenario)

    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "select id, amount, currency, created_at, booked_at, status, customer, metadata"
            " from payments order by id"
        ).fetchall()
        stored_wallets = conn.execute("select * from wallet_balances order by user_id").fetchall()
        stored_ledger = conn.execute("select * from wallet_ledger order by entry_id").fetchall()
    expected = sorted(payments(scenario))
    assert len(stored) == len(expected) == 40 + 6 + 5
    # NaN never equals itself, so compare the malformed NaN amount by its text.
    assert [tuple(str(v) if isinstance(v, Decimal) else v for v in row) for row in stored] == [
        tuple(str(v) if isinstance(v, Decimal) else v for v in row) for row in expected
    ]
    assert stored_wallets == list(wallets(scenario))
    assert stored_ledger == list(ledger_entries(scenario))


def test_balances_equal_their_ledger_sums_except_the_planted_drift_and_dust(
    database: tuple[str, str],
) -> None:
    url = create_app_database(*database, SCENARIO)

    with psycopg.connect(url) as conn:
        differences = conn.execute(
            "select w.user_id, w.balance - sum(l.amount)"
            " from wallet_balances w join wallet_ledger l using (user_id)"
            " group by w.user_id, w.balance having w.balance <> sum(l.amount)"
        ).fetchall()

    assert dict(differences) == wallet_differences(SCENARIO)
    assert sorted(wallet_differences(SCENARIO).values()) == [DUST, DRIFT, DRIFT]


def test_money_columns_are_exact_numeric_and_wallets_keep_18_decimals(database: tuple[str, str]) -> None:
    url = create_app_database(*database, SCENARIO)

    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "select table_name, column_name, data_type, numeric_precision, numeric_scale"
            " from information_schema.columns where column_name in ('amount', 'balance') order by 1, 2"
        ).fetchall()
        scales = conn.execute("select distinct scale(balance) from wallet_balances").fetchall()

    assert columns == [
        ("payments", "amount", "numeric", None, None),
        ("wallet_balances", "balance", "numeric", 38, 18),
        ("wallet_ledger", "amount", "numeric", 38, 18),
    ]
    assert scales == [(18,)]


def test_the_server_urls_own_database_is_never_seeded(warehouse_url: str) -> None:
    warehouse_name = urlsplit(warehouse_url).path.lstrip("/")  # the URL may end in ?host=/socket/dir

    with pytest.raises(ValueError) as raised:
        create_app_database(warehouse_url, warehouse_name, SCENARIO)

    assert "it is the database of the server URL" in str(raised.value)
    with psycopg.connect(warehouse_url) as conn:
        tables = conn.execute("select count(*) from pg_tables where tablename = 'payments'").fetchone()
    assert tables == (0,)


def test_window_edges_currencies_and_malformed_rows_are_planted_as_documented() -> None:
    start, end = SCENARIO.window
    rows = {p.id: p for p in payments(SCENARIO)}

    assert rows["pay_00000000"].created_at == start
    assert rows["pay_00000001"].created_at == end - dt.timedelta(microseconds=1)
    assert rows["pay_n0000000"].created_at == end
    assert rows["pay_n0000001"].created_at == start - dt.timedelta(microseconds=1)
    assert all(start <= rows[key].created_at < end for key in malformed_reasons(SCENARIO))
    assert {p.currency for p in payments(AppScenario(seed=1, day=DAY, payments=400))} >= {"JPY", "KWD", "USD"}


def test_payments_stream_in_constant_memory() -> None:
    big = AppScenario(seed=2, day=DAY, payments=50_000)
    tracemalloc.start()
    try:
        count = sum(1 for _ in payments(big))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count == 50_000 + big.neighbour_payments
    assert peak < 2_000_000  # one row at a time; a list of 50,000 would take tens of MB
