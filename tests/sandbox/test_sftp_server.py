"""The SFTP sandbox, through paramiko directly and through Airflow's SFTPHook (which uses paramiko)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from include.sandbox import generator as g
from include.sandbox.sftp_server import SftpSandbox, TransferFault

pytestmark = pytest.mark.integration  # real servers on loopback


PASSWORD = "correct horse battery staple"
SCENARIO = g.BillingScenario(seed=2, day=dt.date(2026, 11, 19), charge_count=20)
EXPORT_DIR = "exports/payments"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sftp-root")
    g.write_payments_csv(SCENARIO, root / EXPORT_DIR / g.payments_file_name(SCENARIO.day))
    return root


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[SftpSandbox]:
    with SftpSandbox(root, password=PASSWORD) as running:
        yield running


@pytest.fixture
def sftp(server: SftpSandbox) -> Iterator[paramiko.SFTPClient]:
    transport = paramiko.Transport(("127.0.0.1", server.port))
    transport.connect(username="recon", password=PASSWORD)
    client = paramiko.SFTPClient.from_transport(transport)
    assert client is not None
    yield client
    client.close()
    transport.close()


def test_start_returns_a_listening_port(server: SftpSandbox) -> None:
    assert server.port
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as sock:
        assert sock.recv(64).startswith(b"SSH-2.0-")


def test_paramiko_lists_and_reads_the_export(sftp: paramiko.SFTPClient, root: Path) -> None:
    name = g.payments_file_name(SCENARIO.day)
    assert sftp.listdir("/") == ["exports"]
    assert sftp.listdir(f"/{EXPORT_DIR}") == [name]
    with sftp.open(f"/{EXPORT_DIR}/{name}") as remote:
        assert remote.read() == (root / EXPORT_DIR / name).read_bytes()


def test_root_is_a_chroot(sftp: paramiko.SFTPClient) -> None:
    assert sftp.normalize("/../..") == "/"
    assert sftp.listdir("/../..") == ["exports"]


def test_writes_land_under_root(sftp: paramiko.SFTPClient, root: Path) -> None:
    with sftp.open("/upload.txt", "w") as remote:
        remote.write(b"written over sftp")
    assert (root / "upload.txt").read_bytes() == b"written over sftp"
    sftp.remove("/upload.txt")


def test_host_key_is_the_advertised_one(server: SftpSandbox) -> None:
    assert server.host_public_key is not None
    key_type, key_data = server.host_public_key.split()[:2]
    transport = paramiko.Transport(("127.0.0.1", server.port))
    try:
        transport.start_client(timeout=5)
        remote = transport.get_remote_server_key()
        assert (remote.get_name(), remote.get_base64()) == (key_type, key_data)
    finally:
        transport.close()


@pytest.mark.parametrize(("username", "password"), [("recon", "wrong"), ("someone", PASSWORD)])
def test_bad_credentials_fail_authentication(server: SftpSandbox, username: str, password: str) -> None:
    transport = paramiko.Transport(("127.0.0.1", server.port))
    try:
        with pytest.raises(paramiko.AuthenticationException):
            transport.connect(username=username, password=password)
    finally:
        transport.close()


def _set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.mark.parametrize("verify_host", [False, True], ids=["no_host_key_check", "pinned_host_key"])
def test_airflow_sftp_hook(
    server: SftpSandbox, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verify_host: bool
) -> None:
    from airflow.providers.sftp.hooks.sftp import SFTPHook

    extra: dict[str, object] = {"look_for_keys": False}
    extra.update({"host_key": server.host_public_key} if verify_host else {"no_host_key_check": True})
    conn = {
        "conn_type": "sftp",
        "host": "127.0.0.1",
        "port": server.port,
        "login": "recon",
        "password": PASSWORD,
        "extra": extra,
    }
    _set_connection(monkeypatch, "recon_sftp_sandbox", conn)
    name = g.payments_file_name(SCENARIO.day)

    hook = SFTPHook(ssh_conn_id="recon_sftp_sandbox")
    assert hook.list_directory(f"/{EXPORT_DIR}") == [name]
    hook.retrieve_file(f"/{EXPORT_DIR}/{name}", str(tmp_path / name))
    assert (tmp_path / name).read_bytes() == (root / EXPORT_DIR / name).read_bytes()


def test_stop_closes_listener_and_sessions(tmp_path: Path) -> None:
    server = SftpSandbox(tmp_path, password=PASSWORD)
    port = server.start()
    transport = paramiko.Transport(("127.0.0.1", port))
    transport.connect(username="recon", password=PASSWORD)
    server.stop()
    transport.join(timeout=5)  # the transport thread ends once the server hangs up
    assert not transport.is_active()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


# --- transfer faults and file layout -------------------------------------------------------------------

BIG = bytes(range(256)) * 400  # 100 kB: several SFTP read requests


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[SftpSandbox]:
    """A server of its own, so queued faults and laid-out files never leak into other tests."""
    with SftpSandbox(tmp_path / "root", password=PASSWORD) as running:
        yield running


def _client(server: SftpSandbox) -> tuple[paramiko.Transport, paramiko.SFTPClient]:
    transport = paramiko.Transport(("127.0.0.1", server.port))
    transport.connect(username="recon", password=PASSWORD)
    client = paramiko.SFTPClient.from_transport(transport)
    assert client is not None
    return transport, client


def _download(server: SftpSandbox, path: str) -> bytes:
    transport, client = _client(server)
    try:
        with client.open(path, "rb") as remote:
            received = b""
            while chunk := remote.read(32768):
                received += chunk
            return received
    finally:
        client.close()
        transport.close()


def test_put_many_lays_out_files_with_their_modified_time(fresh: SftpSandbox) -> None:
    stamp = dt.datetime(2026, 11, 19, 6, 0, tzinfo=dt.UTC)
    fresh.put_many({"/a/one.csv": "1", "/a/b/two.csv": b"22"})
    fresh.put("/a/three.csv", "333", modified_at=stamp)
    transport, client = _client(fresh)
    try:
        listed = {entry.filename: entry for entry in client.listdir_attr("/a")}
        assert sorted(listed) == ["b", "one.csv", "three.csv"]
        assert (listed["one.csv"].st_size, listed["three.csv"].st_size) == (1, 3)
        assert listed["three.csv"].st_mtime == int(stamp.timestamp())
        assert client.listdir("/a/b") == ["two.csv"]
    finally:
        client.close()
        transport.close()


def test_a_dropped_transfer_cuts_the_connection_once_then_serves_normally(fresh: SftpSandbox) -> None:
    fresh.put("/exports/big.bin", BIG)
    fresh.faults.inject(TransferFault(match="/exports/*.bin", drop_after_bytes=40_000))
    transport, client = _client(fresh)
    received = b""

    with (
        pytest.raises((paramiko.SSHException, EOFError, OSError)),
        client.open("/exports/big.bin", "rb") as f,
    ):
        while chunk := f.read(32768):
            received += chunk

    transport.close()
    # paramiko drops the part of a read that was in flight; what did arrive is the file's start.
    assert 0 < len(received) <= 40_000
    assert BIG.startswith(received)
    assert fresh.faults.pending() == 0
    assert [path for _, path in fresh.faults.applied] == ["/exports/big.bin"]
    assert _download(fresh, "/exports/big.bin") == BIG


def test_a_truncated_transfer_ends_early_without_an_error(fresh: SftpSandbox) -> None:
    fresh.put("/exports/big.bin", BIG)
    fresh.faults.inject(TransferFault(truncate_after_bytes=1234))

    assert _download(fresh, "/exports/big.bin") == BIG[:1234]
    assert _download(fresh, "/exports/big.bin") == BIG


def test_a_fault_waits_for_a_file_matching_its_pattern(fresh: SftpSandbox) -> None:
    fresh.put_many({"/x/other.txt": BIG, "/x/target.csv": BIG})
    fresh.faults.inject(TransferFault(match="*.csv", truncate_after_bytes=10))

    assert _download(fresh, "/x/other.txt") == BIG
    assert fresh.faults.pending() == 1
    assert _download(fresh, "/x/target.csv") == BIG[:10]


def test_slow_reads_delay_each_read_request(fresh: SftpSandbox) -> None:
    fresh.put("/slow.bin", BIG[:65536])  # two 32 kB read requests, plus the one that meets the end
    fresh.faults.inject(TransferFault(read_delay=0.2))
    began = time.monotonic()

    received = _download(fresh, "/slow.bin")

    assert received == BIG[:65536]
    assert time.monotonic() - began >= 0.6


def test_uploads_take_no_fault(fresh: SftpSandbox) -> None:
    fresh.faults.inject(TransferFault(truncate_after_bytes=1))
    transport, client = _client(fresh)
    try:
        with client.open("/up.bin", "wb") as remote:
            remote.write(b"uploaded")
    finally:
        client.close()
        transport.close()

    assert (fresh.root / "up.bin").read_bytes() == b"uploaded"
    assert fresh.faults.pending() == 1
