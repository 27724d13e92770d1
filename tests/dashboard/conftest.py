"""The dashboard's tests share one stack, built once for the folder:

- a warehouse with two reconciliations' real results: ``tickets`` reconciled for two days by the real
  dbt matching (tests/dbt/harness.py), each run started, published and its alerts queued by the
  DAG's own functions (recon.runs, recon.tasks.publish), the first with its staging integrity
  checkpoint run by GX; ``cards`` with one failed run (recon.runs.mark_failed);
- the corrected system of ``tickets`` (the box office's till) in a database of its own;
- Airflow's real API server app in-process (``create_app``), with SimpleAuthManager users admin and
  viewer, this project's plugins mounted, and the two specs' DAGs parsed from dags/recon_specs.py
  into the metadata DB (so "run now" has a DAG to trigger);
- the dashboard's indexes (recon.dashboard.indexes), as the dbt post-hooks will create them.

The dbt runs happen in a thread while Airflow starts, to keep the folder's tests near a minute.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import yaml

from recon.warehouse import airflow_connection
from tests.dbt.harness import rows
from tests.tickets import TICKETS_SPEC

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSWORDS = {"admin": "admin-secret-pw", "viewer": "viewer-secret-pw"}
DAY1 = datetime(2026, 11, 19, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
SALE_AT = DAY1 + timedelta(hours=10)
EMAIL = "ada.lovelace@example.com"
PHONE = "+44 20 7946 0958"

# The platform (the truth) and the box office's till (corrected). Day 1: o2 a cent off, o3 refunded on
# the platform only, o4 written twice by the till, o5 never reached the till. Day 2: o8 five off, o9
# only in the till; o5, still missing, is carried and seen again.
PLATFORM = {
    DAY1: [("o1", "10.00", "paid", None), ("o2", "20.00", "paid", None), ("o3", "30.00", "refunded", None),
           ("o4", "40.00", "paid", None), ("o5", "50.00", "paid", EMAIL)],
    DAY2: [("o7", "70.00", "paid", None), ("o8", "80.00", "paid", "grace@example.org")],
}  # fmt: skip
TILL = {
    DAY1: [("s1", "o1", "10.00", "sold"), ("s2", "o2", "20.01", "sold"), ("s3", "o3", "30.00", "sold"),
           ("s4a", "o4", "40.00", "sold"), ("s4b", "o4", "40.00", "sold")],
    DAY2: [("s7", "o7", "70.00", "sold"), ("s8", "o8", "85.00", "sold"), ("s9", "o9", "90.00", "sold")],
}  # fmt: skip

# Free text as sources send it: a phone number to mask, markup to escape.
REFERENCES = {"o5": f"call {PHONE}", "o8": "<script>alert('x')</script>"}


def _source(name: str) -> dict[str, Any]:
    fields = {"record_key": "id", "amount": "amount", "currency": "currency", "occurred_at": "at"}
    return {
        "name": name,
        "type": "sftp_csv",
        "connection": f"{name}_read",
        "path": "/x.csv",
        "fields": fields,
    }


SPECS = {
    "tickets": {
        **TICKETS_SPEC,
        "description": "Ticket platform orders vs the box office till",
        "alerts": {"slack": {"connection": "slack_alerts"}},
    },
    "cards": {
        "name": "cards", "description": "Card payments vs the ledger", "owner": "tests", "schedule": "@daily",
        "sources": [_source("cards"), _source("ledger")],
        "reconcile": {"pairs": [{"left": "cards", "right": "ledger"}]},
    },
}  # fmt: skip


@dataclass
class Stack:
    app: Any
    warehouse_url: str
    tokens: dict[str, str]
    runs: dict[str, str]  # day1, day2, failed -> run_id
    till_url: str  # the box office's own database (the corrected system)
    breaks: dict[str, str] = field(default_factory=dict)  # "<key>:<class>" -> break_id

    def client(self, who: str | None = None, *, cookie: bool = False) -> Any:
        """A TestClient as ``who`` (bearer token, or the UI's login cookie), or anonymous."""
        from fastapi.testclient import TestClient

        client = TestClient(self.app, follow_redirects=False)
        if who and cookie:
            client.cookies.set("_token", self.tokens[who])
        elif who:
            client.headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return client

    def sql(self, query: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.warehouse_url) as conn:
            return rows(conn, query, *params)


@pytest.fixture(scope="package")
def stack(
    warehouse_url: str, warehouse_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("dashboard")
    specs_dir = home / "specs"
    specs_dir.mkdir()
    for name, document in SPECS.items():
        (specs_dir / f"{name}.yml").write_text(yaml.safe_dump(document), encoding="utf-8")
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS), encoding="utf-8")
    app_db = f"recon_dash_app_{os.getpid()}"
    patch = pytest.MonkeyPatch()
    try:
        patch.setenv("RECON_SPECS_DIR", str(specs_dir))
        patch.setenv("AIRFLOW_CONN_RECON_WAREHOUSE", airflow_connection(warehouse_url))
        till_url = _till_database(warehouse_server_url, app_db)
        patch.setenv("AIRFLOW_CONN_BOX_OFFICE_WRITER", airflow_connection(till_url))
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin,viewer:viewer")
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(passwords))
        patch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
        patch.setenv("AIRFLOW__API__BASE_URL", "http://localhost:8080/")
        patch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_urlsafe(64))  # as long as HS512 wants
        _reset_warehouse(warehouse_url)
        with ThreadPoolExecutor(1) as pool:
            results = pool.submit(_reconcile, warehouse_url, home / "dbt-target")
            app = _airflow_app()
            runs = results.result()
        # No create_indexes here: publishing the runs built them (test_publish_builds_the_read_indexes).
        stack = Stack(app, warehouse_url, _tokens(app), runs, till_url)
        found = stack.sql(
            "select array_to_string(coalesce(left_record_keys, right_record_keys), ',') as key,"
            " break_class, break_id from reconciliation.breaks"
        )
        stack.breaks = {f"{row['key']}:{row['break_class']}": row["break_id"] for row in found}
        yield stack
    finally:
        _forget_dags()
        from airflow.api_fastapi.app import purge_cached_app

        purge_cached_app()  # the next app of this process starts with its own auth manager
        patch.undo()
        with psycopg.connect(warehouse_server_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{app_db}" with (force)')


def _till_database(server_url: str, name: str) -> str:
    """The box office's till, apart from the warehouse, holding both days' sales."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')
        admin.execute(f'create database "{name}"')
    url = urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    with psycopg.connect(url) as conn:
        conn.execute(
            "create table ticket_sales (sale_id text primary key, order_ref text not null,"
            " amount numeric not null, currency text not null, sold_at timestamptz not null,"
            " status text not null, till text not null)"
        )
        for day, sales in TILL.items():
            for sale_id, order_ref, amount, status in sales:
                conn.execute(
                    "insert into ticket_sales values (%s, %s, %s, 'EUR', %s, %s, 'till-1')",
                    (sale_id, order_ref, Decimal(amount), day + timedelta(hours=10), status),
                )
    return url


def _reset_warehouse(url: str) -> None:
    from recon.staging.schema import ensure_schema

    with psycopg.connect(url) as conn:
        with conn.transaction():
            for schema in ("staging", "reconciliation", "recon_intermediate", "recon_staging"):
                conn.execute(f"drop schema if exists {schema} cascade")
        ensure_schema(conn)


def _reconcile(url: str, target: Path) -> dict[str, str]:
    """The runs, as the DAG makes them: start, match (dbt), publish with alerts; day 1's staging
    integrity checkpoint (GX) runs beside day 2's matching."""
    from recon import runs, tasks
    from recon.spec import Spec
    from recon.window import RunWindow
    from tests.dbt.harness import run_matching

    spec = Spec.model_validate(SPECS["tickets"])
    made = {}
    with psycopg.connect(url, autocommit=True) as conn, ThreadPoolExecutor(1) as checks:
        for label, day in (("day1", DAY1), ("day2", DAY2)):
            window = RunWindow("tickets", day, day + timedelta(days=1))
            runs.start_run(conn, window, f"scheduled__{day:%Y-%m-%d}")
            run_matching(
                conn, url, spec, window, _records(day), command=("run", "--target-path", str(target))
            )
            if label == "day1":
                integrity = checks.submit(_check_staging, url, spec, window)
            else:
                conn.execute(
                    "insert into staging.quarantine (spec, source, run_id, origin, origin_line, reason, raw,"
                    " raw_line) values ('tickets', 'box_office', %s, 'till.csv', 7, 'amount: not a number',"
                    " '{}', %s)",
                    (window.run_id, f"s10,o10,abc,EUR,{EMAIL}"),
                )
            tasks.publish(spec, window.as_dict(), f"scheduled__{day:%Y-%m-%d}")
            made[label] = window.run_id
        failed = RunWindow("cards", DAY1, DAY2)
        runs.start_run(conn, failed, "scheduled__2026-11-19")
        runs.mark_failed(conn, failed, f"extract_cards: login refused for {EMAIL} ({PHONE})")
        made["failed"] = failed.run_id
        integrity.result()
    return made


def _records(day: datetime) -> list[dict[str, Any]]:
    platform = [
        {"source": "platform", "record_key": key, "amount": amount, "currency": "EUR", "status": status,
         "occurred_at": day + timedelta(hours=10), "customer_email": email, "reference": REFERENCES.get(key)}
        for key, amount, status, email in PLATFORM[day]
    ]  # fmt: skip
    till = [
        {"source": "box_office", "record_key": key, "amount": amount, "currency": "EUR", "status": status,
         "occurred_at": day + timedelta(hours=10), "reference": sale_id}
        for sale_id, key, amount, status in TILL[day]
    ]  # fmt: skip
    return platform + till


def _check_staging(url: str, spec: Any, window: Any) -> None:
    from recon.integrity.validate import run_checkpoint, store_results
    from recon.warehouse import sqlalchemy_url_of

    results = run_checkpoint(spec, window, "staging", sqlalchemy_url_of(url))
    with psycopg.connect(url) as conn:
        store_results(conn, window, "staging", results)


def _airflow_app() -> Any:
    """Airflow's API server app (plugins included), its metadata DB migrated, the specs' DAGs in it."""
    migrate = subprocess.Popen(
        [str(Path(sys.executable).with_name("airflow")), "db", "migrate"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy(),
    )  # fmt: skip
    from airflow.api_fastapi.app import create_app, purge_cached_app

    purge_cached_app()
    app = create_app(apps="core")  # the UI and REST API, with plugins; no task execution API
    _, errors = migrate.communicate(timeout=300)
    assert migrate.returncode == 0, errors.decode()[-2000:]
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = BundleDagBag(
        dag_folder=str(PROJECT_ROOT / "dags" / "recon_specs.py"),
        bundle_path=PROJECT_ROOT / "dags",
        bundle_name="dags-folder",
    )
    assert bag.import_errors == {}, bag.import_errors
    assert {"recon_tickets", "recon_cards"} <= set(bag.dags)
    sync_bag_to_db(bag, "dags-folder", None)
    return app


def _tokens(app: Any) -> dict[str, str]:
    """Real JWTs from SimpleAuthManager's token endpoint."""
    from fastapi.testclient import TestClient

    client = TestClient(app)
    tokens = {}
    for user, password in PASSWORDS.items():
        answer = client.post("/auth/token", json={"username": user, "password": password})
        assert answer.status_code == 201, answer.text
        tokens[user] = answer.json()["access_token"]
    return tokens


def _forget_dags() -> None:
    """Leave the shared test metadata DB without this folder's DAGs and runs."""
    from airflow.api.common.delete_dag import delete_dag
    from airflow.exceptions import DagNotFound

    for dag_id in ("recon_tickets", "recon_cards"):
        with suppress(DagNotFound):
            delete_dag(dag_id)


def csrf_of(html: str) -> str:
    """The CSRF token a page carries (meta tag and every form)."""
    marker = '<meta name="recon-csrf" content="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def encoded(run_id: str) -> str:
    """A run id as a path segment, slashes included (as the alert messages link it)."""
    from urllib.parse import quote

    return quote(run_id, safe="")
