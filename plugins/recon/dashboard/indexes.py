"""The indexes the dashboard's queries use (docs/dashboard.md#speed).

Every publish creates them if they are missing (recon.tasks.publish, after the run's transaction):
the tables they index are made by dbt (``breaks``, ``run_breaks``) and recon.staging (``runs``,
``alert_outbox``), and the first publish is the first moment all of them exist. One list, here, so
the DAG, the tests and the benchmark build the same indexes.
"""

from __future__ import annotations

import psycopg

INDEXES: tuple[str, ...] = (
    # Breaks list (break_queries.py): one covering index per sort, key (status, sort column, break_id),
    # including every filtered column, so a page and its capped count are index-only scans.
    "create index if not exists breaks_list_amount_idx"
    " on reconciliation.breaks (status, discrepancy_amount, break_id)"
    " include (spec, break_class, severity, first_seen_at)",
    "create index if not exists breaks_list_first_seen_idx"
    " on reconciliation.breaks (status, first_seen_at, break_id)"
    " include (spec, break_class, severity, discrepancy_amount)",
    "create index if not exists breaks_list_last_seen_idx"
    " on reconciliation.breaks (status, last_seen_at, break_id)"
    " include (spec, break_class, severity, first_seen_at, discrepancy_amount)",
    # A selective class or spec filter: the planner reads only the matching entries and sorts them,
    # instead of walking a sort index past every break that does not match.
    "create index if not exists breaks_class_idx"
    " on reconciliation.breaks (break_class, status, spec, severity, first_seen_at)"
    " include (discrepancy_amount, last_seen_at)",
    "create index if not exists breaks_spec_first_seen_idx"
    " on reconciliation.breaks (spec, first_seen_at)"
    " include (status, break_class, severity, discrepancy_amount, last_seen_at)",
    # Overview: open breaks by spec, severity and age (index-only range counts); the resolution rate
    # (breaks_spec_first_seen_idx).
    "create index if not exists breaks_open_idx"
    " on reconciliation.breaks (spec, severity, first_seen_at) where status = 'open'",
    # One break's page and every action's lookup (dbt's merge on break_id uses it too).
    "create unique index if not exists breaks_break_id_idx on reconciliation.breaks (break_id)",
    # A break's history across runs; a run's breaks, largest first.
    "create index if not exists run_breaks_break_id_idx on reconciliation.run_breaks (break_id)",
    "create index if not exists run_breaks_run_amount_idx"
    " on reconciliation.run_breaks (run_id, discrepancy_amount, break_id)",
    # Last run and trend per spec, the history (all specs or one), runs in progress.
    "create index if not exists runs_spec_started_idx on reconciliation.runs (spec, started_at, run_id)",
    "create index if not exists runs_spec_window_idx on reconciliation.runs (spec, window_start, run_id)",
    "create index if not exists runs_window_idx on reconciliation.runs (window_start, run_id)",
    "create index if not exists runs_running_idx on reconciliation.runs (spec) where status = 'running'",
    # A break's corrections, on its page.
    "create index if not exists corrections_break_idx on reconciliation.corrections (break_id)",
    # A run's alerts.
    "create index if not exists alert_outbox_run_idx on reconciliation.alert_outbox (run_id)",
)


def create_indexes(conn: psycopg.Connection) -> int:
    """Create those of the indexes above that are missing; how many. The tables must exist.

    Only missing ones are run: Postgres checks table ownership even for an index that exists, and
    the role running a publish need not own every table (recon warehouse bootstrap-roles).
    """
    with conn.transaction():
        existing = {
            row[0]
            for row in conn.execute("select indexname from pg_indexes where schemaname = 'reconciliation'")
        }
        missing = [statement for statement in INDEXES if _name(statement) not in existing]
        for statement in missing:
            conn.execute(statement)
    return len(missing)


def _name(statement: str) -> str:
    return statement.split(" if not exists ", 1)[1].split()[0]
