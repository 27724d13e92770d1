"""A warehouse made before references without money or time: ensure_schema makes those columns nullable."""

from __future__ import annotations

import psycopg
import pytest

from recon.records import CanonicalRecord
from recon.staging.loader import replace_window
from recon.staging.schema import ensure_schema
from tests.staging.conftest import WINDOW
from tests.staging.test_partitions import record

pytestmark = pytest.mark.integration
COLUMNS = ("amount", "currency", "occurred_at")


def not_null(conn: psycopg.Connection) -> dict[str, bool]:
    rows = conn.execute(
        "select attname, attnotnull from pg_attribute where attrelid = 'staging.records'::regclass"
        " and attname = any(%s)",
        (list(COLUMNS),),
    ).fetchall()
    return dict(rows)


def test_an_old_warehouse_gets_nullable_money_and_time_and_keeps_its_rows(
    warehouse: psycopg.Connection,
) -> None:
    replace_window(warehouse, WINDOW, "api", [record("old")])
    with warehouse.transaction():  # the columns as a warehouse from before had them
        warehouse.execute(
            "alter table staging.records alter column amount set not null,"
            " alter column currency set not null, alter column occurred_at set not null"
        )
    before = not_null(warehouse)

    ensure_schema(warehouse)
    ensure_schema(warehouse)  # idempotent: the second run finds nothing to change
    catalogue = CanonicalRecord("evt_1", None, None, None, "postgres://db/events", 1, attributes={"n": 2})
    replace_window(warehouse, WINDOW, "events", [catalogue])

    assert before == dict.fromkeys(COLUMNS, True)
    assert not_null(warehouse) == dict.fromkeys(COLUMNS, False)
    rows = warehouse.execute(
        "select source, record_key, amount is null, currency is null, occurred_at is null"
        " from staging.records"
        " order by source"
    ).fetchall()
    assert rows == [("api", "old", False, False, False), ("events", "evt_1", True, True, True)]
