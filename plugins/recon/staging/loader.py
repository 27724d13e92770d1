"""Write one source's records for one run window into staging, all or nothing.

Each load is one transaction: the records stream in batches through COPY into a fresh standalone
table, which then replaces the (run, source) partition of staging.records in a short swap
(``recon.staging.partitions``); the slice's quarantine rows are replaced in the same transaction. A
retry or rerun therefore replaces rather than adds, and nothing holds a whole feed in memory.
"""

from __future__ import annotations

import csv
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from typing import Any

import psycopg
from psycopg import sql

from recon.errors import PermanentError
from recon.records import CanonicalRecord, QuarantinedRecord
from recon.staging import partitions
from recon.window import RunWindow

BATCH_SIZE = 5_000


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

    def summary(self) -> dict[str, Any]:
        """The JSON-safe form for the task result (XCom)."""
        return {"loaded": self.loaded, "quarantined": self.quarantined}


def clear_quarantine(cur: psycopg.Cursor, window: RunWindow, source: str) -> None:
    cur.execute(
        "delete from staging.quarantine where spec = %s and source = %s and run_id = %s",
        (window.spec, source, window.run_id),
    )


class RejectedShareExceeded(PermanentError):
    """More of a window (or a file) was quarantined than the source allows: the same data fails again."""


def rejected_share_problem(
    what: str, source: str, loaded: int, quarantined: int, limit: Decimal
) -> str | None:
    """The message when ``quarantined`` of the rows exceed ``limit`` (a share), else None."""
    total = loaded + quarantined
    if not total or Decimal(quarantined) / total <= limit:
        return None
    return (
        f"{what}: {quarantined} of {total} rows quarantined ({quarantined / total:.1%}), more than"
        f" max_rejected_share {float(limit):.1%} of source {source!r}; nothing was loaded, the"
        " quarantined rows are in staging.quarantine"
    )


class QuarantineSpool:
    """Quarantine rows kept in a temporary file (never in memory) until the load's transaction."""

    def __init__(self, window: RunWindow, source: str) -> None:
        # Closed by __exit__: the spool lives as long as the load that uses it.
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115
        self._writer = csv.writer(self._file)
        self._constants = (window.spec, source, window.run_id)
        self.count = 0

    def add(self, row: tuple) -> None:
        """One row: origin, origin_line, record_key, reason, raw (json text), raw_line."""
        self._writer.writerow((*row, *self._constants))
        self.count += 1

    def replace(self, cur: psycopg.Cursor, window: RunWindow, source: str) -> None:
        """Replace the slice's quarantine rows with the spooled ones."""
        clear_quarantine(cur, window, source)
        self._file.flush()
        self._file.seek(0)
        statement = (
            "copy staging.quarantine (origin, origin_line, record_key, reason, raw, raw_line, spec, source,"
            " run_id) from stdin (format csv)"
        )
        with cur.copy(statement) as copy:
            while chunk := self._file.read(1 << 20):
                copy.write(chunk)

    def __enter__(self) -> QuarantineSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def replace_window(
    conn: psycopg.Connection,
    window: RunWindow,
    source: str,
    items: Iterable[CanonicalRecord | QuarantinedRecord],
    before_commit: Callable[[psycopg.Cursor, LoadResult], None] | None = None,
    max_rejected_share: Decimal | None = None,
) -> LoadResult:
    """Replace the window's rows for ``source`` with ``items``, in one transaction.

    When more than ``max_rejected_share`` of the items are quarantined, no record is loaded (the
    previous slice stays) but the quarantine rows are committed, so the reason can be read, and
    ``RejectedShareExceeded`` is raised.
    """
    loaded = 0
    with QuarantineSpool(window, source) as spool, conn.transaction(), conn.cursor() as cur:
        table = partitions.create_load_table(cur, window, source)
        with cur.copy(partitions.copy_statement(table, fmt="text")) as copy:
            for batch in _batches(items, BATCH_SIZE):
                for item in batch:
                    if isinstance(item, CanonicalRecord):
                        copy.write_row(_record_row(item))
                        loaded += 1
                    else:
                        spool.add(_reject_row(item))
        problem = None
        if max_rejected_share is not None:
            problem = rejected_share_problem(
                f"source {source!r} for {window.run_id}", source, loaded, spool.count, max_rejected_share
            )
        spool.replace(cur, window, source)
        result = LoadResult(source=source, loaded=loaded, quarantined=spool.count)
        if problem is None:
            partitions.swap_in(cur, window, source, table)
            if before_commit is not None:
                before_commit(cur, result)
        else:
            # Commit the quarantine alone: the load table goes, the previous slice stays.
            cur.execute(sql.SQL("drop table {}").format(table))
    if problem is not None:
        raise RejectedShareExceeded(problem)
    return result


def to_json(value: object) -> str:
    """JSON text for jsonb, with every ``Decimal`` written as an exact JSON number (never a string).

    ``json`` cannot emit a Decimal as a number, so each one is written as a marked string first and
    the marks are then removed; NUL cannot occur in jsonb text, so no real value can look like one.
    """
    text = json.dumps(value, default=_mark)
    return _MARKED.sub(lambda match: match.group(1), text) if "\\u0000" in text else text


def _mark(value: object) -> str:
    if isinstance(value, Decimal) and value.is_finite():
        return f"\x00{value}\x00"
    return str(value)


_MARKED = re.compile(r'"\\u0000([^"\\]*)\\u0000"')


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
        to_json(record.attributes),
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
        to_json(raw),
        raw_line,
    )
