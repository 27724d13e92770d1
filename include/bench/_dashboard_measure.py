"""The measuring side of the dashboard benchmark (include/bench/dashboard.py), run in a child process
whose environment is an Airflow home of its own: Airflow's API server app with this project's plugins,
an admin's real JWT, and every endpoint called through Starlette's TestClient.

Server time is taken at the outermost ASGI layer (``_ServerClock``): from the moment Airflow's app gets
the request until it has sent the last byte (and the first, for streamed exports). Inside it, the time
spent opening the warehouse connection and in SQL is added up by wrapping ``recon.warehouse.connect``
(the dashboard's one way to the warehouse) and the cursors of the connections it returns; the
dashboard's own code is not changed.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg

from include.bench.load import BenchError


class _Clock:
    """What one request spent connecting to the warehouse and in SQL, and its statements."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.connect = self.sql = 0.0
        self.statements: list[tuple[float, Any, Any]] = []

    def statement(self, seconds: float, query: Any, params: Any) -> None:
        self.sql += seconds
        self.statements.append((seconds, query, params))


CLOCK = _Clock()


def _timed_cursors() -> tuple[type, type]:
    """Cursor classes that add their execute and fetch time to CLOCK (statements in, rows out)."""

    class TimedCursor(psycopg.Cursor):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return super().execute(query, params, **kwargs)
            finally:
                CLOCK.statement(time.perf_counter() - started, query, params)

        def executemany(self, query: Any, params_seq: Any, **kwargs: Any) -> None:
            params_seq = list(params_seq)
            started = time.perf_counter()
            try:
                super().executemany(query, params_seq, **kwargs)
            finally:
                CLOCK.statement(time.perf_counter() - started, query, params_seq[:1] and params_seq[0])

    class TimedServerCursor(psycopg.ServerCursor):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return super().execute(query, params, **kwargs)
            finally:
                CLOCK.statement(time.perf_counter() - started, query, params)

        def __iter__(self) -> Any:  # the rows a streamed export fetches, batch by batch
            rows = super().__iter__()
            while True:
                started = time.perf_counter()
                try:
                    row = next(rows)
                except StopIteration:
                    CLOCK.sql += time.perf_counter() - started
                    return
                CLOCK.sql += time.perf_counter() - started
                yield row

    return TimedCursor, TimedServerCursor


def _patch_warehouse() -> None:
    """Time recon.warehouse.connect (the dashboard's only way to the warehouse) and its cursors. The
    dashboard's code is not changed: it looks ``connect`` up when a request opens a connection."""
    import recon.warehouse as warehouse

    original = warehouse.connect
    cursor, server_cursor = _timed_cursors()

    def connect(conn_id: str) -> psycopg.Connection:
        started = time.perf_counter()
        conn = original(conn_id)
        CLOCK.connect += time.perf_counter() - started
        conn.cursor_factory = cursor
        conn.server_cursor_factory = server_cursor
        return conn

    warehouse.connect = connect


