"""``python -m include.sandbox``: the generate command in-process, serve as a real subprocess."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import paramiko
import pytest

from include.sandbox import generator as g
from include.sandbox.__main__ import main

REPO_ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 11, 19)


def test_generate_writes_the_three_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--day", DAY.isoformat(), "--seed", "9", "--out", str(tmp_path)]) == 0
    scenario = g.BillingScenario(seed=9, day=DAY)

    g.write_payments_csv(scenario, tmp_path / "reference.csv")
    assert (tmp_path / g.payments_file_name(DAY)).read_bytes() == (tmp_path / "reference.csv").read_bytes()
    assert json.loads((tmp_path / "charges.json").read_text()) == g.stripe_charges(scenario)
    expected = json.loads((tmp_path / "expected_breaks.json").read_text())
    assert {g.InjectedBreak(**b) for b in expected} == g.injected_breaks(scenario)
    assert sorted(expected, key=lambda b: b["record_key"]) == expected
    assert set(expected[0]) == {f.name for f in dataclasses.fields(g.InjectedBreak)}
    assert "CSV rows" in capsys.readouterr().out


def _read_banner(process: subprocess.Popen[str], timeout_s: float = 15) -> str:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    banner = ""
    while "recorded in" not in banner:
        banner += lines.get(timeout=timeout_s)
    return banner


@pytest.mark.integration
def test_serve_runs_all_peers_until_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "RECON_SANDBOX_SFTP_PASSWORD": "from-env"}
    command = [
        sys.executable,
        "-m",
        "include.sandbox",
        "serve",
        "--day",
        DAY.isoformat(),
        "--seed",
        "4",
        "--data-dir",
        str(tmp_path),
        "--stripe-port",
        "0",
        "--sftp-port",
        "0",
        "--receiver-port",
        "0",
        "--ticketing-port",
        "0",
        "--graphql-port",
        "0",
        "--sales",
        "20",
    ]
    with subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True) as process:
        try:
            _check_peers(_read_banner(process), tmp_path)
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0


def _check_peers(banner: str, data_dir: Path) -> None:
    stripe_url = re.search(r"stripe:\s+(http://\S+)", banner).group(1)
    sftp_port = int(re.search(r"sftp:\s+127\.0\.0\.1:(\d+)", banner).group(1))
    alerts_url = re.search(r"alerts:\s+(http://\S+)", banner).group(1)

    assert (data_dir / "sftp" / "exports" / "payments" / g.payments_file_name(DAY)).is_file()
    request = urllib.request.Request(
        stripe_url + "/v1/charges?limit=3", headers={"Authorization": "Bearer sk_test_sandbox"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert len(json.load(response)["data"]) == 3
    transport = paramiko.Transport(("127.0.0.1", sftp_port))
    transport.connect(username="recon", password="from-env")
    transport.close()
    with urllib.request.urlopen(alerts_url + "/", timeout=5) as response:
        assert response.status == 200
    tickets_url = re.search(r"tickets:\s+(http://\S+)", banner).group(1)
    request = urllib.request.Request(
        tickets_url + "/v3/sales?limit=5", headers={"Authorization": "Bearer tix_test_token"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert len(json.load(response)["data"]) == 5
    orders_url = re.search(r"orders:\s+(http://\S+)", banner).group(1)
    query = json.dumps({"query": "{ orders(first: 3) { edges { node { id } } } }"}).encode()
    request = urllib.request.Request(
        orders_url,
        data=query,
        headers={"Authorization": "Bearer oms_test_token", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert len(json.load(response)["data"]["orders"]["edges"]) == 3
