"""What the dbt tests share: the session's warehouse in autocommit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from recon.spec import Spec
from recon.window import RunWindow
from tests.dbt.harness import run_matching


@pytest.fixture
def conn(warehouse: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """The fresh warehouse in autocommit, so every write is visible to dbt at once."""
    warehouse.commit()
    warehouse.autocommit = True
    yield warehouse


@pytest.fixture
def build(conn: psycopg.Connection, warehouse_url: str, tmp_path: Path):
    """Run one window of a spec over records; dbt compiles into this test's own target folder."""

    def run(spec: Spec, window: RunWindow, records: list[dict]) -> None:
        command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))
        run_matching(conn, warehouse_url, spec, window, records, command=command)

    return run
