"""The breaks list: reconciliation.breaks filtered, sorted and paginated in SQL.

A page is found in two steps. First the ids of the page's rows, read from a covering index whose
key is (status, sort column, break_id) and which includes every filtered column (indexes.py): the
scan walks the index in the sort order, applies the filters to index entries, and stops after the
page, without visiting the table. Then the page's rows by break_id. "Every status" is one such scan
per status, merged. The count stops at ``COUNT_CAP``. Sort columns come from a whitelist and every
value is a parameter; nothing of the request is spliced into SQL. Rows come back masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from recon.dashboard.paging import COUNT_CAP, PARSERS, BadInput, Page, finish, keyset, masked
from recon.review import STATUSES

# sort name -> (column, its type for the cursor); each has a covering index (indexes.py).
BREAK_SORTS = {
    "amount": ("discrepancy_amount", "numeric"),
    "age": ("first_seen_at", "timestamptz"),
    "last_seen": ("last_seen_at", "timestamptz"),
}
BREAK_CLASSES = (
    "amount_mismatch", "currency_mismatch", "status_mismatch", "attribute_mismatch", "late", "missing",
    "duplicate", "near_duplicate", "group_mismatch", "balance_mismatch", "stuck", "unreadable",
)  # fmt: skip
SEVERITIES = ("critical", "warning")
LIST_COLUMNS = (
    "break_id", "spec", "pair", "break_class", "severity", "status", "missing_in", "left_source",
    "right_source", "left_record_keys", "right_record_keys", "left_amount", "right_amount", "currency",
    "discrepancy_amount", "first_seen_at", "last_seen_at", "times_seen", "customer_email",
)  # fmt: skip


@dataclass(frozen=True)
class BreakFilters:
    specs: list[str]  # the specs to show (the one chosen, or every readable one)
    status: str | None = "open"  # None: every status
    break_class: str | None = None
    severity: str | None = None
    min_age_days: int | None = None
    min_amount: Decimal | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise BadInput(f"status {self.status!r}: expected all or one of {', '.join(STATUSES)}")
        if self.break_class is not None and self.break_class not in BREAK_CLASSES:
            raise BadInput(f"class {self.break_class!r}: expected one of {', '.join(BREAK_CLASSES)}")
        if self.severity is not None and self.severity not in SEVERITIES:
            raise BadInput(f"severity {self.severity!r}: expected one of {', '.join(SEVERITIES)}")
        if self.min_age_days is not None and self.min_age_days < 0:
            raise BadInput(f"age {self.min_age_days}: expected a number of days, 0 or more")

    def where(self, now: datetime, status: str) -> tuple[sql.Composable, dict[str, Any]]:
        """The conditions for one status (each status is its own index range)."""
        parts = [sql.SQL("status = {}").format(sql.Literal(status)), sql.SQL("spec = any(%(specs)s)")]
        params: dict[str, Any] = {"specs": self.specs}
        if self.break_class is not None:
            parts.append(sql.SQL("break_class = %(class)s"))
            params["class"] = self.break_class
        if self.severity is not None:
            parts.append(sql.SQL("severity = %(severity)s"))
            params["severity"] = self.severity
        if self.min_age_days is not None:
            parts.append(sql.SQL("first_seen_at <= %(seen_before)s"))
            params["seen_before"] = now - timedelta(days=self.min_age_days)
        if self.min_amount is not None:
            parts.append(sql.SQL("discrepancy_amount >= %(min_amount)s"))
            params["min_amount"] = self.min_amount
        return sql.SQL(" and ").join(parts), params

    @property
    def statuses(self) -> tuple[str, ...]:
        return STATUSES if self.status is None else (self.status,)


def list_breaks(
    conn: psycopg.Connection,
    filters: BreakFilters,
    *,
    sort: str = "amount",
    descending: bool = True,
    after: str | None = None,
    before: str | None = None,
    limit: int = 50,
    now: datetime,
) -> Page:
    """One page of breaks, and how many match (capped)."""
    if sort not in BREAK_SORTS:
        raise BadInput(f"sort {sort!r}: expected one of {', '.join(BREAK_SORTS)}")
    column, kind = BREAK_SORTS[sort]
    condition, order, cursor_params, backwards = keyset(
        column, descending, after, before, PARSERS[kind], "break_id"
    )
    key = sql.SQL("break_id, {}").format(sql.Identifier(column))
    ids, counts, params = [], [], {}
    for status in filters.statuses:
        where, params = filters.where(now, status)
        paged = where if condition is None else sql.SQL("{} and {}").format(where, condition)
        ids.append(
            sql.SQL("(select {key} from reconciliation.breaks where {where}"
                    " order by {order} limit %(limit)s)")
            .format(key=key, where=paged, order=order)
        )  # fmt: skip
        counts.append(sql.SQL("(select 1 from reconciliation.breaks where {} limit %(cap)s)").format(where))
    # The outer ORDER BY names output columns (b.*), which take precedence over page's.
    columns = sql.SQL(", ").join(sql.Identifier("b", name) for name in LIST_COLUMNS)
    query = sql.SQL(
        "with page as (select * from ({ids}) u order by {order} limit %(limit)s)"
        " select {columns} from page join reconciliation.breaks b using (break_id) order by {order}"
    ).format(ids=sql.SQL(" union all ").join(ids), order=order, columns=columns)
    count = sql.SQL("select count(*) as n from ({}) t").format(sql.SQL(" union all ").join(counts))
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, {**params, **cursor_params, "limit": limit + 1})
        rows = cur.fetchall()
        cur.execute(count, {**params, "cap": COUNT_CAP + 1})
        total = min(cur.fetchone()["n"], COUNT_CAP + 1)
    page = finish(rows, limit, backwards, (after or before) is not None, column, "break_id")
    page.rows = [_with_age(masked(row), now) for row in page.rows]
    page.total = total
    return page


def break_specs(conn: psycopg.Connection, break_ids: list[str]) -> dict[str, str]:
    """The spec of each break named that exists (for the permission check before an action)."""
    found = conn.execute(
        "select break_id, spec from reconciliation.breaks where break_id = any(%s)", (break_ids,)
    ).fetchall()
    return dict(found)


def corrections_of(conn: psycopg.Connection, break_id: str) -> list[dict[str, Any]]:
    if conn.execute("select to_regclass('reconciliation.corrections')").fetchone()[0] is None:
        return []
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select correction_id, kind, record_key, row_id, before, after, status, auto_apply, planned_by,"
            " planned_at, applied_by, applied_at, outcome from reconciliation.corrections"
            " where break_id = %s order by planned_at, correction_id",
            (break_id,),
        )
        return [masked(row) for row in cur.fetchall()]


def _with_age(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    seen = row.get("first_seen_at")
    row["age_days"] = max((now - seen).days, 0) if seen else None
    return row
