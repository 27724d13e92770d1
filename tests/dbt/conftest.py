"""What the dbt tests share: the session's warehouse in autocommit."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest


@pytest.fixture
def conn(warehouse: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The fresh warehouse in autocommit, so every write is visible to dbt at once."""
    warehouse.commit()
    warehouse.autocommit = True
    yield warehouse
