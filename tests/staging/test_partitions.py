"""Partitioned staging: slices swap in, the record-by-record path swaps too, retention drops old runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from recon.records import CanonicalRecord, QuarantinedRecord
from recon.staging.loader import replace_window
from recon.staging.partitions import drop_runs_before
from recon.staging.schema import schema_scripts
from recon.window import RunWindow
from tests.staging.conftest import WINDOW

pytestmark = pytest.mark.integration


def record(key: str, amount: str = "1.00") -> CanonicalRecord:
    return CanonicalRecord(key, Decimal(amount), "USD", datetime(2026, 11, 19, tzinfo=UTC), "api://page/1")


def day(offset: int) -> RunWindow:
    start = WINDOW.start + timedelta(days=offset)
    return RunWindow(WINDOW.spec, start, start + timedelta(days=1))


def keys(conn: psycopg.Connection, window: RunWindow = WINDOW) -> list[str]:
    rows = conn.execute(
        "select record_key from staging.records where run_id = %s order by 1", (window.run_id,)
    )
    return [key for (key,) in rows]


def test_record_sources_replace_their_slice_by_swap(warehouse: psycopg.Connection) -> None:
    replace_window(warehouse, WINDOW, "api", [record("a"), QuarantinedRecord("bad", {"x": 1}, "api://p", 3)])
    result = replace_window(warehouse, WINDOW, "api", [record("b"), record("c")])

    assert (result.loaded, result.quarantined) == (2, 0)
    assert keys(warehouse) == ["b", "c"]
    assert warehouse.execute("select count(*) from staging.quarantine").fetchone() == (0,)


def test_each_run_and_source_is_its_own_partition(warehouse: psycopg.Connection) -> None:
    replace_window(warehouse, WINDOW, "api", [record("a")])
    replace_window(warehouse, WINDOW, "other", [record("b")])

    leaves = warehouse.execute(
        "select count(distinct tableoid) from staging.records where run_id = %s", (WINDOW.run_id,)
    ).fetchone()
    assert leaves == (2,)
    assert keys(warehouse) == ["a", "b"]


def test_a_failed_load_leaves_the_previous_slice_and_no_load_table(warehouse: psycopg.Connection) -> None:
    replace_window(warehouse, WINDOW, "api", [record("a")])

    def broken():
        yield record("b")
        raise RuntimeError("page 2 failed")

    with pytest.raises(RuntimeError):
        replace_window(warehouse, WINDOW, "api", broken())

    assert keys(warehouse) == ["a"]
    leftovers = warehouse.execute("select count(*) from pg_tables where tablename like 'load\\_%'").fetchone()
    assert leftovers == (0,)


def test_retention_drops_only_runs_that_ended_before_the_cutoff(warehouse: psycopg.Connection) -> None:
    for offset in (-3, -2, -1, 0):
        replace_window(warehouse, day(offset), "api", [record(f"r{offset}")])
    replace_window(warehouse, RunWindow("other_spec", WINDOW.start, WINDOW.end), "api", [record("keep")])

    dropped = drop_runs_before(warehouse, WINDOW.spec, day(-1).start)

    assert dropped == 2
    remaining = warehouse.execute("select spec, record_key from staging.records order by 2").fetchall()
    assert remaining == [("other_spec", "keep"), ("billing", "r-1"), ("billing", "r0")]


def test_schema_runs_schema_sql_first_then_the_other_sql_files_by_name() -> None:
    names = [name for name, _ in schema_scripts()]

    assert names[0] == "schema.sql"
    assert names[1:] == sorted(names[1:])
