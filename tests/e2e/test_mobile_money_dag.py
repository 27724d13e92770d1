"""The ``mobile_money`` example spec end to end over two consecutive 15-minute windows: the provider's
payments API against the app's checkout sessions, through the real DAG and the spec's scenario, with
Slack and PagerDuty. The second run carries the first run's pending and missing payments, so the test
follows each planted payment's life: stuck, pending then matched, missing then resolved, pending then
missing, missing twice; a session still processing waits (per side and status) and its late callback
matches in the next window with no break in between; a session paid without a payment is missing at
once; a payment paid and not credited pages at once (a class rated critical); the alerts show the
app's status words beside the provider's and no phone number, which is masked as it is loaded.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from include.scenarios.mobile_money import REGULAR, Scenario
from recon.warehouse import airflow_connection

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DAY = dt.date(2026, 11, 19)
RUN_1 = "mobile_money/2026-11-19T10:00:00+00:00/2026-11-19T10:15:00+00:00"
RUN_2 = "mobile_money/2026-11-19T10:15:00+00:00/2026-11-19T10:30:00+00:00"
ALERTS = {"slack": {"connection": "slack_alerts"}, "pagerduty": {"connection": "pagerduty_alerts"}}


@pytest.fixture
def mobile_money_dag(shipped_dag):
    return shipped_dag("mobile_money", alerts=ALERTS)


def units(conn: psycopg.Connection, run_id: str, outcomes: tuple[str, ...]) -> set[tuple]:
    """(payment, session, outcome, carried from) of the run's units with one of ``outcomes``."""
    rows = conn.execute(
        "select array_to_string(left_record_keys, ','), array_to_string(right_record_keys, ','), outcome,"
        " carried_from_run_id"
        " from recon_intermediate.int_records_matched where run_id = %s and outcome = any(%s)",
        (run_id, list(outcomes)),
    ).fetchall()
    conn.rollback()  # no snapshot or lock held while the next run rebuilds the models
    return {tuple(row) for row in rows}


def run_breaks(conn: psycopg.Connection, run_id: str) -> set[tuple]:
    rows = conn.execute(
        "select coalesce(array_to_string(left_record_keys, ','), ''), break_class, missing_in,"
        " is_carried_break from reconciliation.run_breaks where run_id = %s",
        (run_id,),
    ).fetchall()
    conn.rollback()
    return {tuple(row) for row in rows}


