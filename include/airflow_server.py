"""A real Airflow API server (UI + REST API) for the tests and for `make ui`, with two known users.

``airflow_api_server(env)`` migrates the metadata DB named in ``env``, serializes the project's DAGs
into it (so the UI lists them and the dagRuns API accepts triggers without a DAG processor running),
and starts ``airflow api-server`` with one worker on loopback and Airflow's SimpleAuthManager. The
users are ``admin`` (role admin) and ``viewer`` (role viewer); their passwords are random on each
start and written beforehand into the passwords file SimpleAuthManager reads (it only adds users that
the file lacks), so they are known here without scraping the server's output.

No scheduler runs: a triggered run stays queued. The server's output goes to ``ApiServer.log_path``;
a server that fails to start raises an error that shows the log's tail and names the file.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx

from recon.airflow_api import get_token

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
ROLES = {"admin": "admin", "viewer": "viewer"}  # username -> SimpleAuthManager role
HEALTH_PATH = "/api/v2/monitor/health"


class ApiServerError(RuntimeError):
    """The API server (or its preparation) failed; the message names the log to read."""


@dataclass
class ApiServer:
    """A running API server: where it is, who may log in, and where its output goes."""

    base_url: str
    users: dict[str, str]  # username -> password
    log_path: Path
    env: dict[str, str] = field(repr=False)  # what it runs with: a scheduler started with it joins it
    process: subprocess.Popen = field(repr=False)

    def running(self) -> bool:
        return self.process.poll() is None

    def token(self, username: str) -> str:
        """A fresh access token for one of the users (``POST /auth/token``)."""
        return get_token(self.base_url, username, self.users[username])


@contextmanager
def airflow_api_server(
    env: dict[str, str],
    port: int | None = None,
    *,
    host: str = "127.0.0.1",
    public_host: str | None = None,
    log_path: Path | None = None,
    startup_timeout: float = 180,
) -> Iterator[ApiServer]:
    """Start the API server on ``host:port`` (a free port when None) and stop it (and its children) on exit.

    ``env`` goes on top of this process's environment and must name ``AIRFLOW_HOME`` and the metadata DB
    (``include.local_stack.airflow_environment`` gives both), plus any ``AIRFLOW_CONN_*`` the DAGs or
    plugins need. ``public_host`` is the host name in the URL that the UI redirects to (``host`` when None).
    """
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if port is None:
        port = _free_port(host)
    elif not _port_free(host, port):
        raise ApiServerError(f"port {port} on {host} is in use: choose another one")
    base_url = f"http://{public_host or host}:{port}"
    log_path = log_path or home / "logs" / f"api-server-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="recon-api-server-"))
    try:
        users = {name: secrets.token_urlsafe(12) for name in ROLES}
        passwords = private / "passwords.json"
        passwords.write_text(json.dumps(users), encoding="utf-8")
        passwords.chmod(0o600)
        server_env = {
            **os.environ,
            **env,
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in ROLES.items()),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__BASE_URL": base_url,
            "AIRFLOW__API__HOST": host,
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            # Random per start: tokens of an earlier server are worthless here.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            # Where task workers of a scheduler started with this environment report to.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{host}:{port}/execution/",
        }
        with log_path.open("w", encoding="utf-8") as log:
            _airflow(["db", "migrate"], server_env, log, log_path)
            _airflow(["dags", "reserialize"], server_env, log, log_path)
            process = subprocess.Popen(
                [_airflow_bin(), "api-server", "--host", host, "--port", str(port), "--workers", "1"],
                env=server_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stopped with its workers
            )
        try:
            _wait_healthy(process, f"http://{host}:{port}", log_path, startup_timeout)
            yield ApiServer(base_url, users, log_path, server_env, process)
        finally:
            _stop(process)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _airflow(arguments: list[str], env: dict[str, str], log: TextIO, log_path: Path) -> None:
    log.write(f"$ airflow {' '.join(arguments)}\n")
    log.flush()
    done = subprocess.run([_airflow_bin(), *arguments], env=env, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode:
        raise ApiServerError(
            f"airflow {' '.join(arguments)} failed (exit {done.returncode}); its output is in {log_path}:\n"
            + _tail(log_path)
        )


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def _wait_healthy(process: subprocess.Popen, url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ApiServerError(
                f"airflow api-server exited with {process.returncode} while starting; log {log_path}:\n"
                + _tail(log_path)
            )
        try:
            if httpx.get(url + HEALTH_PATH, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.5)
    _stop(process)
    raise ApiServerError(
        f"airflow api-server did not answer {url}{HEALTH_PATH} within {timeout:g} s; log {log_path}:\n"
        + _tail(log_path)
    )


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (uvicorn and its workers), SIGKILL to what lingers."""
    for sig, grace in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break  # the whole group is gone
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_alive(process):
            time.sleep(0.1)
        if not _group_alive(process):
            break
    process.wait(timeout=5)


def _group_alive(process: subprocess.Popen) -> bool:
    process.poll()  # reap the leader, or it counts as alive while a zombie
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
