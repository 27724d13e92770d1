"""Shared fixtures: a real warehouse (embedded Postgres unless RECON_WAREHOUSE_URL is set)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from include.airflow_server import ApiServer
from include.local_stack import airflow_environment
from recon.staging.schema import ensure_schema
from recon.warehouse import configured_url, start_embedded

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEST_AIRFLOW_HOME = PROJECT_ROOT / ".airflow" / "tests"

# Airflow reads its settings when first imported: point it at a metadata DB of the tests' own,
# this project's DAGs and no telemetry, before any test module imports it.
os.environ.update(airflow_environment(TEST_AIRFLOW_HOME))
TEST_AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def warehouse_server_url() -> str:
    """The Postgres server the tests use: configured, or embedded in a temporary folder."""
    if configured_url():
        return configured_url()
    # Outside pytest's temporary folders: pytest keeps only the last three sessions' folders, so a
    # second pytest started meanwhile would delete a running server's data from under it.
    folder = Path(tempfile.mkdtemp(prefix="recon-test-warehouse-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # runs after the server's own cleanup
    return start_embedded(folder / "pgdata", cleanup="delete")


@pytest.fixture(scope="session")
def warehouse_url(warehouse_server_url: str) -> Iterator[str]:
    """A database of its own for this test session, so tests never touch real data; dropped after."""
    database = f"recon_test_{os.getpid()}"
    with psycopg.connect(warehouse_server_url, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{database}"')
        admin.execute(f'create database "{database}"')
    yield _with_database(warehouse_server_url, database)
    # A configured server outlives the session: leave it as it was found.
    with psycopg.connect(warehouse_server_url, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{database}" with (force)')


@pytest.fixture
def warehouse(warehouse_url: str) -> Iterator[psycopg.Connection]:
    """A connection to an empty warehouse with recon's schemas created."""
    with psycopg.connect(warehouse_url) as conn:
        with conn.transaction():
            for schema in ("staging", "reconciliation", "recon_intermediate", "recon_staging"):
                conn.execute(f"drop schema if exists {schema} cascade")
        ensure_schema(conn)
        yield conn


def _with_database(url: str, database: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


# --- A real Airflow API server (include/airflow_server.py): UI, REST API and this project's plugins ---


@pytest.fixture(scope="session")
def airflow_api_server(warehouse_url: str) -> Iterator[ApiServer]:
    """`airflow api-server` on a free loopback port for the whole session, on the tests' Airflow home
    (TEST_AIRFLOW_HOME) and the session's warehouse (connection ``recon_warehouse``), with the shipped
    specs' DAGs serialized and users ``admin`` and ``viewer`` (passwords in ``.users``). No scheduler
    runs: triggered runs stay queued. Its output: ``.log_path``."""
    from include.airflow_server import airflow_api_server as start_api_server
    from include.local_stack import connection_environment

    env = {
        **airflow_environment(TEST_AIRFLOW_HOME),
        **connection_environment({}, warehouse_url),
        "RECON_SPECS_DIR": str(PROJECT_ROOT / "include" / "specs"),
    }
    with start_api_server(env) as server:
        yield server
