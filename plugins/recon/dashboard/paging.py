"""Keyset pagination and personal-data masking shared by the dashboard's queries.

A page is "the next ``limit`` rows after (or before) this sort key", never an OFFSET: reading page
1,000 costs what reading page 1 does, on the same index. The cursor a page links to is the last
(or first) row's sort value and id, encoded opaquely; a cursor that does not decode is bad input.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from psycopg import sql

from recon.masking import mask_email, mask_values

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
COUNT_CAP = 10_000  # counts stop here ("10,000+"): never a count over everything

# Identifiers and codes shown as they are; every other text is masked (emails, phone numbers).
PLAIN = frozenset(
    {"break_id", "run_id", "spec", "pair", "first_seen_run_id", "last_seen_run_id", "resolved_by_run_id",
     "carried_from_run_id", "airflow_run_id", "alert_id", "correction_id", "break_class", "severity",
     "status", "missing_in", "left_source", "right_source", "currency", "left_currency", "right_currency",
     "channel", "event", "connection_id", "kind", "action", "source", "checkpoint", "suite",
     "rule_name", "rule", "run_status",
     # Pair names, currency codes, counts and amounts only: masking them cost half a history export.
     "totals", "break_counts"}
)  # fmt: skip


class BadInput(ValueError):
    """A filter, sort or cursor the dashboard cannot use; answered 400 naming it."""


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None = None
    prev_cursor: str | None = None
    total: int | None = None  # capped at COUNT_CAP + 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def total_text(self) -> str:
        if self.total is None:
            return ""
        return f"{COUNT_CAP:,}+" if self.total > COUNT_CAP else f"{self.total:,}"


def masked(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the dashboard may show it: emails and phone numbers masked as in alerts."""
    out = {}
    for key, value in row.items():
        if key == "customer_email":  # recon.review's rows come masked already: keep their mask
            out[key] = value if value is None or "***" in value else mask_email(value)
        elif key in PLAIN or not isinstance(value, str | list | dict):
            out[key] = value
        else:
            out[key] = mask_values(value)
    return out


def encode_cursor(value: Any, row_id: str) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return base64.urlsafe_b64encode(json.dumps([text, row_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, parse: Callable[[str], Any]) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        text, row_id = json.loads(raw)
        return parse(text), str(row_id)
    except (binascii.Error, ValueError, TypeError, InvalidOperation) as exc:
        raise BadInput(f"cursor {cursor[:40]!r}: not a cursor this page made; start again") from exc


PARSERS: dict[str, Callable[[str], Any]] = {"numeric": Decimal, "timestamptz": datetime.fromisoformat}


def page_limit(limit: int | None) -> int:
    if limit is None:
        return PAGE_SIZE
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadInput(f"limit {limit}: expected 1 to {MAX_PAGE_SIZE}")
    return limit


def keyset(
    column: str,
    descending: bool,
    after: str | None,
    before: str | None,
    parse: Callable[[str], Any],
    id_column: str,
) -> tuple[sql.Composable | None, sql.Composable, dict[str, Any], bool]:
    """The WHERE part, ORDER BY and parameters of one page; the bool says the rows come reversed
    (a page before a cursor is read backwards, then put back in order)."""
    if after and before:
        raise BadInput("give after or before, not both")
    backwards = before is not None
    order_desc = descending != backwards
    direction = sql.SQL("desc" if order_desc else "asc")
    order = sql.SQL("{col} {dir}, {id} {dir}").format(
        col=sql.Identifier(column), id=sql.Identifier(id_column), dir=direction
    )
    cursor = after or before
    if cursor is None:
        return None, order, {}, False
    value, row_id = decode_cursor(cursor, parse)
    condition = sql.SQL("({col}, {id}) {op} (%(cursor_value)s, %(cursor_id)s)").format(
        col=sql.Identifier(column), id=sql.Identifier(id_column), op=sql.SQL("<" if order_desc else ">")
    )
    return condition, order, {"cursor_value": value, "cursor_id": row_id}, backwards


def finish(
    rows: list[dict[str, Any]], limit: int, backwards: bool, had_cursor: bool, column: str, id_column: str
) -> Page:
    """Cut the extra row that says whether there is more, and make the next and previous cursors."""
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    has_next = more if not backwards else True
    has_prev = had_cursor if not backwards else more
    page = Page(rows)
    if rows and has_next:
        page.next_cursor = encode_cursor(rows[-1][column], rows[-1][id_column])
    if rows and has_prev:
        page.prev_cursor = encode_cursor(rows[0][column], rows[0][id_column])
    return page
