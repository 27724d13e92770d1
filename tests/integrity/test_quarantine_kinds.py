"""``on_fail: quarantine`` for every kind of staging rule: the rows moved out of ``staging.records`` are
exactly the rows GX counted as breaking the rule, no more, no fewer (the move's SQL is generated from
the same check). The cases are test_rules.py's: each rule on a source of rows that keep it and one of
the same rows plus rows that break it, here in a run of their own."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from recon.integrity import quarantine
from recon.integrity.validate import CheckResult, run_checkpoint
from tests.dbt.harness import load_records, rows
from tests.integrity.support import result
from tests.integrity.test_rules import CASES, WINDOW, Case, case_rules, records, spec_with

pytestmark = pytest.mark.integration

# test_rules.py's spec and window (this module's warehouse is its own), every rule set to quarantine.
SPEC = spec_with({"checks": [{**rule, "on_fail": "quarantine"} for rule in case_rules()]})
MOVED = sum(len(case.bad) for case in CASES) + 1  # and the threshold source's negative row


def staged(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return rows(
        conn,
        "select * from staging.records where run_id = %s order by source, origin_line",
        WINDOW.run_id,
    )


@pytest.fixture(scope="module")
def loaded(module_warehouse: psycopg.Connection) -> list[dict[str, Any]]:
    """The run's rows as loaded, before anything is moved."""
    load_records(module_warehouse, WINDOW, records())
    return staged(module_warehouse)


@pytest.fixture(scope="module")
def moved(loaded: list, module_warehouse: psycopg.Connection, gx_url: str) -> tuple[list[CheckResult], int]:
    results = run_checkpoint(SPEC, WINDOW, "staging", gx_url)
    return results, quarantine.move(module_warehouse, SPEC, WINDOW, results)


def quarantined_keys(conn: psycopg.Connection, source: str) -> list[str]:
    found = rows(
        conn,
        "select record_key, reason from staging.quarantine where run_id = %s and source = %s",
        WINDOW.run_id,
        source,
    )
    return sorted(row["record_key"] for row in found)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_quarantine_moves_exactly_the_rows_gx_counted(
    module_warehouse: psycopg.Connection, moved: tuple[list[CheckResult], int], case: Case
) -> None:
    results, _ = moved
    counted = result(results, case.name, f"{case.name}_bad")

    assert quarantined_keys(module_warehouse, f"{case.name}_bad") == sorted(r["record_key"] for r in case.bad)
    assert counted.unexpected_count == len(case.bad)
    assert quarantined_keys(module_warehouse, f"{case.name}_ok") == []
    left = rows(
        module_warehouse,
        "select record_key from staging.records where run_id = %s and source = %s",
        WINDOW.run_id,
        f"{case.name}_bad",
    )
    assert sorted(row["record_key"] for row in left) == sorted(r["record_key"] for r in case.ok)


def test_a_quarantine_rule_within_its_threshold_still_moves_what_it_finds(
    module_warehouse: psycopg.Connection, moved: tuple[list[CheckResult], int]
) -> None:
    results, count = moved
    within = result(results, "within_threshold", "threshold")

    # The rule passes (25 % of rows, 30 % allowed), but its row is moved all the same.
    assert (within.success, within.unexpected_count) == (True, 1)
    assert quarantined_keys(module_warehouse, "threshold") == ["negative"]
    (reason,) = {
        row["reason"]
        for row in rows(module_warehouse, "select reason from staging.quarantine where source = 'threshold'")
    }
    # Two rules of the source found the row: it is moved once, naming both.
    assert reason == "integrity rules within_threshold, beyond_threshold on threshold (on_fail: quarantine)"
    assert count == MOVED


def test_putting_back_restores_every_row_exactly_as_it_was_staged(
    module_warehouse: psycopg.Connection, loaded: list[dict[str, Any]], moved: tuple
) -> None:
    assert len(staged(module_warehouse)) == len(loaded) - MOVED

    restored = quarantine.restore(module_warehouse, WINDOW)

    # Every column, loaded_at too: exact amounts, times and attributes survive the trip through jsonb.
    assert restored == MOVED
    assert staged(module_warehouse) == loaded
    assert quarantined_keys(module_warehouse, "threshold") == []
    # As a retried check would: the same rows move again (and the other tests find them moved).
    assert quarantine.move(module_warehouse, SPEC, WINDOW, moved[0]) == MOVED
