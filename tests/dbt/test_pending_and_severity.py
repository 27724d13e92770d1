"""Pending per side and status, unreadable counterparts and severity per class, run by run through dbt.

Sessions (left) against payments (right), day windows ending at midnight: a session stays `processing`
until the provider's callback completes it, and only that transitional status is worth waiting for.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest

from recon.runs import publish_run, start_run
from recon.spec import Spec
from recon.window import RunWindow
from tests.dbt.harness import at, day_window, make_spec, rows

pytestmark = pytest.mark.integration

DAY_1, DAY_2 = "2026-11-19", "2026-11-20"


def session(key: str, status: str, time: datetime, amount: str = "10.00") -> dict:
    return {"source": "sessions", "record_key": key, "amount": amount, "status": status, "occurred_at": time}


def payment(key: str, time: datetime, amount: str = "10.00", status: str = "completed") -> dict:
    return {"source": "payments", "record_key": key, "amount": amount, "status": status, "occurred_at": time}


def checkout_spec(**pair: object) -> Spec:
    return make_spec(
        "checkout",
        {
            "pairs": [
                {
                    "left": "sessions",
                    "right": "payments",
                    "compare": {"status": {}},
                    "timing": {"pending": [{"side": "left", "statuses": ["processing"], "within": "30m"}]},
                    **pair,
                }
            ]
        },
        sources=("sessions", "payments"),
    )


def outcomes(conn: psycopg.Connection, window: RunWindow) -> dict[str, tuple]:
    found = rows(
        conn,
        "select (coalesce(left_record_keys, right_record_keys))[1] as key, outcome, missing_in,"
        " carried_from_run_id from recon_intermediate.int_records_matched where run_id = %s",
        window.run_id,
    )
    return {row["key"]: (row["outcome"], row["missing_in"], row["carried_from_run_id"]) for row in found}


def breaks_of(conn: psycopg.Connection, window: RunWindow) -> dict[str, tuple]:
    found = rows(
        conn,
        "select (coalesce(left_record_keys, right_record_keys))[1] as key, break_class, severity,"
        " quarantine_reason from reconciliation.run_breaks where run_id = %s",
        window.run_id,
    )
    return {row["key"]: (row["break_class"], row["severity"], row["quarantine_reason"]) for row in found}


def test_pending_holds_only_the_side_and_status_a_rule_names_and_a_late_callback_ends_matched(
    conn: psycopg.Connection, build
) -> None:
    spec = checkout_spec()
    day_1, day_2 = day_window(spec, DAY_1), day_window(spec, DAY_2)
    build(
        spec,
        day_1,
        [
            # Lone sessions: young and processing (held), completed at the window's very edge (no rule
            # holds a completed session), processing but older than the rule's 30 minutes.
            session("s_young", "processing", at(DAY_1, "23:30:00")),
            session("s_done", "completed", at(DAY_1, "23:59:59")),
            session("s_old", "processing", at(DAY_1, "23:29:59")),
            # A payment alone at the edge: no rule for the payments side.
            payment("p_alone", at(DAY_1, "23:59:59")),
            # Matched pairs whose session still says processing: young (the callback is on its way)
            # and older than the window.
            session("s_callback", "processing", at(DAY_1, "23:50:00")),
            payment("s_callback", at(DAY_1, "23:50:00")),
            session("s_stale", "processing", at(DAY_1, "22:00:00")),
            payment("s_stale", at(DAY_1, "22:00:00")),
            session("s_ok", "completed", at(DAY_1, "12:00:00")),
            payment("s_ok", at(DAY_1, "12:00:00")),
        ],
    )

    assert outcomes(conn, day_1) == {
        "s_young": ("pending", "payments", None),
        "s_done": ("missing", "payments", None),
        "s_old": ("missing", "payments", None),
        "p_alone": ("missing", "sessions", None),
        "s_callback": ("pending", None, None),
        "s_stale": ("status_mismatch", None, None),
        "s_ok": ("matched", None, None),
    }
    assert set(breaks_of(conn, day_1)) == {"s_done", "s_old", "p_alone", "s_stale"}
    [summary] = rows(
        conn, "select pending_count from reconciliation.run_summary where run_id = %s", day_1.run_id
    )
    assert summary["pending_count"] == 2

    # The callback completes the session the next day; the app lists it again with its new status.
    # The payment is not extracted again: it comes back with the pending pair.
    build(spec, day_2, [session("s_callback", "completed", at(DAY_1, "23:50:00"))])

    day_2_outcomes = outcomes(conn, day_2)
    assert day_2_outcomes["s_callback"] == ("matched", None, day_1.run_id)
    # The young session never got its payment: past its window it is missing now.
    assert day_2_outcomes["s_young"] == ("missing", "payments", day_1.run_id)
    assert "s_callback" not in breaks_of(conn, day_2)
    lives = rows(
        conn, "select count(*) as n from reconciliation.breaks where %s = any(left_record_keys)", "s_callback"
    )
    assert lives == [{"n": 0}]


def test_a_pending_pair_still_processing_after_its_window_is_a_status_mismatch_or_stuck(
    conn: psycopg.Connection, build
) -> None:
    spec = make_spec(
        "checkout_stuck",
        {
            "pairs": [
                {
                    "left": "sessions",
                    "right": "payments",
                    "compare": {"status": {}},
                    "timing": {"pending": [{"side": "left", "statuses": ["processing"], "within": "30m"}]},
                }
            ],
            "stuck": [{"source": "sessions", "statuses": ["processing"], "older_than": "1d"}],
        },
        sources=("sessions", "payments"),
    )
    day_1, day_2 = day_window(spec, DAY_1), day_window(spec, DAY_2)
    build(
        spec,
        day_1,
        [
            session("s_never", "processing", at(DAY_1, "23:40:00")),
            payment("s_never", at(DAY_1, "23:40:00")),
            session("s_slow", "processing", at(DAY_1, "00:10:00")),
            payment("s_slow", at(DAY_1, "00:10:00")),
        ],
    )
    assert outcomes(conn, day_1)["s_never"] == ("pending", None, None)
    assert outcomes(conn, day_1)["s_slow"] == ("status_mismatch", None, None)

    # Nothing new the next day: the carried pair is judged again, past its window and past a day old.
    build(spec, day_2, [])
    assert outcomes(conn, day_2) == {"s_never": ("stuck", None, day_1.run_id)}
    assert breaks_of(conn, day_2) == {"s_never": ("stuck", "critical", None)}


def quarantine(conn: psycopg.Connection, window: RunWindow, source: str, key: str, reason: str) -> None:
    conn.execute(
        "insert into staging.quarantine (spec, source, run_id, origin, origin_line, record_key, reason, raw)"
        " values (%s, %s, %s, 'test', 1, %s, %s, '{}')",
        (window.spec, source, window.run_id, key, reason),
    )


def test_a_key_whose_only_record_was_quarantined_is_unreadable_there_not_missing(
    conn: psycopg.Connection, build
) -> None:
    spec = make_spec("unreadable", {"pairs": [{"left": "sessions", "right": "payments"}]},
                     sources=("sessions", "payments"))  # fmt: skip
    day_1, day_2 = day_window(spec, DAY_1), day_window(spec, DAY_2)
    reason = "amount 10.005 has more decimals than USD allows (2)"
    quarantine(conn, day_1, "payments", "k_bad", reason)
    # A session quarantined too: the payment it would match is unreadable on the sessions side.
    quarantine(conn, day_1, "sessions", "k_other_bad", "occurred_at is not a time")
    build(
        spec,
        day_1,
        [
            session("k_bad", "completed", at(DAY_1, "10:00:00")),
            session("k_gone", "completed", at(DAY_1, "11:00:00")),
            payment("k_other_bad", at(DAY_1, "12:00:00")),
            session("k_ok", "completed", at(DAY_1, "13:00:00")),
            payment("k_ok", at(DAY_1, "13:00:00")),
        ],
    )

    assert outcomes(conn, day_1) == {
        "k_bad": ("unreadable", "payments", None),
        "k_gone": ("missing", "payments", None),
        "k_other_bad": ("unreadable", "sessions", None),
        "k_ok": ("matched", None, None),
    }
    assert breaks_of(conn, day_1) == {
        "k_bad": ("unreadable", "critical", reason),
        "k_gone": ("missing", "critical", None),
        "k_other_bad": ("unreadable", "critical", "occurred_at is not a time"),
    }
    [summary] = rows(
        conn,
        "select unreadable_count, missing_in_right_count from reconciliation.run_summary where run_id = %s",
        day_1.run_id,
    )
    assert summary == {"unreadable_count": 2, "missing_in_right_count": 1}

    # Carried into the next run, still without a readable counterpart: the same open break, not a new one.
    build(spec, day_2, [])
    carried = rows(
        conn,
        "select outcome, is_carried_break from recon_intermediate.int_records_matched"
        " where run_id = %s and 'k_bad' = any(left_record_keys)",
        day_2.run_id,
    )
    assert carried == [{"outcome": "unreadable", "is_carried_break": True}]


def test_a_class_rated_critical_pages_whatever_its_share_from_min_amount_and_a_warning_class_never_does(
    conn: psycopg.Connection, build
) -> None:
    spec = make_spec(
        "rated",
        {
            "severity": {"critical_percent": "50", "min_amount": "100",
                         "classes": {"amount_mismatch": "warning"}},
            "pairs": [{"left": "sessions", "right": "payments",
                       "severity": {"classes": {"missing_in_right": "critical"}}}],
        },
        sources=("sessions", "payments"),
    )  # fmt: skip
    day_1 = day_window(spec, DAY_1)
    build(
        spec,
        day_1,
        [
            # USD: a payment of 150.00 missing among 1150.00: 13 %, under 50 %, yet critical by its class;
            # one of 1.00 missing too: below min_amount, where nothing is critical, whatever its class.
            session("u_big", "completed", at(DAY_1, "10:00:00"), "999.00"),
            payment("u_big", at(DAY_1, "10:00:00"), "999.00"),
            session("u_mid", "completed", at(DAY_1, "10:30:00"), "150.00"),
            session("u_small", "completed", at(DAY_1, "11:00:00"), "1.00"),
            # EUR: an amount mismatch of 600.00 on 1000.00 (60 % > 50 %), rated warning: never critical.
            {**session("e_off", "completed", at(DAY_1, "12:00:00"), "1000.00"), "currency": "EUR"},
            {**payment("e_off", at(DAY_1, "12:00:00"), "400.00"), "currency": "EUR"},
            # A payment without a session: missing in the left, not rated, 5.00 of 1000.00 GBP.
            {**payment("g_alone", at(DAY_1, "13:00:00"), "5.00"), "currency": "GBP"},
            {**session("g_ok", "completed", at(DAY_1, "14:00:00"), "995.00"), "currency": "GBP"},
            {**payment("g_ok", at(DAY_1, "14:00:00"), "995.00"), "currency": "GBP"},
        ],
    )

    assert breaks_of(conn, day_1) == {
        "u_mid": ("missing", "critical", None),
        "u_small": ("missing", "warning", None),
        "e_off": ("amount_mismatch", "warning", None),
        "g_alone": ("missing", "warning", None),
    }
    summary = rows(
        conn,
        "select currency, severity, critical_class_break_count, discrepancy_amount, rated_discrepancy_amount"
        " from reconciliation.run_summary where run_id = %s order by currency",
        day_1.run_id,
    )
    assert [tuple(row.values()) for row in summary] == [
        ("EUR", "warning", 0, 600, 0),
        ("GBP", "warning", 0, 5, 5),
        ("USD", "critical", 1, 151, 151),
    ]
    start_run(conn, day_1, None)
    publish_run(conn, day_1)
    [run] = rows(conn, "select severity from reconciliation.runs where run_id = %s", day_1.run_id)
    assert run["severity"] == "critical"


def test_a_quarantined_key_is_compared_in_its_sides_key_form(conn: psycopg.Connection, build) -> None:
    pair = {"left": "sessions", "right": "payments", "key_form": {"case": "lower", "trim": True}}
    spec = make_spec("unreadable_forms", {"pairs": [pair]}, sources=("sessions", "payments"))
    day_1 = day_window(spec, DAY_1)
    # The provider spells the key in upper case, with a space: quarantined as read.
    quarantine(conn, day_1, "payments", " K_Bad", "amount 10.005 has more decimals than USD allows (2)")
    build(spec, day_1, [session("k_bad", "completed", at(DAY_1, "10:00:00"))])

    assert outcomes(conn, day_1) == {"k_bad": ("unreadable", "payments", None)}
