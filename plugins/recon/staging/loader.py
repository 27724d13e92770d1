"""Write one source's records for one run window into staging, all or nothing.

Each load is one transaction: the records stream in batches through COPY into a fresh standalone
table, which then replaces the (run, source) partition of staging.records in a short swap
(``recon.staging.partitions``); the slice's quarantine rows are replaced in the same transaction. A
retry or rerun therefore replaces rather than adds, and nothing holds a whole feed in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

import psycopg

from recon.records import CanonicalRecord, QuarantinedRecord
from recon.staging import partitions
from recon.window import RunWindow

BATCH_SIZE = 5_000

QUARANTINE_COLUMNS = ("origin", "origin_line", "record_key", "reason", "raw", "raw_line")


@dataclass(frozen=True)
class FileCounts:
    origin: str
    loaded: int
    quarantined: int


@dataclass(frozen=True)
class LoadResult:
    source: str
    loaded: int
    quarantined: int
    files: tuple[FileCounts, ...] = field(default=())


def clear_quarantine(cur: psycopg.Cursor, window: RunWindow, source: str) -> None:
    cur.execute(
        "delete from staging.quarantine where spec = %s and source = %s and run_id = %s",
        (window.spec, source, window.run_id),
    )


class _QuarantineCopy:
    """Context manager writing quarantine rows of one slice through COPY."""

    def __init__(self, cur: psycopg.Cursor, window: RunWindow, source: str) -> None:
        self._cur, self._prefix = cur, (window.spec, source, window.run_id)

    def __enter__(self) -> Callable[[tuple], None]:
        self._copy = self._cur.copy(
            "copy staging.quarantine (spec, source, run_id, origin, origin_line, record_key, reason, raw,"
            " raw_line) from stdin"
        )
        copy = self._copy.__enter__()
        return lambda row: copy.write_row((*self._prefix, *row))

    def __exit__(self, *exc: object) -> None:
        self._copy.__exit__(*exc)


def replace_window(
    conn: psycopg.Connection,
    window: RunWindow,
    source: str,
    items: Iterable[CanonicalRecord | QuarantinedRecord],
    before_commit: Callable[[psycopg.Cursor, LoadResult], None] | None = None,
) -> LoadResult:
    """Replace the window's rows for ``source`` with ``items``, in one transaction."""
    loaded = quarantined = 0
    with conn.transaction(), conn.cursor() as cur:
        table = partitions.create_load_table(cur, window, source)
        rejects: list[QuarantinedRecord] = []
        with cur.copy(partitions.copy_statement(table, fmt="text")) as copy:  # noqa: SIM117
            for batch in _batches(items, BATCH_SIZE):
                for item in batch:
                    if isinstance(item, CanonicalRecord):
                        copy.write_row(_record_row(item))
                        loaded += 1
                    else:
                        rejects.append(item)
                # Quarantined records are few (a share above max_rejected_share fails the extract).
        clear_quarantine(cur, window, source)
        with _QuarantineCopy(cur, window, source) as write:
            for reject in rejects:
                write(_reject_row(reject))
        quarantined = len(rejects)
        result = LoadResult(source=source, loaded=loaded, quarantined=quarantined)
        partitions.swap_in(cur, window, source, table)
        if before_commit is not None:
            before_commit(cur, result)
    return result


def _batches(items: Iterable[CanonicalRecord | QuarantinedRecord], size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _record_row(record: CanonicalRecord) -> tuple:
    return (
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


def _reject_row(reject: QuarantinedRecord) -> tuple:
    raw = reject.raw if isinstance(reject.raw, dict) else {"text": reject.raw}
    raw_line = reject.raw if isinstance(reject.raw, str) else None
    return (
        reject.origin,
        reject.origin_line,
        reject.record_key,
        reject.reason,
        json.dumps(raw, default=str),
        raw_line,
    )
