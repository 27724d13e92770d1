"""The one HTTP transport of the REST and GraphQL sources: JSON over httpx, with our own retry loop.

Why httpx and not the Airflow HTTP provider's ``HttpHook`` (requests + tenacity), although we keep
Airflow's connection model (``BaseHook.get_connection``):

* the hook copies every unknown key of the connection's ``extra`` into the request headers, so the
  ``{"auth": "bearer"}`` setting we need would be sent to the API as an ``auth`` header;
* its ``check_response`` turns every status >= 400 into one ``AirflowException("<status>:<reason>")``
  (after logging the whole response body at ERROR), so a 401 cannot be told from a 503 without
  parsing a message: we need 401/403/400 to fail at once (``SourceRejected``) and 429/5xx to retry;
* its retries (``run_with_advanced_retry``) wait on tenacity's own clock and never read
  ``Retry-After``, which rate-limited APIs expect clients to honour;
* httpx gives per-phase timeouts (connect, read, write, pool) and typed transport errors, so a slow
  server and a refused connection are reported as what they are.

Only loopback and the connection's own origin are ever called: an absolute URL (a ``Link: next``) on
another origin is refused, because it would carry our credentials to a host the connection does not
name. Redirects are not followed for the same reason. Secrets never reach a log line or an error:
messages name the connection, the method and the URL *path* (query strings may hold an API key).
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import string
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from recon.sources import SourceRejected, SourceUnavailable
from recon.sources.base import StrictModel

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

_EXCERPT_CHARS = 200
_AUTH_STYLES = ("bearer", "api_key", "basic", "none")


class HttpSettings(StrictModel):
    """How patiently a REST/GraphQL source talks to its API (mixed into their spec models)."""

    timeout_seconds: Annotated[float, Field(gt=0)] = 30  # per request phase (connect, read, ...)
    max_retries: Annotated[int, Field(ge=0)] = 5  # for 429, 5xx, timeouts, connection errors
    backoff_seconds: Annotated[float, Field(ge=0)] = 1.0  # first backoff; doubles each retry, jittered
    # Cap of one wait, for the doubling backoff and for a server's Retry-After alike.
    max_backoff_seconds: Annotated[float, Field(ge=0)] = 60


class WindowZone(StrictModel):
    """The zone a REST/GraphQL source's window placeholders are written in (mixed into their models).

    An API that takes local time only (East Africa Time, ``Africa/Nairobi``) is windowed by setting
    ``window_timezone``; the default, UTC, is what ``{window_start:%Y-%m-%dT%H:%M:%SZ}`` says. It is
    apart from ``timezone``, the zone of timestamps *read* without an offset, because an API may take
    one and return the other.
    """

    window_timezone: str = "UTC"

    @field_validator("window_timezone")
    @classmethod
    def _known_window_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like 'Africa/Nairobi'") from None
        return value

    def window_bound(self, moment: datetime) -> datetime:
        """A window bound (UTC) as the same instant in ``window_timezone``."""
        return moment.astimezone(ZoneInfo(self.window_timezone))

    def utc_literal_problem(self, where: str, template: str) -> str | None:
        """A template that writes a literal ``Z`` (UTC) after a bound in another zone would send the
        local time labelled as UTC, hours off: the problem, or None."""
        if self.window_timezone == "UTC":
            return None
        parts = list(string.Formatter().parse(template))
        for index, (_literal, name, spec, _conversion) in enumerate(parts):
            if name not in ("window_start", "window_end"):
                continue
            after = parts[index + 1][0] if index + 1 < len(parts) else ""
            if (spec or "").endswith("Z") and not (spec or "").endswith("%Z") or after.startswith("Z"):
                return (
                    f"{where}: {template!r} writes a literal Z (UTC) but window_timezone is"
                    f" {self.window_timezone}; write the offset with %z (+0300) or drop the Z"
                )
        return None


@dataclass(frozen=True)
class JsonResponse:
    """A successful response; ``body`` is parsed JSON with every non-integer number a ``Decimal``."""

    status: int
    body: Any
    headers: httpx.Headers
    url: str


@dataclass(frozen=True)
class _Auth:
    headers: dict[str, str]
    params: dict[str, str]
    basic: tuple[str, str] | None
    secret: str | None = None  # scrubbed from every excerpt of a response we log or raise


def client_for(conn_id: str, settings: HttpSettings) -> JsonClient:
    """A client for the API that Airflow connection ``conn_id`` names (base URL and credentials)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise SourceRejected(f"connection {conn_id!r} is not defined") from None
    extra = conn.extra_dejson if conn.extra else {}
    return JsonClient(
        conn_id, base_url(conn_id, conn.host, conn.schema, conn.port), _auth(conn, extra), settings
    )


