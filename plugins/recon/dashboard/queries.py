"""The overview's figures, per reconciliation, each from an index (indexes.py): the last run and the
trend (a few rows of reconciliation.runs per spec), open breaks by severity and age (counts over a
partial index of open breaks, never the table), the resolution rate over a bounded period, and the
last run's records (its totals) and quarantined rows per source.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from recon.dashboard.break_queries import SEVERITIES
from recon.dashboard.paging import masked
from recon.stats import AGE_BUCKETS

RESOLUTION_DAYS = 30  # the resolution rate covers breaks first seen this long before the last run
TREND_RUNS = 30


def overview(conn: psycopg.Connection, specs: list[str], now: datetime) -> dict[str, dict[str, Any]]:
    """Per spec: last run, trend of the last runs, open breaks by severity and age, resolution rate,
    average run time, and per source the last run's record counts and quarantined rows."""
    figures: dict[str, dict[str, Any]] = {
        spec: {"last_run": None, "trend": [], "open_by_severity": {}, "open_by_age": {}, "open": 0,
               "found": 0, "resolved": 0, "ignored": 0, "sources": {}, "quarantined": {},
               "average_seconds": None}
        for spec in specs
    }  # fmt: skip
    if not specs or not _exists(conn, "reconciliation.runs"):
        return figures
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            select r.* from unnest(%s::text[]) as s(spec) cross join lateral (
                select run_id, spec, status, severity, window_start, window_end, started_at, finished_at,
                       duration_seconds, break_count, discrepancy_percent, totals, error_message
                from reconciliation.runs where runs.spec = s.spec
                order by started_at desc, run_id desc limit 1) r
            """,
            (specs,),
        )
        for row in cur.fetchall():
            figures[row["spec"]]["last_run"] = masked(row)
        cur.execute(
            """
            select t.* from unnest(%s::text[]) as s(spec) cross join lateral (
                select run_id, spec, status, window_start, window_end, discrepancy_percent, duration_seconds
                from reconciliation.runs where runs.spec = s.spec
                order by window_start desc, run_id desc limit %s) t
            """,
            (specs, TREND_RUNS),
        )
        for row in cur.fetchall():
            figures[row["spec"]]["trend"].insert(0, row)
        _quarantined(cur, figures)
        if _exists(conn, "reconciliation.breaks"):
            _open_breaks(cur, specs, figures, now)
            _resolution(cur, figures)
    for item in figures.values():
        durations = [r["duration_seconds"] for r in item["trend"] if r["duration_seconds"] is not None]
        item["average_seconds"] = sum(durations) / len(durations) if durations else None
        records, quarantined = _record_counts(item["last_run"]), item.pop("quarantined")
        item["sources"] = {
            source: {"records": records.get(source), "quarantined": quarantined.get(source, 0)}
            for source in sorted({*records, *quarantined})
        }
    return figures


def _open_breaks(cur: psycopg.Cursor, specs: list[str], figures: dict, now: datetime) -> None:
    """Open breaks per spec, severity and age bucket: one index-only range count each, on the partial
    index of open breaks (a grouped scan would evaluate every bucket's test on every open break)."""
    params: dict[str, Any] = {"specs": specs, "severities": list(SEVERITIES)}
    counts = []
    for i, (_, lower, upper) in enumerate(AGE_BUCKETS):
        bounds = []
        if lower is not None:  # age >= lower days
            bounds.append(sql.SQL("b.first_seen_at <= {}").format(sql.Placeholder(f"seen_{i}_by")))
            params[f"seen_{i}_by"] = now - timedelta(days=lower)
        if upper is not None:  # age < upper days
            bounds.append(sql.SQL("b.first_seen_at > {}").format(sql.Placeholder(f"seen_{i}_after")))
            params[f"seen_{i}_after"] = now - timedelta(days=upper)
        counts.append(
            sql.SQL(
                "(select count(*) from reconciliation.breaks b where b.status = 'open' and b.spec = s.spec"
                " and b.severity = v.severity and {}) as {}"
            ).format(sql.SQL(" and ").join(bounds), sql.Identifier(f"age_{i}"))
        )
    cur.execute(
        sql.SQL(
            "select s.spec, v.severity, {} from unnest(%(specs)s::text[]) s(spec)"
            " cross join unnest(%(severities)s::text[]) v(severity)"
        ).format(sql.SQL(", ").join(counts)),
        params,
    )
    for row in cur.fetchall():
        item = figures[row["spec"]]
        ages = [row[f"age_{i}"] for i in range(len(AGE_BUCKETS))]
        item["open"] += sum(ages)
        if sum(ages):
            item["open_by_severity"][row["severity"]] = sum(ages)
        for (label, _, _), count in zip(AGE_BUCKETS, ages, strict=True):
            item["open_by_age"][label] = item["open_by_age"].get(label, 0) + count
    for item in figures.values():
        item["open_by_age"] = {label: item["open_by_age"].get(label, 0) for label, _, _ in AGE_BUCKETS}


def _resolution(cur: psycopg.Cursor, figures: dict) -> None:
    """Breaks first seen in the RESOLUTION_DAYS up to each spec's last run: how many are resolved."""
    since = {
        spec: item["last_run"]["window_end"] - timedelta(days=RESOLUTION_DAYS)
        for spec, item in figures.items()
        if item["last_run"]
    }
    if not since:
        return
    cur.execute(
        """
        select b.spec, count(*) as found, count(*) filter (where b.status = 'resolved') as resolved,
               count(*) filter (where b.status = 'ignored') as ignored
        from unnest(%s::text[], %s::timestamptz[]) as s(spec, since)
        join reconciliation.breaks b on b.spec = s.spec and b.first_seen_at > s.since
        group by b.spec
        """,
        (list(since), list(since.values())),
    )
    for row in cur.fetchall():
        figures[row["spec"]].update(found=row["found"], resolved=row["resolved"], ignored=row["ignored"])


def _quarantined(cur: psycopg.Cursor, figures: dict) -> None:
    last = {spec: item["last_run"]["run_id"] for spec, item in figures.items() if item["last_run"]}
    if not last:
        return
    cur.execute(
        """
        select q.spec, q.source, count(*) as n
        from unnest(%s::text[], %s::text[]) as s(spec, run_id)
        join staging.quarantine q on q.spec = s.spec and q.run_id = s.run_id
        group by q.spec, q.source
        """,
        (list(last), list(last.values())),
    )
    for row in cur.fetchall():
        figures[row["spec"]]["quarantined"][row["source"]] = row["n"]


def _record_counts(run: dict[str, Any] | None) -> dict[str, int]:
    """Records per source in the run, from its totals (per pair and currency): summed per pair, and
    of a source in several pairs (which holds the same records in each) the largest."""
    per_pair: dict[tuple[str, str], int] = {}
    for row in (run or {}).get("totals") or []:
        for side in ("left", "right"):
            key = (row["pair"], row[f"{side}_source"])
            per_pair[key] = per_pair.get(key, 0) + int(row[f"{side}_record_count"] or 0)
    counts: dict[str, int] = {}
    for (_, source), records in per_pair.items():
        counts[source] = max(counts.get(source, 0), records)
    return counts


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is not None
