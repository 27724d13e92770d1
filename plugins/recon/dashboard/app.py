"""The dashboard's FastAPI app: HTML pages, the JSON API under ``/api``, static files, and how a
refusal or bad input is answered (a page: redirect to login, or an error page; the API: JSON).

Building the app reads nothing (no spec, no connection, no database): Airflow imports the plugin in
every process, so the work waits for the first request.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from recon.dashboard import auth
from recon.dashboard.actions import TriggerError
from recon.dashboard.context import HERE, DashboardJSON, NotFound, base, templates
from recon.dashboard.paging import BadInput
from recon.spec import SpecError

URL_PREFIX = "/recon"


def is_api(request: Request) -> bool:
    return request.url.path.removeprefix(base(request)).startswith("/api/")


def create_app() -> FastAPI:
    from recon.dashboard import api, pages

    app = FastAPI(
        title="recon dashboard",
        description="Reconciliation results inside the Airflow UI (docs/dashboard.md).",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        default_response_class=DashboardJSON,
    )
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(api.router, prefix="/api")
    app.include_router(pages.router)

    @app.exception_handler(auth.NotAuthenticated)
    async def not_authenticated(request: Request, exc: auth.NotAuthenticated) -> Response:
        if is_api(request):
            return DashboardJSON({"detail": "Not authenticated"}, status_code=401)
        target = auth.login_url(request, base(request) + "/")
        return RedirectResponse(target, status_code=302 if request.method == "GET" else 303)

    @app.exception_handler(auth.Forbidden)
    async def forbidden(request: Request, exc: auth.Forbidden) -> Response:
        return _error(request, 403, str(exc))

    @app.exception_handler(BadInput)
    async def bad_input(request: Request, exc: BadInput) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(TriggerError)
    async def trigger_error(request: Request, exc: TriggerError) -> Response:
        return _error(request, 409, str(exc))

    @app.exception_handler(SpecError)
    async def bad_spec(request: Request, exc: SpecError) -> Response:
        return _error(request, 500, f"a spec in RECON_SPECS_DIR does not load: {exc}")

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, str(exc))

    return app


def _error(request: Request, status: int, message: str) -> Response:
    if is_api(request):
        return DashboardJSON({"detail": message}, status_code=status)
    context = {"base": base(request), "status": status, "message": message, "user": None, "running": []}
    return templates.TemplateResponse(request, "error.html", context, status_code=status)
