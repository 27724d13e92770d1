"""The Stripe billing reconciliation, end to end: the real DAG, run with ``dag.test()`` against the
sandbox Stripe API, a real SFTP server, the warehouse, dbt, Great Expectations and the alert receiver.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import yaml
from slack_sdk.models.blocks import Block

from include.local_stack import SandboxStack
from include.sandbox.generator import billing_example, injected_breaks, injected_pending

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 11, 19)
WINDOW_START = dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
RUN_ID = "stripe_billing/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00"
# Every break the billing example plants (set to 0: a day where everything matches).
PLANTED = (
    "missing_in_stripe", "missing_internally", "amount_mismatches", "duplicate_rows", "near_duplicates",
    "currency_mismatches", "refunded_charges", "late_records",
)  # fmt: skip
# The same breaks over this many charges are over the 1 % tolerance but under the 5 % critical line.
WARNING_DAY_CHARGES = 1000


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
        "select array_to_string(coalesce(left_record_keys, right_record_keys), ','), break_class, missing_in"
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
        # A currency mismatch is counted on both its currencies' rows: once in the breaks.
        "select sum(break_count - cross_currency_break_count), sum(missing_in_left_count),"
        " sum(missing_in_right_count),"
        " sum(amount_mismatch_count), sum(duplicate_count), sum(near_duplicate_count),"
        " sum(currency_mismatch_count), sum(status_mismatch_count), sum(late_count), sum(pending_count)"
        " from reconciliation.run_summary where run_id = %s",
        (RUN_ID,),
    ).fetchone()
    assert totals == (17, 3, 4, 5, 1, 1, 2, 1, 1, 2)

    # Pending charges are units of the run, not breaks; the stripe side is where they are.
    units = warehouse.execute(
        "select left_record_keys, outcome, is_break, missing_in from recon_intermediate.int_records_matched"
        " where run_id = %s and outcome = 'pending'",
        (RUN_ID,),
    ).fetchall()
    assert sorted(units) == sorted(([key], "pending", False, "internal") for key in pending)
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

    # A day over the 5 % critical line: a red Slack message and a page, one incident for the day.
    assert sorted(item["channel"] for item in received_first) == ["pagerduty", "slack"]
    assert len(received) == 4, "each run sends one Slack message and one PagerDuty event"
    slack = next(item["body"] for item in received_first if item["channel"] == "slack")
    pages = [item["body"] for item in received if item["channel"] == "pagerduty"]
    assert slack["attachments"][0]["color"] == "#FF0000"
    assert slack["text"].startswith("stripe_billing 2026-11-19: 17 breaks,")
    blocks = slack["attachments"][0]["blocks"]
    text = json.dumps(blocks)
    assert "missing in internal: *4*" in text and "missing in stripe: *3*" in text
    assert "*Largest breaks*" in text and "None" not in text
    assert [Block.parse(block).validate_json() for block in blocks]  # valid Block Kit
    assert [page["event_action"] for page in pages] == ["trigger", "trigger"]
    assert {page["dedup_key"] for page in pages} == {"recon/stripe_billing/2026-11-19"}
    assert pages[0]["payload"]["summary"].endswith("17 breaks")
    assert pages[0]["payload"]["class"] == "reconciliation_discrepancy"
    assert "@example.com" not in str(received), "customer emails must be masked"
    outbox = warehouse.execute(
        "select attempt, channel, event, status from reconciliation.alert_outbox order by attempt, channel"
    ).fetchall()
    assert outbox == [(1, "pagerduty", "trigger", "sent"), (1, "slack", "result", "sent"),
                      (2, "pagerduty", "trigger", "sent"), (2, "slack", "result", "sent")]  # fmt: skip


def test_a_clean_rerun_of_a_critical_day_resolves_its_incident(
    billing_dag,
    warehouse: psycopg.Connection,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    critical = billing_example(seed=7, day=DAY)
    fixed = replace(critical, **{name: 0 for name in PLANTED})

    with SandboxStack(critical, tmp_path / "before") as stack:
        first = run_dag(billing_dag, stack, warehouse_url, monkeypatch)
        before = stack.receiver.received()
    with SandboxStack(fixed, tmp_path / "after") as stack:
        second = run_dag(billing_dag, stack, warehouse_url, monkeypatch)
        after = stack.receiver.received()

    assert (first.state, second.state) == ("success", "success")
    assert sorted(item["channel"] for item in before) == ["pagerduty", "slack"]
    assert run_row(warehouse) == ("success", None)
    # Clean: no Slack message (the spec does not ask for clean runs), and the day's incident resolved.
    assert [(item["channel"], item["body"]["event_action"], item["body"]["dedup_key"]) for item in after] == [
        ("pagerduty", "resolve", "recon/stripe_billing/2026-11-19")
    ]


def test_a_day_under_the_critical_line_posts_orange_and_pages_nobody_even_with_slack_down(
    billing_dag,
    warehouse: psycopg.Connection,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recon import tasks

    warning = replace(billing_example(seed=7, day=DAY), charge_count=WARNING_DAY_CHARGES)

    with SandboxStack(warning, tmp_path) as stack:
        stack.receiver.fail_next(500, times=3)  # Slack is down for the whole delivery round
        dag_run = run_dag(billing_dag, stack, warehouse_url, monkeypatch)
        during = stack.receiver.received()
        warnings = warehouse.execute(
            "select status, severity, warnings from reconciliation.runs where run_id = %s", (RUN_ID,)
        ).fetchone()
        failed = warehouse.execute(
            "select channel, status, attempts from reconciliation.alert_outbox where run_id = %s", (RUN_ID,)
        ).fetchall()
        # The maintenance DAG's task, once the alert's next attempt has come.
        warehouse.execute("update reconciliation.alert_outbox set next_attempt_at = now() - interval '1s'")
        warehouse.commit()
        retried = tasks.retry_alerts("recon_warehouse")
        after = stack.receiver.received()

    assert dag_run.state == "success", "an alert channel being down never fails the reconciliation"
    status, severity, run_warnings = warnings
    assert (status, severity) == ("discrepancy_found", "warning")
    assert [item["status"] for item in during] == [500, 500, 500]
    assert {item["channel"] for item in during} == {"slack"}, "no page under the critical line"
    assert failed == [("slack", "failed", 3)]
    assert len(run_warnings) == 1 and run_warnings[0].startswith("slack result alert not delivered")
    assert retried == {"sent": 1, "undelivered": 0}
    delivered = after[len(during) :]
    assert [(item["channel"], item["status"]) for item in delivered] == [("slack", 200)]
    assert delivered[0]["body"]["attachments"][0]["color"] == "#FFA500"


def test_negative_amounts_are_published_as_a_critical_run_that_pages_naming_the_rule(
    billing_dag,
    warehouse: psycopg.Connection,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A clean day but for two negated amounts in the app's export: the default amount_not_negative
    # (critical, on_fail: mark) fails. Severity is how loud: the run publishes, and on-call is paged.
    scenario = replace(billing_example(seed=7, day=DAY), **{name: 0 for name in PLANTED}, negative_amounts=2)

    with SandboxStack(scenario, tmp_path) as stack:
        dag_run = run_dag(billing_dag, stack, warehouse_url, monkeypatch)
        received = stack.receiver.received()

    assert dag_run.state == "success"
    severity, failures, break_counts = warehouse.execute(
        "select severity, integrity_failures, break_counts from reconciliation.runs where run_id = %s",
        (RUN_ID,),
    ).fetchone()
    assert severity == "critical"
    assert [
        (f["rule_name"], f["source"], f["on_fail"], f["unexpected_count"])
        for f in failures
        if f["severity"] == "critical"
    ] == [("amount_not_negative", "internal", "mark", 2)]
    # Marked rows stay and are matched: each negated amount is an amount mismatch.
    assert break_counts == {"amount_mismatch": 2}
    assert sorted(item["channel"] for item in received) == ["pagerduty", "slack"]
    slack = next(item["body"] for item in received if item["channel"] == "slack")
    page = next(item["body"] for item in received if item["channel"] == "pagerduty")
    assert slack["attachments"][0]["color"] == "#FF0000"
    assert "critical amount_not_negative on internal: 2 rows" in json.dumps(slack)
    assert (page["event_action"], page["dedup_key"]) == ("trigger", "recon/stripe_billing/2026-11-19")
    assert page["payload"]["summary"].endswith(
        "; critical integrity rules failed: amount_not_negative on internal (2 rows)"
    )


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
    # Paged once, after the task's retries, naming the task and the connection.
    assert_failure_alerted(received, "extract_stripe", "connection 'stripe_default'")


def assert_failure_alerted(received: list[dict], task_id: str, error: str) -> None:
    assert sorted(item["channel"] for item in received) == ["pagerduty", "slack"]
    slack = next(item["body"] for item in received if item["channel"] == "slack")
    page = next(item["body"] for item in received if item["channel"] == "pagerduty")
    assert slack["attachments"][0]["color"] == "#FF0000"
    assert slack["text"] == f"stripe_billing 2026-11-19: the reconciliation failed in {task_id}"
    assert error in json.dumps(slack) and "/dags/recon_stripe_billing/runs/" in json.dumps(slack)
    assert (page["event_action"], page["dedup_key"]) == ("trigger", "recon/stripe_billing/2026-11-19/failure")
    assert page["payload"]["class"] == "pipeline_failure" and page["payload"]["component"] == task_id
    assert error in page["payload"]["custom_details"]["error"]
