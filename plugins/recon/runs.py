"""The run ledger (``reconciliation.runs``): a run starts, then is published or marked as failed.

Alerts and analysts trust only runs whose status is ``success`` or ``discrepancy_found``: a run that
failed anywhere is ``error`` and publishes nothing.
"""

from __future__ import annotations

import json

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from recon.masking import mask_text
from recon.recommendations import Finding, Words, build_findings, recommendations
from recon.window import RunWindow


def start_run(conn: psycopg.Connection, window: RunWindow, airflow_run_id: str | None) -> None:
    with conn.transaction():
        conn.execute(
            """
            insert into reconciliation.runs (run_id, spec, window_start, window_end, status, airflow_run_id)
            values (%s, %s, %s, %s, 'running', %s)
            on conflict (run_id) do update set
                status = 'running', airflow_run_id = excluded.airflow_run_id, error_message = null,
                started_at = now(), finished_at = null, attempt = runs.attempt + 1, warnings = '[]'
            """,
            (window.run_id, window.spec, window.start, window.end, airflow_run_id),
        )


SEVERITY_ORDER = ("ok", "info", "warning", "critical")
# A failed integrity rule's severity as a run severity: critical pages (as a critical pair does), high
# and medium post to Slack like a discrepancy, low is listed in a message posted anyway (as GX's
# Data Docs show them: critical, warning, info).
RULE_SEVERITY = {"critical": "critical", "high": "warning", "medium": "warning", "low": "info"}


def publish_run(conn: psycopg.Connection, window: RunWindow, words: Words | None = None) -> str:
    """Fill in the run's status, severity, totals, counts and recommendations from the dbt marts, and
    the integrity rules it failed (none set to stop the run, or it would not be published). ``words`` is
    what the spec says about its sources and pairs (``spec_words(spec)``); without it the sentences are
    generic.

    A run is ``discrepancy_found`` when any pair and currency is; its severity is the worst of its
    pairs and currencies and of its failed rules (``RULE_SEVERITY``).
    """
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select * from reconciliation.run_summary where run_id = %s order by pair, currency",
            (window.run_id,),
        )
        summary = cur.fetchall()
        findings = _findings(cur, window.run_id, words)
        status = (
            "discrepancy_found" if any(r["status"] == "discrepancy_found" for r in summary) else "success"
        )
        severity = max((r["severity"] for r in summary), key=SEVERITY_ORDER.index, default="ok")
        counts: dict[str, int] = {}
        for finding in findings:
            counts[finding.break_class] = counts.get(finding.break_class, 0) + finding.count
        pending = sum(r["pending_count"] for r in summary)
        still_open = sum(r["carried_break_count"] for r in summary)
        totals = [{key: row[key] for key in TOTAL_COLUMNS} for row in summary]
        # Rules that failed without stopping the run (on_fail mark or quarantine): the run carries them
        # for its readers, and each is as loud as its severity (RULE_SEVERITY).
        cur.execute(
            """
            select rule_name, severity, on_fail, checkpoint, source, unexpected_count, unexpected_percent,
                   sample_record_ids
            from reconciliation.integrity_results
            where run_id = %s and not is_success
            order by array_position(array['critical', 'high', 'medium', 'low'], severity), rule_name, source
            """,
            (window.run_id,),
        )
        integrity = json.loads(json.dumps(cur.fetchall(), default=str))
        severity = max(
            [severity, *(RULE_SEVERITY[failure["severity"]] for failure in integrity)],
            key=SEVERITY_ORDER.index,
        )
        cur.execute(
            """
            update reconciliation.runs set
                status = %s, severity = %s, finished_at = now(),
                duration_seconds = extract(epoch from now() - started_at),
                break_count = %s, pending_count = %s, discrepancy_percent = %s,
                break_counts = %s, totals = %s, recommendations = %s, integrity_failures = %s
            where run_id = %s
            """,
            (
                status, severity, sum(counts.values()), pending,
                max((r["discrepancy_percent"] for r in summary), default=0),
                Jsonb(counts), Jsonb(json.loads(json.dumps(totals, default=str))),
                Jsonb(recommendations(findings, pending, still_open)), Jsonb(integrity), window.run_id,
            ),
        )  # fmt: skip
        if cur.rowcount != 1:
            raise RuntimeError(f"run {window.run_id!r} was never started; cannot publish it")
    return status


def _findings(cur: psycopg.Cursor, run_id: str, words: Words | None) -> list[Finding]:
    """The run's new breaks counted per pair, class and (for lone records) the side they are on, with
    the fields its attribute mismatches differ in and the statuses its status mismatches disagree on."""
    cur.execute(
        """
        select pair, left_source, right_source, break_class, missing_in, side, count(*) as count,
               array_agg(distinct coalesce(left_status, right_status))
                   filter (where break_class = 'stuck') as statuses,
               array_agg(distinct quarantine_reason) filter (where break_class = 'unreadable') as reasons
        from (
            select *,
                   -- A lone record (missing, duplicate, stuck alone) has an amount on its own side only.
                   case
                       when left_amount is null then right_source
                       when right_amount is null then left_source
                   end as side
            from reconciliation.run_breaks
            where run_id = %(run_id)s and not is_carried_break
        ) as breaks
        group by pair, left_source, right_source, break_class, missing_in, side
        """,
        {"run_id": run_id},
    )
    counted = cur.fetchall()
    # amount, occurred_at: a difference within the tolerance, a time apart; not what the class is about.
    cur.execute(
        """
        select pair, field, count(*) as count
        from reconciliation.run_breaks
        cross join lateral unnest(different_fields) as differing (field)
        where run_id = %(run_id)s and not is_carried_break and break_class = 'attribute_mismatch'
            and field not in ('amount', 'occurred_at')
        group by pair, field
        """,
        {"run_id": run_id},
    )
    fields = cur.fetchall()
    cur.execute(
        """
        select pair, left_status, right_status, count(*) as count
        from reconciliation.run_breaks
        where run_id = %(run_id)s and not is_carried_break and break_class = 'status_mismatch'
        group by pair, left_status, right_status
        """,
        {"run_id": run_id},
    )
    return build_findings(counted, fields, cur.fetchall(), words or Words())


TOTAL_COLUMNS = (
    "pair", "currency", "left_source", "right_source", "left_record_count", "right_record_count",
    "left_total_amount", "right_total_amount", "discrepancy_amount", "discrepancy_percent", "status",
    "severity",
)  # fmt: skip


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
        # A failed run must not leave its result alerts behind for a sender to pick up.
        conn.execute(
            "update reconciliation.alert_outbox set status = 'superseded'"
            " where run_id = %s and event <> 'failure' and status in ('pending', 'failed')",
            (window.run_id,),
        )


def add_warning(conn: psycopg.Connection, run_id: str, warning: str) -> None:
    """Note a problem that did not fail the run (an alert not delivered) where its readers look."""
    with conn.transaction():
        conn.execute(
            "update reconciliation.runs set warnings = warnings || %s where run_id = %s",
            (Jsonb([mask_text(warning)[:500]]), run_id),
        )
