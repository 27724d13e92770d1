"""The run ledger (``reconciliation.runs``): a run starts, then is published or marked as failed.

Alerts and analysts trust only runs whose status is ``success`` or ``discrepancy_found``: a run that
failed anywhere is ``error`` and publishes nothing.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import dict_row

from recon.masking import mask_text
from recon.window import RunWindow


def start_run(conn: psycopg.Connection, window: RunWindow, airflow_run_id: str | None) -> None:
    with conn.transaction():
        conn.execute(
            """
            insert into reconciliation.runs (run_id, spec, window_start, window_end, status, airflow_run_id)
            values (%s, %s, %s, %s, 'running', %s)
            on conflict (run_id) do update set
                status = 'running', airflow_run_id = excluded.airflow_run_id, error_message = null,
                started_at = now(), finished_at = null
            """,
            (window.run_id, window.spec, window.start, window.end, airflow_run_id),
        )


def publish_run(conn: psycopg.Connection, window: RunWindow) -> str:
    """Set the run's final status from the dbt summary; return it."""
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select count(*) filter (where status = 'discrepancy_found') as broken, count(*) as currencies"
            " from reconciliation.fct_run_summary where run_id = %s",
            (window.run_id,),
        )
        row = cur.fetchone()
        status = "discrepancy_found" if row and row["broken"] else "success"
        cur.execute(
            "update reconciliation.runs set status = %s, finished_at = now() where run_id = %s",
            (status, window.run_id),
        )
        if cur.rowcount != 1:
            raise RuntimeError(f"run {window.run_id!r} was never started; cannot publish it")
    return status


def mark_failed(conn: psycopg.Connection, window: RunWindow, message: str) -> None:
    with conn.transaction():
        conn.execute(
            """
            insert into reconciliation.runs (run_id, spec, window_start, window_end, status, error_message,
                                             finished_at)
            values (%s, %s, %s, %s, 'error', %s, now())
            on conflict (run_id) do update set
                status = 'error', error_message = excluded.error_message, finished_at = now()
            """,
            (window.run_id, window.spec, window.start, window.end, mask_text(message)[:2000]),
        )
        # A failed run must not leave alerts behind for a sender to pick up.
        conn.execute(
            "delete from reconciliation.alert_outbox where run_id = %s and status = 'pending'",
            (window.run_id,),
        )
