"""Retention: a spec's per-record data older than retention_days goes, newer runs and other specs stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from recon.records import CanonicalRecord
from recon.retention import apply_retention
from recon.staging.loader import replace_window
from recon.window import RunWindow

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 19, tzinfo=UTC)


def load_day(conn: psycopg.Connection, spec: str, days_back: int) -> RunWindow:
    start = DAY - timedelta(days=days_back)
    window = RunWindow(spec, start, start + timedelta(days=1))
    record = CanonicalRecord(
        record_key=f"ch_{days_back}", amount=Decimal("1.00"), currency="USD", occurred_at=start, origin="t"
    )
    replace_window(conn, window, "stripe", [record])
    conn.execute(
        "insert into recon_intermediate.int_records_matched (spec, run_id, window_end) values (%s, %s, %s)",
        (spec, window.run_id, window.end),
    )
    conn.commit()
    return window


def runs_in(conn: psycopg.Connection, table: str, spec: str) -> set[str]:
    rows = conn.execute(f"select distinct run_id from {table} where spec = %s", (spec,)).fetchall()  # noqa: S608
    conn.rollback()
    return {run_id for (run_id,) in rows}


@pytest.fixture
def history(warehouse: psycopg.Connection) -> psycopg.Connection:
    # The per-record match table as dbt builds it, reduced to the columns retention reads.
    warehouse.execute("create schema recon_intermediate")
    warehouse.execute(
        "create table recon_intermediate.int_records_matched (spec text, run_id text, window_end timestamptz)"
    )
    warehouse.commit()
    return warehouse


def test_runs_older_than_the_retention_are_dropped_and_newer_ones_kept(history: psycopg.Connection) -> None:
    old = load_day(history, "billing", days_back=40)
    edge = load_day(history, "billing", days_back=30)
    recent = load_day(history, "billing", days_back=1)
    other_spec = load_day(history, "ticketing", days_back=40)

    removed = apply_retention(history, "billing", keep_days=30, now=DAY)

    # edge's window ended 29 days before DAY: inside the 30 days kept.
    assert runs_in(history, "staging.records", "billing") == {edge.run_id, recent.run_id}
    assert runs_in(history, "recon_intermediate.int_records_matched", "billing") == {
        edge.run_id,
        recent.run_id,
    }
    assert runs_in(history, "staging.records", "ticketing") == {other_spec.run_id}
    assert removed == {"staging_runs": 1, "recon_intermediate.int_records_matched": 1}
    assert old.run_id not in runs_in(history, "staging.records", "billing")


def test_retention_before_dbt_ever_ran_touches_only_staging(warehouse: psycopg.Connection) -> None:
    start = DAY - timedelta(days=40)
    window = RunWindow("billing", start, start + timedelta(days=1))
    record = CanonicalRecord(
        record_key="ch_old", amount=Decimal("1.00"), currency="USD", occurred_at=start, origin="t"
    )
    replace_window(warehouse, window, "stripe", [record])

    removed = apply_retention(warehouse, "billing", keep_days=30, now=DAY)

    assert removed == {"staging_runs": 1}
    assert runs_in(warehouse, "staging.records", "billing") == set()
