"""A ticketing platform's REST API on loopback: ticket sales, filtered by time, paged four ways.

Every route serves the same sales (``include.sandbox.ticketing``) for ``from <= created_at < to``
(ISO 8601 query parameters, both optional), each in its own pagination style, as real APIs differ:

* ``GET /v1/sales?page=1&per_page=50`` -> ``{"sales": [...], "page": 1, "per_page": 50}`` (pages from 1)
* ``GET /v2/sales?offset=0&limit=50`` -> ``{"results": [...], "offset": 0, "total": N}``
* ``GET /v3/sales?cursor=...&limit=50`` -> ``{"data": [...], "meta": {"next_cursor": ..., "has_more": ...}}``
* ``GET /v4/sales?per_page=50`` -> a bare JSON list, with ``Link: <...&after=sale_...>; rel="next"``
* ``POST /v1/sales/search`` with a JSON body ``{"from", "to", "page", "per_page"}`` -> as ``/v1``

Auth: ``Authorization: Bearer <token>``, an ``X-Api-Key: <token>`` header, an ``api_key`` query
parameter, or HTTP basic auth with the token as password (any user name). A wrong or missing
token is 401; ``readonly_token`` (a token without the sales scope) is 403. Unknown parameters and
bad values are 400, as a strict API answers. ``faults`` (a ``Faults`` queue) is applied to every
request before anything else, and ``request_log`` records each request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from include.sandbox._service import ApiError, HttpService, query_moment
from include.sandbox.faults import Faults
from include.sandbox.ticketing import TicketingScenario, to_json

_WINDOW = frozenset({"from", "to", "api_key"})
_ROUTE_PARAMS = {
    "/v1/sales": _WINDOW | {"page", "per_page"},
    "/v2/sales": _WINDOW | {"offset", "limit"},
    "/v3/sales": _WINDOW | {"cursor", "limit"},
    "/v4/sales": _WINDOW | {"per_page", "after"},
}
DEFAULT_PAGE_SIZE = 50


class TicketingSandbox(HttpService):
    """Serves ``scenario``'s sales until ``stop``; see the module docstring for the routes."""

    def __init__(
        self,
        scenario: TicketingScenario,
        token: str = "tix_test_token",
        readonly_token: str = "tix_readonly_token",
        host: str = "127.0.0.1",
        port: int = 0,
        max_page_size: int = 1000,
    ) -> None:
        super().__init__(host, port)
        self.scenario = scenario
        self._token = token
        self._readonly_token = readonly_token
        self.max_page_size = max_page_size
        self.faults = Faults()
        self.request_log: list[str] = []  # "GET /v1/sales?page=2&..." (the api_key value masked)
        self._lock = threading.Lock()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def requests_to(self, path: str) -> list[str]:
        """The logged requests whose path starts with ``path``."""
        with self._lock:
            return [line for line in self.request_log if line.split(" ", 1)[1].startswith(path)]

    # --- request handling (called from handler threads) -----------------------------------------

    def _record(self, method: str, target: str) -> None:
        split = urlsplit(target)
        query = {k: ("***" if k == "api_key" else v) for k, v in parse_qs(split.query).items()}
        line = f"{method} {split.path}" + (f"?{urlencode(query, doseq=True)}" if query else "")
        with self._lock:
            self.request_log.append(line)

    def _authorize(self, headers: Any, query: dict[str, str]) -> None:
        authorization = headers.get("Authorization") or ""
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer":
            provided = credentials.strip()
        elif scheme.lower() == "basic":
            provided = _basic_password(credentials)
        else:
            provided = headers.get("X-Api-Key") or query.get("api_key") or ""
        if provided and hmac.compare_digest(provided.encode(), self._readonly_token.encode()):
            raise ApiError(HTTPStatus.FORBIDDEN, "token lacks the sales:read scope")
        if not provided or not hmac.compare_digest(provided.encode(), self._token.encode()):
            raise ApiError(HTTPStatus.UNAUTHORIZED, "missing or invalid API token")

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[Any, str | None]:
        """(response body, Link header or None)."""
        path = path.rstrip("/") or "/"
        if method == "POST" and path == "/v1/sales/search":
            if not isinstance(body, dict):
                raise ApiError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
            _only(body, {"from", "to", "page", "per_page"}, "body field")
            merged = {**query, **{k: str(v) for k, v in body.items()}}
            return self._page_style(merged), None
        if method != "GET" or path not in _ROUTE_PARAMS:
            raise ApiError(HTTPStatus.NOT_FOUND, f"no route {method} {path}")
        _only(query, _ROUTE_PARAMS[path], "parameter")
        if path == "/v1/sales":
            return self._page_style(query), None
        if path == "/v2/sales":
            return self._offset_style(query), None
        if path == "/v3/sales":
            return self._cursor_style(query), None
        return self._link_style(query)

    def _window(self, query: dict[str, str]) -> range:
        return self.scenario.index_range(query_moment(query, "from"), query_moment(query, "to"))

    def _size(self, query: dict[str, str], name: str) -> int:
        size = _integer(query, name, DEFAULT_PAGE_SIZE)
        if not 1 <= size <= self.max_page_size:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"{name} must be between 1 and {self.max_page_size}")
        return size

    def _sales(self, indexes: range) -> list[dict]:
        return [self.scenario.sale(index) for index in indexes]

    def _page_style(self, query: dict[str, str]) -> dict[str, Any]:
        page, size = _integer(query, "page", 1), self._size(query, "per_page")
        if page < 1:
            raise ApiError(HTTPStatus.BAD_REQUEST, "page starts at 1")
        window = self._window(query)
        return {"sales": self._sales(window[(page - 1) * size : page * size]), "page": page, "per_page": size}

    def _offset_style(self, query: dict[str, str]) -> dict[str, Any]:
        offset, limit = _integer(query, "offset", 0), self._size(query, "limit")
        if offset < 0:
            raise ApiError(HTTPStatus.BAD_REQUEST, "offset must not be negative")
        window = self._window(query)
        return {
            "results": self._sales(window[offset : offset + limit]),
            "offset": offset,
            "total": len(window),
        }

    def _cursor_style(self, query: dict[str, str]) -> dict[str, Any]:
        limit, window = self._size(query, "limit"), self._window(query)
        first = max(window.start, _decode_cursor(query["cursor"])) if query.get("cursor") else window.start
        chosen = range(first, min(first + limit, window.stop))
        has_more = chosen.stop < window.stop
        return {
            "data": self._sales(chosen),
            "meta": {"next_cursor": _encode_cursor(chosen.stop) if has_more else None, "has_more": has_more},
        }

    def _link_style(self, query: dict[str, str]) -> tuple[list[dict], str | None]:
        size, window = self._size(query, "per_page"), self._window(query)
        first = window.start
        if query.get("after"):
            first = max(first, _index_of(query["after"]) + 1)
        chosen = range(first, min(first + size, window.stop))
        link = None
        if chosen.stop < window.stop:
            following = {k: v for k, v in query.items() if k != "api_key"}
            following["after"] = f"sale_{chosen.stop - 1:08d}"
            link = f'<{self.base_url}/v4/sales?{urlencode(following)}>; rel="next"'
        return self._sales(chosen), link