def base_url(conn_id: str, host: str | None, schema: str | None, port: int | None) -> str:
    """``host`` as a URL: it may carry scheme and path itself; else scheme from ``schema`` (https)."""
    if not host:
        raise SourceRejected(f"connection {conn_id!r}: no host; set the API's base URL as the host")
    url = host if "://" in host else f"{schema or 'https'}://{host}"
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if port and ":" not in authority:
        authority = f"{authority}:{port}"
    return f"{scheme}://{authority}{slash}{path}".rstrip("/")


def _auth(conn: Any, extra: dict[str, Any]) -> _Auth:
    conn_id = conn.conn_id
    style = extra.get("auth") or ("bearer" if conn.password else "none")
    if style not in _AUTH_STYLES:
        raise SourceRejected(
            f"connection {conn_id!r}: extra auth {style!r} is not one of {', '.join(_AUTH_STYLES)}"
        )
    static = extra.get("headers") or {}
    if not isinstance(static, dict):
        raise SourceRejected(f"connection {conn_id!r}: extra headers must be an object of name: value")
    headers = {str(name): str(value) for name, value in static.items()}
    if style == "none":
        return _Auth(headers, {}, None)
    if not conn.password:
        raise SourceRejected(f"connection {conn_id!r}: auth {style!r} needs the connection's password")
    if style == "bearer":
        headers["Authorization"] = f"Bearer {conn.password}"
        return _Auth(headers, {}, None, conn.password)
    if style == "basic":
        return _Auth(headers, {}, (conn.login or "", conn.password), conn.password)
    header, param = extra.get("header"), extra.get("query_param")
    if bool(header) == bool(param):
        raise SourceRejected(
            f"connection {conn_id!r}: auth 'api_key' needs exactly one of header, query_param"
        )
    if header:
        headers[str(header)] = conn.password
        return _Auth(headers, {}, None, conn.password)
    return _Auth(headers, {str(param): conn.password}, None, conn.password)


