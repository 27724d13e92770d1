"""The example specs in docs/examples, proven: each loads, and each source extracts from the sandboxes.

Users copy these files, so they must be valid specs that work against real servers as written. Every
source of every example is extracted into the test warehouse from the sandbox that plays its system
(seeded generators on loopback); the CSV files are written here in exactly the dialect the spec
declares, each with one malformed line, and the counts expected are derived from the generators.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from include.sandbox.app_db import AppScenario, create_app_database, drop_app_database, payments
from include.sandbox.generator import BillingScenario, stripe_charges
from include.sandbox.graphql_server import OrdersGraphQLSandbox
from include.sandbox.orders import GeneratedOrders, OrdersScenario
from include.sandbox.sftp_server import SftpSandbox
from include.sandbox.stripe_objects import StripeObjects, stripe_objects
from include.sandbox.stripe_server import StripeSandbox
from include.sandbox.ticketing import TicketingScenario
from include.sandbox.ticketing_server import TicketingSandbox
from recon.extract import extract_source
from recon.money import minor_to_major
from recon.spec import Spec, load_spec
from recon.warehouse import airflow_connection
from recon.window import RunWindow

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
WAREHOUSE_CONN = "recon_test_warehouse"
TOKEN = "example_specs_token"
SFTP_PASSWORD = "example-specs-password"
BERLIN = ZoneInfo("Europe/Berlin")
DAY = dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
ONE_DAY = dt.timedelta(days=1)


def example(name: str) -> Spec:
    spec = load_spec(EXAMPLES / f"{name}.yml")
    return spec.model_copy(update={"warehouse_connection": WAREHOUSE_CONN})


def utc(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


@pytest.fixture
def db(
    warehouse: psycopg.Connection, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> psycopg.Connection:
    monkeypatch.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN.upper()}", airflow_connection(warehouse_url))
    return warehouse


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[SftpSandbox]:
    with SftpSandbox(tmp_path / "sftp-root", password=SFTP_PASSWORD) as running:
        yield running


def connect_sftp(monkeypatch: pytest.MonkeyPatch, conn_id: str, server: SftpSandbox) -> None:
    extra = {"host_key": server.host_public_key, "look_for_keys": False}
    conn = {"conn_type": "sftp", "host": "127.0.0.1", "port": server.port, "login": "recon"}
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({**conn, "password": SFTP_PASSWORD, "extra": extra})
    )


def connect_http(
    monkeypatch: pytest.MonkeyPatch, conn_id: str, base_url: str, conn_type: str = "http"
) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps({"conn_type": conn_type, "host": base_url, "password": TOKEN}),
    )


def records(conn: psycopg.Connection, source: str) -> dict[str, dict[str, Any]]:
    """The staged records of ``source`` by record key."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute(
            "select record_key, amount, currency, occurred_at, status, customer_email, reference, group_key,"
            " attributes, origin from staging.records where source = %s",
            (source,),
        ).fetchall()
    conn.rollback()  # end the read transaction so the next extract is never blocked
    return {row["record_key"]: row for row in rows}


def quarantine(conn: psycopg.Connection, source: str) -> list[tuple]:
    """(record_key, reason, origin_line, raw_line) of ``source``'s quarantined rows, in line order."""
    rows = conn.execute(
        "select record_key, reason, origin_line, raw_line from staging.quarantine where source = %s"
        " order by origin, origin_line",
        (source,),
    ).fetchall()
    conn.rollback()
    return rows


def counts(spec: Spec, window: RunWindow) -> dict[str, tuple[int, int]]:
    """Extract every source of ``spec``: source name -> (loaded, quarantined)."""
    results = {source.name: extract_source(spec, source.name, window) for source in spec.sources}
    return {name: (result.loaded, result.quarantined) for name, result in results.items()}


def test_every_example_is_a_valid_spec_and_together_they_use_every_source_type() -> None:
    from recon.spec import SOURCE_TYPES

    specs = {path.stem: load_spec(path) for path in sorted(EXAMPLES.glob("*.yml"))}

    assert set(specs) >= {"ticket_sales", "order_management", "stripe_settlement", "bank_payouts"}
    assert all(spec.description and spec.owner and spec.schedule for spec in specs.values())
    used = {source.type for spec in specs.values() for source in spec.sources}
    missing = set(SOURCE_TYPES) - used - {"stripe_charges"}  # in include/specs/stripe_billing.yml
    assert missing == set()
    billing = load_spec(EXAMPLES.parents[1] / "include" / "specs" / "stripe_billing.yml")
    assert "stripe_charges" in {source.type for source in billing.sources}


