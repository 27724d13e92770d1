"""What several scenarios share: an app database of their own, and connection JSON for the peers."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from include.sandbox.app_db import AppScenario, create_app_database, drop_app_database
from recon.warehouse import airflow_connection, configured_url, start_embedded


@contextmanager
def app_database(workdir: Path, label: str, seed: int, day: dt.date) -> Iterator[str]:
    """A fresh sandbox app database (its own tables seeded small); yields its URL, drops it after.

    It lives on the configured Postgres server (RECON_WAREHOUSE_URL) as a database of its own, or on
    an embedded server under ``workdir``: never in the warehouse's database. The process id in the
    name keeps parallel test processes apart.
    """
    server = configured_url() or start_embedded(workdir / "app-db" / "pgdata")
    name = f"recon_app_{label}_{os.getpid()}"
    url = create_app_database(server, name, AppScenario(seed=seed, day=day, payments=10, wallets=2))
    try:
        yield url
    finally:
        drop_app_database(server, name)


def postgres_connection(url: str) -> str:
    """The Airflow connection JSON of a Postgres URL, failing fast when the server is gone."""
    connection = json.loads(airflow_connection(url))
    connection["extra"] = {"connect_timeout": 10}
    return json.dumps(connection)


def http_connection(base_url: str, token: str) -> str:
    """An ``http`` connection whose password is sent as a bearer token (the REST/GraphQL default)."""
    return json.dumps({"conn_type": "http", "host": base_url, "password": token})


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