class JsonClient:
    """JSON requests to one API with retries; a context manager so its connections are closed."""

    def __init__(self, conn_id: str, base: str, auth: _Auth, settings: HttpSettings) -> None:
        import httpx

        self.conn_id = conn_id
        self.base_url = base
        self.settings = settings
        self._auth_params = auth.params
        self._secret = auth.secret
        self._origin = httpx.URL(base).copy_with(path="/", query=None, fragment=None)
        self._client = httpx.Client(
            headers={"Accept": "application/json", **auth.headers},
            auth=auth.basic,
            timeout=httpx.Timeout(settings.timeout_seconds),
            follow_redirects=False,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL on this connection's origin; a relative path is appended to the base URL."""
        import httpx

        if "://" not in path_or_url:
            return f"{self.base_url}/{path_or_url.lstrip('/')}" if path_or_url else self.base_url
        url = httpx.URL(path_or_url)
        if url.copy_with(path="/", query=None, fragment=None) != self._origin:
            raise SourceRejected(
                f"connection {self.conn_id!r}: refusing to send credentials to {url.scheme}://{url.host}"
                f"{url.path}, which is not the connection's host"
            )
        return path_or_url

    def request(
        self, method: str, path_or_url: str, *, params: dict | None = None, json: Any = None
    ) -> JsonResponse:
        """One JSON request, retried on 429, 5xx, timeouts and dropped connections.

        Sources only read, so every request, POST searches and GraphQL queries included, is safe to
        send again.
        """
        import httpx

        url = self.url_for(path_or_url)
        what = f"{method.upper()} {httpx.URL(url).path}"
        query = {**(params or {}), **self._auth_params} or None
        content = None if json is None else jsonlib.dumps(json, default=_json_default).encode()
        headers = {"Content-Type": "application/json"} if content is not None else None
        tries = self.settings.max_retries + 1
        for attempt in range(1, tries + 1):
            try:
                response = self._client.request(method, url, params=query, content=content, headers=headers)
            except httpx.TimeoutException as exc:
                failure, wait = f"timed out after {self.settings.timeout_seconds:g} s ({_kind(exc)})", None
            except httpx.TransportError as exc:
                failure, wait = f"connection failed ({_kind(exc)})", None
            else:
                outcome = self._judge(response, what)
                if isinstance(outcome, JsonResponse):
                    return outcome
                failure, wait = outcome
            if attempt == tries:
                raise SourceUnavailable(
                    f"connection {self.conn_id!r}: {what} failed after {tries} tries; last: {failure}"
                )
            delay = self._delay(attempt, wait)
            log.warning(
                "connection %r: %s %s; retry %d of %d in %.2f s",
                self.conn_id, what, failure, attempt, self.settings.max_retries, delay,
            )  # fmt: skip
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _judge(self, response: httpx.Response, what: str) -> JsonResponse | tuple[str, float | None]:
        """The parsed response, or (why, server's wait) for a retry; raises when no retry can help."""
        status = response.status_code
        where = f"connection {self.conn_id!r}: {what}"
        if status in (401, 403):
            raise SourceRejected(
                f"{where} was refused with HTTP {status}; check the connection's credentials"
            )
        if status == 429:
            return "HTTP 429 (rate limited)", _retry_after(response.headers.get("Retry-After"))
        if status >= 500:
            return f"HTTP {status}: {self._excerpt(response.text)}", None
        if 300 <= status < 400:
            location = response.headers.get("Location", "").split("?")[0]
            raise SourceRejected(
                f"{where} answered HTTP {status} to {location!r}; redirects are not followed, "
                "point the connection at the final URL"
            )
        if status >= 400:
            raise SourceRejected(f"{where} was rejected with HTTP {status}: {self._excerpt(response.text)}")
        url = response.url
        for name in self._auth_params:  # the API key must not travel on in the returned URL
            url = url.copy_remove_param(name)
        if not response.content.strip():
            return JsonResponse(status, None, response.headers, str(url))
        try:
            body = jsonlib.loads(response.content, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            # The same URL answering non-JSON again would not help: a wrong base URL or endpoint.
            raise SourceRejected(
                f"{where} answered HTTP {status} but not JSON: {self._excerpt(response.text)}"
            ) from None
        return JsonResponse(status, body, response.headers, str(url))

    def _excerpt(self, text: str) -> str:
        # An API echoing our request back in an error page must not put the key into a log line.
        if self._secret:
            text = text.replace(self._secret, "***")
        return _excerpt(text)

    def _delay(self, attempt: int, server_wait: float | None) -> float:
        cap = self.settings.max_backoff_seconds
        if server_wait is not None:
            return min(cap, server_wait)
        doubled = min(cap, self.settings.backoff_seconds * 2 ** (attempt - 1))
        # Jitter: many tasks hitting one API after an outage should not retry in lock step.
        return random.uniform(doubled / 2, doubled)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date), if it says."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXCERPT_CHARS else flat[:_EXCERPT_CHARS] + "..."


def _kind(exc: Exception) -> str:
    return type(exc).__name__ + (f": {exc}" if str(exc) else "")


def _json_default(value: Any) -> Any:
    # Request bodies may carry Decimals (amount filters); send them as exact JSON numbers' text.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