# --- ticket_sales: REST (cursor) vs a Latin-1, ";" separated POS export --------------------------

TICKETS = TicketingScenario(seed=5, count=300, malformed_every=150)  # sales 5 and 155 are broken
STATUS_DE = {"paid": "bezahlt", "refunded": "erstattet", "pending": "offen"}
POS_HEADER = "Verkaufs-ID;Verkauft am;Betrag;Status;Veranstaltung-ID;Anzahl;Kasse"
POS_PREAMBLE = "Stadthalle Lindenau - Kassenabschluss\nExport: 20.11.2026 02:15\n"


def german_amount(value: Decimal) -> str:
    return f"{value:,.2f}".translate(str.maketrans(",.", ".,"))  # 1234.5 -> "1.234,50"


def pos_line(index: int) -> str:
    sale = TICKETS.sale(index)
    local = dt.datetime.fromisoformat(sale["created_at"]).astimezone(BERLIN)
    till = "Abendkasse Süd" if index % 2 else "Vorverkauf Foyer"
    cells = [sale["id"], f"{local:%d.%m.%Y %H:%M}", german_amount(TICKETS.amount(index))]
    return ";".join([*cells, STATUS_DE[sale["status"]], sale["event"]["id"], str(sale["quantity"]), till])


def test_ticket_sales_extracts_the_platform_api_and_the_box_office_export(
    db: psycopg.Connection, sftp: SftpSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = example("ticket_sales")
    window = RunWindow(spec.name, DAY, DAY + ONE_DAY)
    in_window = TICKETS.index_range(window.start, window.end)
    broken = [i for i in in_window if TICKETS.malformed_kind(i)]
    euro = [i for i in in_window if i not in broken and TICKETS.sale(i)["total"]["currency"] == "EUR"]
    lines = [pos_line(i) for i in euro]
    lines.insert(40, "sale_99999999;19.11.2026 20:00;zwölf;bezahlt;evt_0001;1;Abendkasse Süd")
    body = POS_PREAMBLE + POS_HEADER + "\n" + "\n".join(lines) + "\n"
    sftp.put("/exports/pos/verkaeufe_20261119_0215.csv", body.encode("latin-1"))
    sftp.put("/exports/pos/verkaeufe_20261118_0212.csv", (POS_PREAMBLE + POS_HEADER + "\n").encode("latin-1"))
    connect_sftp(monkeypatch, "pos_sftp", sftp)

    with TicketingSandbox(TICKETS, token=TOKEN) as api:
        connect_http(monkeypatch, "ticketing_api", api.base_url)
        result = counts(spec, window)

    assert result == {"platform": (len(in_window) - len(broken), len(broken)), "box_office": (len(euro), 1)}
    assert len(broken) == 2 and len(euro) >= 99  # the fixture stays inside max_rejected_share (1 %)
    platform = records(db, "platform")
    sale = TICKETS.sale(euro[0])
    staged = platform[sale["id"]]
    assert (staged["amount"], staged["currency"]) == (TICKETS.amount(euro[0]), "EUR")
    assert (staged["customer_email"], staged["group_key"]) == (sale["buyer"]["email"], sale["event"]["id"])
    assert staged["attributes"] == {"quantity": sale["quantity"], "event_name": sale["event"]["name"]}
    assert [(key, reason) for key, reason, _, _ in quarantine(db, "platform")] == [
        ("sale_00000005", "currency is missing at 'total.currency'"),
        ("sale_00000155", "amount '12,50' at 'total.value' is not a number"),
    ]

    box_office = records(db, "box_office")
    largest = max(euro, key=TICKETS.amount)
    till_sale = box_office[f"sale_{euro[1]:08d}"]
    assert TICKETS.amount(largest) >= 1000  # so "1.234,50" with its thousands separator is read
    assert box_office[f"sale_{largest:08d}"]["amount"] == TICKETS.amount(largest)
    created = TICKETS.created_at(euro[1])
    assert till_sale["occurred_at"] == created.replace(second=0)  # minutes, Berlin time -> UTC
    assert till_sale["attributes"]["till"] in ("Abendkasse Süd", "Vorverkauf Foyer")  # Latin-1 decoded
    assert {row["origin"] for row in box_office.values()} == {
        "sftp://pos_sftp/exports/pos/verkaeufe_20261119_0215.csv"
    }
    ((key, reason, line, raw),) = quarantine(db, "box_office")
    assert (line, raw) == (2 + 1 + 41, lines[40])  # physical line: preamble, header, then the 41st row
    assert (key, reason) == ("sale_99999999", "amount 'zwölf' is not a number (column Betrag)")


# --- order_management: GraphQL (Relay, typed window arguments) vs the app's Postgres database ------

APP = AppScenario(seed=31, day=DAY.date(), payments=4800, malformed_payments=1)
APP_BAD = next(p for p in payments(APP) if p.id.startswith("pay_bad_"))  # NaN amount, in the day
# The spec runs hourly: test the hour that holds the planted bad payment.
_HOUR_START = APP_BAD.created_at.replace(minute=0, second=0, microsecond=0)
HOUR = RunWindow("order_management", _HOUR_START, _HOUR_START + dt.timedelta(hours=1))
_CLEAN_ORDERS = GeneratedOrders(OrdersScenario(seed=3, start=DAY, count=4800))
_FIRST_IN_HOUR = next(i for i in range(4800) if _CLEAN_ORDERS.created_at(i) >= HOUR.start)
BAD_ORDER = _FIRST_IN_HOUR + (2 - _FIRST_IN_HOUR) % 3  # index % 3 == 2 plants "currency_missing"
ORDERS = GeneratedOrders(OrdersScenario(seed=3, start=DAY, count=4800, malformed=frozenset({BAD_ORDER})))


@pytest.fixture
def app_db(warehouse_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"recon_examples_app_{os.getpid()}"
    url = create_app_database(warehouse_server_url, name, APP)
    monkeypatch.setenv("AIRFLOW_CONN_APP_DB", airflow_connection(url))
    yield url
    drop_app_database(warehouse_server_url, name)


def test_order_management_extracts_the_graphql_api_and_the_app_database(
    db: psycopg.Connection, app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = example("order_management")
    orders = [i for i in range(len(ORDERS)) if HOUR.contains(ORDERS.created_at(i))]
    paid = [p for p in payments(APP) if HOUR.contains(p.created_at) and p.status == "succeeded"]
    clean = [p for p in paid if p != APP_BAD]

    with OrdersGraphQLSandbox(ORDERS, token=TOKEN) as api:
        connect_http(monkeypatch, "oms_api", api.base_url)
        result = counts(spec, HOUR)

    assert APP_BAD in paid and BAD_ORDER in orders  # the planted rows are in the window
    assert result == {"oms": (len(orders) - 1, 1), "app_payments": (len(clean), 1)}
    oms = records(db, "oms")
    order = ORDERS[orders[0]]
    staged = oms[order["id"]]
    assert (staged["amount"], staged["currency"]) == (
        Decimal(order["total"]["amount"]),
        order["total"]["currency"],
    )
    assert (staged["customer_email"], staged["reference"]) == (
        order["customer"]["email"],
        str(order["number"]),
    )
    assert staged["attributes"] == {"channel": order["channel"], "first_sku": order["lines"][0]["sku"]}
    assert [(key, reason) for key, reason, _, _ in quarantine(db, "oms")] == [
        (ORDERS[BAD_ORDER]["id"], "currency is missing at 'total.currency'")
    ]

    app = records(db, "app_payments")
    payment = clean[0]
    staged = app[payment.metadata["order"]["id"]]  # the key taken out of jsonb in the query
    assert (staged["amount"], staged["currency"], staged["reference"]) == (
        payment.amount,
        payment.currency,
        payment.id,
    )
    assert staged["customer_email"] == payment.customer["email"]  # a jsonb path
    assert staged["attributes"] == {"country": payment.customer["address"]["country"]}
    assert staged["occurred_at"] == payment.created_at
    assert {row["origin"].split("?")[0] for row in app.values()} == {"postgres://app_db/payments"}
    ((key, reason, _, _),) = quarantine(db, "app_payments")
    assert (key, reason) == (
        APP_BAD.metadata["order"]["id"],
        "amount Decimal('NaN') at 'amount' is not a number",
    )


# --- stripe_settlement: payouts by arrival date vs the transactions each one settles -------------


def arrival_window(objects: StripeObjects, spec_name: str) -> RunWindow:
    """The UTC day on which most of the account's payouts arrive."""
    arrival = Counter(p["arrival_date"] for p in objects.payouts).most_common(1)[0][0]
    return RunWindow(spec_name, utc(arrival), utc(arrival) + ONE_DAY)


def test_stripe_settlement_extracts_payouts_and_their_settled_transactions(
    db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = example("stripe_settlement")
    account = stripe_objects(
        stripe_charges(BillingScenario(seed=41, day=DAY.date(), charge_count=200)), seed=41
    )
    window = arrival_window(account, spec.name)
    arrived = [p for p in account.payouts if window.contains(utc(p["arrival_date"]))]
    ids = {p["id"] for p in arrived}
    settled = [
        t for t in account.balance_transactions
        if account.settlements.get(t["id"]) in ids and t["type"] in ("charge", "refund")
    ]  # fmt: skip
    corrupt = settled[-1]
    corrupt["net"] += 1  # no longer amount - fee: must be quarantined, not loaded

    with StripeSandbox(account.charges, api_key=TOKEN, **account.sandbox_kwargs()) as api:
        connect_http(monkeypatch, "stripe_default", api.base_url, conn_type="generic")
        result = counts(spec, window)

    assert result == {"payouts": (len(arrived), 0), "settled": (len(settled) - 1, 1)}
    payout = arrived[0]
    staged = records(db, "payouts")[payout["id"]]
    assert (staged["amount"], staged["currency"]) == (
        minor_to_major(payout["amount"], payout["currency"]),
        payout["currency"].upper(),
    )
    assert staged["occurred_at"] == utc(payout["arrival_date"])
    assert staged["attributes"]["bank_text"] == payout["description"]
    txn = settled[0]
    staged = records(db, "settled")[txn["id"]]
    assert staged["amount"] == minor_to_major(txn["net"], txn["currency"])  # net, not gross
    assert staged["group_key"] == account.settlements[txn["id"]]
    ((key, reason, _, _),) = quarantine(db, "settled")
    net, gross = corrupt["net"], corrupt["amount"]
    assert (key, reason) == (corrupt["id"], f"net {net} is not amount {gross} - fee {corrupt['fee']}")


# --- bank_payouts: a header-less cp1252 statement with D/C column vs Stripe payouts -------------

BANK_COLUMNS = 8


def bank_amount(minor: int) -> str:
    return str(minor_to_major(minor, "EUR")).replace(".", ",")


def bank_statement(day: dt.date, payouts: list[dict], debits: int) -> tuple[list[str], dict[str, int]]:
    """Statement lines (credits for the payouts, then other debits) and the payout -> line number."""
    rng = random.Random(f"bank:{day}")
    date = f"{day:%d.%m.%Y}"
    lines, payout_lines = [], {}
    for payout in payouts:
        ref = f"BK{day:%Y%m%d}{len(lines):05d}"
        purpose = f"STRIPE PAYOUT {payout['id']} NORTHWIND"
        cells = [
            date,
            date,
            bank_amount(payout["amount"]),
            "C",
            "EUR",
            "Stripe Payments Europe Ltd",
            f'"{purpose}"',
            ref,
        ]
        lines.append(";".join(cells))
        payout_lines[payout["id"]] = len(lines)
    for _ in range(debits):
        ref = f"BK{day:%Y%m%d}{len(lines):05d}"
        who = rng.choice(["Stadtwerke Lindenau", "Hausverwaltung Köhler GmbH", "Bürobedarf Weiß KG"])
        purpose = f"Rechnung {rng.randrange(1000, 9999)} Überweisung"
        lines.append(
            ";".join(
                [date, date, bank_amount(rng.randrange(500, 500_000)), "D", "EUR", who, f'"{purpose}"', ref]
            )
        )
    return lines, payout_lines


def test_bank_payouts_extracts_the_statement_and_stripe_payouts_by_arrival(
    db: psycopg.Connection, sftp: SftpSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = example("bank_payouts")
    # A euro account: the Stripe account pays out the euro charges only.
    euro = [
        c
        for c in stripe_charges(BillingScenario(seed=43, day=DAY.date(), charge_count=150))
        if c["currency"] == "eur"
    ]
    account = stripe_objects(euro, seed=43)
    window = arrival_window(account, spec.name)
    arrived = [p for p in account.payouts if window.contains(utc(p["arrival_date"]))]
    day = window.start.date()
    lines, payout_lines = bank_statement(day, arrived, debits=24)
    # A purpose text with an unquoted ";": one field too many.
    bad = f"{day:%d.%m.%Y};{day:%d.%m.%Y};12,00;D;EUR;Kiosk Müller;Gebühr; Kontoführung;BK-BAD"
    lines.append(bad)
    sftp.put(
        f"/statements/operating/{day:%Y/%m}/stmt_{day:%Y%m%d}.csv", ("\n".join(lines) + "\n").encode("cp1252")
    )
    connect_sftp(monkeypatch, "bank_sftp", sftp)

    with StripeSandbox(account.charges, api_key=TOKEN, **account.sandbox_kwargs()) as api:
        connect_http(monkeypatch, "stripe_default", api.base_url, conn_type="generic")
        result = counts(spec, window)

    assert len(arrived) >= 2
    assert result == {"bank": (len(arrived) + 24, 1), "stripe": (len(arrived), 0)}
    bank = records(db, "bank")
    payout = arrived[0]
    credit = bank[f"BK{day:%Y%m%d}{payout_lines[payout['id']] - 1:05d}"]
    assert credit["reference"] == payout["id"]  # cut out of the purpose text by the pattern
    assert (credit["amount"], credit["currency"]) == (minor_to_major(payout["amount"], "eur"), "EUR")
    assert credit["occurred_at"] == dt.datetime.combine(day, dt.time(), BERLIN)  # midnight in Berlin
    debit = bank[f"BK{day:%Y%m%d}{len(arrived):05d}"]
    assert debit["amount"] < 0 and not debit["reference"]  # a debit loads negative; no payout id
    assert debit["attributes"]["counterparty"] in (
        "Stadtwerke Lindenau",
        "Hausverwaltung Köhler GmbH",
        "Bürobedarf Weiß KG",
    )
    ((key, reason, line, raw),) = quarantine(db, "bank")
    assert (reason, line, raw) == (
        f"wrong number of fields: expected {BANK_COLUMNS}, found 9",
        len(lines),
        bad,
    )
    assert set(records(db, "stripe")) == {p["id"] for p in arrived}


# --- stripe_refunds: Stripe refunds vs the support tool's export in minor units -------------------

REFUND_HEADER = "refund_id,charge_id,amount_minor,currency,refunded_at,customer_email,agent,ticket_id"


def test_stripe_refunds_extracts_stripe_refunds_and_the_support_export(
    db: psycopg.Connection, sftp: SftpSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = example("stripe_refunds")
    window = RunWindow(spec.name, DAY, DAY + ONE_DAY)
    charges = stripe_charges(BillingScenario(seed=47, day=DAY.date(), charge_count=150))
    account = stripe_objects(charges, seed=47, refund_share=0.35)
    refunds = sorted(
        (r for r in account.refunds if window.contains(utc(r["created"]))), key=lambda r: r["created"]
    )
    emails = {c["id"]: c["receipt_email"] for c in account.charges}
    rows = [
        f"{r['id']},{r['charge']},{r['amount']},{r['currency']},{utc(r['created']).astimezone(BERLIN).isoformat()},"
        f"{emails[r['charge']]},agent{n % 4},SUP-{4000 + n}"
        for n, r in enumerate(refunds)
    ]
    rows.insert(3, "re_halfcent,ch_x,12.50,eur,2026-11-19T10:00:00+01:00,a@example.com,agent1,SUP-1")
    sftp.put("/exports/refunds/refunds_2026-11-19.csv", REFUND_HEADER + "\n" + "\n".join(rows) + "\n")
    connect_sftp(monkeypatch, "support_sftp", sftp)

    with StripeSandbox(account.charges, api_key=TOKEN, **account.sandbox_kwargs()) as api:
        connect_http(monkeypatch, "stripe_default", api.base_url, conn_type="generic")
        result = counts(spec, window)

    assert len(refunds) >= 20  # one bad line stays inside max_rejected_share (5 %)
    assert result == {"stripe": (len(refunds), 0), "support_tool": (len(refunds), 1)}
    refund = max(refunds, key=lambda r: r["amount"])
    stripe_side, tool_side = records(db, "stripe")[refund["id"]], records(db, "support_tool")[refund["id"]]
    expected = (minor_to_major(refund["amount"], refund["currency"]), refund["currency"].upper())
    assert (stripe_side["amount"], stripe_side["currency"]) == expected
    assert (tool_side["amount"], tool_side["currency"]) == expected  # minor units, lower-case code
    assert stripe_side["reference"] == tool_side["reference"] == refund["charge"]
    assert stripe_side["attributes"]["payment_id"] == refund["metadata"]["payment_id"]
    assert tool_side["occurred_at"] == stripe_side["occurred_at"] == utc(refund["created"])
    ((key, reason, line, _),) = quarantine(db, "support_tool")
    assert (key, line) == ("re_halfcent", 5)  # header, then the fourth row
    assert reason == "amount '12.50' is not a whole number of minor units (column amount_minor)"
