"""Reviewing breaks: list and show them, and ignore, resolve or reopen them with a note, audited.

A review sets ``reconciliation.breaks.status`` and appends one ``reconciliation.audit_log`` row per
break it changed (who, when, why, status before and after), in one transaction: a bulk review
changes every break it names or none. The next runs keep a review: an ignored break stays ignored
while its values stay the same, and a break a review resolved opens again if a run finds it again
(dbt_project/models/marts/breaks.sql).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from recon.masking import mask_email, mask_text

STATUSES = ("open", "resolved", "ignored")
# action -> (the status it sets, the statuses it applies to); any other status is left as it is.
ACTIONS = {
    "ignore": ("ignored", ("open",)),
    "resolve": ("resolved", ("open", "ignored")),
    "reopen": ("open", ("resolved", "ignored")),
}
_SORTS = {"amount": "discrepancy_amount desc", "age": "first_seen_at", "last_seen": "last_seen_at desc"}


class ReviewError(ValueError):
    """A review that names something that does not exist, or lacks what it needs; nothing changed."""


@dataclass(frozen=True)
class Outcome:
    break_id: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def list_breaks(
    conn: psycopg.Connection,
    *,
    spec: str | None = None,
    status: str | None = "open",
    break_class: str | None = None,
    severity: str | None = None,
    sort: str = "amount",
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Breaks across runs, filtered, largest (or oldest, or latest seen) first; emails masked."""
    _require_breaks(conn)
    if status is not None and status not in STATUSES:
        raise ReviewError(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    if sort not in _SORTS:
        raise ReviewError(f"sort {sort!r}: expected one of {', '.join(_SORTS)}")
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"""
            select break_id, spec, pair, break_class, severity, status, missing_in, left_record_keys,
                   right_record_keys, left_amount, right_amount, currency, discrepancy_amount,
                   first_seen_at, last_seen_at, times_seen, age_days, customer_email
            from reconciliation.breaks
            where (%(spec)s::text is null or spec = %(spec)s)
              and (%(status)s::text is null or status = %(status)s)
              and (%(class)s::text is null or break_class = %(class)s)
              and (%(severity)s::text is null or severity = %(severity)s)
            order by {_SORTS[sort]}, break_id
            limit %(limit)s
            """,  # noqa: S608 - the order by is one of _SORTS, never request text
            {"spec": spec, "status": status, "class": break_class, "severity": severity, "limit": limit},
        )
        return [_masked(row) for row in cur.fetchall()]


def show_break(conn: psycopg.Connection, break_id: str) -> dict[str, Any]:
    """One break: its latest values, its history across runs and its audit trail."""
    _require_breaks(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("select * from reconciliation.breaks where break_id = %s", (break_id,))
        found = cur.fetchone()
        if found is None:
            raise ReviewError(f"break {break_id!r}: no such break (recon breaks list shows their ids)")
        cur.execute(
            """
            select b.run_id, b.window_start, b.window_end, b.left_amount, b.right_amount, b.currency,
                   b.discrepancy_amount, b.left_status, b.right_status, b.is_carried_break,
                   r.status as run_status
            from reconciliation.run_breaks b left join reconciliation.runs r using (run_id)
            where b.break_id = %s order by b.window_start, b.run_id
            """,
            (break_id,),
        )
        history = cur.fetchall()
        audit = []
        if _exists(conn, "reconciliation.audit_log"):  # a warehouse no run has touched since recon upgraded
            cur.execute(
                "select recorded_at, actor, action, note, before, after, correction_id"
                " from reconciliation.audit_log where break_id = %s order by recorded_at, audit_id",
                (break_id,),
            )
            audit = cur.fetchall()
    return {"break": _masked(found), "history": history, "audit": audit}


def review(
    conn: psycopg.Connection, break_ids: list[str], action: str, actor: str, note: str | None
) -> list[Outcome]:
    """Apply ``action`` to every break named, or to none if any is unknown; audit each change."""
    if action not in ACTIONS:
        raise ReviewError(f"action {action!r}: expected one of {', '.join(ACTIONS)}")
    if not actor.strip():
        raise ReviewError("who: a review needs the person's name (--by)")
    if action in ("ignore", "resolve") and not (note or "").strip():
        raise ReviewError(f"{action}: a note saying why is required (--note)")
    if not break_ids:
        raise ReviewError("no break ids given")
    _require_breaks(conn)
    if not _exists(conn, "reconciliation.audit_log"):
        from recon.staging.schema import ensure_schema

        ensure_schema(conn)  # the audit log must exist before anything changes
    target, applies_to = ACTIONS[action]
    ids = list(dict.fromkeys(break_ids))
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        # Row locks: a concurrent review or run of the same breaks waits instead of interleaving.
        cur.execute(
            "select break_id, spec, status from reconciliation.breaks where break_id = any(%s) for update",
            (ids,),
        )
        current = {row["break_id"]: row for row in cur.fetchall()}
        unknown = [break_id for break_id in ids if break_id not in current]
        if unknown:
            raise ReviewError(f"no such break: {', '.join(unknown)}; nothing was changed")
        outcomes = []
        for break_id in ids:
            before = current[break_id]["status"]
            after = target if before in applies_to else before
            outcomes.append(Outcome(break_id, before, after))
        changed = [outcome for outcome in outcomes if outcome.changed]
        cur.executemany(
            """
            update reconciliation.breaks set status = %(after)s,
                resolved_at = case when %(after)s = 'resolved' then now() end,
                resolved_by_run_id = null
            where break_id = %(break_id)s
            """,
            [{"after": outcome.after, "break_id": outcome.break_id} for outcome in changed],
        )
        cur.executemany(
            "insert into reconciliation.audit_log (actor, action, spec, break_id, note, before, after)"
            " values (%s, %s, %s, %s, %s, %s, %s)",
            [
                (actor.strip(), f"break.{action}", current[o.break_id]["spec"], o.break_id,
                 mask_text(note) if note else None, Jsonb({"status": o.before}), Jsonb({"status": o.after}))
                for o in changed
            ],
        )  # fmt: skip
    return outcomes


def _require_breaks(conn: psycopg.Connection) -> None:
    if not _exists(conn, "reconciliation.breaks"):
        raise ReviewError("reconciliation.breaks does not exist yet: no run has published breaks")


def _exists(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is not None


def _masked(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "customer_email": mask_email(row.get("customer_email"))}
