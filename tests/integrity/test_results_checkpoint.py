"""The results checkpoint, after dbt matching: the invariants of a run's results hold on a run with every
kind of break, fail when a record is lost, and no_duplicates counts exactly the repeated records. Then what
``store_results`` writes, and that a rerun replaces it.

One dbt run serves the module; the checkpoints (GX) are cheap and run per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest

from recon.integrity.validate import (
    CheckResult,
    IntegrityError,
    raise_on_stop,
    run_checkpoint,
    store_results,
)
from tests.dbt.harness import day_window, rows, run_matching
from tests.integrity.support import names, result, rules_spec

pytestmark = pytest.mark.integration

SPEC = rules_spec("integrity_results", {})
WINDOW = day_window(SPEC, "2026-11-12")
NOON = WINDOW.start + timedelta(hours=12)
PAIR = "left_vs_right"


def record(source: str, key: str, amount: str = "10", **fields: object) -> dict:
    return {"source": source, "record_key": key, "amount": amount, **fields}


RECORDS = [
    record("left", "matched"), record("right", "matched"),
    record("left", "amount_off"), record("right", "amount_off", "12"),
    # A currency mismatch is one unit in two summary rows (one per currency): counted once, not twice.
    record("left", "currency_off"), record("right", "currency_off", currency="EUR"),
    record("left", "left_only"),
    record("right", "right_only"),
    # Three copies of one key on the left, minutes apart: one matches, two are duplicates.
    record("left", "thrice"), record("right", "thrice"),
    record("left", "thrice", occurred_at=NOON + timedelta(minutes=1)),
    record("left", "thrice", occurred_at=NOON + timedelta(minutes=2)),
    # Twice on the right, once on the left: one matches, one is a duplicate.
    record("left", "twice", "5"),
    record("right", "twice", "5"), record("right", "twice", "5", occurred_at=NOON + timedelta(minutes=1)),
    # Same e-mail and amount 3 minutes after a matched record, with no counterpart: a near duplicate.
    record("left", "first", "7", customer_email="ada@example.com"), record("right", "first", "7"),
    record("left", "again", "7", customer_email="ada@example.com", occurred_at=NOON + timedelta(minutes=3)),
]  # fmt: skip
LEFT_COUNT = sum(r["source"] == "left" for r in RECORDS)
RIGHT_COUNT = sum(r["source"] == "right" for r in RECORDS)


@pytest.fixture(scope="module")
def matched(
    module_warehouse: psycopg.Connection, warehouse_url: str, tmp_path_factory: pytest.TempPathFactory
):
    """The run, matched by dbt (compiled into a target folder of its own, not the project's manifest)."""
    target = tmp_path_factory.mktemp("dbt") / "target"
    command = ("build", "--exclude", "test_type:unit", "--target-path", str(target))
    run_matching(module_warehouse, warehouse_url, SPEC, WINDOW, RECORDS, command=command)


@pytest.fixture(scope="module")
def results(matched: None, gx_url: str) -> list[CheckResult]:
    return run_checkpoint(SPEC, WINDOW, "results", gx_url)


@pytest.fixture
def conn(module_warehouse: psycopg.Connection, matched: None) -> psycopg.Connection:
    return module_warehouse


def outcomes(conn: psycopg.Connection) -> list[str]:
    found = rows(
        conn, "select outcome from recon_intermediate.int_records_matched where run_id = %s", WINDOW.run_id
    )
    return sorted(unit["outcome"] for unit in found)


def test_the_run_has_every_kind_of_break(conn: psycopg.Connection) -> None:
    # The premise of the tests below, read from the matching itself.
    assert outcomes(conn) == sorted(
        ["matched"] * 4
        + ["amount_mismatch", "currency_mismatch", "near_duplicate"]
        + ["missing"] * 2
        + ["duplicate"] * 3
    )


def test_the_results_checkpoint_runs_the_result_rules(results: list[CheckResult]) -> None:
    assert names(results, "left") == ["no_duplicates"]
    assert names(results, "right") == ["no_duplicates"]
    assert names(results, None) == ["records_accounted_once", "counts_add_up"]
    assert {r.suite for r in results} == {
        "integrity_results.results.duplicates_left",
        "integrity_results.results.duplicates_right",
        "integrity_results.results.pairs",
    }


@pytest.mark.parametrize("invariant", ["records_accounted_once", "counts_add_up"])
def test_the_invariants_hold_on_a_run_with_every_kind_of_break(
    results: list[CheckResult], invariant: str
) -> None:
    found = result(results, invariant, None)

    # One row per pair side, each 0 records off.
    assert (found.success, found.element_count, found.unexpected_count, found.sample) == (True, 2, 0, [])
    assert (found.severity, found.on_fail) == ("critical", "stop")
    raise_on_stop("results", results)  # must not raise: no_duplicates failed, but it only marks


def test_no_duplicates_counts_exactly_the_repeated_records(results: list[CheckResult]) -> None:
    left, right = result(results, "no_duplicates", "left"), result(results, "no_duplicates", "right")

    # Two later "thrice" records and the near duplicate on the left; the second "twice" on the right.
    assert (left.success, left.element_count, left.unexpected_count) == (False, LEFT_COUNT, 3)
    assert sorted(left.sample) == ["again", "thrice", "thrice"]
    assert (right.success, right.element_count, right.unexpected_count) == (False, RIGHT_COUNT, 1)
    assert right.sample == ["twice"]
    # Duplicates are a low-severity finding: reported (marked), never a stop.
    assert (left.severity, left.on_fail) == ("low", "mark")


@pytest.fixture
def lost_record(conn: psycopg.Connection) -> Iterator[None]:
    """A left record staged after dbt ran: one the results do not account for, as if matching lost it."""
    conn.execute(
        "insert into staging.records (spec, source, run_id, window_start, window_end, record_key, amount,"
        " currency, occurred_at, origin) values (%s, 'left', %s, %s, %s, 'lost', 1, 'USD', %s, 'test')",
        (WINDOW.spec, WINDOW.run_id, WINDOW.start, WINDOW.end, NOON),
    )
    yield
    conn.execute("delete from staging.records where run_id = %s and record_key = 'lost'", (WINDOW.run_id,))


@pytest.mark.usefixtures("lost_record")
def test_a_record_missing_from_the_results_breaks_both_invariants_and_stops_the_run(gx_url: str) -> None:
    checked = run_checkpoint(SPEC, WINDOW, "results", gx_url)

    for invariant in ("records_accounted_once", "counts_add_up"):
        found = result(checked, invariant, None)
        assert (found.success, found.unexpected_count, found.sample) == (False, 1, [f"{PAIR}:left"]), (
            invariant
        )
        # The staged count minus the accounted one.
        assert found.details["partial_unexpected_list"] == [-1], invariant
    with pytest.raises(IntegrityError) as raised:
        raise_on_stop("results", checked)
    # Every failed rule, the invariants (which stop) first; no_duplicates, which only marks, after.
    lines = str(raised.value).splitlines()
    assert lines[:3] == [
        "results checkpoint: 2 rules set to stop the run failed (4 failed in all):",
        f"- records_accounted_once (stop, critical): 1 unexpected row (50 %), e.g. {PAIR}:left",
        f"- counts_add_up (stop, critical): 1 unexpected row (50 %), e.g. {PAIR}:left",
    ]
    # (Samples in no particular order.) The lost record counts among the left's 10.
    assert [line.split(", e.g.")[0] for line in lines[3:]] == [
        "- no_duplicates on left (mark, low): 3 unexpected rows (30 %)",
        f"- no_duplicates on right (mark, low): 1 unexpected row ({100 / RIGHT_COUNT:.4g} %)",
    ]


def stored(conn: psycopg.Connection, checkpoint: str) -> list[dict]:
    return rows(
        conn,
        "select * from reconciliation.integrity_results where run_id = %s and checkpoint = %s"
        " order by suite, rule_name",
        WINDOW.run_id,
        checkpoint,
    )


def test_stored_results_carry_the_rule_its_outcome_and_the_sample(
    conn: psycopg.Connection, results: list[CheckResult], gx_url: str
) -> None:
    staging = run_checkpoint(SPEC, WINDOW, "staging", gx_url)

    store_results(conn, WINDOW, "staging", staging)
    store_results(conn, WINDOW, "results", results)

    assert len(stored(conn, "staging")) == len(staging) == 12
    duplicates, *_ = (row for row in stored(conn, "results") if row["source"] == "left")
    sample = duplicates.pop("sample_record_ids")
    details = duplicates.pop("details")
    assert duplicates.pop("checked_at") is not None
    assert float(duplicates.pop("unexpected_percent")) == pytest.approx(100 * 3 / LEFT_COUNT)
    assert duplicates == {
        "run_id": WINDOW.run_id,
        "spec": "integrity_results",
        "checkpoint": "results",
        "suite": "integrity_results.results.duplicates_left",
        "rule_name": "no_duplicates",
        "rule": "no_duplicates",
        "source": "left",
        "field": None,
        "expectation": "expect_column_values_to_be_in_set",
        "column_name": "no_duplicates",
        "severity": "low",
        "on_fail": "mark",
        "threshold": Decimal("0"),
        "is_success": False,
        "element_count": LEFT_COUNT,
        "unexpected_count": 3,
    }
    assert sorted(sample) == ["again", "thrice", "thrice"]
    assert details["partial_unexpected_list"] == [True, True, True]
    currency = next(row for row in stored(conn, "staging") if row["rule_name"] == "currency_iso_4217")
    assert (currency["rule"], currency["field"], currency["column_name"]) == (
        "currency_code",
        "currency",
        "currency_iso_4217",
    )
    assert (currency["is_success"], currency["sample_record_ids"]) == (True, [])


def test_a_rerun_of_a_checkpoint_replaces_its_stored_rows(
    conn: psycopg.Connection, results: list[CheckResult], gx_url: str
) -> None:
    store_results(conn, WINDOW, "staging", run_checkpoint(SPEC, WINDOW, "staging", gx_url))
    store_results(conn, WINDOW, "results", results)
    first = stored(conn, "results")

    store_results(conn, WINDOW, "results", run_checkpoint(SPEC, WINDOW, "results", gx_url))

    again = stored(conn, "results")
    assert len(again) == len(first) == len(results) == 4
    assert [row["checked_at"] for row in again] != [row["checked_at"] for row in first]
    # The other checkpoint's rows are left alone.
    assert len(stored(conn, "staging")) == 12
