"""Matching across runs, on real Postgres through dbt: pending records, late arrivals, break lives, reruns.

Each test drives whole runs (pair settings and records written, ``dbt build``) with tests/dbt/harness.py,
then reads the result tables as an alert or a reviewer would.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from recon.spec import Spec
from recon.window import RunWindow
from tests.dbt.harness import at, day_window, make_spec, rows, run_matching

pytestmark = pytest.mark.integration

DAY_1, DAY_2 = "2026-11-19", "2026-11-20"


def record(source: str, key: str, amount: str, occurred_at: datetime) -> dict:
    return {"source": source, "record_key": key, "amount": amount, "occurred_at": occurred_at}


def pair_spec(settlement_window: str = "2h") -> Spec:
    return make_spec(
        "life",
        {"pairs": [{"left": "left", "right": "right", "timing": {"settlement_window": settlement_window}}]},
    )


def units(conn: psycopg.Connection, window: RunWindow) -> dict[str, dict]:
    """The run's units by record key (each test uses a key on one unit only)."""
    found = rows(
        conn,
        "select array_to_string(coalesce(left_record_keys, right_record_keys), ',') as record_key,"
        " outcome, missing_in, carried_from_run_id, is_carried_break"
        " from recon_intermediate.int_records_matched where run_id = %s",
        window.run_id,
    )
    keys = [unit["record_key"] for unit in found]
    assert len(keys) == len(set(keys)), found
    return {unit.pop("record_key"): unit for unit in found}


def run_breaks(conn: psycopg.Connection, window: RunWindow) -> list[tuple]:
    found = rows(
        conn,
        "select break_class, left_record_keys, right_record_keys, missing_in from reconciliation.run_breaks"
        " where run_id = %s",
        window.run_id,
    )
    return sorted((tuple(row.values()) for row in found), key=str)


def break_lives(conn: psycopg.Connection) -> dict[str, dict]:
    found = rows(
        conn,
        "select array_to_string(coalesce(left_record_keys, right_record_keys), ',') as record_key,"
        " break_class, status,"
        " first_seen_run_id, last_seen_run_id, times_seen, resolved_by_run_id from reconciliation.breaks",
    )
    return {life.pop("record_key"): life for life in found}


def test_pending_and_missing_records_are_matched_by_a_late_arrival(conn: psycopg.Connection, build) -> None:
    spec = pair_spec()
    day_1, day_2 = day_window(spec, DAY_1), day_window(spec, DAY_2)
    build(
        spec,
        day_1,
        [
            {"source": "left", "record_key": "ch_ok", "amount": "10.00"},
            {"source": "right", "record_key": "ch_ok", "amount": "10.00"},
            # 23:00 is inside the 2-hour settlement window before midnight: not a break yet.
            record("left", "ch_pending", "20.00", at(DAY_1, "23:00:00")),
            record("left", "ch_missing", "30.00", at(DAY_1, "09:00:00")),
        ],
    )  # fmt: skip

    assert {key: unit["outcome"] for key, unit in units(conn, day_1).items()} == {
        "ch_ok": "matched",
        "ch_pending": "pending",
        "ch_missing": "missing",
    }
    assert run_breaks(conn, day_1) == [("missing", ["ch_missing"], None, "right")]

    # Day 2: the ledger books both late; the left source does not extract day 1's charges again.
    build(
        spec,
        day_2,
        [
            record("right", "ch_pending", "20.00", at(DAY_2, "00:30:00")),
            record("right", "ch_missing", "30.00", at(DAY_2, "01:00:00")),
        ],
    )  # fmt: skip

    day_2_units = units(conn, day_2)
    assert {key: unit["outcome"] for key, unit in day_2_units.items()} == {
        "ch_pending": "matched",
        "ch_missing": "matched",
    }
    assert day_2_units["ch_pending"]["carried_from_run_id"] == day_1.run_id
    assert day_2_units["ch_missing"]["carried_from_run_id"] == day_1.run_id
    assert run_breaks(conn, day_2) == []
    assert break_lives(conn) == {
        "ch_missing": {
            "break_class": "missing",
            "status": "resolved",
            "first_seen_run_id": day_1.run_id,
            "last_seen_run_id": day_1.run_id,
            "times_seen": 1,
            "resolved_by_run_id": day_2.run_id,
        }
    }
    summary = rows(
        conn,
        "select run_id, matched_count, pending_count, break_count from reconciliation.run_summary order by 1",
    )
    assert [tuple(row.values()) for row in summary] == [(day_1.run_id, 1, 1, 1), (day_2.run_id, 2, 0, 0)]


