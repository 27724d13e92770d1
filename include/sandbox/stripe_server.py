"""A loopback HTTP server that answers the slice of the Stripe API the extracts use.

``GET /v1/<collection>`` (list, with Stripe's cursor pagination and filters) and
``GET /v1/<collection>/<id>`` for charges, refunds, payouts and balance transactions. Lists are
newest first (ties by id, descending), ``limit`` is 1..100 (default 10), and each collection takes
``created`` filters plus its own: ``charge``/``payment_intent`` on refunds, ``arrival_date`` filters and
``status`` on payouts, ``payout``/``type``/``source`` on balance transactions. Which payout settles which
transaction is not a field of a Stripe object, so it is given as ``settlements`` (transaction id ->
payout id). Errors use Stripe's JSON error shape so SDK exceptions behave as they would against the
real API. Requests are recorded in ``request_log`` so tests can prove pagination, and ``faults``
(``include.sandbox.faults``) injects 429/500/slow/dropped responses, one per request.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hmac
import itertools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from include.sandbox._service import HttpService
from include.sandbox.faults import Faults

_RANGE_OPS: dict[str, Callable[[int, int], bool]] = {
    "": lambda value, bound: value == bound,
    "[gt]": lambda value, bound: value > bound,
    "[gte]": lambda value, bound: value >= bound,
    "[lt]": lambda value, bound: value < bound,
    "[lte]": lambda value, bound: value <= bound,
}
_PAGING = frozenset({"limit", "starting_after", "ending_before"})


@dataclass(frozen=True)
class _Collection:
    """One listable object type: its URL segment, its object name and the filters it accepts."""

    path: str  # "balance_transactions"
    noun: str  # "balance transaction", for "No such ..." messages
    ranges: tuple[str, ...]  # integer fields filterable with Stripe's [gt]/[gte]/[lt]/[lte]
    equals: tuple[str, ...] = ()  # fields filterable by exact value

    def params(self) -> frozenset[str]:
        ranged = {f"{name}{op}" for name in self.ranges for op in _RANGE_OPS}
        return _PAGING | ranged | set(self.equals)


_COLLECTIONS = {
    c.path: c
    for c in (
        _Collection("charges", "charge", ("created",), ("customer", "payment_intent")),
        _Collection("refunds", "refund", ("created",), ("charge", "payment_intent")),
        _Collection("payouts", "payout", ("created", "arrival_date"), ("status", "destination")),
        _Collection(
            "balance_transactions", "balance transaction", ("created",), ("payout", "type", "source")
        ),
    )
}


class StripeApiError(Exception):
    """An error response in Stripe's shape; raised inside the handler and rendered as JSON."""

    def __init__(self, status: HTTPStatus, message: str, **fields: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": "invalid_request_error", "message": message, **fields}}


class StripeSandbox(HttpService):
    """Serves ``charges`` and, optionally, the other collections on loopback until ``stop``."""

    def __init__(
        self,
        charges: list[dict],
        api_key: str = "sk_test_sandbox",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        refunds: list[dict] | None = None,
        payouts: list[dict] | None = None,
        balance_transactions: list[dict] | None = None,
        settlements: Mapping[str, str] | None = None,
    ) -> None:
        given = {
            "charges": charges,
            "refunds": refunds or [],
            "payouts": payouts or [],
            "balance_transactions": balance_transactions or [],
        }
        # Copied so a caller mutating its lists cannot change what is served mid-test.
        # Stripe lists newest first; ties on created are broken by id, descending.
        self._objects = {
            name: sorted(copy.deepcopy(objects), key=_order_key, reverse=True)
            for name, objects in given.items()
        }
        self._by_id = {name: {o["id"]: o for o in objects} for name, objects in self._objects.items()}
        self._positions = {
            name: {o["id"]: i for i, o in enumerate(objects)} for name, objects in self._objects.items()
        }
        self._settlements = dict(settlements or {})
        self._api_key = api_key
        super().__init__(host, port)
        self._request_ids = itertools.count(1)
        self._lock = threading.Lock()
        self.request_log: list[str] = []
        self.faults = Faults()

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
        parts = path.strip("/").split("/")
        if len(parts) in (2, 3) and parts[0] == "v1" and parts[1] in _COLLECTIONS:
            collection = _COLLECTIONS[parts[1]]
            if len(parts) == 2:
                return self._list(collection, query)
            object_id = unquote(parts[2])
            found = self._by_id[collection.path].get(object_id)
            if found is not None:
                return found
            raise StripeApiError(
                HTTPStatus.NOT_FOUND,
                f"No such {collection.noun}: '{object_id}'",
                code="resource_missing",
                param="id",
            )
        raise StripeApiError(HTTPStatus.NOT_FOUND, f"Unrecognized request URL (GET: {path}).")

    def _list(self, collection: _Collection, query: dict[str, list[str]]) -> dict[str, Any]:
        params = _single_values(query, collection.params())
        limit = _parse_limit(params.get("limit"))
        keep = _range_tests(params, collection.ranges) + self._equal_tests(params, collection)
        if "starting_after" in params and "ending_before" in params:
            raise StripeApiError(
                HTTPStatus.BAD_REQUEST,
                "You may only specify one of these parameters: ending_before, starting_after.",
                param="ending_before",
            )
        # Walk the newest-first list from the cursor, not from the top: a page costs its own size
        # plus what the filters skip, so paging through a large account is linear, not quadratic.
        objects = self._objects[collection.path]
        if "starting_after" in params:
            self._cursor_key(collection, params["starting_after"], "starting_after")
            candidates = itertools.islice(
                objects, self._positions[collection.path][params["starting_after"]] + 1, None
            )
        elif "ending_before" in params:
            self._cursor_key(collection, params["ending_before"], "ending_before")
            before = self._positions[collection.path][params["ending_before"]]
            candidates = (objects[i] for i in range(before - 1, -1, -1))
        else:
            candidates = iter(objects)
        matching = (o for o in candidates if all(test(o) for test in keep))
        page = list(itertools.islice(matching, limit + 1))
        has_more = len(page) > limit
        page = page[:limit]
        if "ending_before" in params:
            page.reverse()  # read backwards from the cursor; served newest first like every page
        return {"object": "list", "url": f"/v1/{collection.path}", "has_more": has_more, "data": page}

    def _equal_tests(self, params: dict[str, str], collection: _Collection) -> list[Callable[[dict], bool]]:
        tests: list[Callable[[dict], bool]] = []
        for name in collection.equals:
            if name not in params:
                continue
            wanted = params[name]
            if name == "payout":
                # Settlement is not a field of the transaction: Stripe knows it, and so do we.
                if wanted not in self._by_id["payouts"]:
                    raise StripeApiError(
                        HTTPStatus.BAD_REQUEST,
                        f"No such payout: '{wanted}'",
                        code="resource_missing",
                        param=name,
                    )
                tests.append(lambda o, wanted=wanted: self._settlements.get(o["id"]) == wanted)
            else:
                tests.append(lambda o, name=name, wanted=wanted: str(o.get(name)) == wanted)
        return tests

    def _cursor_key(self, collection: _Collection, object_id: str, param: str) -> tuple[int, str]:
        found = self._by_id[collection.path].get(object_id)
        if found is None:
            raise StripeApiError(
                HTTPStatus.BAD_REQUEST,
                f"No such {collection.noun}: '{object_id}'",
                code="resource_missing",
                param=param,
            )
        return _order_key(found)


def _make_handler(sandbox: StripeSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's HTTP client expects
        server_version = "stripe-sandbox"
        # Headers and body leave in two writes; without TCP_NODELAY keep-alive clients wait ~40 ms a page.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            request_id = sandbox._record(self.path)
            if sandbox.faults.apply(self):
                return
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


def _order_key(obj: dict) -> tuple[int, str]:
    # Tolerant of malformed objects, which tests serve on purpose to exercise quarantine.
    created = obj.get("created")
    return (created if isinstance(created, int) else 0), str(obj.get("id", ""))


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


def _single_values(query: dict[str, list[str]], allowed: frozenset[str]) -> dict[str, str]:
    unknown = sorted(name for name in query if name not in allowed and not name.startswith("expand"))
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


def _range_tests(params: dict[str, str], fields: tuple[str, ...]) -> list[Callable[[dict], bool]]:
    # Parsed before filtering so a bad value is rejected even when no object would be compared.
    tests: list[Callable[[dict], bool]] = []
    for field in fields:
        for op, compare in _RANGE_OPS.items():
            name = field + op
            if name not in params:
                continue
            try:
                bound = int(params[name])
            except ValueError:
                raise StripeApiError(
                    HTTPStatus.BAD_REQUEST, f"Invalid integer: {params[name]}", param=name
                ) from None
            tests.append(
                lambda o, field=field, compare=compare, bound=bound: (
                    isinstance(o.get(field), int) and compare(o[field], bound)
                )
            )
    return tests
