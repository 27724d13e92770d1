"""Overlapping windows (Spec.window_overlap), on real Postgres through dbt: a run reads its sources from
the margin before its window, reconciles what is new or changed there, and leaves to the earlier run what
it already reconciled as it is.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from recon import runs
from recon.spec import Spec
from recon.window import RunWindow
from tests.dbt.harness import make_spec, rows, run_matching

pytestmark = pytest.mark.integration

DAY = "2026-11-20"


@pytest.fixture
def build(conn: psycopg.Connection, warehouse_url: str, tmp_path: Path):
    """One published run: registered, matched by dbt (results invariants checked), then published."""

    def run(spec: Spec, window: RunWindow, records: list[dict]) -> None:
        runs.start_run(conn, window, None)
        command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))
        run_matching(conn, warehouse_url, spec, window, records, command=command)
        runs.publish_run(conn, window)

    return run


def at(time: str) -> datetime:
    return datetime.fromisoformat(f"{DAY}T{time}+00:00")


def rec(source: str, key: str, time: str, amount: str = "10.00") -> dict:
    return {"source": source, "record_key": key, "amount": amount, "occurred_at": at(time)}


def overlap_spec(overlap: str = "10m") -> Spec:
    return make_spec(
        "overlap",
        {"pairs": [{"left": "left", "right": "right", "timing": {"settlement_window": "5m"}}]},
        schedule="*/15 * * * *",
        window_overlap=overlap,
    )


def outcomes(conn: psycopg.Connection, window: RunWindow) -> list[tuple]:
    found = rows(
        conn,
        "select array_to_string(coalesce(left_record_keys, right_record_keys), ',') as key,"
        " outcome, is_carried_break"
        " from recon_intermediate.int_records_matched where run_id = %s",
        window.run_id,
    )
    return sorted(tuple(row.values()) for row in found)


def test_a_run_reconciles_what_is_new_in_its_overlap_and_leaves_the_rest_to_the_earlier_run(
    conn: psycopg.Connection, build
) -> None:
    spec = overlap_spec()
    first = RunWindow(spec.name, at("10:00:00"), at("10:15:00"))
    second = RunWindow(spec.name, at("10:15:00"), at("10:30:00"))
    build(
        spec,
        first,
        [
            rec("left", "a", "10:06:00"), rec("right", "a", "10:07:00"),   # matched, read again
            rec("left", "b", "10:12:00"),                                  # pending: its pair comes late
            rec("left", "c", "10:08:00"),                                  # missing, read again
            rec("left", "d", "10:09:00"), rec("right", "d", "10:09:00"),   # matched, then changed
            rec("left", "e", "10:11:00"), rec("right", "e", "10:11:00"),   # matched, then repeated
            rec("left", "f", "10:02:00"), rec("right", "f", "10:02:00"),   # before the margin
        ],
    )  # fmt: skip
    assert outcomes(conn, first) == [
        ("a", "matched", False), ("b", "pending", False), ("c", "missing", False),
        ("d", "matched", False), ("e", "matched", False), ("f", "matched", False),
    ]  # fmt: skip

    # The second run reads from 10:05: the margin's records come again, as they were or changed, with
    # the one that reached the right source after the first run had read it.
    build(
        spec,
        second,
        [
            rec("left", "a", "10:06:00"), rec("right", "a", "10:07:00"),
            rec("left", "b", "10:12:00"), rec("right", "b", "10:13:00"),   # the late arrival
            rec("left", "c", "10:08:00"),
            rec("left", "d", "10:09:00"), rec("right", "d", "10:09:00", amount="12.00"),
            rec("left", "e", "10:11:00"), rec("right", "e", "10:11:00"), rec("left", "e", "10:16:00"),
            rec("left", "g", "10:20:00"), rec("right", "g", "10:21:00"),
        ],
    )  # fmt: skip

    assert outcomes(conn, second) == [
        ("b", "matched", False),  # the late arrival met the pending record
        ("c", "missing", True),  # still missing: carried, an open break seen again
        ("d", "amount_mismatch", False),  # the change met its counterpart
        ("e", "duplicate", False),  # the new copy of a matched key
        ("e", "matched", False),
        ("g", "matched", False),
    ]
    earlier = rows(
        conn,
        "select side, record_key, earlier_run_id from recon_intermediate.int_records_reconciled_earlier"
        " where run_id = %s order by side, record_key",
        second.run_id,
    )
    assert [tuple(row.values()) for row in earlier] == [
        ("left", "a", first.run_id), ("left", "c", first.run_id), ("right", "a", first.run_id),
    ]  # fmt: skip
    # Counted once: the second run's totals hold neither a's pair nor c again.
    summary = rows(
        conn,
        "select left_record_count, right_record_count from reconciliation.run_summary where run_id = %s",
        second.run_id,
    )
    assert [tuple(row.values()) for row in summary] == [(5, 4)]


def test_without_a_published_earlier_run_the_overlap_is_reconciled_in_full(
    conn: psycopg.Connection, warehouse_url: str, tmp_path: Path
) -> None:
    spec = overlap_spec()
    first = RunWindow(spec.name, at("10:00:00"), at("10:15:00"))
    second = RunWindow(spec.name, at("10:15:00"), at("10:30:00"))
    command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))
    records = [rec("left", "a", "10:06:00"), rec("right", "a", "10:07:00")]
    runs.start_run(conn, first, None)
    run_matching(conn, warehouse_url, spec, first, records, command=command)
    runs.mark_failed(conn, first, "failed after matching")  # never published: its outcome does not stand

    run_matching(conn, warehouse_url, spec, second, records, command=command)

    assert outcomes(conn, second) == [("a", "matched", False)]


def test_window_overlap_is_a_duration_of_whole_seconds_up_to_a_week() -> None:
    assert overlap_spec("90s").window_overlap == timedelta(seconds=90)
    assert overlap_spec("2h").window_overlap == timedelta(hours=2)
    for wrong in ("8d", "-5m", "1.5s"):
        with pytest.raises(ValueError) as raised:
            overlap_spec(wrong)
        assert "window_overlap" in str(raised.value)
