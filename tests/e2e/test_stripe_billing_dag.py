"""The Stripe billing reconciliation, end to end: the real DAG, run with ``dag.test()`` against the
sandbox Stripe API, a real SFTP server, the warehouse, dbt, Great Expectations and the alert receiver.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml

from include.local_stack import SandboxStack
from include.sandbox.generator import billing_example, injected_breaks, injected_pending

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 11, 19)
WINDOW_START = dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
RUN_ID = "stripe_billing/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00"


@pytest.fixture(scope="module")
def fast_retry_specs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The shipped specs, with retries one second apart so failure paths finish quickly."""
    specs = tmp_path_factory.mktemp("specs")
    for path in (PROJECT_ROOT / "include" / "specs").glob("*.yml"):
        document = yaml.safe_load(path.read_text())
        document.update(retries=1, retry_delay_seconds=1)
        (specs / path.name).write_text(yaml.safe_dump(document))
    previous = os.environ.get("RECON_SPECS_DIR")
    os.environ["RECON_SPECS_DIR"] = str(specs)
    yield specs
    if previous is None:
        os.environ.pop("RECON_SPECS_DIR")
    else:
        os.environ["RECON_SPECS_DIR"] = previous


@pytest.fixture
def billing_dag(airflow_db, fast_retry_specs):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "recon_specs.py"))
    assert bag.import_errors == {}
    return bag.dags["recon_stripe_billing"]


def run_dag(dag, stack: SandboxStack, warehouse_url: str, monkeypatch: pytest.MonkeyPatch):
    for name, value in stack.environment(warehouse_url).items():
        monkeypatch.setenv(name, value)
    return dag.test(logical_date=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))


def breaks_found(conn: psycopg.Connection) -> set[tuple]:
    rows = conn.execute(
        "select coalesce(left_record_keys, right_record_keys), break_class, missing_in"
        " from reconciliation.run_breaks where run_id = %s",
        (RUN_ID,),
    ).fetchall()
    return {tuple(row) for row in rows}


def run_row(conn: psycopg.Connection) -> tuple:
    return conn.execute(
        "select status, error_message from reconciliation.runs where run_id = %s", (RUN_ID,)
    ).fetchone()


