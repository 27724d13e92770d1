"""A warehouse per test module: each module loads one run's records (and runs dbt) once, then every test
checks that run. GX runs cost a fraction of a second; loading and dbt are what is worth sharing."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from recon.staging.schema import ensure_schema
from recon.warehouse import sqlalchemy_url_of


@pytest.fixture(scope="module")
def module_warehouse(warehouse_url: str) -> Iterator[psycopg.Connection]:
    """An empty warehouse with recon's schemas, in autocommit so GX and dbt see every write at once."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        with conn.transaction():
            for schema in ("staging", "reconciliation", "recon_intermediate", "recon_staging"):
                conn.execute(f"drop schema if exists {schema} cascade")
        ensure_schema(conn)
        yield conn


@pytest.fixture(scope="session")
def gx_url(warehouse_url: str) -> str:
    """The session database as GX reads it: SQLAlchemy with the psycopg 3 driver."""
    return sqlalchemy_url_of(warehouse_url)
