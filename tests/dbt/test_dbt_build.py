"""`dbt build` of the matching project against real Postgres: unit tests, models and data tests in one go."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from tests.dbt.harness import day_window, make_spec, rows, run_matching

pytestmark = pytest.mark.integration

# The unit tests that pin the matching semantics (dbt_project/models/intermediate/*.yml); more may exist.
MATCHING_UNIT_TESTS = {
    "matched_equal_key_amount_currency",
    "amount_tolerance_absolute_is_inclusive",
    "amount_tolerance_percent_is_inclusive",
    "zero_decimal_currency_compared_in_its_own_units",
    "currency_mismatch_takes_precedence_over_amount",
    "status_mismatch_through_status_maps",
    "attribute_mismatch_only_on_compared_attributes",
    "late_is_strictly_beyond_late_after",
    "missing_on_each_side_names_the_source_lacking_it",
    "settlement_window_pending_then_missing",
    "null_keys_never_match",
    "repeated_keys_keep_the_earliest_copies_duplicate",
    "repeated_key_without_counterpart_is_no_duplicate",
    "repeated_key_copies_that_differ_go_to_the_fallback_rules",
    "fallback_match_beyond_late_after_is_late",
    "near_duplicates_within_time_and_amount_inclusive",
    "fallback_rule_one_to_one_with_tie_breaks",
    "fallback_reference_equal",
    "fallback_reference_contains",
    "fallback_reference_close",
    "group_n_to_1_with_fees",
    "balances_at_1e_8_inclusive",
    "stuck_records_alone_or_matched",
    "run_summary_status_and_severity",
    "run_summary_base_counts_carried_records_and_min_amount",
    "run_summary_counts_a_currency_mismatch_on_both_currencies",
    "match_keys_statuses_and_stuck_per_side",
    "grouped_side_keyed_by_its_group",
}
# (source, record_key, amount, currency): one of each common outcome.
RECORDS = [
    ("stripe", "ch_match", "10.00", "USD"),
    ("internal", "ch_match", "10.00", "USD"),
    ("stripe", "ch_edge", "10.00", "USD"),
    ("internal", "ch_edge", "10.01", "USD"),
    ("stripe", "ch_off", "10.00", "USD"),
    ("internal", "ch_off", "10.02", "USD"),
    ("stripe", "ch_yen", "1200", "JPY"),
    ("internal", "ch_yen", "1200", "JPY"),
    ("stripe", "ch_only_stripe", "5.00", "USD"),
    ("internal", "ch_only_internal", "7.50", "EUR"),
]


def test_dbt_build_passes_every_unit_test_and_classifies_a_seeded_run(
    warehouse: psycopg.Connection, warehouse_url: str, tmp_path: Path
) -> None:
    warehouse.commit()
    warehouse.autocommit = True
    spec = make_spec(
        "billing",
        {"pairs": [{"left": "stripe", "right": "internal", "compare": {"amount": {"tolerance": "0.01"}}}]},
        sources=("stripe", "internal"),
    )
    window = day_window(spec, "2026-11-19")
    records = [
        {"source": source, "record_key": key, "amount": amount, "currency": currency}
        for source, key, amount, currency in RECORDS
    ]
    target = tmp_path / "target"

    # run_matching asserts that the build (unit tests included) exits 0.
    run_matching(
        warehouse, warehouse_url, spec, window, records, command=("build", "--target-path", str(target))
    )

    results = json.loads((target / "run_results.json").read_text())["results"]
    unit_tests = {
        result["unique_id"].rsplit(".", 1)[-1]: result["status"]
        for result in results
        if result["unique_id"].startswith("unit_test.")
    }
    assert unit_tests.keys() >= MATCHING_UNIT_TESTS, MATCHING_UNIT_TESTS - unit_tests.keys()
    assert {name: status for name, status in unit_tests.items() if status != "pass"} == {}
    assert {result["status"] for result in results} <= {"pass", "success"}, results

    found = rows(
        warehouse,
        "select break_class, coalesce(left_record_keys, right_record_keys) as record_key, missing_in"
        " from reconciliation.run_breaks where run_id = %s order by 2",
        window.run_id,
    )
    assert [tuple(row.values()) for row in found] == [
        ("amount_mismatch", ["ch_off"], None),
        ("missing", ["ch_only_internal"], "stripe"),
        ("missing", ["ch_only_stripe"], "internal"),
    ]
    summary = rows(
        warehouse,
        "select currency, matched_count, matched_within_tolerance_count, break_count, status"
        " from reconciliation.run_summary where run_id = %s order by currency",
        window.run_id,
    )
    assert [tuple(row.values()) for row in summary] == [
        ("EUR", 0, 0, 1, "discrepancy_found"),
        ("JPY", 1, 0, 0, "success"),
        ("USD", 1, 1, 2, "discrepancy_found"),
    ]
