"""A real SFTP server on loopback (asyncssh), standing in for the host of the app's nightly export.

It runs its own asyncio loop in a daemon thread so synchronous callers (tests, paramiko, Airflow's
SFTPHook) can use it without an event loop of their own. Password authentication only, with a host
key generated at start; clients must therefore skip host-key checking or accept the key on first use.

Transfers can be made to fail the way real SFTP hosts fail, so tests exercise the client's handling
against a real server: queue a ``TransferFault`` and the next download of a matching file takes it
(once; later downloads are served normally):

    server.faults.inject(TransferFault(match="*/payments_*.csv", drop_after_bytes=4096))

``drop_after_bytes`` serves that many bytes, then drops the whole SSH connection (a network cut);
``truncate_after_bytes`` serves that many bytes, then answers end-of-file (a short read, as when the
file is cut while we read it); ``read_delay`` waits before answering each read request (a slow host).
``put`` and ``put_many`` lay out files under the root, with the modification time a test needs.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hmac
import os
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncssh

from include.sandbox._service import Service
from include.sandbox.faults import FaultQueue

_START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class TransferFault:
    """A fault for the next download of a file whose SFTP path matches ``match`` (fnmatch, from ``/``)."""

    match: str = "*"
    drop_after_bytes: int | None = None
    truncate_after_bytes: int | None = None
    read_delay: float = 0.0  # seconds, before each read request is answered


class TransferFaults(FaultQueue[TransferFault]):
    """Transfer faults matched by fnmatch on the SFTP path; ``applied`` lists (fault, path) served."""

    def matches(self, fault: TransferFault, path: str) -> bool:
        return fnmatch.fnmatchcase(path, fault.match)

    @property
    def applied(self) -> list[tuple[TransferFault, str]]:
        return list(self.taken)


class _FaultySFTPServer(asyncssh.SFTPServer):
    """asyncssh's file server, with queued faults applied to downloads (files opened for reading)."""

    def __init__(self, chan: asyncssh.SSHServerChannel, chroot: bytes, faults: TransferFaults) -> None:
        super().__init__(chan, chroot=chroot)
        self._faults = faults
        self._faulted: dict[int, TransferFault] = {}  # id(open file) -> its fault, for this transfer

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        file_obj = super().open(path, pflags, attrs)
        if not pflags & asyncssh.FXF_WRITE:
            fault = self._faults.take("/" + path.decode(errors="replace").lstrip("/"))
            if fault is not None:
                self._faulted[id(file_obj)] = fault
        return file_obj

    def close(self, file_obj: object) -> None:
        self._faulted.pop(id(file_obj), None)
        super().close(file_obj)

    async def read(self, file_obj: object, offset: int, size: int) -> bytes:
        fault = self._faulted.get(id(file_obj))
        if fault is None:
            return super().read(file_obj, offset, size)
        if fault.read_delay:
            await asyncio.sleep(fault.read_delay)
        if fault.drop_after_bytes is not None and offset >= fault.drop_after_bytes:
            # Abort the SSH connection itself: the client sees the network go away mid-file.
            self.connection.abort()
            return b""  # never sent: the connection is gone
        if fault.truncate_after_bytes is not None and offset >= fault.truncate_after_bytes:
            return b""  # end of file, early
        limits = [
            limit for limit in (fault.drop_after_bytes, fault.truncate_after_bytes) if limit is not None
        ]
        if limits:
            size = min(size, min(limits) - offset)  # stop exactly at the limit; the next read meets it
        return super().read(file_obj, offset, size)


class _PasswordOnlyServer(asyncssh.SSHServer):
    def __init__(self, username: str, password: str, live: set[asyncssh.SSHServerConnection]) -> None:
        self._username = username
        self._password = password
        self._live = live  # shared with the sandbox so stop() can close sessions still open
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._live.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._live.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # always demand credentials

    def password_auth_supported(self) -> bool:
        return True

    def kbdint_auth_supported(self) -> bool:
        return False  # keep the auth surface to exactly what SFTPHook uses

    def public_key_auth_supported(self) -> bool:
        return False

    def validate_password(self, username: str, password: str) -> bool:
        user_ok = hmac.compare_digest(username.encode(), self._username.encode())
        password_ok = hmac.compare_digest(password.encode(), self._password.encode())
        return user_ok and password_ok


class SftpSandbox(Service):
    """Serves ``root`` over SFTP as ``/`` (chrooted), read-write, until ``stop``."""

    def __init__(
        self,
        root: Path,
        username: str = "recon",
        *,
        password: str,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.root = Path(root)
        self.username = username
        self._password = password
        self.host = host
        self._requested_port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._live: set[asyncssh.SSHServerConnection] = set()
        self.port: int | None = None
        self.host_public_key: str | None = None  # "ssh-ed25519 AAAA...", for pinning in the client
        self.faults = TransferFaults()

    def put(self, path: str, content: bytes | str, modified_at: datetime | None = None) -> Path:
        """Write ``content`` at SFTP ``path`` (under the root), creating folders; return the local path.

        ``modified_at`` sets the file's modification time, which the server reports in ``stat``.
        """
        local = self.root / path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(content.encode() if isinstance(content, str) else content)
        if modified_at is not None:
            stamp = modified_at.timestamp()
            os.utime(local, (stamp, stamp))
        return local

    def put_many(self, files: Mapping[str, bytes | str]) -> list[Path]:
        """Lay out many files at once: SFTP path -> content. Returns the local paths, in order given."""
        return [self.put(path, content) for path, content in files.items()]

    def start(self) -> int:
        """Start listening and return the bound port; returns only once connections are accepted."""
        if self._loop is not None:
            raise RuntimeError("SftpSandbox is already running")
        self.root.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp-sandbox", daemon=True)
        self._thread.start()
        future: Future[asyncssh.SSHAcceptor] = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        try:
            self._acceptor = future.result(timeout=_START_TIMEOUT_S)
        except BaseException:
            self._stop_loop()
            raise
        self.port = self._acceptor.get_port()
        return self.port

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._acceptor is not None:
            asyncio.run_coroutine_threadsafe(self._close(self._acceptor), self._loop).result(
                timeout=_START_TIMEOUT_S
            )
            self._acceptor = None
        self._stop_loop()
        self.port = None
        self.host_public_key = None

    async def _listen(self) -> asyncssh.SSHAcceptor:
        # Ed25519 is quick to generate and every paramiko release that Airflow supports accepts it.
        host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.host_public_key = host_key.export_public_key("openssh").decode().split("\n")[0].strip()
        chroot = str(self.root.resolve())
        return await asyncssh.listen(
            self.host,
            self._requested_port,
            server_host_keys=[host_key],
            server_factory=lambda: _PasswordOnlyServer(self.username, self._password, self._live),
            sftp_factory=lambda chan: _FaultySFTPServer(chan, chroot.encode(), self.faults),
            allow_scp=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_pty=False,
        )

    async def _close(self, acceptor: asyncssh.SSHAcceptor) -> None:
        acceptor.close()
        await acceptor.wait_closed()
        # Closing the listener leaves established sessions running; end them too.
        for conn in list(self._live):
            conn.close()
        await asyncio.gather(*(conn.wait_closed() for conn in list(self._live)), return_exceptions=True)

    def _stop_loop(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=_START_TIMEOUT_S)
        self._loop.close()
        self._loop = None
        self._thread = None
