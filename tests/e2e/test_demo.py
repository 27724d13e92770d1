"""`make demo`'s driver, run as a user runs it: twice in a row, with the same summary both times."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_demo() -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "include.demo", "--day", "2026-11-18", "--seed", "11"],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def summary(stdout: str) -> str:
    """The printed report, from the run line on (the lines before name paths and ports)."""
    return stdout[stdout.index("\nrun stripe_billing/") :]


def test_the_demo_finds_the_injected_discrepancies_twice_in_a_row() -> None:
    first = run_demo()
    second = run_demo()

    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "run stripe_billing/2026-11-18T00:00:00+00:00/2026-11-19T00:00:00+00:00: DISCREPANCY_FOUND" in (
        first.stdout
    )
    assert "all injected discrepancies found, nothing else: yes" in first.stdout
    assert "slack" in summary(first.stdout) and "pagerduty" in summary(first.stdout)
    assert summary(second.stdout) == summary(first.stdout)