class _ServerClock:
    """The outermost ASGI layer: when Airflow's app got the request, sent its first body bytes, and
    was done. In process, no network: this is the server time."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.first = self.total = 0.0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, first = time.perf_counter(), None

        async def timed_send(message: dict) -> None:
            nonlocal first
            if first is None and message["type"] == "http.response.body" and message.get("body"):
                first = time.perf_counter() - started
            await send(message)

        await self.app(scope, receive, timed_send)
        self.total = time.perf_counter() - started
        self.first = self.total if first is None else first


def _count(kind: str, text: str) -> int | None:
    """The rows in an answer: CSV lines, HTML row markers, or the length of a JSON list."""
    if kind == "csv":
        return max(sum(1 for _ in csv.reader(io.StringIO(text))) - 1, 0)
    if kind.startswith("html:"):
        return text.count(kind[5:])
    try:
        value: Any = json.loads(text)
        for key in kind[5:].split("."):
            value = value[key]
    except (ValueError, KeyError, TypeError):
        return None
    return len(value)


def _call(client: Any, clock: _ServerClock, endpoint: dict[str, Any], body: Any) -> dict[str, Any]:
    CLOCK.reset()
    started = time.perf_counter()
    if endpoint["group"] == "export":
        with client.stream("GET", endpoint["path"]) as response:
            text = b"".join(response.iter_bytes()).decode()
    elif endpoint["method"] == "POST":
        response = client.post(endpoint["path"], json=body)
        text = response.text
    else:
        response = client.get(endpoint["path"])
        text = response.text
    wall = time.perf_counter() - started
    statements: dict[str, float] = {}
    last: dict[str, tuple[Any, Any]] = {}
    for seconds, query, params in CLOCK.statements:
        key = query if isinstance(query, str) else query.as_string(None)
        statements[key] = statements.get(key, 0.0) + seconds * 1000
        last[key] = (query, params)
    return {
        "status": response.status_code,
        "server_ms": clock.total * 1000,
        "first_byte_ms": clock.first * 1000,
        "client_ms": wall * 1000,
        "connect_ms": CLOCK.connect * 1000,
        "sql_ms": CLOCK.sql * 1000,
        "statements": len(CLOCK.statements),
        "rows": _count(endpoint["count"], text),
        "body": text[:300] if response.status_code >= 400 else None,
        "statement_ms": statements,
        "_last": last,
    }


def _slowest_statement(conn: psycopg.Connection, samples: list[dict[str, Any]]) -> None:
    """The statement with the highest median time over the timed calls, as literal SQL (for psql)."""
    timed = samples[1:] or samples
    last = samples[-1]["_last"]
    medians = {key: statistics.median(s["statement_ms"].get(key, 0.0) for s in timed) for key in last}
    for sample in samples:
        del sample["_last"], sample["statement_ms"]
    if not medians:
        return
    # Each statement's median, for the JSON (the SQL shortened): where the endpoint's SQL time goes.
    samples[-1]["statements_median_ms"] = {key[:160]: round(ms, 2) for key, ms in medians.items()}
    key = max(medians, key=medians.__getitem__)
    query, params = last[key]  # (an executemany's first row only: the reads measured have none)
    sql_text = psycopg.ClientCursor(conn).mogrify(query, params)
    samples[-1]["slowest_statement"] = {"ms": medians[key], "sql": sql_text}


ENDPOINTS_FILE, RESULTS_FILE = "endpoints.json", "measured.json"


def _wait_for(path: Path, timeout: float) -> dict[str, Any]:
    """The parent writes the endpoints once the warehouse is seeded (atomically, by a rename)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise BenchError(f"no {path.name} from the benchmark within {timeout:.0f} s")
        time.sleep(0.2)
    return json.loads(path.read_text(encoding="utf-8"))


def measure_child(folder: Path, timeout: float = 6 * 3600) -> None:
    """Airflow's metadata DB and API server app in this process, started while the parent seeds the
    warehouse; then an admin's JWT, and every endpoint warmed up once and called ``repeat`` times,
    taking turns (reads first, then the actions). Writes ``measured.json`` into ``folder``."""
    from fastapi.testclient import TestClient

    started = time.perf_counter()
    from airflow.api_fastapi.app import create_app
    from airflow.utils.db import upgradedb

    upgradedb()  # what `airflow db migrate` does, without a second interpreter importing Airflow
    migrated = time.perf_counter()
    _patch_warehouse()
    app = create_app()
    ready = time.perf_counter()
    config = _wait_for(folder / ENDPOINTS_FILE, timeout)
    login = TestClient(app).post("/auth/token", json={"username": "admin", "password": config["password"]})
    if login.status_code != 201:
        raise BenchError(
            f"SimpleAuthManager refused the admin's login: {login.status_code} {login.text[:300]}"
        )
    clock = _ServerClock(app)
    client = TestClient(clock, follow_redirects=False)
    client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    results: dict[str, list[dict[str, Any]]] = {}
    for phase in ("read", "action"):
        endpoints = [e for e in config["endpoints"] if (e["group"] == "action") == (phase == "action")]
        for round_number in range(config["repeat"] + 1):  # round 0 warms up
            for endpoint in endpoints:
                body = endpoint["bodies"][round_number] if "bodies" in endpoint else None
                results.setdefault(endpoint["name"], []).append(_call(client, clock, endpoint, body))
    with psycopg.connect(config["url"]) as conn:
        for samples in results.values():
            _slowest_statement(conn, samples)
    measured = {"migrate_s": migrated - started, "app_start_s": ready - migrated, "results": results}
    (folder / RESULTS_FILE).write_text(json.dumps(measured, default=str), encoding="utf-8")
