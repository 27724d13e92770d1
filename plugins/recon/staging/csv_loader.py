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
import threading
from collections.abc import Callable, Iterable, Iterator
from queue import Empty, Full, Queue
from typing import Any

import psycopg

from recon.errors import PermanentError
from recon.staging import partitions
from recon.staging.loader import FileCounts, LoadResult, QuarantineSpool, rejected_share_problem
from recon.window import RunWindow


class SourceFileError(PermanentError, ValueError):
    """A file that cannot be loaded at all, or rejects too much; the message names the file and line."""


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

    counts: list[FileCounts] = []
    with QuarantineSpool(window, source.name) as spool:
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("set local timezone = 'UTC'")  # occurred_at arrives as naive UTC text
                table = partitions.create_load_table(cur, window, source.name)
                for file in files:
                    reader = FileReader(source, file.local_path, file.origin)
                    partitions.set_origin(cur, table, file.origin)
                    with cur.copy(partitions.copy_statement(table, reader.columns, fmt="text")) as copy:
                        for chunk in _ahead(reader.chunks(spool.add)):
                            copy.write(chunk)
                    counts.append(FileCounts(file.origin, reader.loaded, reader.quarantined))
                    problem = rejected_share_problem(
                        file.origin, source.name, reader.loaded, reader.quarantined, source.max_rejected_share
                    )
                    if problem:
                        raise _TooManyRejected(problem)
                spool.replace(cur, window, source.name)
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
                spool.replace(cur, window, source.name)
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