def _make_handler(sandbox: TicketingSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ticketing-sandbox"
        # Headers and body go out in two writes; with Nagle on, the second waits ~40 ms for the
        # client's delayed ACK, which would make every page look slow.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def _handle(self, method: str) -> None:
            sandbox._record(method, self.path)
            if sandbox.faults.apply(self):
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            try:
                query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
                sandbox._authorize(self.headers, query)
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    raise ApiError(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
                payload, link = sandbox._route(method, split.path, query, body)
                self._send(HTTPStatus.OK, payload, link)
            except ApiError as error:
                self._send(error.status, {"error": {"status": error.status.value, "message": str(error)}})

        def _send(self, status: HTTPStatus, body: Any, link: str | None = None) -> None:
            payload = to_json(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if link:
                self.send_header("Link", link)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request_log is the record

    return Handler


def _only(given: dict[str, Any], allowed: frozenset[str] | set[str], what: str) -> None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"unknown {what} {unknown[0]!r}")


def _integer(query: dict[str, str], name: str, default: int) -> int:
    if name not in query:
        return default
    try:
        return int(query[name])
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name} must be an integer, got {query[name]!r}") from None


def _basic_password(credentials: str) -> str:
    try:
        return base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[2]
    except (binascii.Error, UnicodeDecodeError):
        return ""


def _encode_cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"sale:{index}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, index = text.partition(":")
        if prefix != "sale":
            raise ValueError(text)
        return int(index)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(HTTPStatus.BAD_REQUEST, f"invalid cursor {cursor!r}") from None


def _index_of(sale_id: str) -> int:
    try:
        return int(sale_id.removeprefix("sale_"))
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"invalid after {sale_id!r}") from None
