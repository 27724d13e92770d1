"""CSV files fetched over SFTP through the Airflow SFTP provider, chosen by a glob and the run window.

``path`` is a glob whose file-name part may hold ``*``, ``?`` and ``[...]`` (folders are fixed), formatted
with the window first: ``{window_start:%Y%m%d}``, ``{window_end:...}``, and ``{date:%Y-%m-%d}``, which
stands for every UTC calendar date that the half-open window touches (a weekly window reads seven daily
files, a 15-minute window its day's file). Matching files are listed in one SFTP session, sorted by
path, and each is copied whole to local disk while its sha256 and size are taken; the size must equal
what the server's listing said. So a transfer dropped or cut short fails the extract before the loader
starts (``SourceUnavailable``, a retry reads the file again from the start), and the file registry
(``recon.staging.file_registry``) can tell an unchanged file from a re-delivered one.
"""

from __future__ import annotations

import fnmatch
import hashlib
import posixpath
import re
import stat
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator

from recon.sources import SourceUnavailable
from recon.sources.base import FetchedFile, FileSource
from recon.sources.registry import register
from recon.staging.csv_format import CsvFormat
from recon.window import RunWindow

CHUNK_BYTES = 1 << 20
PLACEHOLDERS = ("window_start", "window_end", "date")
_GLOB_CHARS = re.compile(r"[*?\[]")
_PLACEHOLDER = re.compile(r"{[^{}]*}")


@register
class SftpCsvSource(FileSource, CsvFormat):
    """CSV files on an SFTP server; ``path`` is a glob formatted with the run window.

    The dialect and column mapping (``fields``, ``amount_unit``, ``delimiter``, ...) are ``CsvFormat``'s.
    """

    type: Literal["sftp_csv"]
    path: str
    # No matching file is an error worth retrying (the export may be late); false loads an empty window.
    required: bool = True

    @field_validator("path")
    @classmethod
    def _path_is_a_window_glob(cls, value: str) -> str:
        for placeholder in re.findall(r"{(\w*)", value):
            if placeholder not in PLACEHOLDERS:
                raise ValueError(
                    f"unknown placeholder {{{placeholder}}}; use {{window_start:%Y-%m-%d}},"
                    " {window_end:%Y-%m-%d} or {date:%Y-%m-%d}"
                )
        folder = posixpath.dirname(_PLACEHOLDER.sub("", value))
        if _GLOB_CHARS.search(folder):
            raise ValueError(f"wildcards are allowed in the file name only, not in the folder {folder!r}")
        sample = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        try:
            value.format(window_start=sample, window_end=sample, date=sample.date())
        except (ValueError, IndexError, KeyError) as exc:
            raise ValueError(f"path {value!r} cannot be formatted with the window: {exc}") from None
        if posixpath.basename(value) == "":
            raise ValueError("path must name files, not end with '/'")
        return value

    def files(self, window: RunWindow, workdir: Path) -> AbstractContextManager[Iterator[FetchedFile]]:
        return _spooled_files(self, window, workdir)


def window_dates(window: RunWindow) -> list[date]:
    """Every UTC calendar date holding an instant of ``[start, end)``."""
    last = (window.end - timedelta(microseconds=1)).date()
    day = window.start.date()
    dates = []
    while day <= last:
        dates.append(day)
        day += timedelta(days=1)
    return dates


def remote_patterns(source: SftpCsvSource, window: RunWindow) -> list[str]:
    """The window's globs: one per date when the path uses ``{date}``, else one; no duplicates."""
    dates = window_dates(window) if re.search(r"{date\b", source.path) else [window.start.date()]
    formatted = (source.path.format(window_start=window.start, window_end=window.end, date=d) for d in dates)
    return list(dict.fromkeys(formatted))


@contextmanager
def _spooled_files(
    source: SftpCsvSource, window: RunWindow, workdir: Path
) -> Iterator[Iterator[FetchedFile]]:
    # Every file is on local disk before the first is handed on: a transfer that fails part way
    # through the window fails before the loader starts, so no row of the window is loaded.
    patterns = remote_patterns(source, window)
    fetched: list[FetchedFile] = []
    with _sftp_session(source.connection) as session:
        matches = session.matching(patterns)
        if not matches and source.required:
            raise SourceUnavailable(_nothing_matches(source, patterns))
        for index, (path, attrs) in enumerate(matches):
            local = workdir / f"{index:05d}-{posixpath.basename(path)}"
            fetched.append(session.spool(path, attrs, local))
    yield iter(fetched)


