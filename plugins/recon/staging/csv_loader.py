"""Load a window's CSV files into staging: vectorised parse and checks, then COPY into a new partition.

Each file is decoded to UTF-8 as it streams, parsed by pyarrow's streaming CSV reader in batches,
mapped and checked with Arrow compute kernels (``csv_batches``), and written as CSV into one COPY
into a fresh standalone table, which replaces the (run, source) slice of staging.records at commit
(``recon.staging.partitions``). Postgres only stores typed values: no landing table, no jsonb built
per row, no index maintenance. Rows that fail a check are re-examined one by one in Python, which
either loads them (a timestamp form the fast path does not know) or quarantines them with the
reason, the file and the physical line. All files of the window are one transaction.
"""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from queue import Empty, Full, Queue
from typing import Any

import psycopg

from recon.errors import PermanentError
from recon.staging import partitions
from recon.staging.csv_format import CsvFormat, CsvLayout  # noqa: F401  (CsvLayout: older importers)
from recon.staging.loader import FileCounts, LoadResult, clear_quarantine
from recon.window import RunWindow


class SourceFileError(PermanentError, ValueError):
    """A file that cannot be loaded at all, or rejects too much; the message names the file and line."""


def csv_format_of(source: Any) -> CsvFormat:
    """The source's ``CsvFormat``: itself, or one built from the keys older file sources had."""
    if isinstance(source, CsvFormat):
        return source
    return CsvFormat(
        fields=source.fields.model_dump(exclude_none=True),
        amount_unit=source.amount_unit,
        delimiter=source.delimiter,
        encoding=source.encoding,
    )


def replace_window_from_files(
    conn: psycopg.Connection,
    window: RunWindow,
    source: Any,
    files: Iterable[Any],
    before_commit: Callable[[psycopg.Cursor, LoadResult], None] | None = None,
) -> LoadResult:
    """Replace the window's rows of ``source`` with its CSV ``files``, all files as one transaction.

    ``before_commit(cur, result)`` runs inside that transaction, after the swap. When a file rejects
    more than ``source.max_rejected_share`` of its rows, nothing of the window is loaded, but its
    quarantine rows are committed so the reason can be read, and ``SourceFileError`` names the file.
    """
    from recon.staging.csv_batches import FileReader

    fmt = csv_format_of(source)
    counts: list[FileCounts] = []
    with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as spool:
        writer = csv.writer(spool)
        constants = (window.spec, source.name, window.run_id)

        def reject(row: tuple) -> None:
            writer.writerow((*row, *constants))

        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("set local timezone = 'UTC'")  # occurred_at arrives as naive UTC text
                table = partitions.create_load_table(cur, window, source.name)
                for file in files:
                    reader = FileReader(fmt, file.local_path, file.origin)
                    partitions.set_origin(cur, table, file.origin)
                    with cur.copy(partitions.copy_statement(table, reader.columns, fmt="text")) as copy:
                        for chunk in _ahead(reader.chunks(reject)):
                            copy.write(chunk)
                    counts.append(FileCounts(file.origin, reader.loaded, reader.quarantined))
                    _check_share(source, counts[-1])
                clear_quarantine(cur, window, source.name)
                _copy_spool(cur, spool)
                result = LoadResult(
                    source=source.name,
                    loaded=sum(c.loaded for c in counts),
                    quarantined=sum(c.quarantined for c in counts),
                    files=tuple(counts),
                )
                partitions.swap_in(cur, window, source.name, table)
                if before_commit is not None:
                    before_commit(cur, result)
        except _TooManyRejected as exc:
            # The records are rolled back; the quarantine is kept so a user can see why.
            with conn.transaction(), conn.cursor() as cur:
                clear_quarantine(cur, window, source.name)
                _copy_spool(cur, spool)
            raise SourceFileError(str(exc)) from None
    return result


def _ahead(chunks: Iterator[bytes], depth: int = 4) -> Iterator[bytes]:
    """``chunks`` produced on a thread of its own, at most ``depth`` ahead of the consumer.

    ``copy.write`` blocks until Postgres has taken most of a chunk, so without this the client's
    parsing and the server's COPY take turns; with it they overlap (Arrow kernels release the GIL).
    The bounded queue keeps memory at a few chunks whichever side is faster.
    """
    queue: Queue[tuple[str, Any]] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for chunk in chunks:
                while not stop.is_set():
                    try:
                        queue.put(("chunk", chunk), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(("done", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            queue.put(("error", exc))

    worker = threading.Thread(target=produce, name="csv-parse", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = queue.get()
            if kind == "chunk":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(Empty):
                queue.get_nowait()
            worker.join(timeout=0.05)


class _TooManyRejected(Exception):
    pass


def _check_share(source: Any, counts: FileCounts) -> None:
    total = counts.loaded + counts.quarantined
    if total and counts.quarantined / total > source.max_rejected_share:
        raise _TooManyRejected(
            f"{counts.origin}: {counts.quarantined} of {total} rows quarantined"
            f" ({counts.quarantined / total:.1%}), more than max_rejected_share"
            f" {float(source.max_rejected_share):.1%} of source {source.name!r}; nothing was loaded,"
            " the quarantined rows are in staging.quarantine"
        )


def _copy_spool(cur: psycopg.Cursor, spool: io.TextIOBase) -> None:
    spool.flush()
    spool.seek(0)
    statement = (
        "copy staging.quarantine (origin, origin_line, record_key, reason, raw, raw_line, spec, source,"
        " run_id) from stdin (format csv)"
    )
    with cur.copy(statement) as copy:
        while chunk := spool.read(1 << 20):
            copy.write(chunk)
