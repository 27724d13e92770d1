"""A real SFTP server on loopback (asyncssh), standing in for the host of the app's nightly export.

It runs its own asyncio loop in a daemon thread so synchronous callers (tests, paramiko, Airflow's
SFTPHook) can use it without an event loop of their own. Password authentication only, with a host
key generated at start; clients must therefore skip host-key checking or accept the key on first use.
"""

from __future__ import annotations

import asyncio
import hmac
import threading
from concurrent.futures import Future
from pathlib import Path

import asyncssh

from include.sandbox._service import Service

_START_TIMEOUT_S = 10.0


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
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=chroot.encode()),
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
