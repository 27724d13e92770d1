"""What the sandbox's servers share: start/stop in a background thread, and `with` support."""

from __future__ import annotations

import datetime as dt
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

_POLL_INTERVAL_S = 0.05  # how long stop() may wait for serve_forever to notice


class Service:
    """A server started with ``start()`` and stopped with ``stop()``, or used as a context manager."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64  # the default of 5 makes bursts of clients wait for SYN retries


class HttpService(Service):
    """An HTTP server on loopback, served from a daemon thread; subclasses supply the handler."""

    def __init__(self, host: str, port: int) -> None:
        self._address = (host, port)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def _before_start(self) -> None:
        """A hook for work that must happen before the first request can arrive."""

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> str:
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already running")
        self._before_start()
        self._server = _Server(self._address, self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_INTERVAL_S},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None


class ApiError(Exception):
    """A request the JSON sandboxes refuse, with the HTTP status to answer."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def query_moment(query: dict[str, str], name: str) -> dt.datetime | None:
    """An ISO 8601 time parameter with an offset, or None when absent; a bad one is a 400."""
    if not query.get(name):
        return None
    try:
        moment = dt.datetime.fromisoformat(query[name])
    except ValueError:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name} is not an ISO 8601 time: {query[name]!r}") from None
    if moment.tzinfo is None:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"{name} needs a UTC offset or Z: {query[name]!r}")
    return moment
