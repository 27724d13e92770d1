"""The postgres source against the sandbox app database, on the same real server as the test warehouse."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from include.sandbox.app_db import (
    AppScenario,
    create_app_database,
    drop_app_database,
    ledger_entries,
    malformed_reasons,
    payments,
    wallet_differences,
    wallets,
    window_payments,
)
from include.sandbox.ticket_sales_db import TicketSalesPlan, add_events
from include.sandbox.ticket_sales_db import events as catalogue_events
from include.sandbox.ticketing import EVENTS, TicketingScenario
from recon.extract import extract_source
from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources import SourceRejected, SourceUnavailable
from recon.sources.postgres import PostgresSource
from recon.spec import Spec
from recon.warehouse import airflow_connection
from recon.window import RunWindow

pytestmark = pytest.mark.integration

CONN = "app_db"
WAREHOUSE_CONN = "recon_test_warehouse"
SCENARIO = AppScenario(
    seed=31,
    day=dt.date(2026, 11, 19),
    payments=60,
    malformed_payments=5,
    wallets=12,
    wallet_drifts=2,
    wallet_dust=1,
)
START, END = SCENARIO.window
WINDOW = RunWindow("app_payments", START, END)
PAYMENTS_QUERY = (
    "select id, amount, currency, created_at, booked_at, status, customer, metadata from payments"
    " where created_at >= %(window_start)s and created_at < %(window_end)s order by id"
)
PAYMENT_FIELDS = {
    "record_key": "id",
    "amount": "amount",
    "currency": "currency",
    "occurred_at": "created_at",
    "status": "status",
    "customer_email": "customer.email",
    "reference": "metadata.order.id",
}
WALLETS_QUERY = (
    "select user_id, balance, currency, updated_at from wallet_balances"
    " where updated_at >= %(window_start)s and updated_at < %(window_end)s order by user_id"
)
WALLET_FIELDS = {
    "record_key": "user_id",
    "amount": "balance",
    "currency": "currency",
    "occurred_at": "updated_at",
}


@pytest.fixture(scope="module")
def app_db_url(warehouse_server_url: str) -> Iterator[str]:
    name = f"recon_app_{os.getpid()}"
    yield create_app_database(warehouse_server_url, name, SCENARIO)
    drop_app_database(warehouse_server_url, name)


@pytest.fixture
def app_db(app_db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", airflow_connection(app_db_url))
    return app_db_url


def payments_source(**overrides: Any) -> PostgresSource:
    settings: dict[str, Any] = {
        "name": "payments",
        "type": "postgres",
        "connection": CONN,
        "query": PAYMENTS_QUERY,
        "fields": PAYMENT_FIELDS,
    }
    return PostgresSource.model_validate(settings | overrides)


def wallets_source(**overrides: Any) -> PostgresSource:
    settings: dict[str, Any] = {
        "name": "wallets",
        "type": "postgres",
        "connection": CONN,
        "query": WALLETS_QUERY,
        "fields": WALLET_FIELDS,
        "amount_decimals": 18,
    }
    return PostgresSource.model_validate(settings | overrides)


def loaded(source: PostgresSource, window: RunWindow = WINDOW) -> list[CanonicalRecord]:
    items = list(source.read(window))
    assert all(isinstance(item, CanonicalRecord | QuarantinedRecord) for item in items)
    return [item for item in items if isinstance(item, CanonicalRecord)]


def test_window_payments_load_with_exact_amounts_currencies_times_and_emails(app_db: str) -> None:
    records = loaded(payments_source())

    got = {(r.record_key, r.amount, r.currency, r.occurred_at, r.status, r.customer_email) for r in records}
    expected = {
        (p.id, p.amount, p.currency, p.created_at, p.status, p.customer["email"])
        for p in window_payments(SCENARIO)
    }
    assert got == expected
    assert len(records) == SCENARIO.payments


def test_zero_and_three_decimal_currencies_keep_exactly_their_digits(app_db: str) -> None:
    by_key = {r.record_key: r for r in loaded(payments_source())}
    truth = {p.id: p.amount for p in window_payments(SCENARIO)}

    digits = {
        currency: {str(r.amount) for r in by_key.values() if r.currency == currency}
        for currency in ("JPY", "KWD")
    }
    assert digits["JPY"] and all("." not in text for text in digits["JPY"])
    assert digits["KWD"] and all(len(text.split(".")[1]) == 3 for text in digits["KWD"])
    assert all(type(r.amount) is Decimal and str(r.amount) == str(truth[key]) for key, r in by_key.items())


def test_a_row_exactly_at_the_window_start_is_in_and_one_at_the_end_is_out(app_db: str) -> None:
    moments = {r.occurred_at for r in loaded(payments_source())}
    edge_payments = {p.created_at: p.id for p in payments(SCENARIO)}

    assert START in moments
    assert END - dt.timedelta(microseconds=1) in moments
    assert END not in moments and END in edge_payments
    assert (
        START - dt.timedelta(microseconds=1) not in moments
        and START - dt.timedelta(microseconds=1) in edge_payments
    )


def test_an_empty_window_yields_nothing(app_db: str) -> None:
    later = RunWindow("app_payments", END + dt.timedelta(days=10), END + dt.timedelta(days=11))

    assert list(payments_source().read(later)) == []


def test_a_small_fetch_size_reads_the_result_in_several_server_side_fetches(
    app_db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="recon.sources.postgres")
    rows = iter(payments_source(fetch_size=7).read(WINDOW))
    first = next(rows)
    with psycopg.connect(app_db) as observer:
        (last_statement,) = observer.execute(
            "select query from pg_stat_activity"
            " where application_name = 'recon:payments' and datname = current_database()"
        ).fetchone() or (None,)
    rest = list(rows)

    # The source's session is parked on a cursor: its last statement fetched 7 rows, not the result.
    assert last_statement == 'FETCH FORWARD 7 FROM "recon_payments"'
    total = SCENARIO.payments + SCENARIO.malformed_payments
    assert 1 + len(rest) == total and first.origin_line == 1
    fetches = [r.getMessage() for r in caplog.records if ": fetch " in r.getMessage()]
    assert len(fetches) == -(-total // 7)  # ceil: every fetch but the last is full


def test_dotted_paths_reach_into_jsonb_columns(app_db: str) -> None:
    source = payments_source(
        attributes={
            "sku": "metadata.order.lines.0.sku",
            "country": "customer.address.country",
            "fee": "metadata.fee_minor",
        }
    )
    by_key = {r.record_key: r for r in loaded(source)}

    for payment in window_payments(SCENARIO):
        record = by_key[payment.id]
        assert record.reference == payment.metadata["order"]["id"]
        assert record.customer_email == payment.customer["email"]
        assert record.attributes == {
            "sku": payment.metadata["order"]["lines"][0]["sku"],
            "country": payment.customer["address"]["country"],
            "fee": payment.metadata["fee_minor"],
        }


def test_json_numbers_arrive_as_exact_decimals_never_floats(app_db: str) -> None:
    source = payments_source(
        query="select 'k1' as id, '{\"total\": {\"value\": 0.1234567890123456789}}'::jsonb as doc,"
        " %(window_start)s::timestamptz as at where %(window_end)s::timestamptz is not null",
        fields={"record_key": "id", "amount": "doc.total.value", "occurred_at": "at"},
        currency="USD",
        amount_decimals=19,
    )

    (record,) = loaded(source)

    assert record.amount == Decimal("0.1234567890123456789")


def test_wallet_balances_keep_all_18_decimals_and_reconcile_to_1e_8(app_db: str) -> None:
    balances = {r.record_key: r.amount for r in loaded(wallets_source())}
    ledger = wallets_source(
        name="ledger",
        query="select user_id, sum(amount) as total, min(currency) as currency,"
        " %(window_start)s::timestamptz as at from wallet_ledger"
        " where %(window_end)s::timestamptz is not null group by user_id",
        fields={"record_key": "user_id", "amount": "total", "currency": "currency", "occurred_at": "at"},
    )
    sums = {r.record_key: r.amount for r in loaded(ledger)}

    assert balances == {w.user_id: w.balance for w in wallets(SCENARIO)}
    assert any(-balance.as_tuple().exponent == 18 for balance in balances.values())
    tolerance = Decimal("0.00000001")
    beyond = {user for user in balances if abs(balances[user] - sums[user]) > tolerance}
    assert beyond == {user for user, diff in wallet_differences(SCENARIO).items() if diff > tolerance}
    assert {user: balances[user] - sums[user] for user in balances if balances[user] != sums[user]} == (
        wallet_differences(SCENARIO)
    )
    assert sum(1 for _ in ledger_entries(SCENARIO)) == SCENARIO.wallets * SCENARIO.ledger_entries_per_wallet


def test_a_naive_timestamp_column_is_read_and_filtered_in_the_spec_timezone(app_db: str) -> None:
    source = payments_source(
        query=PAYMENTS_QUERY.replace("created_at >=", "booked_at >=").replace("created_at <", "booked_at <"),
        fields=PAYMENT_FIELDS | {"occurred_at": "booked_at"},
        timezone="Europe/Berlin",
    )

    got = {(r.record_key, r.occurred_at) for r in loaded(source)}

    assert got == {(p.id, p.created_at) for p in window_payments(SCENARIO)}


def test_extra_params_reach_the_query_as_named_values(app_db: str) -> None:
    source = payments_source(
        query=PAYMENTS_QUERY.replace("order by", "and status = %(status)s order by"),
        params={"status": "refunded"},
    )

    keys = {r.record_key for r in loaded(source)}

    assert keys == {p.id for p in window_payments(SCENARIO) if p.status == "refunded"}


def test_malformed_rows_are_quarantined_with_reason_origin_and_row_number(app_db: str) -> None:
    items = list(payments_source().read(WINDOW))

    rejects = [item for item in items if isinstance(item, QuarantinedRecord)]
    planted = malformed_reasons(SCENARIO)
    assert {r.record_key for r in rejects} == set(planted)
    ordered_ids = sorted(p.id for p in payments(SCENARIO) if START <= p.created_at < END)
    for reject in rejects:
        assert planted[reject.record_key] in reject.reason
        assert reject.origin == "postgres://app_db/payments"
        assert reject.origin_line == ordered_ids.index(reject.record_key) + 1
        assert isinstance(reject.raw, dict) and reject.raw["id"] == reject.record_key


def test_a_double_precision_amount_column_is_rejected_before_the_first_row(app_db: str) -> None:
    source = payments_source(
        query=PAYMENTS_QUERY.replace("select id, amount,", "select id, amount::float8 as amount,")
    )

    with pytest.raises(SourceRejected) as raised:
        next(iter(source.read(WINDOW)))

    assert str(raised.value) == (
        "connection 'app_db' (payments): amount column 'amount' is double precision, which cannot hold money"
        " exactly; select the exact column or cast it, e.g. amount::numeric"
    )


def test_a_mapped_column_the_query_does_not_return_is_rejected(app_db: str) -> None:
    source = payments_source(attributes={"fee": "fees.total"})

    with pytest.raises(SourceRejected) as raised:
        list(source.read(WINDOW))

    assert "attributes.fee maps column 'fees', which the query does not return" in str(raised.value)


def test_a_syntax_error_fails_at_once_as_permanent_naming_the_connection(app_db: str) -> None:
    source = payments_source(query=PAYMENTS_QUERY.replace("select", "selec", 1))

    with pytest.raises(SourceRejected) as raised:
        list(source.read(WINDOW))

    assert (
        str(raised.value)
        == "connection 'app_db' (payments): query failed (42601): syntax error at or near \"selec\""
    )


def test_an_unknown_column_is_permanent_and_carries_postgres_message(app_db: str) -> None:
    source = payments_source(query=PAYMENTS_QUERY.replace("status,", "state,"))

    with pytest.raises(SourceRejected) as raised:
        list(source.read(WINDOW))

    assert (
        str(raised.value)
        == "connection 'app_db' (payments): query failed (42703): column \"state\" does not exist"
    )


@pytest.mark.parametrize(
    "write",
    [
        "select id, recon_touch(id) as touched",
        "with gone as (delete from payments where id = 'pay_00000000' returning *) select id",
        "select id, nextval('recon_seq') as n",
    ],
    ids=["function_that_updates", "data_modifying_cte", "sequence"],
)
def test_a_query_that_writes_is_refused_and_changes_nothing(app_db: str, write: str) -> None:
    with psycopg.connect(app_db, autocommit=True) as admin:
        admin.execute("create sequence if not exists recon_seq")
        admin.execute(
            "create or replace function recon_touch(key text) returns int language sql"
            " as $$ update payments set status = 'touched' where id = key returning 1 $$"
        )
    query = (
        f"{write}, amount, currency, created_at, status, customer, metadata from payments"
        " where created_at >= %(window_start)s and created_at < %(window_end)s"
    )

    with pytest.raises(SourceRejected) as raised:
        list(payments_source(query=query).read(WINDOW))

    assert str(raised.value).startswith("connection 'app_db' (payments): query failed (")
    with psycopg.connect(app_db) as observer:
        state = observer.execute(
            "select count(*), count(*) filter (where status = 'touched'),"
            " (select last_value from recon_seq), (select is_called from recon_seq) from payments"
        ).fetchone()
    assert state == (sum(1 for _ in payments(SCENARIO)), 0, 1, False)


def test_an_unknown_login_is_rejected_naming_the_connection(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = json.loads(airflow_connection(app_db)) | {"login": "no_such_role", "password": "s3cret-pw"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(settings))

    with pytest.raises(SourceRejected) as raised:
        list(payments_source().read(WINDOW))

    assert str(raised.value) == (
        "connection 'app_db': Postgres refused the login: role \"no_such_role\" does not exist"
    )
    assert "s3cret-pw" not in str(raised.value)


def test_an_undefined_connection_is_rejected_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_APP_DB_MISSING", raising=False)

    with pytest.raises(SourceRejected) as raised:
        list(payments_source(connection="app_db_missing").read(WINDOW))

    assert str(raised.value) == (
        "connection 'app_db_missing' is not defined; add it in Airflow (or AIRFLOW_CONN_APP_DB_MISSING)"
    )


def test_an_unreachable_server_is_retryable_and_names_the_connection(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = json.loads(airflow_connection(app_db)) | {"host": "127.0.0.1", "port": port}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(settings))

    with pytest.raises(SourceUnavailable) as raised:
        list(payments_source().read(WINDOW))

    assert type(raised.value) is SourceUnavailable  # not SourceRejected: a retry may find it up
    assert str(raised.value).startswith(
        "connection 'app_db': cannot connect to Postgres: connection to server at"
    )
    assert f"port {port} failed: Connection refused" in str(raised.value)


def test_a_query_over_its_timeout_is_cancelled_and_retryable(app_db: str) -> None:
    source = payments_source(
        query=PAYMENTS_QUERY.replace("from payments", ", pg_sleep(3) from payments"), timeout_seconds=1
    )

    with pytest.raises(SourceUnavailable) as raised:
        list(source.read(WINDOW))

    assert type(raised.value) is SourceUnavailable
    assert str(raised.value) == (
        "connection 'app_db' (payments): query failed (57014): canceling statement due to statement timeout"
        " (timeout_seconds is 1)"
    )


@pytest.mark.parametrize(
    ("query", "params", "problem"),
    [
        ("select 1 where now() < %(window_end)s", {}, "lacks window_start"),
        (
            PAYMENTS_QUERY.replace("order by", "and status = %(status)s order by"),
            {},
            "status but params does not",
        ),
        (PAYMENTS_QUERY, {"status": "x"}, "params status not used in the query"),
        (PAYMENTS_QUERY, {"window_start": "x"}, "params must not set window_start"),
    ],
    ids=["no_window_start", "undefined_param", "unused_param", "param_shadows_window"],
)
def test_a_query_and_params_that_do_not_fit_fail_at_spec_load(query: str, params: dict, problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        payments_source(query=query, params=params)

    assert problem in str(raised.value)


def test_yaml_float_params_are_kept_exact() -> None:
    source = payments_source(
        query=PAYMENTS_QUERY.replace("order by", "and amount > %(minimum)s order by"), params={"minimum": 0.1}
    )

    assert source.params == {"minimum": Decimal("0.1")}


@pytest.fixture
def spec(
    app_db: str, warehouse: psycopg.Connection, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> Spec:
    monkeypatch.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN.upper()}", airflow_connection(warehouse_url))
    return Spec.model_validate(
        {
            "name": "app_payments",
            "description": "App payments vs wallets, from the sandbox app database.",
            "owner": "data-team",
            "schedule": "@daily",
            "warehouse_connection": WAREHOUSE_CONN,
            "sources": [
                payments_source(max_rejected_share="0.1").model_dump(exclude_defaults=True),
                wallets_source().model_dump(exclude_defaults=True),
            ],
        }
    )


def test_extracting_a_window_again_replaces_rather_than_adds(
    spec: Spec, warehouse: psycopg.Connection
) -> None:
    for _ in range(2):
        payments_result = extract_source(spec, "payments", WINDOW)
        wallets_result = extract_source(spec, "wallets", WINDOW)

    counts = warehouse.execute(
        "select source, count(*), sum(amount) from staging.records where run_id = %s"
        " group by source order by source",
        (WINDOW.run_id,),
    ).fetchall()
    quarantined = warehouse.execute(
        "select count(*), min(origin) from staging.quarantine where run_id = %s", (WINDOW.run_id,)
    ).fetchone()
    warehouse.rollback()
    assert (payments_result.loaded, payments_result.quarantined) == (
        SCENARIO.payments,
        SCENARIO.malformed_payments,
    )
    assert (wallets_result.loaded, wallets_result.quarantined) == (SCENARIO.wallets, 0)
    assert counts == [
        ("payments", SCENARIO.payments, sum(p.amount for p in window_payments(SCENARIO))),
        ("wallets", SCENARIO.wallets, sum(w.balance for w in wallets(SCENARIO))),
    ]
    assert quarantined == (SCENARIO.malformed_payments, "postgres://app_db/payments")


# --- Tables read whole: a snapshot source, and a reference without window placeholders -------------

PLATFORM = TicketingScenario(seed=5, start=START, end=END, count=40)
TALLY_PLAN = TicketSalesPlan(miscounted=frozenset({EVENTS[0][0]}))
# Every well-formed payment of the table, whatever its time: neighbours outside the window included.
# The literal '%%' is one '%' to Postgres: the query is sent with (no) parameters all the same.
SNAPSHOT_QUERY = (
    "select id, amount, currency, status from payments where id not like 'pay\\_bad%%' order by id"
)


@pytest.fixture(scope="module")
def events_table(app_db_url: str) -> list:
    """The box office's event catalogue in the app database: no money, a tally per event."""
    add_events(app_db_url, PLATFORM, TALLY_PLAN)
    return catalogue_events(PLATFORM, TALLY_PLAN)


