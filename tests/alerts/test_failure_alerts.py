"""The failure notifier against the warehouse and the loopback receiver: a task that failed for good marks
its run ``error``, posts to Slack and pages on-call once per run attempt, and still alerts when the
warehouse itself is what failed."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from types import SimpleNamespace

import psycopg
import pytest

from include.sandbox.alert_receiver import AlertReceiver
from recon import runs
from recon.alerts import outbox
from recon.alerts.failure import Failure, RunFailureNotifier, notify_failure
from recon.alerts.slack import RED
from recon.warehouse import airflow_connection
from tests.alerts.conftest import (
    SPEC,
    WINDOW,
    outbox_rows,
    page,
    record_run,
    run_row,
    slack_result,
    with_alerts,
)

pytestmark = pytest.mark.integration

RUN_ID = WINDOW.run_id
FAILURE_KEY = "recon/stripe_billing/2026-11-19/failure"
AIRFLOW_RUN_ID = "scheduled__2026-11-20T00:00:00+00:00"
LOG_URL = f"http://airflow.test/dags/recon_stripe_billing/runs/{AIRFLOW_RUN_ID}/tasks/load_staging"
FAILURE = Failure(
    dag_id="recon_stripe_billing",
    task_id="load_staging",
    airflow_run_id=AIRFLOW_RUN_ID,
    window_start=WINDOW.start,
    window_end=WINDOW.end,
    error="ValueError: payments_2026-11-19.csv line 7: no amount for ada.lovelace@example.com",
    log_url=LOG_URL,
)
MASKED_ERROR = "ValueError: payments_2026-11-19.csv line 7: no amount for a***@e***.com"


def channels(receiver: AlertReceiver) -> list[tuple[str, int]]:
    return [(item["channel"], item["status"]) for item in receiver.received()]


def slack_text(body: dict) -> str:
    """Everything a Slack message shows, its attachment's blocks flattened."""
    texts = [body["text"]]
    for block in body["attachments"][0]["blocks"]:
        texts += [block["text"]["text"]] if "text" in block else []
        texts += [element["text"] for element in block.get("elements", [])]
    return "\n".join(texts)


