"""The data of each page, the same for its HTML and its JSON: parsed from the query string, checked
against what the caller may read, read through queries / run_queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from fastapi import Request

from recon.dashboard import auth, break_queries, queries, run_queries
from recon.dashboard.charts import trend_svg
from recon.dashboard.context import NotFound, Scope, number, status_param, text
from recon.dashboard.paging import BadInput, Page, masked, page_limit
from recon.review import ReviewError, show_break


@dataclass
class BreakQuery:
    filters: break_queries.BreakFilters
    sort: str
    descending: bool
    after: str | None
    before: str | None
    limit: int
    chosen_spec: str | None


def parse_break_query(request: Request, scope: Scope) -> BreakQuery:
    q = request.query_params
    chosen = text(q.get("spec"))
    specs = scope.choose(chosen)
    direction = text(q.get("dir")) or "desc"
    if direction not in ("asc", "desc"):
        raise BadInput(f"dir {direction!r}: expected asc or desc")
    filters = break_queries.BreakFilters(
        specs=specs,
        status=status_param(q.get("status"), "open"),
        break_class=text(q.get("class")),
        severity=text(q.get("severity")),
        min_age_days=number(q.get("age"), "age"),
        min_amount=number(q.get("amount"), "amount", Decimal),
    )
    return BreakQuery(
        filters, text(q.get("sort")) or "amount", direction == "desc", text(q.get("after")),
        text(q.get("before")), page_limit(number(q.get("limit"), "limit")), chosen,
    )  # fmt: skip


def breaks_page(conn: psycopg.Connection, query: BreakQuery, now: datetime) -> Page:
    return break_queries.list_breaks(
        conn, query.filters, sort=query.sort, descending=query.descending, after=query.after,
        before=query.before, limit=query.limit, now=now,
    )  # fmt: skip


def overview(conn: psycopg.Connection, scope: Scope) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    figures = queries.overview(conn, scope.readable, now)
    cards = []
    for name in scope.readable:
        spec, item = scope.specs[name], figures[name]
        critical = spec.reconcile.severity.critical_percent
        found = item["found"]
        cards.append(
            {
                "spec": name,
                "description": spec.description,
                "dag_id": spec.dag_id,
                "schedule": spec.schedule,
                **item,
                "resolution_rate": (Decimal(item["resolved"]) * 100 / found) if found else None,
                "critical_percent": critical,
                "trend_svg": trend_svg(item["trend"], critical, name),
                "can_trigger": auth.can_trigger(scope.caller, name),
            }
        )
    return cards


def break_detail(conn: psycopg.Connection, scope: Scope, break_id: str) -> dict[str, Any]:
    try:
        found = show_break(conn, break_id)  # the CLI's `recon breaks show`
    except ReviewError as exc:
        raise NotFound(str(exc)) from exc
    item = found["break"]
    scope.require_read(item["spec"])
    return {
        "break": masked(item),
        "history": [masked(row) for row in found["history"]],
        "audit": [masked(row) for row in found["audit"]],
        "corrections": break_queries.corrections_of(conn, break_id),
        "can_edit": auth.can_edit(scope.caller, item["spec"]),
        "has_corrections": bool(item["spec"] in scope.specs and scope.specs[item["spec"]].corrections),
    }


@dataclass
class RunsQuery:
    specs: list[str]
    status: str | None
    after: str | None
    before: str | None
    limit: int
    chosen_spec: str | None


def parse_runs_query(request: Request, scope: Scope) -> RunsQuery:
    q = request.query_params
    chosen = text(q.get("spec"))
    return RunsQuery(
        scope.choose(chosen), status_param(q.get("status"), None), text(q.get("after")),
        text(q.get("before")), page_limit(number(q.get("limit"), "limit")), chosen,
    )  # fmt: skip


def history(conn: psycopg.Connection, query: RunsQuery) -> Page:
    return run_queries.list_runs(
        conn, query.specs, query.status, after=query.after, before=query.before,
        limit=query.limit,
    )  # fmt: skip


def run_detail(conn: psycopg.Connection, scope: Scope, request: Request, run_id: str) -> dict[str, Any]:
    run = readable_run(conn, scope, run_id)
    return {
        "run": run,
        "breaks": run_breaks(conn, request, run_id),
        "integrity": run_queries.integrity_results(conn, run_id),
        "alerts": run_queries.alerts(conn, run_id),
        "can_trigger": auth.can_trigger(scope.caller, run["spec"]),
    }


def readable_run(conn: psycopg.Connection, scope: Scope, run_id: str) -> dict[str, Any]:
    run = run_queries.get_run(conn, run_id)
    if run is None:
        raise NotFound(f"run {run_id!r}: no such run")
    scope.require_read(run["spec"])
    return run


def run_breaks(conn: psycopg.Connection, request: Request, run_id: str) -> Page:
    q = request.query_params
    return run_queries.run_breaks(
        conn, run_id, after=text(q.get("after")), before=text(q.get("before")),
        limit=page_limit(number(q.get("limit"), "limit")),
    )  # fmt: skip


def page_json(page: Page) -> dict[str, Any]:
    return {"items": page.rows, "next": page.next_cursor, "previous": page.prev_cursor,
            "total": page.total, "total_text": page.total_text}  # fmt: skip
