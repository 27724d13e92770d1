"""The dashboard's reads of runs: the history, one run's page (its breaks, integrity results and
alerts) and which runs are in progress. Keyset-paginated on indexes, masked (see queries.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from recon.dashboard.paging import COUNT_CAP, PARSERS, BadInput, Page, finish, keyset, masked
from recon.stats import STATUSES as RUN_STATUSES

RUN_COLUMNS = sql.SQL(
    "run_id, spec, window_start, window_end, status, severity, started_at, finished_at, duration_seconds,"
    " break_count, pending_count, discrepancy_percent, break_counts, totals, error_message, attempt,"
    " warnings, integrity_failures, airflow_run_id"
)
# Keys an alert payload may hold that must never be shown (none are stored today: the routing key
# and webhook secret live in Airflow connections; this is the guard if one ever is).
SECRET_WORDS = ("token", "secret", "password", "routing_key", "api_key", "authorization", "webhook")


def _runs_where(specs: list[str], status: str | None) -> tuple[sql.Composable, dict]:
    if status is not None and status not in RUN_STATUSES:
        raise BadInput(f"status {status!r}: expected all or one of {', '.join(RUN_STATUSES)}")
    parts = [sql.SQL("spec = any(%(specs)s)")]
    if status is not None:
        parts.append(sql.SQL("status = %(status)s"))
    return sql.SQL(" and ").join(parts), {"specs": specs, "status": status}


def list_runs(
    conn: psycopg.Connection,
    specs: list[str],
    status: str | None = None,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> Page:
    """One page of the history, latest window first."""
    if not _exists(conn, "reconciliation.runs"):
        return Page([], total=0)
    where, params = _runs_where(specs, status)
    condition, order, cursor_params, backwards = keyset(
        "window_start", True, after, before, PARSERS["timestamptz"], "run_id"
    )
    page_where = where if condition is None else sql.SQL("{} and {}").format(where, condition)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("select {} from reconciliation.runs where {} order by {} limit %(limit)s").format(
                RUN_COLUMNS, page_where, order
            ),
            {**params, **cursor_params, "limit": limit + 1},
        )
        rows = cur.fetchall()
        cur.execute(
            sql.SQL(
                "select count(*) as n from (select 1 from reconciliation.runs where {} limit %(cap)s) t"
            ).format(where),
            {**params, "cap": COUNT_CAP + 1},
        )
        total = cur.fetchone()["n"]
    page = finish(rows, limit, backwards, (after or before) is not None, "window_start", "run_id")
    page.rows = [masked(row) for row in page.rows]
    page.total = total
    return page


def iter_runs(conn: psycopg.Connection, specs: list[str], status: str | None) -> Iterator[dict[str, Any]]:
    """Every run the filters select, latest first, streamed from a server-side cursor (CSV)."""
    where, params = _runs_where(specs, status)
    query = sql.SQL("select {} from reconciliation.runs where {} order by window_start desc, run_id desc")
    yield from _stream(conn, query.format(RUN_COLUMNS, where), params)


def get_run(conn: psycopg.Connection, run_id: str) -> dict[str, Any] | None:
    if not _exists(conn, "reconciliation.runs"):
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("select {} from reconciliation.runs where run_id = %s").format(RUN_COLUMNS), (run_id,)
        )
        row = cur.fetchone()
    return masked(row) if row else None


def run_breaks(
    conn: psycopg.Connection,
    run_id: str,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> Page:
    """One page of a run's breaks, largest amount first, each with its current status."""
    if not _exists(conn, "reconciliation.run_breaks"):
        return Page([], total=0)
    condition, order, cursor_params, backwards = keyset(
        "discrepancy_amount", True, after, before, PARSERS["numeric"], "break_id"
    )
    status = "b.status" if _exists(conn, "reconciliation.breaks") else "null::text"
    join = "left join reconciliation.breaks b using (break_id)" if status == "b.status" else ""
    extra = sql.SQL("") if condition is None else sql.SQL("and {}").format(condition)
    query = sql.SQL(
        """
        select r.break_id, r.pair, r.break_class, r.severity, r.missing_in, r.left_source, r.right_source,
               r.left_record_keys, r.right_record_keys, r.left_amount, r.right_amount, r.currency,
               r.discrepancy_amount, r.left_status, r.right_status, r.is_carried_break, r.customer_email,
               {status} as status
        from (select * from reconciliation.run_breaks where run_id = %(run_id)s {extra}
              order by {order} limit %(limit)s) r {join}
        order by {order}
        """
    ).format(status=sql.SQL(status), extra=extra, order=order, join=sql.SQL(join))
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, {"run_id": run_id, **cursor_params, "limit": limit + 1})
        rows = cur.fetchall()
        cur.execute(
            "select count(*) as n"
            " from (select 1 from reconciliation.run_breaks where run_id = %s limit %s) t",
            (run_id, COUNT_CAP + 1),
        )
        total = cur.fetchone()["n"]
    page = finish(rows, limit, backwards, (after or before) is not None, "discrepancy_amount", "break_id")
    page.rows = [masked(row) for row in page.rows]
    page.total = total
    return page


def iter_run_breaks(conn: psycopg.Connection, run_id: str) -> Iterator[dict[str, Any]]:
    """Every break of the run, largest first, streamed (CSV)."""
    query = sql.SQL(
        "select * from reconciliation.run_breaks where run_id = %(run_id)s"
        " order by discrepancy_amount desc, break_id desc"
    )
    yield from _stream(conn, query, {"run_id": run_id})


def integrity_results(conn: psycopg.Connection, run_id: str) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            select checkpoint, suite, rule_name, rule, source, field, severity, is_success, unexpected_count,
                   element_count, unexpected_percent, threshold, expectation, column_name, checked_at
            from reconciliation.integrity_results where run_id = %s
            order by is_success, array_position(array['critical', 'high', 'medium', 'low'], severity),
                     checkpoint, rule_name, source
            """,
            (run_id,),
        )
        return [masked(row) for row in cur.fetchall()]


def alerts(conn: psycopg.Connection, run_id: str) -> list[dict[str, Any]]:
    """The run's alerts with what they said (their summary); secrets are never stored, never shown."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            select alert_id, channel, event, attempt, status, attempts, dedup_key, last_error, created_at,
                   sent_at, next_attempt_at, payload
            from reconciliation.alert_outbox where run_id = %s order by created_at, alert_id
            """,
            (run_id,),
        )
        found = cur.fetchall()
    for row in found:
        payload = _without_secrets(row.pop("payload") or {})
        row["summary"] = payload.get("summary") or payload.get("text") or ""
        row["payload"] = payload
    return [masked(row) for row in found]


def running(conn: psycopg.Connection, specs: list[str]) -> list[dict[str, Any]]:
    """Runs in progress (a small partial index: status = 'running')."""
    if not specs or not _exists(conn, "reconciliation.runs"):
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select run_id, spec, started_at from reconciliation.runs"
            " where status = 'running' and spec = any(%s) order by started_at, run_id",
            (specs,),
        )
        return cur.fetchall()


def _without_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _without_secrets(item)
            for key, item in value.items()
            if not any(word in str(key).lower() for word in SECRET_WORDS)
        }
    if isinstance(value, list):
        return [_without_secrets(item) for item in value]
    return value


def _stream(conn: psycopg.Connection, query: sql.Composable, params: dict) -> Iterator[dict[str, Any]]:
    with conn.transaction(), conn.cursor(name="recon_dashboard_export", row_factory=dict_row) as cur:
        cur.itersize = 2000
        cur.execute(query, params)
        for row in cur:
            yield masked(row)


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is not None
