"""`recon stats` against a real warehouse: runs and breaks seeded by hand, every figure computed by hand.

``reconciliation.breaks`` is built by dbt, not by ``ensure_schema``: ``BREAKS_DDL`` creates it here with
the columns and types dbt gives it (dbt_project/models/marts/breaks.sql, as built in a warehouse).
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import psycopg
import pytest

from recon.stats import LastRun, format_stats, parse_since, spec_stats, stats_command

pytestmark = pytest.mark.integration

SPEC = "stripe_billing"
OTHER = "ticket_sales"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

BREAKS_DDL = """
create table reconciliation.breaks (
    break_id text, run_id text, spec text, pair text, break_class text, severity text, missing_in text,
    left_source text, right_source text, match_key text, left_record_keys text[], right_record_keys text[],
    left_amount numeric, right_amount numeric, left_currency text, right_currency text, currency text,
    amount_difference numeric, discrepancy_amount numeric, occurred_at timestamptz, left_status text,
    right_status text, different_fields text[], customer_email text, reference text,
    first_seen_run_id text, first_seen_at timestamptz, last_seen_run_id text, last_seen_at timestamptz,
    times_seen integer, status text, resolved_by_run_id text, resolved_at timestamptz, age_days numeric,
    updated_at timestamptz
)
"""


def at(day: int, hour: int = 0, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def run_id(spec: str, day: int) -> str:
    return f"{spec}/{at(day).isoformat()}/{at(day + 1).isoformat()}"


# (window day, status, duration in seconds): a daily run starts 5 minutes after its window ends.
RUNS = [
    (10, "success", "100"),
    (11, "error", None),
    (12, "discrepancy_found", "200"),
    (13, "success", "150.5"),
    (14, "success", "300"),
    (15, "discrepancy_found", "1000"),
    (16, "error", None),
    (19, "running", None),
]


def seed_runs(conn: psycopg.Connection) -> None:
    rows: list[tuple[Any, ...]] = []
    for spec, runs in ((SPEC, RUNS), (OTHER, [(18, "success", "5")])):
        for day, status, duration in runs:
            started = at(day + 1, 0, 5)
            finished = None if status == "running" else started + timedelta(seconds=float(duration or 30))
            rows.append((run_id(spec, day), spec, at(day), at(day + 1), status, started, finished, duration))
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "insert into reconciliation.runs (run_id, spec, window_start, window_end, status, started_at,"
            " finished_at, duration_seconds) values (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


def brk(
    break_id: str,
    break_class: str,
    severity: str,
    currency: str,
    amount: str,
    first_seen_at: datetime,
    status: str = "open",
    resolved_at: datetime | None = None,
    resolved_by_run_id: str | None = None,
    spec: str = SPEC,
) -> dict[str, Any]:
    return {
        "break_id": break_id,
        "run_id": resolved_by_run_id or "some run",
        "spec": spec,
        "pair": "stripe_vs_internal",
        "break_class": break_class,
        "severity": severity,
        "currency": currency,
        "discrepancy_amount": Decimal(amount),
        "first_seen_at": first_seen_at,
        "last_seen_at": first_seen_at,
        "times_seen": 1,
        "status": status,
        "resolved_at": resolved_at,
        "resolved_by_run_id": resolved_by_run_id,
    }


# Ages as of NOW (2026-11-20 12:00 UTC), exact bucket edges included.
BREAKS = [
    brk("b1", "amount_mismatch", "warning", "USD", "1234.50", at(20)),  # 12 h: < 1 day
    brk("b2", "missing", "critical", "USD", "1000000.00", at(19, 12)),  # exactly 1 day: 1-7
    brk("b3", "missing", "warning", "EUR", "0.10", at(13, 12)),  # exactly 7 days: 7-30
    brk("b4", "duplicate", "critical", "EUR", "250.00", at(21, 12, month=10)),  # exactly 30 days: 30+
    brk("b5", "late", "warning", "JPY", "0", at(19)),  # 1.5 days: 1-7
    brk("b6", "stuck", "warning", "USD", "99.99", at(1, month=9)),  # 80.5 days: 30+
    brk("r1", "amount_mismatch", "warning", "USD", "40", at(12), "resolved", at(16), run_id(SPEC, 15)),
    brk("r2", "missing", "critical", "USD", "70", at(11), "resolved", at(12), run_id(SPEC, 11)),
    brk("r3", "status_mismatch", "warning", "GBP", "9", at(1), "resolved", at(18)),  # a review
    brk("i1", "near_duplicate", "warning", "USD", "500", at(15), "ignored"),
    brk("x1", "missing", "critical", "USD", "7", at(20), spec=OTHER),
]


def seed_breaks(conn: psycopg.Connection, breaks: list[dict[str, Any]] = BREAKS) -> None:
    columns = list(breaks[0])
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(BREAKS_DDL)
        cur.executemany(
            f"insert into reconciliation.breaks ({', '.join(columns)})"
            f" values ({', '.join(f'%({c})s' for c in columns)})",
            breaks,
        )


@pytest.fixture
def seeded(warehouse: psycopg.Connection) -> psycopg.Connection:
    seed_runs(warehouse)
    seed_breaks(warehouse)
    return warehouse


def test_counts_every_run_of_the_spec_by_status_and_rates_success_over_finished_runs(
    seeded: psycopg.Connection,
) -> None:
    stats = spec_stats(seeded, SPEC, now=NOW)

    assert (stats.success, stats.discrepancy_found, stats.error, stats.running) == (3, 2, 2, 1)
    assert (stats.runs, stats.finished, stats.published) == (8, 7, 5)
    assert stats.success_rate == Fraction(3, 7)
    # Published runs only: 100 + 200 + 150.5 + 300 + 1000 = 1750.5 over 5; nearest-rank p95 of 5 is the 5th.
    assert stats.average_duration_seconds == Decimal("350.1")
    assert stats.p95_duration_seconds == Decimal("1000")
    assert stats.last_run == LastRun(run_id(SPEC, 19), "running", at(20, 0, 5), None)


def test_counts_breaks_found_resolved_open_and_ignored(seeded: psycopg.Connection) -> None:
    stats = spec_stats(seeded, SPEC, now=NOW)

    assert stats.found == 10
    assert stats.found_by_class == {
        "missing": 3,
        "amount_mismatch": 2,
        "duplicate": 1,
        "late": 1,
        "near_duplicate": 1,
        "status_mismatch": 1,
        "stuck": 1,
    }
    assert list(stats.found_by_class) == [
        "missing", "amount_mismatch", "duplicate", "late", "near_duplicate", "status_mismatch", "stuck",
    ]  # fmt: skip
    assert (stats.resolved, stats.resolved_by_run, stats.resolved_by_review) == (3, 2, 1)
    assert stats.open == 6
    assert stats.ignored == 1


def test_ages_open_breaks_from_first_seen_to_now_with_each_edge_in_the_older_bucket(
    seeded: psycopg.Connection,
) -> None:
    stats = spec_stats(seeded, SPEC, now=NOW)

    assert stats.open_by_age == {"< 1 day": 1, "1-7 days": 2, "7-30 days": 1, "30+ days": 2}
    assert list(stats.open_by_severity.items()) == [("critical", 2), ("warning", 4)]


def test_adds_open_amounts_per_currency_exactly_and_never_across_currencies(
    seeded: psycopg.Connection,
) -> None:
    stats = spec_stats(seeded, SPEC, now=NOW)

    assert list(stats.open_amounts.items()) == [
        ("EUR", Decimal("250.10")),
        ("JPY", Decimal("0")),
        ("USD", Decimal("1001334.49")),
    ]


def test_since_limits_runs_and_discrepancies_to_the_period_but_not_what_is_open_now(
    seeded: psycopg.Connection,
) -> None:
    since = at(14, 0, 5)  # exactly when the run of the 13th started: that run is in the period

    stats = spec_stats(seeded, SPEC, since, now=NOW)

    assert (stats.success, stats.discrepancy_found, stats.error, stats.running) == (2, 1, 1, 1)
    assert stats.success_rate == Fraction(1, 2)
    assert stats.average_duration_seconds == Decimal("483.5")  # (150.5 + 300 + 1000) / 3
    assert stats.p95_duration_seconds == Decimal("1000")
    assert stats.found_by_class == {"amount_mismatch": 1, "late": 1, "missing": 1, "near_duplicate": 1}
    assert (stats.resolved_by_run, stats.resolved_by_review) == (1, 1)  # r1 on the 16th, r3 on the 18th
    assert stats.open == 6
    assert stats.open_by_age == {"< 1 day": 1, "1-7 days": 2, "7-30 days": 1, "30+ days": 2}
    assert stats.ignored == 1
    assert stats.open_amounts["USD"] == Decimal("1001334.49")
    assert stats.last_run.run_id == run_id(SPEC, 19)


def test_a_period_with_no_runs_has_no_rate_and_no_durations(seeded: psycopg.Connection) -> None:
    stats = spec_stats(seeded, SPEC, at(21), now=NOW)

    assert (stats.runs, stats.success_rate) == (0, None)
    assert (stats.average_duration_seconds, stats.p95_duration_seconds) == (None, None)
    assert (stats.found, stats.resolved) == (0, 0)
    assert stats.last_run.run_id == run_id(SPEC, 19)
    assert "n/a" in format_stats(stats)


def test_other_specs_runs_and_breaks_are_not_counted(seeded: psycopg.Connection) -> None:
    stats = spec_stats(seeded, OTHER, now=NOW)

    assert (stats.runs, stats.success, stats.success_rate) == (1, 1, Fraction(1))
    assert stats.average_duration_seconds == Decimal("5")
    assert stats.last_run == LastRun(
        run_id(OTHER, 18), "success", at(19, 0, 5), at(19, 0, 5) + timedelta(seconds=5)
    )
    assert (stats.found, stats.open, stats.ignored) == (1, 1, 0)
    assert stats.open_amounts == {"USD": Decimal("7")}


def test_an_unknown_spec_is_refused_naming_the_specs_that_have_runs(seeded: psycopg.Connection) -> None:
    with pytest.raises(LookupError) as raised:
        spec_stats(seeded, "stripe_payouts", now=NOW)

    assert (
        str(raised.value)
        == "no runs for spec 'stripe_payouts' (specs with runs: stripe_billing, ticket_sales)"
    )


def test_an_empty_ledger_says_no_spec_has_runs(warehouse: psycopg.Connection) -> None:
    with pytest.raises(LookupError) as raised:
        spec_stats(warehouse, SPEC)

    assert str(raised.value) == "no runs for spec 'stripe_billing' (no spec has runs yet)"


def test_before_dbt_built_the_breaks_table_every_break_figure_is_zero(warehouse: psycopg.Connection) -> None:
    seed_runs(warehouse)

    stats = spec_stats(warehouse, SPEC, now=NOW)

    assert stats.runs == 8
    assert (stats.found, stats.resolved, stats.open, stats.ignored) == (0, 0, 0, 0)
    assert stats.open_by_age == {"< 1 day": 0, "1-7 days": 0, "7-30 days": 0, "30+ days": 0}
    assert (stats.found_by_class, stats.open_by_severity, stats.open_amounts) == ({}, {}, {})


def test_a_naive_since_is_refused(seeded: psycopg.Connection) -> None:
    with pytest.raises(ValueError) as raised:
        spec_stats(seeded, SPEC, datetime(2026, 11, 14))

    assert "since must be timezone-aware" in str(raised.value)


def test_the_report_shows_every_figure_rounded_and_with_thousands_separators(
    seeded: psycopg.Connection,
) -> None:
    text = format_stats(spec_stats(seeded, SPEC, now=NOW))

    lines = [" ".join(line.split()) for line in text.splitlines()]
    expected = [
        "recon stats: stripe_billing",
        "period: all time; open breaks as of 2026-11-20 12:00:00 UTC",
        f"last run: {run_id(SPEC, 19)}",
        "running, started 2026-11-20 00:05:00 UTC",
        "runs 8",
        "success 3",
        "discrepancy_found 2",
        "error 2",
        "running 1",
        "success rate 42.9 % (3 of 7 finished)",
        "average duration 350.1 s",
        "p95 duration 1,000.0 s",
        "found 10",
        "missing 3",
        "amount_mismatch 2",
        "resolved 3",
        "by a run 2",
        "by a review 1",
        "open 6",
        "< 1 day 1",
        "1-7 days 2",
        "7-30 days 1",
        "30+ days 2",
        "critical 2",
        "warning 4",
        "ignored 1",
        "EUR 250.10",
        "JPY 0",
        "USD 1,001,334.49",
    ]
    assert [line for line in expected if line not in lines] == []
    # One column of figures: every figure row ends at the same place (notes aside).
    figure_rows = [line.split("  (")[0] for line in text.splitlines() if re.match(r" {2,4}\S.*\s{2}\S", line)]
    assert len(figure_rows) == 30
    assert len({len(row) for row in figure_rows}) == 1, figure_rows


def test_the_report_of_a_period_names_its_start(seeded: psycopg.Connection) -> None:
    text = format_stats(spec_stats(seeded, SPEC, at(14, 0, 5), now=NOW))

    assert "period: since 2026-11-14 00:05:00 UTC; open breaks as of 2026-11-20 12:00:00 UTC" in text
    assert "Runs (since 2026-11-14 00:05:00 UTC)" in text


def test_the_command_prints_the_report_or_the_reason_with_exit_status_2(
    seeded: psycopg.Connection,
    warehouse_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RECON_WAREHOUSE_URL", warehouse_url)

    assert stats_command(SPEC, at(14, 0, 5)) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("recon stats: stripe_billing\nperiod: since 2026-11-14 00:05:00 UTC;")
    assert "1,001,334.49" in printed.out
    assert printed.err == ""

    assert stats_command("nope") == 2
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err == "no runs for spec 'nope' (specs with runs: stripe_billing, ticket_sales)\n"


def test_the_command_says_when_it_cannot_reach_the_warehouse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RECON_WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_WAREHOUSE", raising=False)

    assert stats_command(SPEC, connection="no_such_warehouse") == 2
    assert capsys.readouterr().err.startswith("connection 'no_such_warehouse': cannot reach the warehouse:")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T06:30:00", datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
        ("2026-11-01T06:30:00+02:00", datetime(2026, 11, 1, 4, 30, tzinfo=UTC)),
    ],
)
def test_since_reads_dates_and_timestamps_as_utc_unless_they_say_otherwise(
    text: str, expected: datetime
) -> None:
    assert parse_since(text) == expected


def test_since_reads_a_number_of_days_back_from_now() -> None:
    before = datetime.now(UTC)
    since = parse_since("7d")
    after = datetime.now(UTC)

    assert before - timedelta(days=7) <= since <= after - timedelta(days=7)


def test_since_refuses_what_it_cannot_read() -> None:
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        parse_since("last week")

    assert str(raised.value).startswith("'last week': expected a number of days (7d)")


def test_since_as_an_argparse_type_reports_the_reason() -> None:
    parser = argparse.ArgumentParser(prog="recon stats", exit_on_error=False)
    parser.add_argument("--since", type=parse_since)

    assert parser.parse_args(["--since", "2026-11-01"]).since == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentError) as raised:
        parser.parse_args(["--since", "yesterday"])

    assert "'yesterday': expected a number of days (7d)" in str(raised.value)
