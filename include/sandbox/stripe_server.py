"""A loopback HTTP server that answers the slice of the Stripe API the billing extract uses.

Only ``GET /v1/charges`` (list, with Stripe's cursor pagination and ``created`` filters) and
``GET /v1/charges/<id>`` exist. Errors use Stripe's JSON error shape so SDK exceptions behave as they
would against the real API. Requests are recorded in ``request_log`` so tests can prove pagination.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import itertools
import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from include.sandbox._service import HttpService

_CREATED_FILTERS: dict[str, Callable[[int, int], bool]] = {
    "created": lambda created, bound: created == bound,
    "created[gt]": lambda created, bound: created > bound,
    "created[gte]": lambda created, bound: created >= bound,
    "created[lt]": lambda created, bound: created < bound,
    "created[lte]": lambda created, bound: created <= bound,
}
_LIST_PARAMS = frozenset({"limit", "starting_after", "ending_before", *_CREATED_FILTERS})


class StripeApiError(Exception):
    """An error response in Stripe's shape; raised inside the handler and rendered as JSON."""

    def __init__(self, status: HTTPStatus, message: str, **fields: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": "invalid_request_error", "message": message, **fields}}


class StripeSandbox(HttpService):
    """Serves ``charges`` as a Stripe account on loopback until ``stop``."""

    def __init__(
        self,
        charges: list[dict],
        api_key: str = "sk_test_sandbox",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        # Copied so a caller mutating its list cannot change what is served mid-test.
        # Stripe lists newest first; ties on created are broken by id, descending.
        self._charges = sorted(copy.deepcopy(charges), key=_order_key, reverse=True)
        self._by_id = {charge["id"]: charge for charge in self._charges}
        self._api_key = api_key
        super().__init__(host, port)
        self._request_ids = itertools.count(1)
        self._lock = threading.Lock()
        self.request_log: list[str] = []

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    # --- request handling (called from handler threads) -----------------------------------------

    def _record(self, target: str) -> str:
        with self._lock:
            self.request_log.append(unquote(target))  # decoded: "created[gte]" reads better than "%5B"
            return f"req_sandbox{next(self._request_ids):06d}"

    def _authorize(self, header: str | None) -> None:
        provided = _api_key_from(header)
        if provided is None:
            raise StripeApiError(
                HTTPStatus.UNAUTHORIZED,
                "You did not provide an API key. Provide it in the Authorization header as a Bearer token.",
            )
        if not hmac.compare_digest(provided.encode(), self._api_key.encode()):
            raise StripeApiError(HTTPStatus.UNAUTHORIZED, f"Invalid API Key provided: {_mask(provided)}")

    def _route(self, path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        if path in ("/v1/charges", "/v1/charges/"):
            return self._list_charges(query)
        prefix = "/v1/charges/"
        if path.startswith(prefix) and "/" not in path[len(prefix) :]:
            charge_id = unquote(path[len(prefix) :])
            if charge_id in self._by_id:
                return self._by_id[charge_id]
            raise StripeApiError(
                HTTPStatus.NOT_FOUND, f"No such charge: '{charge_id}'", code="resource_missing", param="id"
            )
        raise StripeApiError(HTTPStatus.NOT_FOUND, f"Unrecognized request URL (GET: {path}).")

    def _list_charges(self, query: dict[str, list[str]]) -> dict[str, Any]:
        params = _single_values(query)
        limit = _parse_limit(params.get("limit"))
        bounds = _created_bounds(params)
        selected = [c for c in self._charges if all(ok(c["created"], bound) for ok, bound in bounds)]
        if "starting_after" in params and "ending_before" in params:
            raise StripeApiError(
                HTTPStatus.BAD_REQUEST,
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="ending_before",
            )
        if "starting_after" in params:
            cursor = self._cursor_key(params["starting_after"], "starting_after")
            remaining = [c for c in selected if _order_key(c) < cursor]
            page, has_more = remaining[:limit], len(remaining) > limit
        elif "ending_before" in params:
            cursor = self._cursor_key(params["ending_before"], "ending_before")
            preceding = [c for c in selected if _order_key(c) > cursor]
            page, has_more = preceding[-limit:], len(preceding) > limit
        else:
            page, has_more = selected[:limit], len(selected) > limit
        return {"object": "list", "url": "/v1/charges", "has_more": has_more, "data": page}

    def _cursor_key(self, charge_id: str, param: str) -> tuple[int, str]:
        charge = self._by_id.get(charge_id)
        if charge is None:
            raise StripeApiError(
                HTTPStatus.BAD_REQUEST, f"No such charge: '{charge_id}'", code="resource_missing", param=param
            )
        return _order_key(charge)


def _make_handler(sandbox: StripeSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's HTTP client expects
        server_version = "stripe-sandbox"

        def do_GET(self) -> None:
            request_id = sandbox._record(self.path)
            split = urlsplit(self.path)
            try:
                sandbox._authorize(self.headers.get("Authorization"))
                body = sandbox._route(split.path, parse_qs(split.query, keep_blank_values=True))
                self._send(HTTPStatus.OK, body, request_id)
            except StripeApiError as error:
                self._send(error.status, error.body, request_id)

        def do_POST(self) -> None:
            self._reject("POST")

        def do_DELETE(self) -> None:
            self._reject("DELETE")

        def _reject(self, method: str) -> None:
            request_id = sandbox._record(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)  # drain so the connection can be reused
            path = urlsplit(self.path).path
            error = StripeApiError(HTTPStatus.NOT_FOUND, f"Unrecognized request URL ({method}: {path}).")
            self._send(error.status, error.body, request_id)

        def _send(self, status: HTTPStatus, body: dict[str, Any], request_id: str) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", request_id)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request_log is the record; stderr noise would drown test output

    return Handler


def _order_key(charge: dict) -> tuple[int, str]:
    return charge["created"], charge["id"]


def _api_key_from(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() == "basic":
        # Stripe accepts the key as the basic-auth user name with an empty password.
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[0] or None
    return None


def _mask(key: str) -> str:
    return f"{key[:4]}***"


def _single_values(query: dict[str, list[str]]) -> dict[str, str]:
    unknown = sorted(name for name in query if name not in _LIST_PARAMS and not name.startswith("expand"))
    if unknown:
        raise StripeApiError(
            HTTPStatus.BAD_REQUEST, f"Received unknown parameter: {unknown[0]}", param=unknown[0]
        )
    return {name: values[-1] for name, values in query.items()}


def _parse_limit(raw: str | None) -> int:
    if raw is None:
        return 10
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise StripeApiError(
            HTTPStatus.BAD_REQUEST,
            f"Invalid limit: must be an integer between 1 and 100, got '{raw}'.",
            param="limit",
        )
    return limit


def _created_bounds(params: dict[str, str]) -> list[tuple[Callable[[int, int], bool], int]]:
    # Parsed before filtering so a bad value is rejected even when no charge would be compared.
    bounds = []
    for name, compare in _CREATED_FILTERS.items():
        if name not in params:
            continue
        try:
            bounds.append((compare, int(params[name])))
        except ValueError:
            raise StripeApiError(
                HTTPStatus.BAD_REQUEST, f"Invalid integer: {params[name]}", param=name
            ) from None
    return bounds
