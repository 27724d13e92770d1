"""Extracting both sources of the real spec into staging: Stripe sandbox and SFTP sandbox, real warehouse."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from include.sandbox.generator import (
    BillingScenario,
    payments_file_name,
    stripe_charges,
    window_bounds,
    write_payments_csv,
)
from include.sandbox.sftp_server import SftpSandbox
from include.sandbox.stripe_server import StripeSandbox
from recon.extract import extract_source
from recon.sources import SourceUnavailable
from recon.spec import Spec, load_spec
from recon.warehouse import airflow_connection
from recon.window import RunWindow

pytestmark = pytest.mark.integration

API_KEY = "sk_test_recon_extract"
SFTP_PASSWORD = "extract-test-password"
WAREHOUSE_CONN = "recon_test_warehouse"
SCENARIO = BillingScenario(seed=23, day=dt.date(2026, 11, 19), charge_count=40)
START, END = window_bounds(SCENARIO.day)
WINDOW = RunWindow(
    "stripe_billing", dt.datetime.fromtimestamp(START, dt.UTC), dt.datetime.fromtimestamp(END, dt.UTC)
)
SPEC: Spec = load_spec(
    Path(__file__).resolve().parents[2] / "include" / "specs" / "stripe_billing.yml"
).model_copy(update={"warehouse_connection": WAREHOUSE_CONN})


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[StripeSandbox]:
    with StripeSandbox(stripe_charges(SCENARIO), api_key=API_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def sftp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SftpSandbox]:
    root = tmp_path_factory.mktemp("sftp-root")
    # The spec's path: /exports/payments/payments_{window_start:%Y-%m-%d}.csv under the SFTP root.
    write_payments_csv(SCENARIO, root / "exports" / "payments" / payments_file_name(SCENARIO.day))
    with SftpSandbox(root, username="recon", password=SFTP_PASSWORD) as running:
        yield running


def sftp_connection(server: SftpSandbox, password: str = SFTP_PASSWORD) -> str:
    return json.dumps(
        {
            "conn_type": "sftp",
            "host": "127.0.0.1",
            "port": server.port,
            "login": "recon",
            "password": password,
            "extra": {"host_key": server.host_public_key, "look_for_keys": False},
        }
    )


@pytest.fixture
def connections(
    warehouse: psycopg.Connection,
    warehouse_url: str,
    stripe_server: StripeSandbox,
    sftp_server: SftpSandbox,
    monkeypatch: pytest.MonkeyPatch,
) -> psycopg.Connection:
    """Every connection the spec names, pointing at the sandboxes and the test warehouse."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN.upper()}", airflow_connection(warehouse_url))
    monkeypatch.setenv(
        "AIRFLOW_CONN_STRIPE_DEFAULT",
        json.dumps({"conn_type": "generic", "host": stripe_server.base_url, "password": API_KEY}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_PAYMENTS_SFTP", sftp_connection(sftp_server))
    return warehouse


def staged(conn: psycopg.Connection) -> dict[tuple[str, str], int]:
    rows = conn.execute(
        "select source, run_id, count(*) from staging.records group by source, run_id"
        " union all select 'quarantine:' || source, run_id, count(*) from staging.quarantine"
        " group by source, run_id"
    ).fetchall()
    conn.rollback()  # end the read transaction so the extract's writes are never blocked
    return {(source, run_id): count for source, run_id, count in rows}


def window_charge_ids() -> set[str]:
    return {c["id"] for c in stripe_charges(SCENARIO) if START <= c["created"] < END}


def test_both_sources_land_in_staging_with_the_expected_counts(connections: psycopg.Connection) -> None:
    stripe_result = extract_source(SPEC, "stripe", WINDOW)
    internal_result = extract_source(SPEC, "internal", WINDOW)

    assert (stripe_result.source, stripe_result.loaded, stripe_result.quarantined) == ("stripe", 40, 0)
    assert (internal_result.source, internal_result.loaded, internal_result.quarantined) == (
        "internal",
        SCENARIO.expected_row_count,
        0,
    )
    assert staged(connections) == {
        ("stripe", WINDOW.run_id): 40,
        ("internal", WINDOW.run_id): SCENARIO.expected_row_count,
    }
    stripe_keys = connections.execute(
        "select record_key from staging.records where source = 'stripe'"
    ).fetchall()
    origins = connections.execute(
        "select distinct origin from staging.records where source = 'internal'"
    ).fetchall()
    connections.rollback()
    assert {key for (key,) in stripe_keys} == window_charge_ids()
    assert origins == [(f"sftp://payments_sftp/exports/payments/{payments_file_name(SCENARIO.day)}",)]


def test_extracting_again_replaces_rather_than_adds(connections: psycopg.Connection) -> None:
    for _ in range(2):
        extract_source(SPEC, "stripe", WINDOW)
        extract_source(SPEC, "internal", WINDOW)

    assert staged(connections) == {
        ("stripe", WINDOW.run_id): 40,
        ("internal", WINDOW.run_id): SCENARIO.expected_row_count,
    }


def test_a_missing_file_is_source_unavailable_naming_connection_and_path(
    connections: psycopg.Connection,
) -> None:
    next_day = RunWindow("stripe_billing", WINDOW.end, WINDOW.end + dt.timedelta(days=1))

    with pytest.raises(SourceUnavailable) as raised:
        extract_source(SPEC, "internal", next_day)

    assert str(raised.value) == (
        "connection 'payments_sftp': file '/exports/payments/payments_2026-11-20.csv' does not exist"
    )
    assert staged(connections) == {}


def test_a_wrong_sftp_password_is_an_error_naming_the_connection(
    connections: psycopg.Connection, sftp_server: SftpSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    extract_source(SPEC, "internal", WINDOW)
    monkeypatch.setenv("AIRFLOW_CONN_PAYMENTS_SFTP", sftp_connection(sftp_server, password="wrong"))
    began = time.monotonic()

    with pytest.raises(SourceUnavailable) as raised:
        extract_source(SPEC, "internal", WINDOW)

    assert str(raised.value) == "connection 'payments_sftp': SFTP failed: Authentication failed."
    # The earlier load is kept: a failed extract replaces nothing.
    assert staged(connections) == {("internal", WINDOW.run_id): SCENARIO.expected_row_count}
    assert time.monotonic() - began < 30
