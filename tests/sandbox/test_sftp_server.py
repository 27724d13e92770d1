"""The SFTP sandbox, through paramiko directly and through Airflow's SFTPHook (which uses paramiko)."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from include.sandbox import generator as g
from include.sandbox.sftp_server import SftpSandbox

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
