"""Write one source's records for one run window into staging, all or nothing.

Each load is one transaction: it deletes what an earlier load of the same (spec, source, run) wrote
and writes the new rows, so a retry or rerun replaces rather than adds. Records stream in batches
through COPY; nothing holds a whole feed in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import psycopg

from recon.records import CanonicalRecord, QuarantinedRecord
from recon.window import RunWindow

BATCH_SIZE = 5_000

_RECORD_COLUMNS = (
    "spec, source, run_id, window_start, window_end, record_key, group_key, amount, currency,"
    " occurred_at, status, customer_email, reference, attributes, origin, origin_line"
)


@dataclass(frozen=True)
class LoadResult:
    source: str
    loaded: int
    quarantined: int


def clear_window(cur: psycopg.Cursor, window: RunWindow, source: str) -> None:
    for table in ("staging.records", "staging.quarantine"):
        cur.execute(
            f"delete from {table} where spec = %s and source = %s and run_id = %s",  # noqa: S608
            (window.spec, source, window.run_id),
        )


def replace_window(
    conn: psycopg.Connection,
    window: RunWindow,
    source: str,
    items: Iterable[CanonicalRecord | QuarantinedRecord],
) -> LoadResult:
    """Replace the window's rows for ``source`` with ``items``, in one transaction."""
    loaded = quarantined = 0
    with conn.transaction(), conn.cursor() as cur:
        clear_window(cur, window, source)
        for batch in _batches(items, BATCH_SIZE):
            records = [item for item in batch if isinstance(item, CanonicalRecord)]
            rejects = [item for item in batch if isinstance(item, QuarantinedRecord)]
            _copy_records(cur, window, source, records)
            _insert_quarantine(cur, window, source, rejects)
            loaded += len(records)
            quarantined += len(rejects)
    return LoadResult(source=source, loaded=loaded, quarantined=quarantined)


def _batches(items: Iterable[CanonicalRecord | QuarantinedRecord], size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _copy_records(
    cur: psycopg.Cursor, window: RunWindow, source: str, records: list[CanonicalRecord]
) -> None:
    if not records:
        return
    with cur.copy(f"copy staging.records ({_RECORD_COLUMNS}) from stdin") as copy:
        for record in records:
            copy.write_row(
                (
                    window.spec,
                    source,
                    window.run_id,
                    window.start,
                    window.end,
                    record.record_key,
                    record.group_key,
                    record.amount,
                    record.currency,
                    record.occurred_at,
                    record.status,
                    record.customer_email,
                    record.reference,
                    json.dumps(record.attributes, default=str),
                    record.origin,
                    record.origin_line,
                )
            )


def _insert_quarantine(
    cur: psycopg.Cursor, window: RunWindow, source: str, rejects: list[QuarantinedRecord]
) -> None:
    if not rejects:
        return
    cur.executemany(
        "insert into staging.quarantine"
        " (spec, source, run_id, origin, origin_line, record_key, reason, raw)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (
                window.spec,
                source,
                window.run_id,
                reject.origin,
                reject.origin_line,
                reject.record_key,
                reject.reason,
                json.dumps(reject.raw, default=str),
            )
            for reject in rejects
        ],
    )
