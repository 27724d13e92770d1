"""A mobile-money provider's payments API on loopback, and the app's checkout sessions table.

Mobile-money payments are pushed to the payer's phone and confirmed there, so a payment lives for a
while: ``processing`` until the payer confirms, then ``completed`` (or ``failed``). The provider lists
payments by their last change, as polling integrations read them:

* ``GET /v1/payments?updated_from=...&updated_to=...&page=1&page_size=50`` -> ``{"payments": [...],
  "page": 1, "page_size": 50}``; ``updated_from`` inclusive, ``updated_to`` exclusive (ISO 8601 with
  an offset or Z), payments sorted by ``updated_at`` then ``id``; pages from 1, a short page is the last.
* auth: ``Authorization: Bearer <token>``; anything else is 401. Unknown parameters and bad values are
  400. ``faults`` (a ``Faults`` queue) is applied to every request first; ``request_log`` keeps each one.

A payment as served::

    {"id": "MMP0000000042", "status": "completed", "created_at": "2026-11-19T10:02:00Z",
     "updated_at": "2026-11-19T10:02:40Z", "amount": {"value": "1250.00", "currency": "KES"},
     "payer": {"msisdn": "254700000042"}, "account_ref": "0700 000 042"}

``msisdn`` is written as M-Pesa writes it, ``2547XXXXXXXX`` without ``+``; ``account_ref`` (present when
set) is what the payer typed as the account, often their own number in national form.

The app writes a checkout session when it prompts the payer (``processing``) and updates it when the
provider's callback reaches it (``paid``, or ``cancelled``), so a session's ``updated_at`` comes after
its payment, sometimes in a later window; ``payer_phone`` is the number the payer gave the app.
``add_checkout_sessions`` adds the ``checkout_sessions`` table to the sandbox app database
(``app_db.create_app_database``) and leaves the app database's own tables as they are; called again
(``create=False``), it writes sessions as they now stand, replacing a row of the same id (a callback).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg

from include.sandbox._service import ApiError, HttpService, query_moment
from include.sandbox.faults import Faults

MAX_PAGE_SIZE = 200
_PARAMS = frozenset({"updated_from", "updated_to", "page", "page_size"})
_SESSIONS = """
create table checkout_sessions (
    session_id text primary key, provider_payment_id text not null, amount numeric not null,
    currency text not null, status text not null, updated_at timestamptz not null,
    created_at timestamptz not null, payer_phone text);
create index on checkout_sessions (updated_at);
"""


@dataclass(frozen=True)
class Payment:
    id: str
    status: str  # processing | completed | failed
    created_at: dt.datetime
    updated_at: dt.datetime
    amount: Decimal  # major units, exactly the currency's decimals
    currency: str
    msisdn: str
    account_ref: str | None = None

    def as_json(self) -> dict[str, Any]:
        item = {
            "id": self.id,
            "status": self.status,
            "created_at": _utc_text(self.created_at),
            "updated_at": _utc_text(self.updated_at),
            "amount": {"value": f"{self.amount}", "currency": self.currency},
            "payer": {"msisdn": self.msisdn},
        }
        return item if self.account_ref is None else {**item, "account_ref": self.account_ref}


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    provider_payment_id: str
    amount: Decimal
    currency: str
    status: str  # processing | paid | cancelled
    updated_at: dt.datetime  # the last change: the prompt, or the callback
    created_at: dt.datetime | None = None  # the prompt; default: updated_at
    payer_phone: str | None = None

    def row(self) -> tuple:
        return (self.session_id, self.provider_payment_id, self.amount, self.currency, self.status,
                self.updated_at, self.created_at or self.updated_at, self.payer_phone)  # fmt: skip


class MobileMoneySandbox(HttpService):
    """Serves ``payments`` until ``stop``; see the module docstring for the route."""

    def __init__(
        self,
        payments: Iterable[Payment],
        token: str = "mm_test_token",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.payments = sorted(payments, key=lambda p: (p.updated_at, p.id))
        self._token = token
        self.faults = Faults()
        self.request_log: list[str] = []
        self._lock = threading.Lock()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def _page(self, headers: Any, path: str, query: dict[str, str]) -> dict[str, Any]:
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self._token.encode()
        ):
            raise ApiError(HTTPStatus.UNAUTHORIZED, "missing or invalid token")
        if path.rstrip("/") != "/v1/payments":
            raise ApiError(HTTPStatus.NOT_FOUND, f"no route {path}")
        unknown = sorted(set(query) - _PARAMS)
        if unknown:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"unknown parameter {unknown[0]!r}")
        since, until = query_moment(query, "updated_from"), query_moment(query, "updated_to")
        page, size = _integer(query, "page", 1), _integer(query, "page_size", 50)
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"page starts at 1; page_size is 1..{MAX_PAGE_SIZE}")
        chosen = [
            p
            for p in self.payments
            if (since is None or p.updated_at >= since) and (until is None or p.updated_at < until)
        ]
        items = chosen[(page - 1) * size : page * size]
        return {"payments": [p.as_json() for p in items], "page": page, "page_size": size}


def _make_handler(sandbox: MobileMoneySandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body in two writes: no delayed-ACK stall

        def do_GET(self) -> None:
            with sandbox._lock:
                sandbox.request_log.append(self.path)
            if sandbox.faults.apply(self):
                return
            split = urlsplit(self.path)
            try:
                query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
                self._send(HTTPStatus.OK, sandbox._page(self.headers, split.path, query))
            except ApiError as error:
                self._send(error.status, {"error": {"code": error.status.value, "message": str(error)}})

        def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request_log is the record

    return Handler


def add_checkout_sessions(app_db_url: str, sessions: Iterable[CheckoutSession], create: bool = True) -> int:
    """Create (unless ``create`` is false) and fill ``checkout_sessions`` in the app database at
    ``app_db_url``, a session replacing the row of its id; return the row count."""
    columns = ("session_id", "provider_payment_id", "amount", "currency", "status", "updated_at",
               "created_at", "payer_phone")  # fmt: skip
    rows = [session.row() for session in sessions]
    with psycopg.connect(app_db_url) as conn, conn.cursor() as cur:
        if create:
            cur.execute(_SESSIONS)
        cur.execute("delete from checkout_sessions where session_id = any(%s)", ([row[0] for row in rows],))
        with cur.copy(f"copy checkout_sessions ({', '.join(columns)}) from stdin") as copy:
            for row in rows:
                copy.write_row(row)
    return len(rows)


def _utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _integer(query: dict[str, str], name: str, default: int) -> int:
    try:
        return int(query[name]) if name in query else default
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name} must be an integer") from None