def snapshot_source(**overrides: Any) -> PostgresSource:
    settings: dict[str, Any] = {
        "name": "payments_snapshot",
        "type": "postgres",
        "connection": CONN,
        "snapshot": True,
        "query": SNAPSHOT_QUERY,
        "fields": {"record_key": "id", "amount": "amount", "currency": "currency", "status": "status"},
    }
    return PostgresSource.model_validate(settings | overrides)


def test_a_snapshot_reads_the_whole_table_whatever_the_window(app_db: str) -> None:
    later = RunWindow("app_payments", END + dt.timedelta(days=10), END + dt.timedelta(days=11))

    records = loaded(snapshot_source())
    again = loaded(snapshot_source(), later)

    expected = {
        (p.id, p.amount, p.currency, p.status) for p in payments(SCENARIO) if not p.id.startswith("pay_bad_")
    }
    assert {(r.record_key, r.amount, r.currency, r.status) for r in records} == expected
    outside = {p.id for p in payments(SCENARIO) if not START <= p.created_at < END}
    assert outside and outside <= {r.record_key for r in records}
    assert {r.occurred_at for r in records} == {None}
    assert [r.record_key for r in again] == [r.record_key for r in records]


@pytest.fixture
def catalogue_spec(
    app_db: str,
    events_table: list,
    warehouse: psycopg.Connection,
    warehouse_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Spec:
    monkeypatch.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN.upper()}", airflow_connection(warehouse_url))
    return Spec.model_validate(
        {
            "name": "app_payments",
            "description": "A snapshot of the payments table vs the wallets, with the event catalogue.",
            "owner": "data-team",
            "schedule": "@daily",
            "warehouse_connection": WAREHOUSE_CONN,
            "sources": [
                snapshot_source().model_dump(exclude_defaults=True) | {"type": "postgres"},
                wallets_source().model_dump(exclude_defaults=True),
            ],
            "references": [
                {
                    "name": "events",
                    "type": "postgres",
                    "connection": CONN,
                    "query": "select event_id, name, tickets_sold from events order by event_id",
                    "fields": {"record_key": "event_id"},
                    "attributes": {"name": "name", "tickets_sold": "tickets_sold"},
                }
            ],
        }
    )


