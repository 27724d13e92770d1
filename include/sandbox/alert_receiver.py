"""A loopback HTTP endpoint that accepts Slack incoming-webhook and PagerDuty Events API v2 posts.

Every POST is appended as one JSON line to a store file, so a test or a demo can read back exactly what
the pipeline would have sent, with the status it was answered. Request headers are never stored: they
can carry credentials. Validation mirrors the real services closely enough that a malformed alert fails
here as it would in production. ``fail_next`` makes the next posts fail the way the real services do
when they are down (500) or rate limiting (429 with Retry-After).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from include.sandbox._service import HttpService

PAGERDUTY_PATH = "/v2/enqueue"
SLACK_PREFIXES = ("/slack/", "/services/")
_EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
_SEVERITIES = ("critical", "error", "warning", "info")


def classify(path: str) -> str:
    """Which service a request path imitates: ``pagerduty``, ``slack`` or ``unknown``."""
    # A prefix before /v2/enqueue is allowed so a base URL like http://host:8099/pagerduty works too.
    if path.rstrip("/").endswith(PAGERDUTY_PATH):
        return "pagerduty"
    if path.startswith(SLACK_PREFIXES):
        return "slack"
    return "unknown"


class AlertReceiver(HttpService):
    """Records alert posts in ``store`` (JSON lines) until ``stop``."""

    def __init__(self, store: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = Path(store)
        super().__init__(host, port)
        self._lock = threading.Lock()  # one writer at a time keeps JSON lines whole
        self._faults: list[tuple[int, float | None]] = []

    def fail_next(self, status: int, times: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``times`` posts (any channel) with ``status`` instead of handling them."""
        with self._lock:
            self._faults.extend([(status, retry_after)] * times)

    def _take_fault(self) -> tuple[int, float | None] | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _before_start(self) -> None:
        self.store.parent.mkdir(parents=True, exist_ok=True)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def received(self) -> list[dict[str, Any]]:
        """Everything recorded so far, oldest first (also what earlier runs left in the store)."""
        with self._lock:
            if not self.store.exists():
                return []
            lines = self.store.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def _append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
        with self._lock, self.store.open("a", encoding="utf-8") as handle:
            handle.write(line)


def _make_handler(receiver: AlertReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "alert-receiver"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", errors="replace")
            path = urlsplit(self.path).path
            channel = classify(path)
            body = _parse_body(raw, self.headers.get("Content-Type", ""))
            fault = receiver._take_fault()
            if fault is not None:
                status, retry_after = HTTPStatus(fault[0]), fault[1]
                answer: tuple[HTTPStatus, Any] = (status, _fault_body(channel, status))
            elif channel == "pagerduty":
                answer = _pagerduty_response(body)
            elif channel == "slack":
                answer = _slack_response(body)
            else:
                answer = (HTTPStatus.OK, "ok")
            receiver._append(
                {
                    "received_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                    "path": path,
                    "channel": channel,
                    "body": body,
                    "status": int(answer[0]),
                }
            )
            extra = (
                {"Retry-After": f"{retry_after:g}"} if fault is not None and retry_after is not None else {}
            )
            if isinstance(answer[1], dict):
                self._send(answer[0], json.dumps(answer[1]).encode(), "application/json", extra)
            else:
                self._send(answer[0], answer[1].encode(), "text/plain; charset=utf-8", extra)

        def do_GET(self) -> None:
            # Lets a container healthcheck probe the receiver without recording anything.
            self._send_text(HTTPStatus.OK, "alert-receiver")

        def _send_text(self, status: HTTPStatus, text: str) -> None:
            self._send(status, text.encode(), "text/plain; charset=utf-8")

        def _send(
            self, status: HTTPStatus, payload: bytes, content_type: str, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the store is the record

    return Handler


def _parse_body(raw: str, content_type: str) -> Any:
    # Slack also accepts the legacy form encoding: payload=<json>.
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(raw)
        if "payload" in form:
            raw = form["payload"][-1]
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _pagerduty_response(body: Any) -> tuple[HTTPStatus, dict[str, Any]]:
    problem = _pagerduty_problem(body)
    if problem is not None:
        return HTTPStatus.BAD_REQUEST, {"status": "invalid event", "message": problem, "errors": [problem]}
    dedup_key = body.get("dedup_key") or uuid.uuid4().hex
    return HTTPStatus.ACCEPTED, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


def _fault_body(channel: str, status: HTTPStatus) -> Any:
    """What the real service says when it is rate limiting (429) or failing (5xx)."""
    if channel == "pagerduty":
        message = "Too many requests" if status == HTTPStatus.TOO_MANY_REQUESTS else "Internal error"
        return {
            "status": "throttle" if status == HTTPStatus.TOO_MANY_REQUESTS else "error",
            "message": message,
        }
    return "rate_limited" if status == HTTPStatus.TOO_MANY_REQUESTS else "internal_error"


def _pagerduty_problem(body: Any) -> str | None:
    """The first reason PagerDuty would reject ``body``, or None if it would accept it."""
    if not isinstance(body, dict):
        return "Event object is invalid"
    if not body.get("routing_key"):
        return "'routing_key' is missing or blank"
    action = body.get("event_action")
    if action not in _EVENT_ACTIONS:
        return "'event_action' is missing or invalid"
    if action != "trigger":
        return None if body.get("dedup_key") else "'dedup_key' is required for acknowledge and resolve"
    payload = body.get("payload")
    if not isinstance(payload, dict):
        return "'payload' is missing or invalid"
    for field in ("summary", "source"):
        if not payload.get(field):
            return f"'payload.{field}' is missing or blank"
    if payload.get("severity") not in _SEVERITIES:
        return "'payload.severity' is missing or invalid"
    return None


def _slack_response(body: Any) -> tuple[HTTPStatus, str]:
    if isinstance(body, dict) and (body.get("text") or body.get("blocks")):
        return HTTPStatus.OK, "ok"
    if isinstance(body, dict):
        return HTTPStatus.BAD_REQUEST, "no_text"
    return HTTPStatus.BAD_REQUEST, "invalid_payload"
