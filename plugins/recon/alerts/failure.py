"""The task-level failure notifier: a task that failed for good marks its run ``error``, posts to
Slack and pages on-call, with the DAG, task, run, error and log link.

Airflow calls it once a task has no retries left, or at once for an ``AirflowFailException`` (a
critical integrity rule, bad credentials). It goes through the outbox like any alert, so a later run
or ``recon_maintenance`` finishes a send that failed; when the warehouse itself is what failed, it
posts directly, since on-call must hear of that most of all. It never raises: a broken notifier must
not hide the task's own error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from recon.alerts.facts import window_text
from recon.masking import mask_text
from recon.spec import Spec
from recon.window import RunWindow

log = logging.getLogger(__name__)

AFTER_PUBLISH = ("notify_slack", "notify_pagerduty", "auto_correct")


@dataclass(frozen=True)
class Failure:
    dag_id: str
    task_id: str
    airflow_run_id: str
    window_start: datetime
    window_end: datetime
    error: str
    log_url: str | None

    @classmethod
    def from_context(cls, context: Any) -> Failure:
        ti = context["ti"]
        error = context.get("exception")
        try:
            log_url = ti.log_url
        except Exception:  # noqa: BLE001 - a link is a courtesy; the page matters more
            log_url = None
        return cls(
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            airflow_run_id=ti.run_id,
            window_start=context["data_interval_start"],
            window_end=context["data_interval_end"],
            error=mask_text(f"{type(error).__name__}: {error}" if error else "the task failed"),
            log_url=log_url,
        )


class RunFailureNotifier(BaseNotifier):
    """``on_failure_callback`` of every task of a spec's DAG."""

    def __init__(self, spec: Spec) -> None:
        super().__init__()
        self.spec = spec

    def notify(self, context: Any) -> None:
        try:
            failure = Failure.from_context(context)
        except Exception:  # noqa: BLE001
            log.exception("recon %s: could not read the failed task's context", self.spec.name)
            return
        notify_failure(self.spec, failure)


def notify_failure(spec: Spec, failure: Failure) -> None:
    from recon import runs, warehouse
    from recon.alerts import outbox

    window = RunWindow(spec.name, failure.window_start, failure.window_end)
    alerts = failure_alerts(spec, failure)
    try:
        with warehouse.connect(spec.warehouse_connection) as conn:
            # A task after publishing (notify, auto_correct) failing leaves the published run as it is.
            if failure.task_id not in AFTER_PUBLISH:
                runs.mark_failed(conn, window, f"{failure.task_id}: {failure.error}")
            attempt = conn.execute(
                "select attempt from reconciliation.runs where run_id = %s", (window.run_id,)
            ).fetchone()
            outbox.queue(conn, window.run_id, spec.name, attempt[0] if attempt else 1, alerts)
            outbox.deliver(conn, spec.name, run_id=window.run_id)
    except Exception:  # noqa: BLE001
        log.exception("recon %s: the warehouse is unreachable; alerting directly", spec.name)
        _post_directly(alerts)


def failure_alerts(spec: Spec, failure: Failure) -> list:
    from recon.alerts import pagerduty, slack
    from recon.alerts.outbox import Alert

    window = window_text(failure.window_start, failure.window_end)
    alerts = []
    channel, pager = spec.alerts.slack, spec.alerts.pagerduty
    if channel and channel.on_failure:
        message = slack.failure_message(
            spec.name, failure.dag_id, failure.task_id, failure.airflow_run_id, window, failure.error,
            failure.log_url,
        )  # fmt: skip
        alerts.append(Alert("slack", "failure", channel.connection, message))
    if pager and pager.on_failure:
        event = pagerduty.failure(
            spec.name, spec.owner, pager.failure_severity, dag_id=failure.dag_id, task_id=failure.task_id,
            airflow_run_id=failure.airflow_run_id, window_start=failure.window_start, window=window,
            error=failure.error, log_url=failure.log_url,
        )  # fmt: skip
        alerts.append(Alert("pagerduty", "failure", pager.connection, event, event["dedup_key"]))
    return alerts


def _post_directly(alerts: list) -> None:
    from recon.alerts.send import post

    for alert in alerts:
        response = post(alert.channel, alert.connection_id, alert.payload)
        if not response.ok:
            log.error("the %s failure alert was not delivered either: %s", alert.channel, response.describe())