def test_a_failed_task_marks_the_run_error_and_alerts_slack_and_on_call(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    runs.start_run(db, WINDOW, AIRFLOW_RUN_ID)
    # A result alert of the run still waiting to be sent must not go out after the run failed.
    outbox.queue(db, RUN_ID, SPEC.name, 1, [slack_result(), page()])

    notify_failure(SPEC, FAILURE)

    run = run_row(db, WINDOW)
    assert (run["status"], run["error_message"]) == ("error", f"load_staging: {MASKED_ERROR}")
    assert run["finished_at"] is not None
    assert {row["alert_id"]: (row["status"], row["attempts"]) for row in outbox_rows(db)} == {
        f"{RUN_ID}#1#slack#result": ("superseded", 0),
        f"{RUN_ID}#1#pagerduty#trigger#recon/stripe_billing/2026-11-19": ("superseded", 0),
        f"{RUN_ID}#1#pagerduty#failure#recon/stripe_billing/2026-11-19/failure": ("sent", 1),
        f"{RUN_ID}#1#slack#failure": ("sent", 1),
    }
    assert channels(receiver) == [("pagerduty", 202), ("slack", 200)]
    event, message = (item["body"] for item in receiver.received())
    assert (event["event_action"], event["dedup_key"]) == ("trigger", FAILURE_KEY)
    assert event["payload"]["summary"] == (
        f"recon stripe_billing 2026-11-19: the reconciliation failed in load_staging: {MASKED_ERROR}"
    )
    assert (event["payload"]["severity"], event["payload"]["class"], event["payload"]["component"]) == (
        "error",
        "pipeline_failure",
        "load_staging",
    )
    assert event["payload"]["custom_details"] == {
        "dag_id": "recon_stripe_billing",
        "task_id": "load_staging",
        "airflow_run_id": AIRFLOW_RUN_ID,
        "error": MASKED_ERROR,
    }
    assert event["links"] == [{"href": LOG_URL, "text": "Task log in Airflow"}]
    assert message["text"] == "stripe_billing 2026-11-19: the reconciliation failed in load_staging"
    assert message["attachments"][0]["color"] == RED
    shown = slack_text(message)
    for fact in ("`recon_stripe_billing`", "`load_staging`", f"`{AIRFLOW_RUN_ID}`", MASKED_ERROR):
        assert fact in shown
    assert f"<{LOG_URL}|Task log in Airflow>" in shown
    assert "ada.lovelace" not in json.dumps(receiver.received())
    assert "ada.lovelace" not in json.dumps(outbox_rows(db), default=str)


def test_a_run_stopped_by_its_rules_alerts_with_every_failed_rule(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    # The error as validate_staging raises it (tests/integrity/test_on_fail.py checks that wording).
    rules = [
        "- amount_not_negative on internal (stop, critical): 2 unexpected rows (1.2 %), e.g. o1, o2",
        "- currency_iso_4217 on stripe (stop, high): 1 unexpected row (0.5 %), e.g. ch_9",
        "- customer_email_format on internal (mark, medium): 4 unexpected rows (2.4 %), e.g. o3",
    ]
    error = "AirflowFailException: staging checkpoint: 2 rules set to stop the run failed (3 failed in all):"
    runs.start_run(db, WINDOW, AIRFLOW_RUN_ID)

    notify_failure(SPEC, replace(FAILURE, task_id="validate_staging", error="\n".join([error, *rules])))

    event, message = (item["body"] for item in receiver.received())
    for rule in rules:
        name, count = rule.removeprefix("- ").split(" (")[0], rule.split("): ")[1].split(" (")[0]
        assert f"{name} (" in event["payload"]["summary"] and count in event["payload"]["summary"], rule
        assert rule in event["payload"]["custom_details"]["error"]
        assert rule in slack_text(message)
    assert "\n" not in event["payload"]["summary"]
    assert run_row(db, WINDOW)["error_message"].splitlines()[1:] == rules


def test_a_second_failed_task_of_the_same_attempt_alerts_no_one_again(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    runs.start_run(db, WINDOW, AIRFLOW_RUN_ID)
    notify_failure(SPEC, FAILURE)

    notify_failure(
        SPEC, replace(FAILURE, task_id="validate_staging", error="RuntimeError: checkpoint failed")
    )

    assert channels(receiver) == [("pagerduty", 202), ("slack", 200)]
    assert len(outbox_rows(db)) == 2
    assert run_row(db, WINDOW)["status"] == "error"


def test_a_rerun_that_fails_again_alerts_again(db: psycopg.Connection, receiver: AlertReceiver) -> None:
    runs.start_run(db, WINDOW, AIRFLOW_RUN_ID)
    notify_failure(SPEC, FAILURE)
    runs.start_run(db, WINDOW, "manual__2026-11-20T08:00:00+00:00")  # the window's rerun: attempt 2

    notify_failure(SPEC, FAILURE)

    assert [item["channel"] for item in receiver.received()] == ["pagerduty", "slack"] * 2
    assert {row["alert_id"]: row["status"] for row in outbox_rows(db, "attempt = 2")} == {
        f"{RUN_ID}#2#pagerduty#failure#recon/stripe_billing/2026-11-19/failure": "sent",
        f"{RUN_ID}#2#slack#failure": "sent",
    }


def test_a_failed_notify_task_leaves_its_published_run_as_it_was(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    record_run(db, WINDOW, "discrepancy_found", "warning", "2.0")

    notify_failure(SPEC, replace(FAILURE, task_id="notify_pagerduty", error="RuntimeError: boom"))

    run = run_row(db, WINDOW)
    assert (run["status"], run["error_message"]) == ("discrepancy_found", None)
    # On-call still hears that the notify task failed.
    assert [item["body"].get("dedup_key") or item["body"]["text"] for item in receiver.received()] == [
        FAILURE_KEY,
        "stripe_billing 2026-11-19: the reconciliation failed in notify_pagerduty",
    ]


def test_a_failed_notify_task_does_not_drop_the_run_s_result_message(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    record_run(db, WINDOW, "discrepancy_found", "warning", "2.0")
    outbox.queue(db, RUN_ID, SPEC.name, 1, [slack_result("2 breaks")])  # published, not sent yet

    notify_failure(SPEC, replace(FAILURE, task_id="notify_pagerduty", error="RuntimeError: boom"))
    outbox.deliver(db, pause=[].append)

    assert outbox_rows(db, "event = 'result'")[0]["status"] == "sent"
    assert "2 breaks" in [item["body"].get("text") for item in receiver.received()]


def test_when_the_warehouse_is_unreachable_the_alerts_are_posted_directly(
    db: psycopg.Connection,
    receiver: AlertReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_RECON_WAREHOUSE", airflow_connection("postgresql://postgres@127.0.0.1:1/x")
    )

    notify_failure(SPEC, FAILURE)  # never raises

    assert channels(receiver) == [("slack", 200), ("pagerduty", 202)]
    assert receiver.received()[1]["body"]["dedup_key"] == FAILURE_KEY
    assert outbox_rows(db) == []
    assert "the warehouse is unreachable; alerting directly" in caplog.text


def test_when_the_warehouse_and_the_receiver_are_down_the_notifier_does_not_raise(
    db: psycopg.Connection,
    receiver: AlertReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_RECON_WAREHOUSE", airflow_connection("postgresql://postgres@127.0.0.1:1/x")
    )
    receiver.stop()

    notify_failure(SPEC, FAILURE)

    assert caplog.text.count("failure alert was not delivered either") == 2


def test_when_the_receiver_is_down_the_alerts_wait_in_the_outbox_for_the_next_round(
    db: psycopg.Connection, receiver: AlertReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox, "BACKOFF_SECONDS", 0.01)  # the pauses between tries, not their number
    runs.start_run(db, WINDOW, AIRFLOW_RUN_ID)
    receiver.fail_next(503, times=2 * outbox.TRIES)

    notify_failure(SPEC, FAILURE)

    assert [row["status"] for row in outbox_rows(db)] == ["failed", "failed"]
    assert [status for _, status in channels(receiver)] == [503] * 2 * outbox.TRIES  # none posted directly
    db.execute("update reconciliation.alert_outbox set next_attempt_at = now()")
    assert outbox.deliver(db, pause=[].append).sent == 2  # what recon_maintenance does
    assert channels(receiver)[-2:] == [("pagerduty", 202), ("slack", 200)]


@pytest.mark.parametrize(
    ("changes", "sent"),
    [({"slack": {"on_failure": False}}, ["pagerduty"]), ({"pagerduty": {"on_failure": False}}, ["slack"])],
    ids=["no-slack", "no-page"],
)
def test_a_channel_with_on_failure_off_hears_nothing_of_failures(
    db: psycopg.Connection, receiver: AlertReceiver, changes: dict, sent: list[str]
) -> None:
    runs.start_run(db, WINDOW, AIRFLOW_RUN_ID)

    notify_failure(with_alerts(SPEC, **changes), FAILURE)

    assert [item["channel"] for item in receiver.received()] == sent
    assert [row["channel"] for row in outbox_rows(db)] == sent
    assert run_row(db, WINDOW)["status"] == "error"


def test_the_notifier_reads_the_failed_task_from_the_airflow_context(
    db: psycopg.Connection, receiver: AlertReceiver
) -> None:
    ti = SimpleNamespace(
        dag_id="recon_stripe_billing", task_id="extract_stripe", run_id=AIRFLOW_RUN_ID, log_url=LOG_URL
    )
    context = {
        "ti": ti,
        "exception": ConnectionError("stripe answered 503 for ada.lovelace@example.com"),
        "data_interval_start": WINDOW.start,
        "data_interval_end": WINDOW.end,
    }

    RunFailureNotifier(SPEC).notify(context)

    error = "ConnectionError: stripe answered 503 for a***@e***.com"
    assert run_row(db, WINDOW)["error_message"] == f"extract_stripe: {error}"
    event = receiver.received()[0]["body"]
    assert event["payload"]["custom_details"] == {
        "dag_id": "recon_stripe_billing",
        "task_id": "extract_stripe",
        "airflow_run_id": AIRFLOW_RUN_ID,
        "error": error,
    }
    assert event["links"] == [{"href": LOG_URL, "text": "Task log in Airflow"}]


def test_a_notifier_that_cannot_read_the_context_logs_instead_of_raising(
    db: psycopg.Connection, receiver: AlertReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)

    RunFailureNotifier(SPEC).notify({"ti": None})

    assert "could not read the failed task's context" in caplog.text
