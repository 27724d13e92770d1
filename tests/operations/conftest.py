"""What the corrections tests share: a real app database (the box office's till) apart from the
warehouse, and the breaks a real dbt run finds between it and the ticketing platform."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from recon.spec import Spec
from recon.warehouse import airflow_connection
from tests.dbt.harness import day_window, rows, run_matching
from tests.tickets import TICKETS_SPEC

TEN, TEN_ONE = datetime(2026, 11, 19, 10, tzinfo=UTC), datetime(2026, 11, 19, 10, 1, tzinfo=UTC)
# The platform (the truth) and the box office's till (corrected): o2 is a cent off, o3 was refunded on
# the platform only, o4 was written twice by the till, o5 never reached the till.
PLATFORM = [("o1", "10.00", "paid"), ("o2", "20.00", "paid"), ("o3", "30.00", "refunded"),
            ("o4", "40.00", "paid"), ("o5", "50.00", "paid")]  # fmt: skip
TILL = [("s1", "o1", "10.00", "sold", TEN), ("s2", "o2", "20.01", "sold", TEN),
        ("s3", "o3", "30.00", "sold", TEN), ("s4a", "o4", "40.00", "sold", TEN),
        ("s4b", "o4", "40.00", "sold", TEN_ONE)]  # fmt: skip

SPEC = Spec.model_validate(
    {**TICKETS_SPEC, "corrections": {**TICKETS_SPEC["corrections"], "auto_apply_up_to": "0.01"}}
)


@contextmanager
def target_database(
    server_url: str, name: str, conn_id: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A database of a corrected system on the warehouse's server (never the warehouse's own),
    reached through the Airflow connection ``conn_id``; dropped after."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')
        admin.execute(f'create database "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", airflow_connection(url))
    try:
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture
def app_db(warehouse_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The box office's database, apart from the warehouse, reached through its writer connection."""
    name = f"recon_app_{os.getpid()}"
    with target_database(warehouse_server_url, name, "box_office_writer", monkeypatch) as url:
        with psycopg.connect(url) as conn:
            conn.execute(
                "create table ticket_sales (sale_id text primary key, order_ref text not null,"
                " amount numeric not null, currency text not null, sold_at timestamptz not null,"
                " status text not null, till text not null)"
            )
            for sale_id, order_ref, amount, status, sold_at in TILL:
                conn.execute(
                    "insert into ticket_sales values (%s, %s, %s, 'EUR', %s, %s, 'till-1')",
                    (sale_id, order_ref, Decimal(amount), sold_at, status),
                )
        yield url


@pytest.fixture
def ticket_breaks(warehouse: psycopg.Connection, warehouse_url: str, tmp_path: Path) -> dict[str, str]:
    warehouse.commit()
    warehouse.autocommit = True
    records = [
        {"source": "platform", "record_key": key, "amount": amount, "currency": "EUR", "status": status,
         "occurred_at": TEN}
        for key, amount, status in PLATFORM
    ] + [
        {"source": "box_office", "record_key": key, "amount": amount, "currency": "EUR", "status": status,
         "occurred_at": at, "reference": sale_id}
        for sale_id, key, amount, status, at in TILL
    ]  # fmt: skip
    command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))
    run_matching(warehouse, warehouse_url, SPEC, day_window(SPEC, "2026-11-19"), records, command=command)
    keyed = "select array_to_string(coalesce(left_record_keys, right_record_keys), ',') as key, break_class,"
    found = rows(warehouse, keyed + " break_id from reconciliation.breaks")
    return {f"{row['key']}:{row['break_class']}": row["break_id"] for row in found}


def till(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("select * from ticket_sales order by sale_id").fetchall()


def stored(conn: psycopg.Connection) -> list[dict]:
    return rows(
        conn,
        "select break_class, kind, record_key, row_id, before, after, status, auto_apply, planned_by"
        " from reconciliation.corrections order by record_key, row_id",
    )
