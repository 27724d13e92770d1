"""A CSV file fetched over SFTP through the Airflow SFTP provider and streamed into staging."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from recon.sources import SourceUnavailable
from recon.spec import SftpCsvSource
from recon.staging.csv_loader import CsvLayout
from recon.window import RunWindow


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
