"""CSV exports, streamed: rows go out as a server-side cursor yields them, so a run with a million
breaks or years of history never sits in memory. Masked like the pages (emails, phone numbers)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import psycopg
from fastapi.responses import StreamingResponse

from recon.dashboard import site

HISTORY_COLUMNS = (
    "run_id", "spec", "window_start", "window_end", "status", "severity", "started_at", "finished_at",
    "duration_seconds", "break_count", "pending_count", "discrepancy_percent", "break_counts", "totals",
    "error_message", "attempt", "airflow_run_id",
)  # fmt: skip
BREAK_COLUMNS = (
    "run_id", "spec", "window_start", "window_end", "pair", "break_id", "break_class", "severity",
    "missing_in", "left_source", "right_source", "match_key", "left_record_keys", "right_record_keys",
    "left_amount", "right_amount", "left_currency", "right_currency", "currency", "amount_difference",
    "discrepancy_amount", "left_occurred_at", "right_occurred_at", "occurred_at", "time_difference_seconds",
    "left_status", "right_status", "different_fields", "customer_email", "reference", "match_rule",
    "carried_from_run_id", "is_carried_break",
)  # fmt: skip


def csv_response(
    filename: str, columns: tuple[str, ...], rows: Callable[[psycopg.Connection], Iterator[dict[str, Any]]]
) -> StreamingResponse:
    """Stream ``rows(conn)`` as CSV; the warehouse connection lives as long as the download."""

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        # closing(): a download cut short ends the server-side cursor before the connection is reused.
        with site.warehouse() as conn, closing(rows(conn)) as found:
            for count, row in enumerate(found, start=1):
                writer.writerow([_cell(row.get(column)) for column in columns])
                # The first rows go out at once (the download starts), then in chunks of 500.
                if count == 50 or count % 500 == 0:
                    yield _drain(buffer)
        yield _drain(buffer)

    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)


def safe_filename(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:150]


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)
    text = str(value)
    # A cell a spreadsheet would run as a formula is written as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return True
