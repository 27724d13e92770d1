"""``on_fail: quarantine``: move the rows a staging rule finds from ``staging.records`` to
``staging.quarantine``, before dbt runs, so they are not matched.

Rows are moved whenever a quarantine rule finds any, within its threshold or not: a row's fate does not
depend on how many others broke the rule (the threshold decides only whether the rule failed, and so
whether it is loud). One statement per source, set-based: the rows are identified by the same SQL the
rule's check computes, so what is moved is exactly what GX counted. A row breaking several quarantine
rules is moved once, its reason naming each.

A quarantined row keeps its place in the table the extractors write (same columns): ``reason`` names
the rules and the source, ``origin``/``origin_line`` where the row came from, ``raw`` the canonical
record as it was staged. So a retried ``validate_staging`` can put the rows back first (``restore``)
and check the run as it was loaded: a retry moves the same rows again and stores the same results.
The extract of a source clears its quarantine rows, these included, when it reloads the source.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from recon.integrity.rules import QUARANTINE_REASON
from recon.integrity.suites import Batch, build_batches
from recon.integrity.validate import CheckResult
from recon.spec import Spec
from recon.window import RunWindow

log = logging.getLogger(__name__)

REASON_PREFIX = QUARANTINE_REASON


def restore(conn: psycopg.Connection, window: RunWindow) -> int:
    """Put back the rows an earlier try of this run's staging checkpoint moved; return how many."""
    with conn.transaction():
        restored = conn.execute(
            """
            with restored as (
                delete from staging.quarantine
                where spec = %s and run_id = %s and reason like %s and raw_line is null
                returning raw
            )
            insert into staging.records
            select (jsonb_populate_record(null::staging.records, raw)).* from restored
            """,
            (window.spec, window.run_id, REASON_PREFIX + "%"),
        ).rowcount
    if restored:
        log.info("run %s: %d quarantined row(s) put back for a new check", window.run_id, restored)
    return restored


def move(conn: psycopg.Connection, spec: Spec, window: RunWindow, results: list[CheckResult]) -> int:
    """Move the rows of every quarantine rule that found some, in one transaction; return how many."""
    found = {
        (result.suite, result.check.rule.rule_name)
        for result in results
        if result.check.rule.on_fail == "quarantine"
        and result.unexpected_count
        and "exception" not in result.details
    }
    if not found:
        return 0
    moved = 0
    with conn.transaction():
        for batch in build_batches(spec):
            checks = [check for check in batch.checks if (batch.suite, check.rule.rule_name) in found]
            if checks:
                moved += conn.execute(_move_sql(batch, checks, window.run_id)).rowcount  # type: ignore[arg-type]
    log.info("run %s: %d row(s) moved to staging.quarantine by integrity rules", window.run_id, moved)
    return moved


def _move_sql(batch: Batch, checks: list, run_id: str) -> str:
    # Rows of a partitioned table are told apart by their partition and position (tableoid, ctid):
    # staging.records has no key of its own, and one record key may repeat.
    broken = ", ".join(
        f"case when {check.breaks_sql(check.column_sql)} then {_text(check.rule.rule_name)} end"
        for check in checks
    )
    rows = batch.select(
        run_id, f"r.tableoid as part, r.ctid as row_id, array_remove(array[{broken}], null) as rules"
    )
    return f"""
        with checked as (
            {rows}
        ),
        moved as (
            delete from staging.records as r using checked
            where r.tableoid = checked.part and r.ctid = checked.row_id and cardinality(checked.rules) > 0
            returning r.*, checked.rules
        )
        insert into staging.quarantine (spec, source, run_id, origin, origin_line, record_key, reason, raw)
        select spec, source, run_id, origin, origin_line, record_key,
               {_text(REASON_PREFIX)} || case when cardinality(rules) > 1 then 's ' else ' ' end
                   || array_to_string(rules, ', ') || ' on ' || source || ' (on_fail: quarantine)',
               to_jsonb(moved) - 'rules'
        from moved
    """


def _text(value: str) -> str:
    return sql.Literal(value).as_string(None)
