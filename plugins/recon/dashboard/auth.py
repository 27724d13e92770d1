"""Who is asking and what they may do, decided by Airflow's own auth manager.

A FastAPI app mounted in the API server is not protected by Airflow on its own, so every dashboard
route depends on ``caller``: the JWT from an ``Authorization: Bearer`` header (API clients), else
the Airflow UI's login cookie (``_token``), checked by ``get_auth_manager().get_user_from_token``
as Airflow's core routes do (airflow.api_fastapi.core_api.security.get_user). Without a valid one,
a page answers with a redirect to Airflow's login (returning to the page), an API route with 401.

Per reconciliation, access follows its DAG ``recon_<spec>``: reading needs GET on the DAG, reviews
and correction plans PUT, "run now" POST on its runs (what Airflow's own trigger endpoint checks).

CSRF: a browser sends the cookie with any request, also one another site makes it send. A
form or JSON write authenticated by the cookie must therefore carry a token only our pages know:
an HMAC of the session's cookie under the API server's secret key, and its Origin (when the
browser says it) must be this server. A bearer token is never sent by a browser on its own, so
bearer requests need neither.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request

COOKIE = "_token"  # airflow.api_fastapi.auth.managers.base_auth_manager.COOKIE_NAME_JWT_TOKEN
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class NotAuthenticated(Exception):
    """No valid Airflow login: pages redirect to the login page, the API answers 401."""


class Forbidden(Exception):
    """Logged in, but not allowed: 403 with the reason."""


@dataclass(frozen=True)
class Caller:
    user: Any  # the auth manager's BaseUser
    via: str  # "bearer" or "cookie"
    credential: str

    @property
    def name(self) -> str:
        """The name reviews and plans are recorded under (``by`` in the CLI)."""
        return str(self.user.get_name())


async def caller(request: Request) -> Caller:
    """FastAPI dependency: the authenticated Airflow user of this request, or ``NotAuthenticated``."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return Caller(await _user_of(credential.strip()), "bearer", credential.strip())
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise NotAuthenticated
    # JWTRefreshMiddleware (root app) may have validated and refreshed the cookie's user already.
    from airflow.api_fastapi.core_api.security import USER_INJECTED_BY_TRUSTED_MIDDLEWARE

    user = getattr(request.state, "user", None)
    if user is not None and (
        getattr(request.state, "user_authenticated_via", None) is USER_INJECTED_BY_TRUSTED_MIDDLEWARE
    ):
        return Caller(user, "cookie", cookie)
    return Caller(await _user_of(cookie), "cookie", cookie)


async def _user_of(token: str) -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    try:
        return await get_auth_manager().get_user_from_token(token)
    except Exception as exc:  # expired, badly signed, revoked: all mean "log in again"
        raise NotAuthenticated from exc


def login_url(request: Request, home: str) -> str:
    """Airflow's login page, coming back to this page afterwards (to ``home`` after a form post,
    whose address answers POST only)."""
    from airflow.api_fastapi.app import get_auth_manager

    back = str(request.url) if request.method == "GET" else str(request.base_url).rstrip("/") + home
    return get_auth_manager().get_url_login(next_url=back)


def _dag_allowed(who: Caller, spec: str, method: str, entity: Any = None) -> bool:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    return get_auth_manager().is_authorized_dag(
        method=method, access_entity=entity, details=DagDetails(id=f"recon_{spec}"), user=who.user
    )


def can_read(who: Caller, spec: str) -> bool:
    return _dag_allowed(who, spec, "GET")


def can_edit(who: Caller, spec: str) -> bool:
    """Reviews and correction plans change the reconciliation's results: edit rights on its DAG."""
    return _dag_allowed(who, spec, "PUT")


def can_trigger(who: Caller, spec: str) -> bool:
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

    return _dag_allowed(who, spec, "POST", DagAccessEntity.RUN)


def readable(who: Caller, specs: list[str]) -> list[str]:
    """The reconciliations whose DAG the caller may read (one call, which auth managers may answer in
    one look-up); none at all is refused."""
    from airflow.api_fastapi.app import get_auth_manager

    dag_ids = get_auth_manager().filter_authorized_dag_ids(
        dag_ids={f"recon_{spec}" for spec in specs}, user=who.user, method="GET"
    )
    allowed = [spec for spec in specs if f"recon_{spec}" in dag_ids]
    if specs and not allowed:
        raise Forbidden("you may read none of the reconciliation DAGs (recon_*)")
    return allowed


def require_read(who: Caller, spec: str) -> None:
    if not can_read(who, spec):
        raise Forbidden(f"you may not read the DAG recon_{spec}")


def require_edit(who: Caller, specs: set[str]) -> None:
    refused = sorted(spec for spec in specs if not can_edit(who, spec))
    if refused:
        raise Forbidden("you may not edit the DAG(s) " + ", ".join(f"recon_{s}" for s in refused))


def require_trigger(who: Caller, spec: str) -> None:
    if not can_trigger(who, spec):
        raise Forbidden(f"you may not trigger runs of the DAG recon_{spec}")


def csrf_token(who: Caller) -> str:
    """The token our forms carry: tied to the login session, unknown to other sites."""
    return hmac.new(_secret(), f"recon-csrf|{who.credential}".encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Request, who: Caller, submitted: str | None) -> None:
    """Refuse a cookie-authenticated write that another site could have made the browser send."""
    if who.via == "bearer":
        return
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin and origin != "null" and urlsplit(origin).netloc not in _own_hosts(request):
        raise Forbidden("CSRF check failed: the request comes from another site")
    if not submitted or not hmac.compare_digest(submitted, csrf_token(who)):
        raise Forbidden("CSRF check failed: reload the page and try again")


def _own_hosts(request: Request) -> set[str]:
    """This server's names: the Host header, a proxy's X-Forwarded-Host (a cross-site form cannot set
    either), and ``[api] base_url``'s host."""
    from airflow.configuration import conf

    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
    hosts.add(urlsplit(conf.get("api", "base_url", fallback="") or "").netloc)
    return hosts - {""}


@cache
def _process_secret() -> bytes:
    return secrets.token_bytes(32)


def _secret() -> bytes:
    """The API server's ``[api] secret_key`` (shared by its workers); a per-process one if unset."""
    from airflow.configuration import conf

    key = conf.get("api", "secret_key", fallback="")
    return key.encode() if key else _process_secret()