def test_a_pending_record_still_absent_after_its_settlement_window_becomes_missing(
    conn: psycopg.Connection, build
) -> None:
    spec = pair_spec()
    day_1, day_2 = day_window(spec, DAY_1), day_window(spec, DAY_2)
    build(
        spec,
        day_1,
        [
            {
                "source": "left",
                "record_key": "ch_late",
                "amount": "20.00",
                "occurred_at": at(DAY_1, "23:00:00"),
            }
        ],
    )
    assert units(conn, day_1)["ch_late"]["outcome"] == "pending"
    assert run_breaks(conn, day_1) == []

    build(
        spec,
        day_2,
        [
            {"source": "left", "record_key": "ch_other", "amount": "5.00"},
            {"source": "right", "record_key": "ch_other", "amount": "5.00"},
        ],
    )

    late = units(conn, day_2)["ch_late"]
    assert late == {
        "outcome": "missing",
        "missing_in": "right",
        "carried_from_run_id": day_1.run_id,
        # Pending then missing is a new break of day 2, not one seen again.
        "is_carried_break": False,
    }
    assert run_breaks(conn, day_2) == [("missing", ["ch_late"], None, "right")]
    assert break_lives(conn)["ch_late"]["status"] == "open"


def test_a_rerun_replaces_its_rows_and_counts_a_break_once_per_run(conn: psycopg.Connection, build) -> None:
    spec = pair_spec(settlement_window="0s")
    day_1, day_2 = day_window(spec, DAY_1), day_window(spec, DAY_2)
    records = [
        {"source": "left", "record_key": "ch_gone", "amount": "30.00"},
        {"source": "left", "record_key": "ch_off", "amount": "10.00"},
        {"source": "right", "record_key": "ch_off", "amount": "10.50"},
    ]

    build(spec, day_1, records)
    build(spec, day_1, records)

    assert run_breaks(conn, day_1) == sorted(
        [("amount_mismatch", ["ch_off"], ["ch_off"], None), ("missing", ["ch_gone"], None, "right")], key=str
    )
    unit_count = rows(
        conn,
        "select count(*) as n from recon_intermediate.int_records_matched where run_id = %s",
        day_1.run_id,
    )
    assert unit_count == [{"n": 2}]
    lives = break_lives(conn)
    assert {key: life["times_seen"] for key, life in lives.items()} == {"ch_gone": 1, "ch_off": 1}

    # Day 2 sees the carried missing charge again (twice, by a rerun): one more sighting, not two.
    build(spec, day_2, [])
    build(spec, day_2, [])

    assert units(conn, day_2) == {
        "ch_gone": {
            "outcome": "missing",
            "missing_in": "right",
            "carried_from_run_id": day_1.run_id,
            "is_carried_break": True,
        }
    }
    lives = break_lives(conn)
    assert lives["ch_gone"]["times_seen"] == 2
    assert lives["ch_gone"]["last_seen_run_id"] == day_2.run_id
    assert lives["ch_gone"]["status"] == "open"
    assert lives["ch_off"]["times_seen"] == 1
    carried = rows(
        conn,
        "select break_count, carried_break_count from reconciliation.run_summary where run_id = %s",
        day_2.run_id,
    )
    assert carried == [{"break_count": 0, "carried_break_count": 1}]

    # Day 1 rerun after day 2, the ledger's amount corrected: the rerun resolves the fixed break, and the
    # missing charge, already seen by the newer day 2, is neither counted a third time nor seen last on day 1.
    build(spec, day_1, [*records[:2], {"source": "right", "record_key": "ch_off", "amount": "10.00"}])

    lives = break_lives(conn)
    assert lives["ch_off"]["status"] == "resolved"
    assert lives["ch_off"]["resolved_by_run_id"] == day_1.run_id
    assert lives["ch_gone"]["times_seen"] == 2
    assert lives["ch_gone"]["last_seen_run_id"] == day_2.run_id


