"""A CSV file fetched over SFTP through the Airflow SFTP provider and streamed into staging."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import BinaryIO, Literal

from pydantic import Field, field_validator

from recon.sources import SourceUnavailable
from recon.sources.base import FetchedFile, FileSource, StrictModel
from recon.sources.registry import register
from recon.staging.csv_loader import CsvLayout
from recon.window import RunWindow


class CsvFields(StrictModel):
    """Which CSV column feeds each canonical field."""

    record_key: str
    amount: str
    currency: str
    occurred_at: str
    status: str | None = None
    customer_email: str | None = None
    reference: str | None = None
    group_key: str | None = None


@register
class SftpCsvSource(FileSource):
    """A CSV file fetched over SFTP; ``path`` is formatted with the run window."""

    type: Literal["sftp_csv"]
    path: str
    fields: CsvFields
    amount_unit: Literal["major", "minor"] = "major"
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: str = "utf-8"

    @field_validator("path")
    @classmethod
    def _path_placeholders_are_known(cls, value: str) -> str:
        for placeholder in re.findall(r"{(\w+)", value):
            if placeholder not in ("window_start", "window_end"):
                raise ValueError(f"unknown placeholder {{{placeholder}}}; use {{window_start:%Y-%m-%d}}")
        return value

    def files(self, window: RunWindow, workdir: Path) -> AbstractContextManager[Iterator[FetchedFile]]:
        return _spooled_files(self, window, workdir)


@contextmanager
def _spooled_files(
    source: SftpCsvSource, window: RunWindow, workdir: Path
) -> Iterator[Iterator[FetchedFile]]:
    path = remote_path(source, window)
    local = workdir / Path(path).name
    digest = hashlib.sha256()
    size = 0
    with open_remote_file(source.connection, path) as stream, local.open("wb") as out:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    origin = f"sftp://{source.connection}{path}"
    yield iter([FetchedFile(local, origin, path, size, digest.hexdigest())])


def remote_path(source: SftpCsvSource, window: RunWindow) -> str:
    return source.path.format(window_start=window.start, window_end=window.end)


def layout(source: SftpCsvSource) -> CsvLayout:
    return CsvLayout(
        columns=source.fields.model_dump(exclude_none=True),
        amount_unit=source.amount_unit,
        delimiter=source.delimiter,
        encoding=source.encoding,
    )


@contextmanager
def open_remote_file(conn_id: str, path: str) -> Iterator[BinaryIO]:
    """Open ``path`` on the SFTP server of ``conn_id`` for streaming reads."""
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    try:
        hook = SFTPHook(ssh_conn_id=conn_id)
        with hook.get_managed_conn() as sftp:
            try:
                handle = sftp.open(path, "rb")
            except FileNotFoundError:
                raise SourceUnavailable(f"connection {conn_id!r}: file {path!r} does not exist") from None
            # No prefetch(): it buffers the whole file in memory when the reader is slower than the
            # network, and COPY is the slower side. Plain sequential reads keep memory bounded.
            with handle:
                yield handle
    except SourceUnavailable:
        raise
    except (OSError, EOFError) as exc:
        raise SourceUnavailable(f"connection {conn_id!r}: SFTP failed: {exc}") from None
    except Exception as exc:
        # paramiko's SSHException and friends are not OSErrors; name the connection either way.
        if type(exc).__module__.startswith("paramiko"):
            raise SourceUnavailable(f"connection {conn_id!r}: SFTP failed: {exc}") from None
        raise
