"""A reconciliation of two new source types, end to end, added by YAML alone: a ticketing platform's REST
API against the box office's POS export (a European CSV dialect over SFTP), through the real DAG.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from include.sandbox.sftp_server import SftpSandbox
from include.sandbox.ticketing import TicketingScenario
from include.sandbox.ticketing_server import TicketingSandbox
from recon.money import currency_exponent
from recon.warehouse import airflow_connection

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tix_e2e_token"
SFTP_PASSWORD = "pos-e2e-password"
SCENARIO = TicketingScenario(seed=5, count=60, number_every=3)
RUN_ID = "ticket_sales/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00"
MISSING_AT_BOX_OFFICE = "sale_00000010"
CHANGED_AT_BOX_OFFICE = "sale_00000020"

# Written as a user would: nothing here but the documented spec format (docs/sources.md).
SPEC = """
name: ticket_sales
description: Ticketing platform sales vs the box office's nightly POS export.
owner: box-office-data
schedule: "@daily"
retries: 0
sources:
  - name: platform
    type: rest
    connection: ticketing_api
    endpoint: /v3/sales
    window_params:
      from: "{window_start:%Y-%m-%dT%H:%M:%SZ}"
      to: "{window_end:%Y-%m-%dT%H:%M:%SZ}"
    records_path: data
    pagination: {style: cursor, cursor_path: meta.next_cursor, has_more_path: meta.has_more,
                 size_param: limit, page_size: 25}
    fields:
      record_key: id
      amount: total.value
      currency: total.currency
      occurred_at: created_at
      status: status
      customer_email: buyer.email
      group_key: event.id
  - name: box_office
    type: sftp_csv
    connection: pos_sftp
    path: /exports/pos/verkaeufe_{date:%Y%m%d}_*.csv
    delimiter: ";"
    encoding: latin-1
    decimal: ","
    thousands: "."
    skip_lines: 1
    datetime_format: "%d.%m.%Y %H:%M:%S"
    timezone: Europe/Berlin
    fields:
      record_key: Verkaufs-ID
      amount: Betrag
      currency: Währung
      occurred_at: Verkauft am
reconcile:
  pairs:
    - left: platform
      right: box_office
"""


def german_amount(value: Decimal, currency: str) -> str:
    text = f"{value:,.{currency_exponent(currency)}f}"  # 1,234.50
    return text.replace(",", "_").replace(".", ",").replace("_", ".")  # 1.234,50


def write_pos_export(root: Path) -> None:
    """The box office's file: every platform sale but one, one amount off by a cent."""
    berlin = dt.timezone(dt.timedelta(hours=1))  # November: CET
    lines = ["Kassenexport Kasse 1 (vorläufig)", "Verkaufs-ID;Betrag;Währung;Verkauft am"]
    for sale in SCENARIO.sales():
        if sale["id"] == MISSING_AT_BOX_OFFICE:
            continue
        value = Decimal(str(sale["total"]["value"]))
        currency = sale["total"]["currency"]
        if sale["id"] == CHANGED_AT_BOX_OFFICE:
            value += Decimal(1).scaleb(-currency_exponent(currency))
        sold = dt.datetime.fromisoformat(sale["created_at"]).astimezone(berlin)
        lines.append(f"{sale['id']};{german_amount(value, currency)};{currency};{sold:%d.%m.%Y %H:%M:%S}")
    folder = root / "exports" / "pos"
    folder.mkdir(parents=True)
    (folder / "verkaeufe_20261119_kasse1.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("latin-1"))


@pytest.fixture
def ticket_dag(airflow_db, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    from airflow.dag_processing.dagbag import DagBag

    specs = tmp_path_factory.mktemp("ticket-specs")
    (specs / "ticket_sales.yml").write_text(SPEC, encoding="utf-8")
    # Kept for the whole test: dag.test() parses the DAG file again to serialize the DAG.
    monkeypatch.setenv("RECON_SPECS_DIR", str(specs))
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "recon_specs.py"))
    assert bag.import_errors == {}
    return bag.dags["recon_ticket_sales"]


def test_a_yaml_only_reconciliation_of_rest_against_a_european_csv_finds_exactly_its_breaks(
    ticket_dag,
    warehouse: psycopg.Connection,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_pos_export(tmp_path / "sftp")
    with (
        TicketingSandbox(SCENARIO, token=TOKEN) as api,
        SftpSandbox(tmp_path / "sftp", password=SFTP_PASSWORD) as sftp,
    ):
        monkeypatch.setenv("AIRFLOW_CONN_RECON_WAREHOUSE", airflow_connection(warehouse_url))
        monkeypatch.setenv(
            "AIRFLOW_CONN_TICKETING_API",
            json.dumps({"conn_type": "http", "host": api.base_url, "password": TOKEN}),
        )
        sftp_conn = {
            "conn_type": "sftp",
            "host": "127.0.0.1",
            "port": sftp.port,
            "login": sftp.username,
            "password": SFTP_PASSWORD,
            "extra": {"host_key": sftp.host_public_key, "look_for_keys": False},
        }
        monkeypatch.setenv("AIRFLOW_CONN_POS_SFTP", json.dumps(sftp_conn))
        dag_run = ticket_dag.test(logical_date=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))

    assert dag_run.state == "success"
    status = warehouse.execute("select status from reconciliation.runs where run_id = %s", (RUN_ID,))
    assert status.fetchone() == ("discrepancy_found",)
    breaks = warehouse.execute(
        "select array_to_string(coalesce(left_record_keys, right_record_keys), ','), break_class, missing_in"
        " from reconciliation.run_breaks where run_id = %s",
        (RUN_ID,),
    ).fetchall()
    assert set(breaks) == {
        (MISSING_AT_BOX_OFFICE, "missing", "box_office"),
        (CHANGED_AT_BOX_OFFICE, "amount_mismatch", None),
    }
    staged = warehouse.execute(
        "select source, count(*) from staging.records where run_id = %s group by source order by source",
        (RUN_ID,),
    ).fetchall()
    assert staged == [("box_office", SCENARIO.count - 1), ("platform", SCENARIO.count)]
    files = warehouse.execute("select remote_path, version, status from staging.source_files").fetchall()
    assert files == [("/exports/pos/verkaeufe_20261119_kasse1.csv", 1, "loaded")]