def test_a_repeated_key_is_a_duplicate_break_not_a_failed_run(conn: psycopg.Connection, build) -> None:
    spec = pair_spec(settlement_window="0s")
    day_1 = day_window(spec, DAY_1)

    # run_matching asserts that dbt build (models and data tests) exits 0.
    build(
        spec,
        day_1,
        [
            record("left", "ch_twice", "10.00", at(DAY_1, "10:00:00")),
            record("left", "ch_twice", "10.00", at(DAY_1, "10:00:05")),
            record("right", "ch_twice", "10.00", at(DAY_1, "10:00:00")),
            record("right", "ch_twice", "10.00", at(DAY_1, "10:05:00")),  # the copy window's edge
        ],
    )  # fmt: skip

    found = rows(
        conn,
        "select outcome, left_record_keys, right_record_keys, left_occurred_at, right_occurred_at"
        " from recon_intermediate.int_records_matched where run_id = %s order by outcome, 2, 3",
        day_1.run_id,
    )
    assert [(unit["outcome"], unit["left_record_keys"], unit["right_record_keys"]) for unit in found] == [
        ("duplicate", ["ch_twice"], None),
        ("duplicate", None, ["ch_twice"]),
        ("matched", ["ch_twice"], ["ch_twice"]),
    ]
    matched = found[2]
    assert (matched["left_occurred_at"], matched["right_occurred_at"]) == (at(DAY_1, "10:00:00"),) * 2
    assert run_breaks(conn, day_1) == sorted(
        [("duplicate", ["ch_twice"], None, "right"), ("duplicate", None, ["ch_twice"], "left")], key=str
    )
    lives = rows(conn, "select break_class, status from reconciliation.breaks order by break_id")
    assert [tuple(life.values()) for life in lives] == [("duplicate", "open")] * 2


def test_a_carried_record_left_processing_becomes_stuck_once_old_enough(
    warehouse: psycopg.Connection, warehouse_url: str
) -> None:
    warehouse.commit()
    spec = make_spec(
        "payments",
        {
            "pairs": [{"left": "provider", "right": "sessions", "timing": {"settlement_window": "12h"}}],
            "stuck": [{"source": "provider", "statuses": ["processing"], "older_than": "20h"}],
        },
        sources=("provider", "sessions"),
    )
    day1, day2 = day_window(spec, "2026-11-19"), day_window(spec, "2026-11-20")
    late_in_day1 = day1.start + timedelta(hours=18)
    processing = {"source": "provider", "record_key": "pay_1", "amount": "5.00", "status": "processing",
                  "occurred_at": late_in_day1}  # fmt: skip

    run_matching(warehouse, warehouse_url, spec, day1, [processing])
    run_matching(warehouse, warehouse_url, spec, day2, [])  # the provider does not list it again

    outcomes = rows(
        warehouse,
        "select run_id, outcome from recon_intermediate.int_records_matched"
        " where spec = %s order by window_end",
        spec.name,
    )
    assert [(row["run_id"], row["outcome"]) for row in outcomes] == [
        (day1.run_id, "pending"),
        (day2.run_id, "stuck"),
    ]


def test_fallback_rules_find_amounts_within_the_tolerance_across_bucket_edges(
    warehouse: psycopg.Connection, warehouse_url: str
) -> None:
    warehouse.commit()
    rule = {"name": "close_amount", "amount_tolerance": "0.05", "time_drift": "1h"}
    pair = {
        "left": "ledger",
        "right": "bank",
        "keys": ["reference"],
        "rules": [rule],
        "duplicates": {"near": None},
    }
    spec = make_spec("bank", {"pairs": [pair]}, sources=("ledger", "bank"))
    window = day_window(spec, "2026-11-19")
    # (left amount, right amount): the edge of the tolerance on either side of a bucket boundary,
    # negative amounts, and one pair 0.06 apart that no rule may match.
    amounts = [
        ("10.00", "10.05"),
        ("10.04", "9.99"),
        ("-10.00", "-10.05"),
        ("7.97", "8.02"),
        ("3.00", "3.06"),
    ]
    records = []
    for index, (left, right) in enumerate(amounts):
        at = window.start + timedelta(hours=3 * index + 1)  # pairs further apart than the drift
        records += [
            {"source": "ledger", "record_key": f"l{index}", "amount": left, "occurred_at": at},
            {"source": "bank", "record_key": f"b{index}", "amount": right, "occurred_at": at},
        ]

    run_matching(warehouse, warehouse_url, spec, window, records)

    units = rows(
        warehouse,
        "select left_record_keys, right_record_keys, rule, outcome"
        " from recon_intermediate.int_records_matched where run_id = %s",
        window.run_id,
    )
    matched = [(u["left_record_keys"], u["right_record_keys"]) for u in units if u["rule"] == "close_amount"]
    assert sorted(matched) == [(["l0"], ["b0"]), (["l1"], ["b1"]), (["l2"], ["b2"]), (["l3"], ["b3"])]
    lone = [
        (u["left_record_keys"] or u["right_record_keys"], u["outcome"]) for u in units if u["rule"] is None
    ]
    assert sorted(lone) == [(["b4"], "missing"), (["l4"], "missing")]