def test_a_run_finds_exactly_the_injected_breaks_and_alerts_on_call(
    billing_dag,
    warehouse: psycopg.Connection,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = billing_example(seed=7, day=DAY)
    expected = {(b.record_key, b.break_class, b.missing_in) for b in injected_breaks(scenario)}
    pending = injected_pending(scenario)
    # The premise: every class the issue names is planted, and two charges wait in the last hour.
    assert {b for _, b, _ in expected} == {
        "missing", "amount_mismatch", "duplicate", "near_duplicate", "currency_mismatch", "status_mismatch",
        "late",
    }  # fmt: skip
    assert len(pending) == 2

    with SandboxStack(scenario, tmp_path) as stack:
        first = run_dag(billing_dag, stack, warehouse_url, monkeypatch)
        after_first = breaks_found(warehouse)
        received_first = stack.receiver.received()
        second = run_dag(billing_dag, stack, warehouse_url, monkeypatch)
        received = stack.receiver.received()

    assert first.state == "success"
    assert second.state == "success"
    assert after_first == expected
    assert breaks_found(warehouse) == expected, "a rerun of the window must replace, not add"
    totals = warehouse.execute(
        "select sum(break_count), sum(missing_in_left_count), sum(missing_in_right_count),"
        " sum(amount_mismatch_count), sum(duplicate_count), sum(near_duplicate_count),"
        " sum(currency_mismatch_count), sum(status_mismatch_count), sum(late_count), sum(pending_count)"
        " from reconciliation.run_summary where run_id = %s",
        (RUN_ID,),
    ).fetchone()
    assert totals == (17, 3, 4, 5, 1, 1, 1, 1, 1, 2)

    # Pending charges are units of the run, not breaks; the stripe side is where they are.
    units = warehouse.execute(
        "select left_record_keys, outcome, is_break, missing_in from recon_intermediate.int_records_matched"
        " where run_id = %s and outcome = 'pending'",
        (RUN_ID,),
    ).fetchall()
    assert sorted(units) == sorted((key, "pending", False, "internal") for key in pending)
    assert not {key for key, _, _ in breaks_found(warehouse)} & pending

    # The run row: status by tolerance_percent (1 %, per pair and currency), severity, counts, advice.
    summary = warehouse.execute(
        "select currency, break_count, discrepancy_percent, status from reconciliation.run_summary"
        " where run_id = %s",
        (RUN_ID,),
    ).fetchall()
    over = [c for c, breaks, percent, _ in summary if breaks and percent > Decimal(1)]
    within = [c for c, breaks, percent, _ in summary if breaks and percent <= Decimal(1)]
    assert over and within, "the premise: the day has currencies on both sides of the 1 % line"
    expected_status = "discrepancy_found" if over else "success"
    assert {c: status for c, _, _, status in summary} == {
        c: "discrepancy_found" if c in over else "success" for c, _, _, _ in summary
    }
    run = warehouse.execute(
        "select status, error_message, severity, break_count, pending_count, break_counts, recommendations"
        " from reconciliation.runs where run_id = %s",
        (RUN_ID,),
    ).fetchone()
    status, error, severity, break_count, pending_count, break_counts, recommendations = run
    assert (status, error) == (expected_status, None)
    assert severity in ("info", "warning", "critical")
    assert (break_count, pending_count) == (17, 2)
    assert break_counts == {
        "missing": 7, "amount_mismatch": 5, "duplicate": 1, "near_duplicate": 1, "currency_mismatch": 1,
        "status_mismatch": 1, "late": 1,
    }  # fmt: skip
    assert len(recommendations) >= len(break_counts) + 1  # one per class (missing: per side), and pending
    assert all(isinstance(r, str) and len(r.split()) >= 5 and r.endswith(".") for r in recommendations)
    assert any("pending" in r for r in recommendations)

    assert sorted(item["channel"] for item in received_first) == ["pagerduty", "slack"]
    assert len(received) == 4, "each run sends one Slack message and one PagerDuty event"
    slack = next(item["body"] for item in received_first if item["channel"] == "slack")
    pagerduty = next(item["body"] for item in received_first if item["channel"] == "pagerduty")
    assert "17 breaks" in slack["text"]
    assert pagerduty["event_action"] == "trigger"
    assert pagerduty["payload"]["summary"].endswith("17 breaks")
    assert "@example.com" not in str(slack) + str(pagerduty), "customer emails must be masked"


def test_a_critical_integrity_failure_stops_the_run_before_anything_is_published(
    billing_dag,
    warehouse: psycopg.Connection,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = replace(billing_example(seed=7, day=DAY), negative_amounts=2)

    with SandboxStack(scenario, tmp_path) as stack:
        dag_run = run_dag(billing_dag, stack, warehouse_url, monkeypatch)
        received = stack.receiver.received()

    assert dag_run.state == "failed"
    status, error = run_row(warehouse)
    assert status == "error"
    assert "validate_staging" in error and "amount_not_negative on internal: 2 unexpected rows" in error
    assert received == []
    assert warehouse.execute("select to_regclass('reconciliation.run_breaks')").fetchone() == (None,)
    assert warehouse.execute("select count(*) from reconciliation.alert_outbox").fetchone() == (0,)


def test_an_unreachable_source_fails_naming_its_connection_and_publishes_nothing(
    billing_dag,
    warehouse: psycopg.Connection,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scenario = billing_example(seed=7, day=DAY)

    with SandboxStack(scenario, tmp_path) as stack:
        stack.stripe.stop()  # the Stripe API goes away: its port now refuses connections
        dag_run = run_dag(billing_dag, stack, warehouse_url, monkeypatch)
        received = stack.receiver.received()

    assert dag_run.state == "failed"
    status, error = run_row(warehouse)
    assert status == "error"
    assert "extract_stripe" in error and "connection 'stripe_default'" in error
    assert received == []
