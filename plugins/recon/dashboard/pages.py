"""The HTML pages: server-rendered (Jinja2), a little JS for bulk selection and auto-refresh.

Forms post back here and redirect (303) to the page they came from with a one-shot notice, so a
reload never repeats an action. Every form carries the CSRF token (auth.check_csrf).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from recon.dashboard import actions, api, auth, export, run_queries, site, views
from recon.dashboard.break_queries import BREAK_CLASSES, SEVERITIES
from recon.dashboard.context import (
    Scope,
    View,
    base,
    clear_flash,
    read_flash,
    safe_next,
    set_flash,
    templates,
)  # fmt: skip
from recon.dashboard.context import link as make_link
from recon.dashboard.context import with_params as url_with
from recon.dashboard.paging import BadInput
from recon.review import STATUSES
from recon.stats import STATUSES as RUN_STATUSES

router = APIRouter(default_response_class=HTMLResponse)


def render(request: Request, view: Scope, name: str, running: list, **context: Any) -> Response:
    """A page with what every page needs: links, the user, the CSRF token, runs in progress."""
    flash = read_flash(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    page = templates.TemplateResponse(
        request,
        name,
        {
            "base": base(request), "airflow_base": base(request).removesuffix("/recon"), "here": here,
            "user": view.caller.name, "csrf": auth.csrf_token(view.caller), "running": running,
            "flash": flash, "specs": view.readable,
            "url_with": lambda **changes: url_with(request, **changes),
            "link": lambda path, **params: make_link(request, path, **params),
            **context,
        },
    )  # fmt: skip
    if flash:
        clear_flash(request, page)
    page.headers["Cache-Control"] = "no-store"
    return page


@router.get("/")
def overview(request: Request, view: View) -> Response:
    with site.warehouse() as conn:
        cards = views.overview(conn, view)
        running = run_queries.running(conn, view.readable)
    return render(request, view, "overview.html", running, cards=cards, page_id="overview")


@router.get("/breaks")
def breaks(request: Request, view: View) -> Response:
    query = views.parse_break_query(request, view)
    with site.warehouse() as conn:
        page = views.breaks_page(conn, query, datetime.now(UTC))
        running = run_queries.running(conn, query.filters.specs)
    editable = {spec for spec in query.filters.specs if auth.can_edit(view.caller, spec)}
    return render(
        request, view, "breaks.html", running, page=page, query=query, editable=editable,
        classes=BREAK_CLASSES, severities=SEVERITIES, statuses=STATUSES, page_id="breaks",
    )  # fmt: skip


@router.post("/breaks/action")
async def break_action(request: Request, view: View) -> Response:
    form = await request.form()
    auth.check_csrf(request, view.caller, str(form.get(auth.CSRF_FIELD) or ""))
    back = safe_next(request, str(form.get("next") or ""))
    response = RedirectResponse(back, status_code=303)
    ids = [str(value) for value in form.getlist("break_id")]
    note = str(form.get("note") or "").strip() or None
    try:
        from starlette.concurrency import run_in_threadpool

        result = await run_in_threadpool(api.act, view, ids, str(form.get("action") or ""), note)
    except BadInput as exc:
        set_flash(response, request, str(exc), "error")
        return response
    set_flash(response, request, result.message())
    return response


@router.get("/breaks/{break_id}")
def break_page(break_id: str, request: Request, view: View) -> Response:
    with site.warehouse() as conn:
        detail = views.break_detail(conn, view, break_id)
        running = run_queries.running(conn, [detail["break"]["spec"]])
    return render(request, view, "break.html", running, page_id="break", **detail)


@router.get("/history")
def history(request: Request, view: View) -> Response:
    query = views.parse_runs_query(request, view)
    with site.warehouse() as conn:
        page = views.history(conn, query)
        running = run_queries.running(conn, query.specs)
    return render(
        request, view, "history.html", running, page=page, query=query, statuses=RUN_STATUSES,
        page_id="history",
    )  # fmt: skip


@router.get("/history.csv")
def history_csv(request: Request, view: View) -> Response:
    query = views.parse_runs_query(request, view)
    return export.csv_response(
        "recon-history.csv",
        export.HISTORY_COLUMNS,
        lambda conn: run_queries.iter_runs(conn, query.specs, query.status),
    )


@router.get("/runs/{run_id:path}/breaks.csv")
def run_breaks_csv(run_id: str, view: View) -> Response:
    with site.warehouse() as conn:
        views.readable_run(conn, view, run_id)
    return export.csv_response(
        f"recon-breaks-{export.safe_filename(run_id)}.csv",
        export.BREAK_COLUMNS,
        lambda conn: run_queries.iter_run_breaks(conn, run_id),
    )


@router.get("/runs/{run_id:path}")
def run_page(run_id: str, request: Request, view: View) -> Response:
    with site.warehouse() as conn:
        detail = views.run_detail(conn, view, request, run_id)
        running = run_queries.running(conn, [detail["run"]["spec"]])
    return render(request, view, "run.html", running, page_id="run", **detail)


@router.post("/specs/{spec}/run")
async def run_now(spec: str, request: Request, view: View) -> Response:
    form = await request.form()
    auth.check_csrf(request, view.caller, str(form.get(auth.CSRF_FIELD) or ""))
    chosen = view.spec(spec)
    auth.require_trigger(view.caller, spec)
    response = RedirectResponse(safe_next(request, str(form.get("next") or "")), status_code=303)
    try:
        from starlette.concurrency import run_in_threadpool

        triggered = await run_in_threadpool(actions.run_now, chosen, view.caller.name)
    except actions.TriggerError as exc:
        set_flash(response, request, str(exc), "error")
        return response
    set_flash(response, request, triggered.message(), "watch")
    return response