def test_two_fifteen_minute_runs_carry_pending_and_missing_payments_and_track_each_breaks_life(
    mobile_money_dag,
    alert_receiver,
    warehouse: psycopg.Connection,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = Scenario(seed=11, day=DAY)
    session_of = {session.provider_payment_id: session.session_id for session in s.sessions}
    monkeypatch.setenv("AIRFLOW_CONN_RECON_WAREHOUSE", airflow_connection(warehouse_url))
    warehouse.commit()
    with s.serve(tmp_path) as connections:
        for conn_id, value in connections.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        first_date, second_date = s.logical_dates()
        first = mobile_money_dag.test(logical_date=first_date)
        breaks_1 = run_breaks(warehouse, RUN_1)
        pending_1 = units(warehouse, RUN_1, ("pending",))
        s.after_run(0)  # late_row's session reaches the app database only now, late_callback's callback too
        second = mobile_money_dag.test(logical_date=second_date)

    assert (first.state, second.state) == ("success", "success")
    statuses = warehouse.execute(
        "select run_id, status from reconciliation.runs where spec = 'mobile_money' order by run_id"
    ).fetchall()
    assert statuses == [(RUN_1, "discrepancy_found"), (RUN_2, "discrepancy_found")]

    # Run 1: the old processing payment is stuck, two payments of the window's first minutes are
    # missing, the failed payment the app marked paid is a status mismatch, and the three of its
    # last ten minutes wait as pending (10:05:00 exactly included); so does the pair whose session
    # is still processing, though its payment is completed: not a status mismatch yet.
    assert breaks_1 == {
        (s.stuck.id, "stuck", "sessions", False),
        (s.late_session.id, "missing", "sessions", False),
        (s.never.id, "missing", "sessions", False),
        (s.credited_failed.id, "status_mismatch", None, False),
    }
    assert pending_1 == {
        (s.pending_match.id, None, "pending", None),
        (s.pending_lost.id, None, "pending", None),
        (s.late_row.id, None, "pending", None),
        (s.late_callback.id, session_of[s.late_callback.id], "pending", None),
    }
    expected_1, expected_2 = s.expected_breaks_by_run()
    assert Counter((row[1], row[2]) for row in breaks_1) == expected_1

    # Run 2: the carried payments whose sessions arrived match; the pending one without a session is
    # past its settlement window and missing; the one missing before is missing again (carried).
    # The session paid for a payment the provider never lists is missing there at once: only
    # processing sessions wait.
    breaks_2 = run_breaks(warehouse, RUN_2)
    assert breaks_2 == {
        (s.pending_lost.id, "missing", "sessions", False),
        (s.never.id, "missing", "sessions", True),
        ("", "missing", "payments", False),
    }
    orphan = warehouse.execute(
        "select right_record_keys from reconciliation.run_breaks"
        " where run_id = %s and missing_in = 'payments'",
        (RUN_2,),
    ).fetchall()
    assert orphan == [([s.orphan_session.session_id],)]
    assert Counter((row[1], row[2]) for row in breaks_2) == expected_2 == s.expected_breaks()
    # Read again in W2's overlap with a session that is new, these two are reconciled afresh: the
    # session that reached the app database after run 1 (completed in W1) is not lost between windows.
    late_session_of = {session.provider_payment_id: session.session_id for session in s.late_sessions}
    assert units(warehouse, RUN_2, ("matched",)) >= {
        (s.late_session.id, session_of[s.late_session.id], "matched", RUN_1),
        (s.pending_match.id, session_of[s.pending_match.id], "matched", None),
        (s.late_row.id, late_session_of[s.late_row.id], "matched", None),
        # The late callback: pending in run 1 and carried with both its records; the session read
        # again, now paid, replaces the carried one: matched, never a break.
        (s.late_callback.id, session_of[s.late_callback.id], "matched", RUN_1),
    }
    assert units(warehouse, RUN_2, ("pending", "stuck")) == {
        (s.young.id, None, "pending", None),
        (s.pending_w2.id, None, "pending", None),
        (s.young_session.id, session_of[s.young_session.id], "pending", None),
    }

    summaries = warehouse.execute(
        "select run_id, matched_count, stuck_count, missing_in_right_count, missing_in_left_count,"
        " pending_count, break_count, carried_break_count"
        " from reconciliation.run_summary where spec = 'mobile_money' order by run_id"
    ).fetchall()
    assert summaries == [
        (RUN_1, REGULAR, 1, 2, 0, 4, 4, 0),
        (RUN_2, REGULAR + 4, 0, 2, 1, 3, 2, 1),
    ]

    lives = warehouse.execute(
        "select coalesce(array_to_string(left_record_keys, ','), ''), break_class, status, times_seen,"
        " first_seen_run_id,"
        " last_seen_run_id, resolved_by_run_id from reconciliation.breaks where spec = 'mobile_money'"
    ).fetchall()
    assert sorted(lives) == sorted(
        [
            (s.stuck.id, "stuck", "open", 1, RUN_1, RUN_1, None),
            (s.late_session.id, "missing", "resolved", 1, RUN_1, RUN_1, RUN_2),
            (s.never.id, "missing", "open", 2, RUN_1, RUN_2, None),
            (s.pending_lost.id, "missing", "open", 1, RUN_2, RUN_2, None),
            (s.credited_failed.id, "status_mismatch", "open", 1, RUN_1, RUN_1, None),
            ("", "missing", "open", 1, RUN_2, RUN_2, None),
        ]
    )
    assert not any(life[0] == s.late_callback.id for life in lives), "no break in between"

    # Each run has a new payment paid and not credited: critical whatever its share, so each pages
    # (one incident for the day); the Slack lines show the app's status word beside its mapping.
    severities = warehouse.execute(
        "select run_id, severity from reconciliation.runs where spec = 'mobile_money' order by run_id"
    ).fetchall()
    assert severities == [(RUN_1, "critical"), (RUN_2, "critical")]
    critical = warehouse.execute(
        "select array_to_string(left_record_keys, ','), severity from reconciliation.run_breaks"
        " where spec = 'mobile_money' and break_class = 'missing' and missing_in = 'sessions'"
        " and not is_carried_break"
    ).fetchall()
    assert sorted(critical) == sorted(
        [(s.late_session.id, "critical"), (s.never.id, "critical"), (s.pending_lost.id, "critical")]
    )
    # Run 2's share is under the critical line: it pages by the class alone.
    (share,) = warehouse.execute(
        "select discrepancy_percent < critical_percent from reconciliation.run_summary where run_id = %s",
        (RUN_2,),
    ).fetchone()
    assert share is True
    received = alert_receiver.received()
    assert Counter((item["channel"], item["body"].get("event_action")) for item in received) == {
        ("slack", None): 2,
        ("pagerduty", "trigger"): 2,
    }
    pages = [item["body"] for item in received if item["channel"] == "pagerduty"]
    assert [page["dedup_key"] for page in pages] == ["recon/mobile_money/2026-11-19"] * 2
    first_slack = str(next(item["body"] for item in received if item["channel"] == "slack"))
    credited = f"{s.credited_failed.id} / {session_of[s.credited_failed.id]}"
    assert f"{credited} status mismatch: failed vs paid (completed)" in first_slack
    # No payer's number reaches Slack or PagerDuty, in any form the peers served it.
    everything = json.dumps(received)
    assert [phone for phone in s.phones() if phone in everything] == []

    # Masked as loaded: staging holds no phone number in clear, in any field.
    staged = warehouse.execute(
        "select source, reference, attributes from staging.records where spec = 'mobile_money'"
    ).fetchall()
    assert {(source, attributes["msisdn" if source == "payments" else "phone"][:3]) for source, _, attributes
            in staged} == {("payments", "***"), ("sessions", "***")}  # fmt: skip
    assert all(reference.startswith("***") for source, reference, _ in staged if source == "payments")
    stored = json.dumps([list(row) for row in staged], default=str)
    assert [phone for phone in s.phones() if phone in stored] == []
