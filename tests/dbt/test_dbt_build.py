"""`dbt build` of the matching project against real Postgres: unit tests, models and data tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUN = {
    "spec": "billing",
    "run_id": "billing/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00",
    "window_start": "2026-11-19T00:00:00+00:00",
    "window_end": "2026-11-20T00:00:00+00:00",
    "left_source": "stripe",
    "right_source": "internal",
    "amount_tolerance": "0.01",
}
# (source, record_key, amount, currency): one of each kind of outcome.
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


def dbt_build(warehouse_url: str, run: dict[str, str]) -> subprocess.CompletedProcess:
    parts = urlsplit(warehouse_url)
    host = parse_qs(parts.query).get("host", [parts.hostname])[0]
    env = {
        **os.environ,
        "RECON_WAREHOUSE_HOST": host,
        "RECON_WAREHOUSE_PORT": str(parts.port or 5432),
        "RECON_WAREHOUSE_USER": parts.username or "postgres",
        "RECON_WAREHOUSE_PASSWORD": parts.password or "",
        "RECON_WAREHOUSE_DBNAME": parts.path.lstrip("/"),
    }
    dbt = str(Path(sys.executable).with_name("dbt"))
    return subprocess.run(
        [
            dbt,
            "build",
            "--project-dir",
            "dbt_project",
            "--profiles-dir",
            "dbt_project",
            "--vars",
            json.dumps(run),
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def seed(conn: psycopg.Connection) -> None:
    with conn.transaction():
        for source, key, amount, currency in RECORDS:
            conn.execute(
                "insert into staging.records (spec, source, run_id, window_start, window_end, record_key,"
                " amount, currency, occurred_at, origin) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'test')",
                (
                    RUN["spec"],
                    source,
                    RUN["run_id"],
                    RUN["window_start"],
                    RUN["window_end"],
                    key,
                    Decimal(amount),
                    currency,
                    "2026-11-19T12:00:00+00:00",
                ),
            )


def test_dbt_build_passes_unit_and_data_tests_and_classifies_every_record(
    warehouse: psycopg.Connection, warehouse_url: str
) -> None:
    seed(warehouse)

    completed = dbt_build(warehouse_url, RUN)

    assert completed.returncode == 0, completed.stdout[-4000:]
    results = json.loads((PROJECT_ROOT / "dbt_project" / "target" / "run_results.json").read_text())[
        "results"
    ]
    unit_tests = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert len(unit_tests) >= 5 and set(unit_tests.values()) == {"pass"}, unit_tests
    breaks = warehouse.execute(
        "select record_key, break_type, missing_in from reconciliation.fct_breaks order by record_key"
    ).fetchall()
    assert breaks == [
        ("ch_off", "amount_mismatch", None),
        ("ch_only_internal", "missing_in_source", "stripe"),
        ("ch_only_stripe", "missing_in_source", "internal"),
    ]
    summary = warehouse.execute(
        "select currency, matched_count, break_count, status from reconciliation.fct_run_summary"
        " order by currency"
    ).fetchall()
    assert summary == [
        ("EUR", 0, 1, "discrepancy_found"),
        ("JPY", 1, 0, "success"),
        ("USD", 2, 2, "discrepancy_found"),
    ]


def test_rebuilding_a_run_replaces_it_and_keeps_other_runs(
    warehouse: psycopg.Connection, warehouse_url: str
) -> None:
    seed(warehouse)
    other = {**RUN, "run_id": "billing/other"}
    with warehouse.transaction():
        warehouse.execute(
            "insert into staging.records (spec, source, run_id, window_start, window_end,"
            " record_key, amount, currency, occurred_at, origin)"
            " select spec, source, %s, window_start, window_end, record_key, amount, currency,"
            " occurred_at, origin from staging.records where run_id = %s",
            (other["run_id"], RUN["run_id"]),
        )

    for run in (RUN, other, RUN):
        assert dbt_build(warehouse_url, run).returncode == 0

    counts = warehouse.execute(
        "select run_id, count(*) from reconciliation.fct_breaks group by run_id order by run_id"
    ).fetchall()
    assert counts == [(RUN["run_id"], 3), (other["run_id"], 3)]
