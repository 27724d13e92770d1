"""Partitioned staging: a (run, source) slice of ``staging.records`` is replaced by a partition swap.

``staging.records`` is partitioned by ``run_id``; each run partition is partitioned by ``source``, so
one leaf holds one (run, source) slice. A load COPYs into a fresh standalone table (no index, no
lock on ``staging.records`` while the rows stream), then swaps it in at the end of the same
transaction: drop the old leaf, attach the new one. The CHECK constraints added just before the
attach imply the partition bound, so ATTACH skips its validation scan, and the strong locks are held
only for that short swap. A failed load rolls back, which removes its standalone table too: there
is nothing to clean up and the previous slice stays as it was. Retention drops whole run partitions.
dbt keeps reading ``staging.records`` as one table; ``where run_id = ...`` prunes to one run.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

import psycopg
from psycopg import sql

from recon.window import RunWindow

# Columns a loader COPYs; spec, source, run_id and the window are column defaults of the load table.
LOAD_COLUMNS = (
    "record_key",
    "group_key",
    "amount",
    "currency",
    "occurred_at",
    "status",
    "customer_email",
    "reference",
    "attributes",
    "origin",
    "origin_line",
)


def _digest(*parts: str) -> str:
    # Partition names must fit in 63 bytes; run ids do not, so name tables by a hash of the key.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def run_partition_name(run_id: str) -> str:
    return f"records_run_{_digest(run_id)}"


def slice_partition_name(run_id: str, source: str) -> str:
    return f"records_{_digest(run_id, source)}"


def create_load_table(cur: psycopg.Cursor, window: RunWindow, source: str) -> sql.Identifier:
    """A fresh standalone table shaped like staging.records; the slice's constants are defaults."""
    name = sql.Identifier("staging", f"load_{_digest(window.run_id, source)}_{secrets.token_hex(4)}")
    # The CHECK matches the partition bound, so ATTACH skips its validation scan; made at CREATE, it
    # costs a comparison per row during COPY instead of a scan of the whole table inside the swap.
    check = sql.SQL("constraint slice_key check (run_id = {} and source = {})").format(
        sql.Literal(window.run_id), sql.Literal(source)
    )
    # Autovacuum would only race the swap; the rows are written frozen by COPY FREEZE anyway.
    cur.execute(
        sql.SQL(
            "create table {} (like staging.records including defaults, {}) with (autovacuum_enabled = off)"
        ).format(name, check)
    )
    # Constant for the whole slice: defaults, so COPY never sends them.
    constants = {
        "spec": window.spec,
        "source": source,
        "run_id": window.run_id,
        "window_start": window.start,
        "window_end": window.end,
    }
    cur.execute(
        sql.SQL("alter table {} {}").format(
            name,
            sql.SQL(", ").join(
                sql.SQL("alter column {} set default {}").format(sql.Identifier(column), sql.Literal(value))
                for column, value in constants.items()
            ),
        )
    )
    return name


def copy_statement(
    table: sql.Identifier, columns: tuple[str, ...] = LOAD_COLUMNS, fmt: str = "csv"
) -> sql.Composed:
    """COPY into a load table created in this transaction: FREEZE writes the rows already frozen."""
    options = sql.SQL("format csv, freeze") if fmt == "csv" else sql.SQL("freeze")
    return sql.SQL("copy {} ({}) from stdin ({})").format(
        table, sql.SQL(", ").join(map(sql.Identifier, columns)), options
    )


def set_origin(cur: psycopg.Cursor, table: sql.Identifier, origin: str) -> None:
    """The file every following COPY row comes from, as a column default: not sent once per row."""
    cur.execute(
        sql.SQL("alter table {} alter column origin set default {}").format(table, sql.Literal(origin))
    )


def swap_in(cur: psycopg.Cursor, window: RunWindow, source: str, table: sql.Identifier) -> None:
    """Make ``table`` the (run, source) slice of staging.records, replacing the previous one."""
    run_partition = _ensure_run_partition(cur, window)
    leaf = sql.Identifier("staging", slice_partition_name(window.run_id, source))
    cur.execute(sql.SQL("drop table if exists {}").format(leaf))
    cur.execute(
        sql.SQL("alter table {} rename to {}").format(
            table, sql.Identifier(slice_partition_name(window.run_id, source))
        )
    )
    cur.execute(
        sql.SQL("alter table {} attach partition {} for values in ({})").format(
            run_partition, leaf, sql.Literal(source)
        )
    )
    cur.execute(sql.SQL("alter table {} set (autovacuum_enabled = on)").format(leaf))


def analyze_run(conn: psycopg.Connection, window: RunWindow) -> bool:
    """Collect planner statistics on the run's staging partition (and its source slices).

    A slice is swapped in fresh, so until autovacuum gets to it the planner guesses a few dozen rows
    where there are millions, and plans the matching joins as nested loops. Done once per run, after
    every extract and before matching, so a load never pays for it. False when the run has no rows.
    """
    with conn.cursor() as cur:
        cur.execute(
            "select partition_name from staging.record_partitions where run_id = %s", (window.run_id,)
        )
        row = cur.fetchone()
        if row is None:
            return False
        cur.execute(sql.SQL("analyze {}").format(sql.Identifier("staging", row[0])))
    conn.commit()
    return True


def _ensure_run_partition(cur: psycopg.Cursor, window: RunWindow) -> sql.Identifier:
    name = run_partition_name(window.run_id)
    partition = sql.Identifier("staging", name)
    # Two sources of one run may swap at once; only one of them may create the run partition.
    cur.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"recon.run_partition:{window.run_id}",))
    cur.execute("select 1 from staging.record_partitions where run_id = %s", (window.run_id,))
    if cur.fetchone() is None:
        cur.execute(
            # Empty when attached, so the attach has nothing to scan and needs no CHECK.
            sql.SQL("create table {} (like staging.records) partition by list (source)").format(partition)
        )
        cur.execute(
            sql.SQL("alter table staging.records attach partition {} for values in ({})").format(
                partition, sql.Literal(window.run_id)
            )
        )
        cur.execute(
            "insert into staging.record_partitions (spec, run_id, window_start, window_end, partition_name)"
            " values (%s, %s, %s, %s, %s)",
            (window.spec, window.run_id, window.start, window.end, name),
        )
    return partition


def drop_runs_before(conn: psycopg.Connection, spec: str, cutoff: datetime) -> int:
    """Drop every run of ``spec`` whose window ended at or before ``cutoff``; returns how many.

    Whole run partitions go (all sources at once), with their quarantine rows, in one transaction.
    """
    if cutoff.tzinfo is None:
        raise ValueError("cutoff must be timezone-aware")
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "delete from staging.record_partitions where spec = %s and window_end <= %s"
            " returning run_id, partition_name",
            (spec, cutoff),
        )
        dropped = cur.fetchall()
        for run_id, name in dropped:
            cur.execute(sql.SQL("drop table if exists {}").format(sql.Identifier("staging", name)))
            cur.execute("delete from staging.quarantine where spec = %s and run_id = %s", (spec, run_id))
    return len(dropped)
