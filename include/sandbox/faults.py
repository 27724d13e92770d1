"""Faults a sandbox HTTP server can inject, so tests exercise retries against a real server.

A test queues faults; each request takes the next one (first in, first out) before it is handled:

    server.faults.inject(Fault(status=429, retry_after=1), Fault(status=500), Fault(delay=3))

``status`` answers with that status instead of the real response (with ``Retry-After`` when given),
``delay`` sleeps before answering (a slow server, for client timeouts), ``drop`` closes the
connection without any response, and ``match`` limits a fault to requests whose path contains it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Generic, TypeVar

F = TypeVar("F")


@dataclass(frozen=True)
class Fault:
    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    drop: bool = False
    body: str | None = None  # the response body for ``status``; a JSON error object by default
    match: str | None = None  # only requests whose path contains this take the fault


class FaultQueue(Generic[F]):
    """A thread-safe queue of faults; each is taken by the first request whose path it ``matches``.

    ``taken`` lists ``(fault, path)`` in the order they were served. Subclasses say what matching means.
    """

    def __init__(self) -> None:
        self._queue: deque[F] = deque()
        self._lock = threading.Lock()
        self.taken: list[tuple[F, str]] = []

    def matches(self, fault: F, path: str) -> bool:
        raise NotImplementedError

    def inject(self, *faults: F) -> None:
        with self._lock:
            self._queue.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def take(self, path: str) -> F | None:
        """The first queued fault matching ``path``, removed from the queue, or None."""
        with self._lock:
            for index, fault in enumerate(self._queue):
                if self.matches(fault, path):
                    del self._queue[index]
                    self.taken.append((fault, path))
                    return fault
            return None


class Faults(FaultQueue[Fault]):
    """HTTP faults: ``match`` is a substring of the request path; ``applied`` lists those served."""

    def matches(self, fault: Fault, path: str) -> bool:
        return fault.match is None or fault.match in path

    @property
    def applied(self) -> list[Fault]:
        return [fault for fault, _ in self.taken]

    def apply(self, handler: BaseHTTPRequestHandler) -> bool:
        """Apply the next fault to ``handler``'s request; True when the request was answered by it.

        A pure delay returns False after sleeping: the real response follows, late.
        """
        fault = self.take(handler.path)
        if fault is None:
            return False
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            handler.close_connection = True
            # Close the socket under the handler: the client sees the connection end mid-request.
            handler.connection.shutdown(2)
            return True
        if fault.status is None:
            return False
        default = json.dumps({"error": {"message": f"injected fault {fault.status}"}})
        payload = (fault.body or default).encode()
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)  # drain the request body so the connection can be reused
        handler.send_response(fault.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        if fault.retry_after is not None:
            handler.send_header("Retry-After", f"{fault.retry_after:g}")
        handler.end_headers()
        handler.wfile.write(payload)
        return True