def test_a_reviewed_break_keeps_its_review_until_its_values_change_or_it_is_found_again(
    conn: psycopg.Connection, build
) -> None:
    from recon.review import review

    spec = pair_spec(settlement_window="0s")
    day_1 = day_window(spec, DAY_1)
    records = [
        {"source": "left", "record_key": "ch_gone", "amount": "30.00"},
        {"source": "left", "record_key": "ch_off", "amount": "10.00"},
        {"source": "right", "record_key": "ch_off", "amount": "10.50"},
    ]
    build(spec, day_1, records)
    keyed = (
        "select array_to_string(coalesce(left_record_keys, right_record_keys), ',') as key, break_id"
        " from reconciliation.breaks"
    )
    ids = {row["key"]: row["break_id"] for row in rows(conn, keyed)}

    review(conn, [ids["ch_off"]], "ignore", "ada", "known fee difference")
    review(conn, [ids["ch_gone"]], "resolve", "ada", "synced by hand")
    build(spec, day_1, records)  # the same values again

    lives = break_lives(conn)
    assert lives["ch_off"]["status"] == "ignored", "an ignored break stays ignored while its values hold"
    assert lives["ch_gone"]["status"] == "open", "a break resolved by a review but found again is open"

    changed = [*records[:2], {"source": "right", "record_key": "ch_off", "amount": "10.70"}]
    build(spec, day_1, changed)

    assert break_lives(conn)["ch_off"]["status"] == "open", "a changed value reopens an ignored break"
    audit = rows(conn, "select actor, action, break_id, note, before, after from reconciliation.audit_log")
    assert audit == [
        {"actor": "ada", "action": "break.ignore", "break_id": ids["ch_off"], "note": "known fee difference",
         "before": {"status": "open"}, "after": {"status": "ignored"}},
        {"actor": "ada", "action": "break.resolve", "break_id": ids["ch_gone"], "note": "synced by hand",
         "before": {"status": "open"}, "after": {"status": "resolved"}},
    ]  # fmt: skip


def test_a_line_whose_extracted_key_is_empty_goes_to_the_fallback_rules(
    conn: psycopg.Connection, build
) -> None:
    # The bank's reference is cut out of its purpose text by a pattern such as '(po_[A-Za-z0-9]+|$)',
    # which leaves '' on lines that carry no payout id: those have no match key at all.
    pair = {
        "left": "payouts",
        "right": "bank",
        "keys": {"left": ["record_key"], "right": ["reference"]},
        "rules": [{"name": "same_amount", "amount_tolerance": "0", "time_drift": "3d"}],
    }
    spec = make_spec("payouts", {"pairs": [pair]}, sources=("payouts", "bank"))
    day_1 = day_window(spec, DAY_1)
    build(
        spec,
        day_1,
        [
            record("payouts", "po_1", "100.00", at(DAY_1, "08:00:00")),
            record("payouts", "po_2", "50.00", at(DAY_1, "08:00:00")),
            {**record("bank", "b1", "100.00", at(DAY_1, "12:00:00")), "reference": "po_1"},
            {**record("bank", "b2", "50.00", at(DAY_1, "12:00:00")), "reference": ""},
            # Another line without an id: two empty keys are not a repeated key (no duplicate).
            {**record("bank", "b3", "7.00", at(DAY_1, "12:00:00")), "reference": ""},
        ],
    )  # fmt: skip

    found = rows(
        conn,
        "select left_record_keys[1], right_record_keys[1], match_key, rule, outcome"
        " from recon_intermediate.int_records_matched where run_id = %s order by 2",
        day_1.run_id,
    )
    assert [tuple(unit.values()) for unit in found] == [
        ("po_1", "b1", "po_1", "key", "matched"),
        ("po_2", "b2", "po_2", "same_amount", "matched"),  # the key is the payout's
        (None, "b3", None, None, "missing"),
    ]


