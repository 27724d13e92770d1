"""What the outbox, planning and failure tests share: the loopback alert receiver behind the spec's
Slack and PagerDuty connections, the warehouse behind its warehouse connection, and builders for the
runs rows and run facts that alerts are decided from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from include.sandbox.alert_receiver import AlertReceiver
from recon import runs
from recon.alerts.facts import ClassCount, Links, RunFacts
from recon.alerts.outbox import Alert
from recon.spec import Spec, load_spec
from recon.warehouse import airflow_connection
from recon.window import RunWindow

SPEC = load_spec(Path(__file__).resolve().parents[2] / "include" / "specs" / "stripe_billing.yml")
DAY = datetime(2026, 11, 19, tzinfo=UTC)
WINDOW = RunWindow(SPEC.name, DAY, DAY + timedelta(days=1))
# Unlike anything an alert says: found in a row or a log, it can only have come from the connection.
# (Fixed, not random: test modules import this file's helpers, and so a second copy of it.)
SLACK_TOKEN = "T0RECON/B0RECON/wh00ksecret8f3c1d9a"
ROUTING_KEY = "R0UT1NGKEYsecret5e1f9a2b7c4d60aa"


@pytest.fixture
def receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertReceiver]:
    """The alert receiver on loopback, as the spec's ``slack_alerts`` and ``pagerduty_alerts``."""
    with AlertReceiver(tmp_path / "alerts.jsonl") as running:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SLACK_ALERTS",
            json.dumps(
                {"conn_type": "slackwebhook", "host": f"{running.base_url}/services", "password": SLACK_TOKEN}
            ),
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_PAGERDUTY_ALERTS",
            json.dumps({"conn_type": "http", "host": running.base_url, "password": ROUTING_KEY}),
        )
        yield running


@pytest.fixture
def db(
    warehouse: psycopg.Connection, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> psycopg.Connection:
    """The test's own warehouse connection, in autocommit: what it writes is seen at once by the code
    under test (which opens the spec's ``recon_warehouse`` connection, pointed here), and it holds no
    locks that would make that code wait."""
    warehouse.autocommit = True
    monkeypatch.setenv("AIRFLOW_CONN_RECON_WAREHOUSE", airflow_connection(warehouse_url))
    return warehouse


def window(start_hour: int = 0, hours: int = 24, day: datetime = DAY) -> RunWindow:
    start = day + timedelta(hours=start_hour)
    return RunWindow(SPEC.name, start, start + timedelta(hours=hours))


def record_run(
    conn: psycopg.Connection,
    run_window: RunWindow,
    status: str,
    severity: str | None = None,
    discrepancy_percent: str = "0",
) -> dict[str, Any]:
    """Start the window's run (again: a rerun is the next attempt) and leave it at ``status``, as
    publishing or a failure would; the ``reconciliation.runs`` row, with its window in UTC."""
    runs.start_run(conn, run_window, "scheduled__2026-11-20T00:00:00+00:00")
    with conn.transaction():
        conn.execute(
            "update reconciliation.runs set status = %s, severity = %s, discrepancy_percent = %s,"
            " break_count = %s, pending_count = 0, finished_at = now() where run_id = %s",
            (status, severity, Decimal(discrepancy_percent), 0 if severity in (None, "ok") else 3,
             run_window.run_id),
        )  # fmt: skip
    return run_row(conn, run_window)


def run_row(conn: psycopg.Connection, run_window: RunWindow) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("select * from reconciliation.runs where run_id = %s", (run_window.run_id,))
        row = cur.fetchone()
    assert row is not None, f"no runs row for {run_window.run_id}"
    return {**row, "window_start": run_window.start, "window_end": run_window.end}


def run_facts(run: dict[str, Any]) -> RunFacts:
    """The facts of a run as ``read_run_facts`` gives them: one pair and currency whose discrepancy is
    the run's, and three amount mismatches when the run found any."""
    percent = Decimal(run["discrepancy_percent"] or 0)
    found = run["status"] == "discrepancy_found"
    summary = {
        "run_id": run["run_id"],
        "pair": "stripe_vs_internal",
        "currency": "USD",
        "left_source": "stripe",
        "right_source": "internal",
        "left_record_count": 10,
        "right_record_count": 10,
        "left_total_amount": Decimal("1000.00"),
        "right_total_amount": Decimal("1000.00") - percent * 10,
        "discrepancy_amount": percent * 10,
        "discrepancy_percent": percent,
        "carried_break_count": 0,
        "tolerance_percent": Decimal(0),
        "critical_percent": Decimal(5),
        "status": run["status"],
        "severity": run["severity"],
    }
    counts = [ClassCount("amount_mismatch", None, 3)] if found else []
    return RunFacts(run, [summary], counts, 0, [], 0, Links("http://airflow.test/run", None))


def outbox_rows(conn: psycopg.Connection, where: str = "true", args: tuple = ()) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"select * from reconciliation.alert_outbox where {where} order by created_at, alert_id",  # noqa: S608
            args,
        )
        return cur.fetchall()


def slack_result(text: str = "stripe_billing 2026-11-19: 3 breaks") -> Alert:
    return Alert("slack", "result", "slack_alerts", {"text": text})


def page(action: str = "trigger", key: str = "recon/stripe_billing/2026-11-19", summary: str = "") -> Alert:
    event = {
        "action": action,
        "dedup_key": key,
        "summary": summary or f"recon stripe_billing 2026-11-19: {action}",
        "severity": "critical" if action == "trigger" else "info",
        "source": "recon/stripe_billing",
    }
    return Alert("pagerduty", "trigger" if action == "trigger" else "resolve", "pagerduty_alerts", event, key)


def with_alerts(spec: Spec, **changes: Any) -> Spec:
    """``spec`` with some of its alert settings changed: ``slack={"notify_on_success": True}``."""
    alerts = spec.alerts
    update: dict[str, Any] = {}
    for name, values in changes.items():
        current = getattr(alerts, name)
        update[name] = current.model_copy(update=values) if isinstance(values, dict) else values
    return spec.model_copy(update={"alerts": alerts.model_copy(update=update)})
