"""Retention: per-record data older than a spec's ``retention_days`` is dropped at the start of a run.

Staging (canonical records, quarantine) and the per-record match table are the heavy tables: a year
of daily million-row runs would otherwise be hundreds of millions of rows. Staging drops whole run
partitions (no row-by-row delete, no bloat); the per-record match table deletes by run through its
``run_id`` index. The small per-run tables (runs, breaks, run summaries, integrity results, alerts)
are history that analysts query, and are kept.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import psycopg

log = logging.getLogger(__name__)

# reconciliation.matches is a view over int_records_matched, so pruning that prunes it.
PER_RECORD_RESULT_TABLES = ("recon_intermediate.int_records_matched",)


def apply_retention(conn: psycopg.Connection, spec: str, keep_days: int, now: datetime) -> dict[str, int]:
    """Drop ``spec``'s per-record rows of runs whose window ended more than ``keep_days`` before ``now``."""
    from recon.staging.partitions import drop_runs_before

    cutoff = now - timedelta(days=keep_days)
    removed = {"staging_runs": drop_runs_before(conn, spec, cutoff)}
    with conn.transaction(), conn.cursor() as cur:
        for table in PER_RECORD_RESULT_TABLES:
            cur.execute("select to_regclass(%s) is not null", (table,))
            if not cur.fetchone()[0]:
                continue  # dbt has not built it yet: nothing to prune
            cur.execute(
                f"delete from {table} where spec = %s and window_end <= %s",  # noqa: S608 - fixed names
                (spec, cutoff),
            )
            removed[table] = cur.rowcount
    if any(removed.values()):
        log.info("retention (%d days) for %s removed %s", keep_days, spec, removed)
    return removed
