"""What the dashboard shows: the specs in ``RECON_SPECS_DIR`` and the warehouse their results are in.

Both are read when a request needs them, never at import. Specs are parsed again only when a spec
file changes (its name, size or modification time), so a request pays a few ``stat`` calls.

One dashboard reads one warehouse: the Airflow connection ``RECON_DASHBOARD_CONNECTION``
(default ``recon_warehouse``), through ``recon.warehouse.connect`` as the DAG's tasks do. Specs whose
``warehouse_connection`` names another warehouse are not shown. A few idle connections are kept for
the next requests (a new one costs ~10 ms, a tenth of a page), each for at most ``MAX_AGE_SECONDS``
so a changed Airflow connection is picked up, and checked with a round trip before reuse.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from recon.spec import Spec, load_specs

PROJECT_ROOT = Path(__file__).resolve().parents[3]
POOL_SIZE = 4
MAX_AGE_SECONDS = 300
_lock = threading.Lock()
_cache: dict[str, tuple[tuple, dict[str, Spec]]] = {}
_idle: dict[str, list[tuple[float, psycopg.Connection]]] = {}


def specs_dir() -> Path:
    return Path(os.environ.get("RECON_SPECS_DIR") or PROJECT_ROOT / "include" / "specs")


def connection_id() -> str:
    return os.environ.get("RECON_DASHBOARD_CONNECTION") or "recon_warehouse"


def specs() -> dict[str, Spec]:
    """The dashboard's specs by name (those in its warehouse), re-read when a file changes."""
    directory = specs_dir()
    files = sorted(directory.glob("*.yml"))
    signature = tuple((path.name, path.stat().st_size, path.stat().st_mtime_ns) for path in files)
    with _lock:
        cached = _cache.get(str(directory))
        if cached and cached[0] == signature:
            return cached[1]
        loaded = {spec.name: spec for spec in load_specs(directory)}
        shown = {name: spec for name, spec in loaded.items() if spec.warehouse_connection == connection_id()}
        _cache[str(directory)] = (signature, shown)
        return shown


@contextmanager
def warehouse() -> Iterator[psycopg.Connection]:
    """A connection to the warehouse for one request: committed when the block ends without error,
    rolled back otherwise, then kept for the next request (or closed)."""
    from recon.warehouse import connect

    conn_id = connection_id()
    born, conn = _checkout(conn_id) or (time.monotonic(), connect(conn_id))
    # No server-side prepared statements: a table dbt rebuilt would invalidate them under a kept
    # connection ("cached plan must not change result type").
    conn.prepare_threshold = None
    try:
        yield conn
        conn.commit()
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    finally:
        _checkin(conn_id, born, conn)


def _checkout(conn_id: str) -> tuple[float, psycopg.Connection] | None:
    while True:
        with _lock:
            if not _idle.get(conn_id):
                return None
            born, conn = _idle[conn_id].pop()
        try:
            conn.execute("select 1")
            conn.rollback()
            return born, conn
        except psycopg.Error:
            conn.close()  # the server went away meanwhile: try the next one, or connect anew


def _checkin(conn_id: str, born: float, conn: psycopg.Connection) -> None:
    fresh = time.monotonic() - born < MAX_AGE_SECONDS
    usable = not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with _lock:
        idle = _idle.setdefault(conn_id, [])
        if fresh and usable and len(idle) < POOL_SIZE:
            idle.append((born, conn))
            return
    conn.close()
