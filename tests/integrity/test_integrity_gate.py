"""The integrity gate: the staging contract suite run with GX Core against one run's rows in Postgres."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from recon import integrity
from recon.warehouse import airflow_connection, sqlalchemy_url
from recon.window import RunWindow

pytestmark = pytest.mark.integration

SUITE_FILE = Path(__file__).resolve().parents[2] / "expectations" / "staging_records.yml"
WINDOW = RunWindow("stripe_billing", datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))
OTHER_RUN = RunWindow("stripe_billing", WINDOW.end, WINDOW.end + timedelta(days=1))
CONN_ID = "integrity_test_warehouse"


@dataclass(frozen=True)
class Row:
    record_key: str
    amount: str = "12.34"
    currency: str = "USD"
    customer_email: str | None = "ada.lovelace@example.com"
    source: str = "stripe"


CLEAN = [
    Row("ch_1"),
    Row("ch_2", "1200", "JPY", None),
    Row("ch_3", "1.250", "KWD", "grace@navy.mil"),
    Row("ch_1", source="internal"),
    Row("ch_2", "1200", "JPY", "alan.turing7@example.com", source="internal"),
]


def insert(conn: psycopg.Connection, rows: list[Row], window: RunWindow = WINDOW) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "insert into staging.records (spec, source, run_id, window_start, window_end, record_key,"
            " amount, currency, occurred_at, customer_email, origin)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    window.spec,
                    row.source,
                    window.run_id,
                    window.start,
                    window.end,
                    row.record_key,
                    Decimal(row.amount),
                    row.currency,
                    window.start + timedelta(hours=1),
                    row.customer_email,
                    "test",
                )
                for row in rows
            ],
        )


@pytest.fixture
def url(warehouse: psycopg.Connection, warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The SQLAlchemy URL GX uses, built from an Airflow connection as the DAG builds it."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", airflow_connection(warehouse_url))
    return sqlalchemy_url(CONN_ID)


def check(url: str, window: RunWindow = WINDOW) -> tuple[str, list[integrity.CheckResult]]:
    suite, rules = integrity.load_suite(SUITE_FILE)
    return suite, integrity.run_suite(url, window, suite, rules)


def outcome(results: list[integrity.CheckResult]) -> list[tuple[str, str | None, str, bool, int | None]]:
    return [(r.rule.type, r.rule.column, r.rule.severity, r.success, r.unexpected_count) for r in results]


def test_the_suite_file_declares_the_staging_contract() -> None:
    suite, rules = integrity.load_suite(SUITE_FILE)

    assert suite == "staging_records"
    assert [(rule.type, rule.column, rule.severity) for rule in rules] == [
        ("expect_column_values_to_not_be_null", "record_key", "critical"),
        ("expect_column_values_to_not_be_null", "amount", "critical"),
        ("expect_column_values_to_be_between", "amount", "critical"),
        ("expect_column_values_to_match_regex", "currency", "critical"),
        ("expect_column_values_to_match_regex", "customer_email", "warning"),
        ("expect_compound_columns_to_be_unique", "source,record_key", "warning"),
    ]


def test_clean_rows_pass_every_expectation_and_the_gate_stays_open(
    warehouse: psycopg.Connection, url: str
) -> None:
    insert(warehouse, CLEAN)

    suite, results = check(url)
    integrity.raise_on_critical(suite, results)  # must not raise

    assert [r.success for r in results] == [True] * 6
    column_checks = [r for r in results if r.rule.type != "expect_compound_columns_to_be_unique"]
    assert [r.unexpected_count for r in column_checks] == [0, 0, 0, 0, 0]
    assert results[0].details["element_count"] == len(CLEAN)


def test_a_negative_amount_closes_the_gate_naming_the_expectation_and_count(
    warehouse: psycopg.Connection, url: str
) -> None:
    insert(warehouse, [*CLEAN, Row("ch_4", "-12.34"), Row("ch_5", "-0.01")])
    suite, results = check(url)

    with pytest.raises(integrity.IntegrityError) as raised:
        integrity.raise_on_critical(suite, results)

    assert str(raised.value) == (
        "suite 'staging_records': critical expectations failed:"
        " expect_column_values_to_be_between on amount: 2 unexpected rows"
    )
    assert ("expect_column_values_to_be_between", "amount", "critical", False, 2) in outcome(results)
    assert sum(not r.success for r in results) == 1


def test_a_bad_email_is_only_a_warning_stored_masked(warehouse: psycopg.Connection, url: str) -> None:
    bad_emails = ["ada.lovelace@example", "grace hopper@navy.mil", "alan.turing.example.com"]
    insert(warehouse, [*CLEAN, *(Row(f"ch_bad_{i}", customer_email=e) for i, e in enumerate(bad_emails))])
    suite, results = check(url)

    integrity.raise_on_critical(suite, results)  # a warning never stops the run
    integrity.store_results(warehouse, WINDOW, suite, results)

    stored = warehouse.execute(
        "select expectation, column_name, severity, is_success, unexpected_count, details"
        " from reconciliation.integrity_results where run_id = %s and spec = %s and suite = %s",
        (WINDOW.run_id, WINDOW.spec, suite),
    ).fetchall()
    warehouse.rollback()
    assert len(stored) == 6
    failed = [row for row in stored if not row[3]]
    assert [row[:5] for row in failed] == [
        ("expect_column_values_to_match_regex", "customer_email", "warning", False, 3)
    ]
    details = json.dumps(failed[0][5])
    # Malformed emails are still personal data: masked whole, since they have no shape to keep.
    assert failed[0][5]["partial_unexpected_list"] == ["***", "***", "***"]
    for email in bad_emails:
        assert email not in details
    for name in ("lovelace", "hopper", "turing"):
        assert name not in details


def test_rows_of_another_run_are_not_checked(warehouse: psycopg.Connection, url: str) -> None:
    insert(warehouse, CLEAN)
    insert(warehouse, [Row("ch_x", "-5.00", "usd", "not an email"), Row("ch_x")], OTHER_RUN)

    suite, results = check(url)
    integrity.raise_on_critical(suite, results)

    assert all(r.success for r in results)
    assert results[0].details["element_count"] == len(CLEAN)
    # The other run's rows are really there and really bad: checked on their own, they fail.
    _, other = check(url, OTHER_RUN)
    assert [r.rule.column for r in other if not r.success] == [
        "amount",
        "currency",
        "customer_email",
        "source,record_key",
    ]
