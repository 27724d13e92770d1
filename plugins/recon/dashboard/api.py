"""The JSON API under ``/recon/api``: the pages' data, and the same actions as their forms.

Reads need read access to the reconciliation's DAG; writes need edit (reviews, plans) or trigger
(run now) rights, and, when authenticated by the UI's cookie, the CSRF token in ``X-CSRF-Token``.
Money is a string (exact), times ISO 8601 UTC.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from recon.dashboard import actions, auth, break_queries, run_queries, site, views
from recon.dashboard.context import DashboardJSON, Scope, View
from recon.dashboard.paging import BadInput

router = APIRouter(default_response_class=DashboardJSON)
MAX_BULK = 500


class BreakAction(BaseModel):
    action: str
    break_ids: list[str] = Field(min_length=1, max_length=MAX_BULK)
    note: str | None = None


@router.get("/status")
def status(view: View) -> DashboardJSON:
    """Runs in progress: the pages poll this while one is, and reload when the set changes."""
    with site.warehouse() as conn:
        return DashboardJSON({"running": run_queries.running(conn, view.readable)})


@router.get("/overview")
def overview(view: View) -> DashboardJSON:
    with site.warehouse() as conn:
        cards = views.overview(conn, view)
    return DashboardJSON({"specs": [{k: v for k, v in card.items() if k != "trend_svg"} for card in cards]})


@router.get("/breaks")
def breaks(request: Request, view: View) -> DashboardJSON:
    from datetime import UTC, datetime

    query = views.parse_break_query(request, view)
    with site.warehouse() as conn:
        page = views.breaks_page(conn, query, datetime.now(UTC))
    return DashboardJSON(views.page_json(page))


@router.get("/breaks/{break_id}")
def break_detail(break_id: str, view: View) -> DashboardJSON:
    with site.warehouse() as conn:
        return DashboardJSON(views.break_detail(conn, view, break_id))


@router.post("/breaks/action")
def break_action(body: BreakAction, request: Request, view: View) -> DashboardJSON:
    auth.check_csrf(request, view.caller, request.headers.get(auth.CSRF_HEADER))
    result = act(view, body.break_ids, body.action, body.note)
    return DashboardJSON({"message": result.message(), **vars(result)})


def act(view: Scope, break_ids: list[str], action: str, note: str | None) -> actions.ActionResult:
    """Check every break exists and may be edited by the caller, then act on all of them."""
    ids = list(dict.fromkeys(i.strip() for i in break_ids if i.strip()))
    if not ids:
        raise BadInput("no break chosen")
    if len(ids) > MAX_BULK:
        raise BadInput(f"{len(ids)} breaks: at most {MAX_BULK} at once")
    with site.warehouse() as conn:
        found = break_queries.break_specs(conn, ids)
        unknown = [break_id for break_id in ids if break_id not in found]
        if unknown:
            raise BadInput(f"no such break: {', '.join(unknown[:5])}; nothing was changed")
        for spec in set(found.values()):
            view.require_read(spec)  # a spec this dashboard shows, readable by the caller
        auth.require_edit(view.caller, set(found.values()))
        return actions.apply_break_action(
            conn, view.specs, {i: found[i] for i in ids}, action, view.caller.name, note
        )


@router.get("/history")
def history(request: Request, view: View) -> DashboardJSON:
    query = views.parse_runs_query(request, view)
    with site.warehouse() as conn:
        return DashboardJSON(views.page_json(views.history(conn, query)))


@router.get("/runs/{run_id:path}/breaks")
def run_breaks(run_id: str, request: Request, view: View) -> DashboardJSON:
    with site.warehouse() as conn:
        views.readable_run(conn, view, run_id)
        return DashboardJSON(views.page_json(views.run_breaks(conn, request, run_id)))


@router.get("/runs/{run_id:path}")
def run(run_id: str, request: Request, view: View) -> DashboardJSON:
    with site.warehouse() as conn:
        detail = views.run_detail(conn, view, request, run_id)
    return DashboardJSON({**detail, "breaks": views.page_json(detail["breaks"])})


@router.post("/specs/{spec}/run")
def run_now(spec: str, request: Request, view: View) -> DashboardJSON:
    auth.check_csrf(request, view.caller, request.headers.get(auth.CSRF_HEADER))
    chosen = view.spec(spec)
    auth.require_trigger(view.caller, spec)
    triggered = actions.run_now(chosen, view.caller.name)
    return DashboardJSON({"message": triggered.message(), **vars(triggered)}, status_code=201)
