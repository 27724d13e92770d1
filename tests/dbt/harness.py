"""Drive the dbt matching project directly: a spec's pair settings and records in, dbt build, rows out.

The same path a DAG run takes (recon.matching writes the settings, dbt reads them), without Airflow,
so SQL behaviour can be tested run by run in seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg.rows import dict_row

from recon.matching import dbt_run_vars, write_pair_settings
from recon.spec import Spec
from recon.window import RunWindow

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def make_spec(
    name: str, reconcile: Mapping[str, Any], sources: Iterable[str] = ("left", "right"), **settings: Any
) -> Spec:
    """A spec with CSV sources of the given names (only their names matter to matching)."""
    return Spec.model_validate(
        {
            "name": name,
            "description": "test",
            "owner": "tests",
            "schedule": "@daily",
            "sources": [
                {"name": source, "type": "sftp_csv", "connection": "unused", "path": "/x.csv",
                 "fields": {"record_key": "id", "amount": "amount", "currency": "currency",
                            "occurred_at": "at"}}
                for source in sources
            ],
            "reconcile": dict(reconcile),
            **settings,
        }
    )  # fmt: skip


def day_window(spec: Spec, day: str) -> RunWindow:
    start = datetime.fromisoformat(f"{day}T00:00:00+00:00")
    return RunWindow(spec.name, start, start + timedelta(days=1))


def load_records(conn: psycopg.Connection, window: RunWindow, records: Iterable[Mapping[str, Any]]) -> None:
    """Insert records (source, record_key, amount, ...) into the run's staging rows."""
    with conn.transaction():
        conn.execute("delete from staging.records_default where run_id = %s", (window.run_id,))
        for line, record in enumerate(records, start=1):
            row = {
                "group_key": None, "status": None, "customer_email": None, "reference": None,
                "currency": "USD", "occurred_at": window.start + timedelta(hours=12), "attributes": {},
                **record,
            }  # fmt: skip
            conn.execute(
                "insert into staging.records (spec, source, run_id, window_start, window_end, record_key,"
                " group_key, amount, currency, occurred_at, status, customer_email, reference, attributes,"
                " origin, origin_line) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                " 'test', %s)",
                (
                    window.spec, row["source"], window.run_id, window.start, window.end, row["record_key"],
                    row["group_key"], Decimal(str(row["amount"])), row["currency"], row["occurred_at"],
                    row["status"], row["customer_email"], row["reference"], json.dumps(row["attributes"]),
                    line,
                ),
            )  # fmt: skip


def dbt(
    warehouse_url: str, window: RunWindow, *args: str, overlap: timedelta = timedelta(0)
) -> subprocess.CompletedProcess:
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
    dbt_vars = json.dumps(dbt_run_vars(window, overlap))
    command = [str(Path(sys.executable).with_name("dbt")), *args, "--project-dir", "dbt_project",
               "--profiles-dir", "dbt_project", "--vars", dbt_vars]  # fmt: skip
    return subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=900)


def run_matching(
    conn: psycopg.Connection,
    warehouse_url: str,
    spec: Spec,
    window: RunWindow,
    records: Iterable[Mapping[str, Any]],
    command: tuple[str, ...] = ("build", "--exclude", "test_type:unit"),
) -> subprocess.CompletedProcess:
    """One run of ``spec`` over ``window``: settings and records written, then dbt; fails loudly."""
    write_pair_settings(conn, spec, window)
    load_records(conn, window, records)
    completed = dbt(warehouse_url, window, *command, overlap=spec.window_overlap)
    assert completed.returncode == 0, completed.stdout[-6000:]
    if command[0] == "build":
        assert_results_invariants(spec, window, warehouse_url)
    return completed


def assert_results_invariants(spec: Spec, window: RunWindow, warehouse_url: str) -> None:
    """The results checkpoint's invariants (GX, as the DAG runs them) hold: every record of the run
    sits in exactly one unit per pair side, and the summary counts what was staged."""
    from recon.integrity.validate import run_checkpoint
    from recon.warehouse import sqlalchemy_url_of

    url = sqlalchemy_url_of(warehouse_url)
    failed = [
        f"{result.check.rule.rule_name}: {result.unexpected_count} of {result.element_count} pair sides"
        f" ({result.sample}) {result.details.get('exception', '')}"
        for result in run_checkpoint(spec, window, "results", url)
        if result.check.rule.rule in ("accounted_once", "counts_add_up") and not result.success
    ]
    assert not failed, failed


def rows(conn: psycopg.Connection, query: str, *params: Any) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return cur.fetchall()


def at(day: str, time: str) -> datetime:
    """A UTC time on a day: ``at("2026-11-19", "10:00:00")``."""
    return datetime.fromisoformat(f"{day}T{time}+00:00")
