"""Helpers for loading CSV text through the real loader into the real warehouse."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from recon.sources.base import FetchedFile
from recon.staging.csv_format import CsvFormat
from recon.staging.csv_loader import replace_window_from_files
from recon.staging.loader import LoadResult
from recon.window import RunWindow

WINDOW = RunWindow("billing", datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))
FIELDS = {"record_key": "charge", "amount": "amount", "currency": "currency", "occurred_at": "created_at"}


class CsvSource(CsvFormat):
    """What a file source is to the loader: a CsvFormat with a name and a rejected-share limit."""

    name: str = "bank"
    max_rejected_share: Decimal = Decimal("0.5")


def source(**options: Any) -> CsvSource:
    return CsvSource.model_validate({"fields": FIELDS, **options})


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., FetchedFile]:
    def write(content: str | bytes, name: str = "statement.csv", encoding: str = "utf-8") -> FetchedFile:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return FetchedFile(path, f"sftp://bank/{name}", f"/{name}", path.stat().st_size, "")

    return write


@pytest.fixture
def load(warehouse: psycopg.Connection, write_file: Callable[..., FetchedFile]) -> Callable[..., LoadResult]:
    def run(content: str | bytes, window: RunWindow = WINDOW, **options: Any) -> LoadResult:
        encoding = options.get("encoding", "utf-8")
        return replace_window_from_files(
            warehouse, window, source(**options), [write_file(content, encoding=encoding)]
        )

    return run


def records(conn: psycopg.Connection, columns: str = "record_key, amount, currency") -> list[tuple]:
    return conn.execute(f"select {columns} from staging.records order by record_key").fetchall()  # noqa: S608


def quarantine(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select origin, origin_line, reason, raw_line from staging.quarantine order by origin, origin_line"
    ).fetchall()
