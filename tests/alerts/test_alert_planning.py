"""Which alerts a published run calls for (``outbox.result_alerts``), decided against the run ledger and
the outbox of a real warehouse: a Slack message when it found discrepancies, a page when it is critical,
and the resolve of the day's incidents once no window of that day is critical or failed any more."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from include.sandbox.alert_receiver import AlertReceiver
from recon.alerts import pagerduty
from recon.alerts.outbox import Alert, deliver, queue, result_alerts
from recon.spec import Spec
from recon.window import RunWindow
from tests.alerts.conftest import (
    DAY,
    SPEC,
    WINDOW,
    record_run,
    run_facts,
    window,
    with_alerts,
)

pytestmark = pytest.mark.integration

KEY = "recon/stripe_billing/2026-11-19"
FAILURE_KEY = f"{KEY}/failure"


def critical(conn: psycopg.Connection, run_window: RunWindow = WINDOW) -> dict:
    return record_run(conn, run_window, "discrepancy_found", "critical", "12.5")


def warning(conn: psycopg.Connection, run_window: RunWindow = WINDOW) -> dict:
    return record_run(conn, run_window, "discrepancy_found", "warning", "2.0")


def clean(conn: psycopg.Connection, run_window: RunWindow = WINDOW) -> dict:
    return record_run(conn, run_window, "success", "ok", "0")


def plan(conn: psycopg.Connection, run: dict, spec: Spec = SPEC) -> list[Alert]:
    return result_alerts(conn, spec, run_facts(run))


def shape(alerts: list[Alert]) -> list[tuple]:
    return [(alert.channel, alert.event, alert.dedup_key) for alert in alerts]


def publish(conn: psycopg.Connection, run: dict, spec: Spec = SPEC) -> list[Alert]:
    """What ``tasks.publish`` does after the run is recorded: plan its alerts and queue them."""
    alerts = plan(conn, run, spec)
    queue(conn, run["run_id"], spec.name, run["attempt"], alerts)
    return alerts


def fail(conn: psycopg.Connection, run_window: RunWindow) -> None:
    """A run that failed and paged on-call about it, as the failure notifier leaves it."""
    record_run(conn, run_window, "error")
    event = pagerduty.failure(
        SPEC.name, SPEC.owner, "error", dag_id="recon_stripe_billing", task_id="load_staging",
        airflow_run_id="scheduled__2026-11-20T00:00:00+00:00", window_start=run_window.start,
        window="2026-11-19", error="OperationalError: connection refused", log_url=None,
    )  # fmt: skip
    queue(
        conn,
        run_window.run_id,
        SPEC.name,
        1,
        [Alert("pagerduty", "failure", "pagerduty_alerts", event, FAILURE_KEY)],
    )


# A run on its own


def test_a_critical_run_posts_to_slack_and_pages_on_call(db: psycopg.Connection) -> None:
    alerts = plan(db, critical(db))

    assert shape(alerts) == [("slack", "result", None), ("pagerduty", "trigger", KEY)]
    event = alerts[1].payload
    assert (event["action"], event["dedup_key"], event["severity"]) == ("trigger", KEY, "critical")
    assert alerts[0].connection_id == "slack_alerts" and alerts[1].connection_id == "pagerduty_alerts"


def test_a_run_below_the_critical_percent_posts_to_slack_without_paging(db: psycopg.Connection) -> None:
    assert shape(plan(db, warning(db))) == [("slack", "result", None)]


def test_a_clean_run_says_nothing_unless_asked_to(db: psycopg.Connection) -> None:
    run = clean(db)

    assert plan(db, run) == []
    assert shape(plan(db, run, with_alerts(SPEC, slack={"notify_on_success": True}))) == [
        ("slack", "result", None)
    ]


# A run that matched every record but failed an integrity rule: publish_run gives it the rule's loudness
# (critical -> critical, high and medium -> warning, low -> info) and keeps its status success.
@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", [("slack", "result", None), ("pagerduty", "trigger", KEY)]),
        ("warning", [("slack", "result", None)]),
        ("info", []),
    ],
    ids=["critical_rule_pages", "high_or_medium_rule_posts", "low_rule_is_only_recorded"],
)
def test_a_run_without_breaks_is_told_as_loud_as_its_failed_rules(
    db: psycopg.Connection, severity: str, expected: list[tuple]
) -> None:
    run = record_run(db, WINDOW, "success", severity, "0")

    assert shape(plan(db, run)) == expected


def test_the_page_uses_the_spec_severity_and_each_channel_can_be_left_out(db: psycopg.Connection) -> None:
    run = critical(db)

    no_pager = plan(db, run, with_alerts(SPEC, pagerduty=None))
    no_slack = plan(
        db, run, with_alerts(SPEC, slack=None, pagerduty={"severity": "error", "connection": "pd"})
    )

    assert shape(no_pager) == [("slack", "result", None)]
    assert shape(no_slack) == [("pagerduty", "trigger", KEY)]
    assert (no_slack[0].connection_id, no_slack[0].payload["severity"]) == ("pd", "error")


def test_the_incident_is_the_utc_day_of_the_window_whatever_the_session_time_zone(
    db: psycopg.Connection,
) -> None:
    late = window(23, 1)  # 23:00-24:00 UTC on the 19th
    db.execute("set time zone 'Pacific/Kiritimati'")  # UTC+14: the 20th there
    run = critical(db, late)
    (start,) = db.execute(
        "select window_start from reconciliation.runs where run_id = %s", (late.run_id,)
    ).fetchone()
    assert start.day == 20  # as the warehouse hands it back

    assert shape(plan(db, {**run, "window_start": start}))[1] == ("pagerduty", "trigger", KEY)


# Resolving the day's incident


def test_a_rerun_no_longer_critical_resolves_the_page(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    publish(db, critical(db))
    deliver(db, pause=[].append)

    alerts = publish(db, warning(db))  # the rerun: attempt 2
    deliver(db, pause=[].append)

    assert shape(alerts) == [("slack", "result", None), ("pagerduty", "resolve", KEY)]
    assert alerts[1].payload["action"] == "resolve"
    assert [
        (item["body"]["event_action"], item["body"]["dedup_key"], item["status"])
        for item in receiver.received()
        if item["channel"] == "pagerduty"
    ] == [("trigger", KEY, 202), ("resolve", KEY, 202)]


def test_a_page_still_queued_is_resolved_too(db: psycopg.Connection) -> None:
    publish(db, critical(db))

    assert ("pagerduty", "resolve", KEY) in shape(plan(db, clean(db)))


def test_without_an_open_incident_nothing_is_resolved(db: psycopg.Connection) -> None:
    assert shape(plan(db, warning(db))) == [("slack", "result", None)]


def test_an_incident_already_resolved_is_not_resolved_again(db: psycopg.Connection) -> None:
    publish(db, critical(db))
    publish(db, warning(db))

    assert shape(plan(db, clean(db))) == []


def test_the_incident_stays_open_while_another_window_of_the_day_is_critical(db: psycopg.Connection) -> None:
    morning, afternoon = window(0, 12), window(12, 12)
    publish(db, critical(db, morning))
    publish(db, critical(db, afternoon))

    assert shape(plan(db, warning(db, morning))) == [("slack", "result", None)]
    publish(db, warning(db, morning))
    assert shape(plan(db, warning(db, afternoon))) == [
        ("slack", "result", None),
        ("pagerduty", "resolve", KEY),
    ]


def test_a_critical_window_of_another_day_does_not_hold_the_incident_open(db: psycopg.Connection) -> None:
    publish(db, critical(db))
    publish(db, critical(db, window(day=DAY + timedelta(days=1))))
    publish(db, critical(db, window(day=DAY - timedelta(days=1))))

    assert ("pagerduty", "resolve", KEY) in shape(plan(db, warning(db)))


def test_a_critical_window_that_has_not_published_does_not_hold_the_incident_open(
    db: psycopg.Connection,
) -> None:
    morning, afternoon = window(0, 12), window(12, 12)
    publish(db, critical(db, morning))
    publish(db, critical(db, afternoon))
    record_run(db, afternoon, "error", "critical", "12.5")  # its rerun failed: nothing of it stands

    assert ("pagerduty", "resolve", KEY) in shape(plan(db, warning(db, morning)))


# Resolving the day's failure incident


def test_a_window_that_publishes_resolves_its_failure_page(db: psycopg.Connection) -> None:
    fail(db, WINDOW)

    alerts = plan(db, critical(db))

    assert shape(alerts) == [
        ("slack", "result", None),
        ("pagerduty", "trigger", KEY),
        ("pagerduty", "resolve", FAILURE_KEY),
    ]
    assert (alerts[2].payload["action"], alerts[2].payload["dedup_key"]) == ("resolve", FAILURE_KEY)


def test_the_failure_page_stays_open_while_another_window_of_the_day_has_failed(
    db: psycopg.Connection,
) -> None:
    morning, afternoon = window(0, 12), window(12, 12)
    fail(db, morning)
    fail(db, afternoon)

    assert shape(plan(db, clean(db, morning))) == []
    publish(db, clean(db, morning))
    assert shape(plan(db, clean(db, afternoon))) == [("pagerduty", "resolve", FAILURE_KEY)]


def test_a_failure_page_resolved_once_is_not_resolved_again(db: psycopg.Connection) -> None:
    fail(db, WINDOW)
    publish(db, clean(db))

    assert shape(plan(db, clean(db))) == []


def test_a_clean_rerun_after_a_page_and_a_failure_queues_both_resolves(db: psycopg.Connection) -> None:
    publish(db, critical(db))
    fail(db, WINDOW)

    publish(db, clean(db))

    queued = db.execute(
        "select event, dedup_key, status from reconciliation.alert_outbox"
        " where channel = 'pagerduty' and event = 'resolve' order by dedup_key"
    ).fetchall()
    assert queued == [("resolve", KEY, "pending"), ("resolve", FAILURE_KEY, "pending")]
