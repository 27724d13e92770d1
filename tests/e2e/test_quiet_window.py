"""A quiet night on a 15-minute spec: ``mobile_money`` (with Slack and PagerDuty) through the real DAG over
three night windows. The second window has no record of its own; the only thing it finds is the first
window's pending payment of 5.00 KES, now missing. By the percentage rule that is a few shillings
against the night's volume so far, not 100 % of a volume of nothing: far under the critical line. The
spec rates a payment paid at the provider and not credited in the app (``missing_in_right``) critical,
but not below its ``min_amount`` of 20 KES: this straggler is posted to Slack once, as a warning, and
pages no one. The third window is empty too: the payment is still missing, a break carried and still
open, not a new one, and nothing is sent again.
"""

from __future__ import annotations

import collections
import datetime as dt
from decimal import Decimal

import psycopg
import pytest

from include.scenarios.mobile_money import QUIET_REGULAR, STRAGGLER_AMOUNT, QuietNight

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

DAY = dt.date(2026, 11, 19)
RUN_1 = "mobile_money/2026-11-19T02:00:00+00:00/2026-11-19T02:15:00+00:00"
RUN_2 = "mobile_money/2026-11-19T02:15:00+00:00/2026-11-19T02:30:00+00:00"
RUN_3 = "mobile_money/2026-11-19T02:30:00+00:00/2026-11-19T02:45:00+00:00"
ALERTS = {"slack": {"connection": "slack_alerts"}, "pagerduty": {"connection": "pagerduty_alerts"}}


def test_a_night_straggler_of_a_few_shillings_is_posted_once_and_pages_no_one(
    shipped_dag,
    run_scenario,
    alert_receiver,
    warehouse: psycopg.Connection,
) -> None:
    night = QuietNight(seed=5, day=DAY)
    straggler = night.straggler
    # The premise: W2 holds nothing, W1 holds the regular payments, their sessions and the straggler.
    assert all(night.w1 <= p.created_at < night.w2 for p in night.payments)
    assert all(s.updated_at < night.w2 for s in night.sessions)
    assert len(night.sessions) == QUIET_REGULAR and straggler.amount == STRAGGLER_AMOUNT
    dag = shipped_dag("mobile_money", alerts=ALERTS)

    dag_runs = run_scenario(dag, night)

    assert [dag_run.state for dag_run in dag_runs] == ["success"] * 3
    runs = warehouse.execute(
        "select run_id, status, severity from reconciliation.runs where spec = 'mobile_money' order by run_id"
    ).fetchall()
    assert runs == [
        (RUN_1, "success", "ok"),
        (RUN_2, "discrepancy_found", "warning"),
        (RUN_3, "success", "ok"),
    ]
    pending = warehouse.execute(
        "select left_record_keys from recon_intermediate.int_records_matched"
        " where run_id = %s and outcome = 'pending'",
        (RUN_1,),
    ).fetchall()
    assert pending == [([straggler.id],)]
    breaks = warehouse.execute(
        "select run_id, left_record_keys, break_class, missing_in, severity, is_carried_break"
        " from reconciliation.run_breaks where spec = 'mobile_money' order by run_id"
    ).fetchall()
    assert breaks == [
        # Its class is rated critical, but it is below the spec's min_amount: a warning.
        (RUN_2, [straggler.id], "missing", "sessions", "warning", False),
        # Still open, not new (below: nothing is sent again).
        (RUN_3, [straggler.id], "missing", "sessions", "warning", True),
    ]
    life = warehouse.execute(
        "select status, times_seen, first_seen_run_id, last_seen_run_id from reconciliation.breaks"
        " where spec = 'mobile_money'"
    ).fetchall()
    assert life == [("open", 2, RUN_2, RUN_3)]
    (summary,) = warehouse.execute(
        "select status, severity, discrepancy_amount, discrepancy_percent, critical_percent"
        " from reconciliation.run_summary where run_id = %s",
        (RUN_2,),
    ).fetchall()
    status, severity, amount, percent, critical = summary
    assert (status, severity, amount) == ("discrepancy_found", "warning", STRAGGLER_AMOUNT)
    # Over the night so far (at least W1's matched payments), not over W2's nothing: far under the
    # critical line. (Rounded to 4 places, as the column is:
    # rounding keeps the order.)
    matched_volume = sum(p.amount for p in night.payments) - STRAGGLER_AMOUNT
    assert Decimal(0) < percent < critical
    assert percent <= round(STRAGGLER_AMOUNT * 100 / matched_volume, 4)

    received = alert_receiver.received()
    channels = collections.Counter((item["channel"], item["body"].get("event_action")) for item in received)
    # Run 2 tells Slack; nothing pages; run 3 (nothing new) tells no one.
    assert channels == {("slack", None): 1}
    slack = str(next(item["body"] for item in received if item["channel"] == "slack"))
    assert "02:15–02:30" in slack
    assert straggler.id in slack and "mobile_money" in slack
