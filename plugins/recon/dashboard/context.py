"""What every dashboard route shares: the caller's scope (the specs they may read), query-string
parsing, the one-shot notice after an action, links that keep the mount path, and the templates."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, Request, Response
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates

from recon.dashboard import auth, site
from recon.dashboard.paging import BadInput
from recon.spec import Spec

HERE = Path(__file__).parent
FLASH_COOKIE = "recon_flash"
templates = Jinja2Templates(directory=str(HERE / "templates"))


class DashboardJSON(JSONResponse):
    """JSON with exact money: a Decimal is written as a string, never rounded through a float."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_plain, ensure_ascii=False, separators=(",", ":")).encode()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return vars(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class NotFound(LookupError):
    """A break, run or spec that does not exist: 404 naming it."""


@dataclass
class Scope:
    """One request's caller and the reconciliations they may read."""

    caller: auth.Caller
    specs: dict[str, Spec]  # every spec the dashboard shows
    readable: list[str]

    def choose(self, spec: str | None) -> list[str]:
        """The specs a list shows: the one asked for (404 unknown, 403 not readable), else every
        readable one. Lists always filter on them: the tables may hold specs this dashboard does not
        show (another warehouse_connection, a spec file removed), whose DAG rights are unknown."""
        if spec is None:
            return self.readable
        self.require_read(spec)
        return [spec]

    def require_read(self, spec: str) -> None:
        """A break or run is shown if its spec is one of the dashboard's and its DAG readable."""
        self.spec(spec)
        if spec not in self.readable:
            auth.require_read(self.caller, spec)  # raises, naming the DAG

    def spec(self, name: str) -> Spec:
        if name not in self.specs:
            raise NotFound(f"reconciliation {name!r}: no such spec (specs: {', '.join(self.specs)})")
        return self.specs[name]


async def scope(who: Annotated[auth.Caller, Depends(auth.caller)]) -> Scope:
    """FastAPI dependency: the caller (authenticated, or refused) and what they may read."""
    specs = site.specs()
    return Scope(who, specs, auth.readable(who, list(specs)))


View = Annotated[Scope, Depends(scope)]


def text(value: str | None) -> str | None:
    """A query-string value, with the empty string (a form's "any") as None."""
    value = (value or "").strip()
    return value or None


def number(value: str | None, name: str, kind: type = int) -> Any:
    value = text(value)
    if value is None:
        return None
    try:
        return kind(value)
    except (ValueError, InvalidOperation):
        raise BadInput(f"{name} {value!r}: expected a number") from None


def status_param(value: str | None, default: str | None) -> str | None:
    """``all`` means every status; empty means the default."""
    value = text(value)
    if value is None:
        return default
    return None if value == "all" else value


def base(request: Request) -> str:
    """The dashboard's own path prefix (``/recon``, or ``/<base_url path>/recon``)."""
    return request.scope.get("root_path", "").rstrip("/")


def link(request: Request, path: str, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")}, doseq=True)
    return f"{base(request)}{path}" + (f"?{query}" if query else "")


def with_params(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters changed (None removes one)."""
    params = {k: v for k, v in request.query_params.items() if v != ""}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    query = urlencode(params)
    return f"{base(request)}{request.url.path.removeprefix(base(request))}" + (f"?{query}" if query else "")


def set_flash(response: Response, request: Request, message: str, kind: str = "ok") -> None:
    value = base64.urlsafe_b64encode(json.dumps([kind, message[:600]]).encode()).decode()
    response.set_cookie(
        FLASH_COOKIE, value, max_age=120, path=base(request) or "/", httponly=True, samesite="strict"
    )


def read_flash(request: Request) -> tuple[str, str] | None:
    """The notice an action left for the next page: (kind, message); the page then clears it."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        kind, message = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return str(kind), str(message)
    except ValueError:
        return None


def clear_flash(request: Request, response: Response) -> None:
    response.delete_cookie(FLASH_COOKIE, path=base(request) or "/", httponly=True, samesite="strict")


def safe_next(request: Request, target: str | None) -> str:
    """Where a form goes back to: a path inside the dashboard, never another site."""
    home = base(request) + "/"
    if (
        target
        and target.startswith(base(request) + "/")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return home


def fmt_money(value: Any) -> str:
    if value is None:
        return ""
    return f"{Decimal(value):,}"


def fmt_time(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return f"{value:%Y-%m-%d %H:%M}"


def fmt_seconds(value: Any) -> str:
    if value is None:
        return ""
    seconds = float(value)
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def fmt_percent(value: Any) -> str:
    return "" if value is None else f"{Decimal(value):.2f} %"


templates.env.filters.update(
    money=fmt_money,
    when=fmt_time,
    seconds=fmt_seconds,
    percent=fmt_percent,
    quoted=lambda value: quote(str(value), safe=""),  # a run id in a path, slashes included
)