def test_a_quiet_window_is_judged_against_the_day_behind_it(conn: psycopg.Connection, build) -> None:
    from recon.runs import publish_run, start_run

    spec = make_spec(
        "quiet", {"pairs": [{"left": "left", "right": "right", "timing": {"settlement_window": "5m"}}]}
    )
    busy = RunWindow(spec.name, at(DAY_1, "10:00:00"), at(DAY_1, "11:00:00"))
    quiet = RunWindow(spec.name, at(DAY_1, "11:00:00"), at(DAY_1, "12:00:00"))
    matched = [
        record(source, f"ch_{number}", "100.00", at(DAY_1, "10:30:00"))
        for number in range(10)
        for source in ("left", "right")
    ]
    # 10:58 is inside the settlement window: pending in the busy hour, missing in the quiet one.
    straggler = record("left", "ch_late", "5.00", at(DAY_1, "10:58:00"))
    start_run(conn, busy, None)
    build(spec, busy, [*matched, straggler])
    start_run(conn, quiet, None)

    def quiet_row() -> dict:
        (row,) = rows(
            conn,
            "select gross_amount, left_carried_gross_amount, earlier_gross_amount, base_amount,"
            " discrepancy_amount, discrepancy_percent, break_count, severity"
            " from reconciliation.run_summary where run_id = %s",
            quiet.run_id,
        )
        return row

    # The busy hour is not published yet: the straggler is all the quiet hour knows of.
    build(spec, quiet, [])
    assert quiet_row() == {
        "gross_amount": Decimal(0), "left_carried_gross_amount": Decimal("5.00"),
        "earlier_gross_amount": Decimal(0), "base_amount": Decimal("5.00"),
        "discrepancy_amount": Decimal("5.00"), "discrepancy_percent": Decimal(100), "break_count": 1,
        "severity": "critical",
    }  # fmt: skip

    assert publish_run(conn, busy) == "success"
    build(spec, quiet, [])

    # 5.00 of the 1005.00 the busy hour reconciled and the 5.00 carried: 0.495 %, not critical.
    assert quiet_row() == {
        "gross_amount": Decimal(0), "left_carried_gross_amount": Decimal("5.00"),
        "earlier_gross_amount": Decimal("1005.00"), "base_amount": Decimal("1010.00"),
        "discrepancy_amount": Decimal("5.00"), "discrepancy_percent": Decimal("0.4950"), "break_count": 1,
        "severity": "warning",
    }  # fmt: skip
    assert run_breaks(conn, quiet) == [("missing", ["ch_late"], None, "right")]
    severities = rows(conn, "select severity from reconciliation.run_breaks where run_id = %s", quiet.run_id)
    assert severities == [{"severity": "warning"}]
    assert publish_run(conn, quiet) == "discrepancy_found"
    (run,) = rows(
        conn, "select severity, break_count from reconciliation.runs where run_id = %s", quiet.run_id
    )
    assert run == {"severity": "warning", "break_count": 1}


def test_a_currency_mismatch_counts_on_both_currencies_and_once_in_the_run(
    conn: psycopg.Connection, build
) -> None:
    from recon.runs import publish_run, start_run

    spec = pair_spec(settlement_window="0s")
    day_1 = day_window(spec, DAY_1)
    start_run(conn, day_1, None)
    # run_matching asserts that dbt build passes, with the test that run_summary adds up to run_breaks.
    build(
        spec,
        day_1,
        [
            {"source": "left", "record_key": "ch_fx", "amount": "10.00", "currency": "USD"},
            {"source": "right", "record_key": "ch_fx", "amount": "9.00", "currency": "EUR"},
            {"source": "left", "record_key": "ch_usd", "amount": "1000.00", "currency": "USD"},
            {"source": "right", "record_key": "ch_usd", "amount": "1000.00", "currency": "USD"},
            {"source": "left", "record_key": "ch_eur", "amount": "50.00", "currency": "EUR"},
            {"source": "right", "record_key": "ch_eur", "amount": "50.00", "currency": "EUR"},
        ],
    )

    summary = rows(
        conn,
        "select currency, currency_mismatch_count, break_count, cross_currency_break_count,"
        " discrepancy_amount, left_total_amount, right_total_amount"
        " from reconciliation.run_summary where run_id = %s order by currency",
        day_1.run_id,
    )
    assert [tuple(row.values()) for row in summary] == [
        ("EUR", 1, 1, 1, Decimal("9.00"), Decimal("50.00"), Decimal("59.00")),
        ("USD", 1, 1, 0, Decimal("10.00"), Decimal("1010.00"), Decimal("1000.00")),
    ]
    assert publish_run(conn, day_1) == "discrepancy_found"
    (run,) = rows(
        conn, "select break_count, break_counts from reconciliation.runs where run_id = %s", day_1.run_id
    )
    assert run == {"break_count": 1, "break_counts": {"currency_mismatch": 1}}