def test_a_reference_without_placeholders_and_a_snapshot_load_whole_into_staging(
    catalogue_spec: Spec, events_table: list, warehouse: psycopg.Connection
) -> None:
    windows = [WINDOW, RunWindow("app_payments", END, END + dt.timedelta(days=1))]
    results = [extract_source(catalogue_spec, "events", window) for window in windows]
    snapshot = extract_source(catalogue_spec, "payments_snapshot", WINDOW)

    rows = warehouse.execute(
        "select run_id, record_key, amount, currency, occurred_at, attributes from staging.records"
        " where source = 'events' order by run_id, record_key"
    ).fetchall()
    snapshot_rows = warehouse.execute(
        "select count(*), count(occurred_at), sum(amount) from staging.records"
        " where source = 'payments_snapshot' and run_id = %s",
        (WINDOW.run_id,),
    ).fetchone()
    warehouse.rollback()
    catalogue = {(e.event_id, None, None, None, (e.name, e.tickets_sold)) for e in events_table}
    for window in windows:
        got = {
            (key, amount, currency, at, (attributes["name"], attributes["tickets_sold"]))
            for run_id, key, amount, currency, at, attributes in rows
            if run_id == window.run_id
        }
        assert got == catalogue
    assert [(r.loaded, r.quarantined) for r in results] == [(len(events_table), 0)] * 2
    assert any(e.tickets_sold > 0 for e in events_table)
    whole = [p for p in payments(SCENARIO) if not p.id.startswith("pay_bad_")]
    assert (snapshot.loaded, snapshot.quarantined) == (len(whole), 0)
    assert snapshot_rows == (len(whole), 0, sum(p.amount for p in whole))
