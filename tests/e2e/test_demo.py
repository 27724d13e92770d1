"""`make demo`'s driver, run as a user runs it: twice in a row (by default, then naming the spec), with the
same summary both times; and an unknown spec refused before anything starts."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from include.scenarios.stripe_billing import Scenario

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "include.demo", "--day", "2026-11-18", "--seed", "11", *args],
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=900,
    )


def summary(stdout: str) -> str:
    """The printed report, from the run line on (the lines before name paths and ports), without the
    Airflow run's link (its run id is the time the demo ran)."""
    report = stdout[stdout.index("\nrun stripe_billing/") :]
    return re.sub(r"/runs/manual__[^ )]+", "/runs/<airflow run>", report)


def test_the_demo_finds_the_injected_discrepancies_twice_in_a_row() -> None:
    first = run_demo()
    second = run_demo("--spec", "stripe_billing")

    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "recon demo: recon_stripe_billing for 2026-11-18 (seed 11)" in first.stdout
    assert "run stripe_billing/2026-11-18T00:00:00+00:00/2026-11-19T00:00:00+00:00: DISCREPANCY_FOUND" in (
        first.stdout
    )
    report = summary(first.stdout)
    # One line per class, found beside expected, and none differs.
    expected = Scenario(seed=11, day=dt.date(2026, 11, 18)).expected_breaks()
    for (break_class, missing_in), count in expected.items():
        label = break_class + (f" (missing in {missing_in})" if missing_in else "")
        assert f"  {label:<40} {count:>4}  ({count})\n" in report, label
    assert "differs" not in report
    assert "stripe_vs_internal" in report and "USD" in report and "KWD" in report
    recommendations = (
        report[report.index("\nrecommendations:\n") :].strip().split("\n\n", 1)[0].splitlines()[1:]
    )
    assert len(recommendations) >= len(expected) and all(line.startswith("  - ") for line in recommendations)
    assert any("pending inside the settlement window" in line for line in recommendations)
    assert "all injected discrepancies found, nothing else: yes" in first.stdout
    # It ends with where to look next: the dashboard, started with `make ui`, and this run's page there.
    last = first.stdout.rstrip().splitlines()[-1]
    assert "this run: http://localhost:8080/recon/runs/stripe_billing%2F20" in last
    assert "make ui" in first.stdout.rstrip().splitlines()[-2]
    # The day is over the 5 % critical line: a red Slack message and a page, drawn as on-call sees them.
    assert "\nSlack message, red bar (#FF0000):\n  ┃ STRIPE_BILLING 2026-11-18: 17 BREAKS," in report
    assert "  ┃ *Largest breaks*\n" in report and "Airflow run (http://" in report
    assert "\nPagerDuty trigger · severity critical · dedup key recon/stripe_billing/2026-11-18\n" in report
    assert summary(second.stdout) == report


def test_an_unknown_spec_is_refused_naming_the_scenarios_that_exist() -> None:
    refused = run_demo("--spec", "no_such_spec")

    assert refused.returncode != 0
    assert "no sandbox scenario for spec 'no_such_spec'" in refused.stderr
    assert "stripe_billing" in refused.stderr.splitlines()[-1]
    assert "running: airflow dags test" not in refused.stdout