def _nothing_matches(source: SftpCsvSource, patterns: list[str]) -> str:
    where = f"connection {source.connection!r}"
    if len(patterns) == 1 and not _GLOB_CHARS.search(patterns[0]):
        return f"{where}: file {patterns[0]!r} does not exist"  # a fixed name: say it plainly
    shown = ", ".join(repr(p) for p in patterns[:3]) + (
        f" and {len(patterns) - 3} more" if len(patterns) > 3 else ""
    )
    return f"{where}: no file matches {shown} (path {source.path!r})"


class _Session:
    """One SFTP session: list folders once, copy files whole. Errors name the connection and the file."""

    def __init__(self, conn_id: str, sftp: Any) -> None:
        self.conn_id = conn_id
        self.sftp = sftp
        self.current: str | None = None  # the path being worked on, for error messages

    def matching(self, patterns: list[str]) -> list[tuple[str, Any]]:
        """Regular files matching any pattern, sorted by path, with their listed attributes."""
        by_folder: dict[str, list[str]] = {}
        for pattern in patterns:
            by_folder.setdefault(posixpath.dirname(pattern), []).append(posixpath.basename(pattern))
        found: dict[str, Any] = {}
        for folder, names in by_folder.items():
            self.current = folder
            try:
                entries = self.sftp.listdir_attr(folder or ".")
            except FileNotFoundError:
                continue  # no folder, no files: the caller decides whether that is an error
            for entry in entries:
                if stat.S_ISREG(entry.st_mode or 0) and any(
                    fnmatch.fnmatchcase(entry.filename, name) for name in names
                ):
                    found[posixpath.join(folder, entry.filename)] = entry
        self.current = None
        return sorted(found.items())

    def spool(self, path: str, attrs: Any, local: Path) -> FetchedFile:
        """Copy ``path`` to ``local`` in chunks, hashing as it goes; check the size against the listing."""
        self.current = path
        digest = hashlib.sha256()
        size = 0
        # No prefetch(): it buffers the whole file in memory when the reader is slower than the
        # network. Plain sequential reads keep memory at one chunk.
        with self.sftp.open(path, "rb") as remote, local.open("wb") as out:
            while chunk := remote.read(CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        where = f"connection {self.conn_id!r}: file {path!r}"
        if size < attrs.st_size:
            raise SourceUnavailable(f"{where}: transfer ended after {size} of {attrs.st_size} bytes")
        if size > attrs.st_size:
            # Listed at one size, read at another: the file is still being written. A retry waits.
            raise SourceUnavailable(
                f"{where}: read {size} bytes, listed at {attrs.st_size}; still being written?"
            )
        self.current = None
        modified = datetime.fromtimestamp(attrs.st_mtime, UTC) if attrs.st_mtime is not None else None
        origin = f"sftp://{self.conn_id}{path if path.startswith('/') else '/' + path}"
        return FetchedFile(local, origin, path, size, digest.hexdigest(), modified)

    def failure(self, exc: BaseException) -> SourceUnavailable:
        file = f" file {self.current!r}:" if self.current else ""
        detail = str(exc) or type(exc).__name__
        return SourceUnavailable(f"connection {self.conn_id!r}:{file} SFTP failed: {detail}")


@contextmanager
def _sftp_session(conn_id: str) -> Iterator[_Session]:
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    session: _Session | None = None
    try:
        hook = SFTPHook(ssh_conn_id=conn_id)
        with hook.get_managed_conn() as sftp:
            session = _Session(conn_id, sftp)
            yield session
    except SourceUnavailable:
        raise
    except (OSError, EOFError) as exc:
        raise (session or _Session(conn_id, None)).failure(exc) from None
    except Exception as exc:
        # paramiko's SSHException and friends are not OSErrors; name the connection either way.
        if type(exc).__module__.startswith("paramiko"):
            raise (session or _Session(conn_id, None)).failure(exc) from None
        raise
