"""Stripe refunds, payouts and balance transactions through the real SDK against the loopback sandbox.

Each source type is read the way an extract reads it: the spec model, ``read(window)``, a client
built from the Airflow connection (``AIRFLOW_CONN_<ID>``), the sandbox on loopback.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from include.sandbox.faults import Fault
from include.sandbox.generator import BillingScenario, stripe_charges, window_bounds
from include.sandbox.stripe_objects import stripe_objects
from include.sandbox.stripe_server import StripeSandbox
from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources import SourceRejected, SourceUnavailable
from recon.sources.registry import source_models
from recon.window import RunWindow

pytestmark = pytest.mark.integration

API_KEY = "sk_test_recon_objects"
CONN_ID = "stripe_objects_test"
DAY = dt.date(2026, 11, 19)
START, END = window_bounds(DAY)
WINDOW = RunWindow(
    "stripe_payouts", dt.datetime.fromtimestamp(START, dt.UTC), dt.datetime.fromtimestamp(END, dt.UTC)
)
WEEK = RunWindow("stripe_payouts", WINDOW.start, WINDOW.start + dt.timedelta(days=7))
SCENARIO = BillingScenario(seed=17, day=DAY, charge_count=40)
OBJECTS = stripe_objects(stripe_charges(SCENARIO), seed=4, refund_share=0.3, per_payout=5, broken_payouts=1)

Item = CanonicalRecord | QuarantinedRecord


def source(type_name: str, **settings: Any) -> Any:
    """A source of ``type_name`` as the spec would declare it, validated by its registered model."""
    model = source_models()[type_name]
    return model.model_validate({"name": "stripe", "type": type_name, "connection": CONN_ID, **settings})


def read(type_name: str, window: RunWindow = WINDOW, **settings: Any) -> list[Item]:
    return list(source(type_name, **settings).read(window))


def refund(rid: str, created: int, amount: int = 1000, currency: str = "usd", **extra: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "refund",
        "amount": amount,
        "charge": f"ch_for_{rid}",
        "created": created,
        "currency": currency,
        "payment_intent": f"pi_for_{rid}",
        "reason": "requested_by_customer",
        "status": "succeeded",
        **extra,
    }


def payout(pid: str, created: int, arrival_date: int | None = None, amount: int = 5000, **extra: Any) -> dict:
    return {
        "id": pid,
        "object": "payout",
        "amount": amount,
        "arrival_date": created + 86_400 if arrival_date is None else arrival_date,
        "created": created,
        "currency": "usd",
        "method": "standard",
        "type": "bank_account",
        "balance_transaction": f"txn_of_{pid}",
        "statement_descriptor": "RECON",
        "destination": "ba_test",
        "status": "paid",
        **extra,
    }


def transaction(tid: str, created: int, amount: int, fee: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "object": "balance_transaction",
        "amount": amount,
        "fee": fee,
        "net": amount - fee,
        "created": created,
        "available_on": created + 2 * 86_400,
        "currency": "usd",
        "type": "charge",
        "reporting_category": "charge",
        "source": f"ch_of_{tid}",
        "status": "available",
        **extra,
    }


@pytest.fixture(autouse=True)
def connection(monkeypatch: pytest.MonkeyPatch) -> Callable[[StripeSandbox, str], None]:
    def point_at(server: StripeSandbox, key: str = API_KEY) -> None:
        value = json.dumps({"conn_type": "generic", "host": server.base_url, "password": key})
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", value)

    return point_at


@pytest.fixture
def account(connection: Callable[[StripeSandbox], None]) -> Iterator[StripeSandbox]:
    """The generated account (40 charges with their refunds, transactions and payouts)."""
    with StripeSandbox(OBJECTS.charges, api_key=API_KEY, **OBJECTS.sandbox_kwargs()) as server:
        connection(server)
        yield server


def serve(connection: Callable[[StripeSandbox], None], **objects: list[dict]) -> StripeSandbox:
    server = StripeSandbox(objects.pop("charges", []), api_key=API_KEY, **objects)  # type: ignore[arg-type]
    server.start()
    connection(server)
    return server


def listed(server: StripeSandbox, resource: str) -> list[str]:
    return [entry for entry in server.request_log if entry.startswith(f"/v1/{resource}?")]


# --- every type -----------------------------------------------------------------------------------


def test_the_three_types_are_registered_next_to_charges() -> None:
    assert {"stripe_charges", "stripe_refunds", "stripe_payouts", "stripe_balance_transactions"} <= set(
        source_models()
    )


@pytest.mark.parametrize("type_name", ["stripe_refunds", "stripe_payouts", "stripe_balance_transactions"])
def test_an_empty_window_yields_nothing_after_one_request(account: StripeSandbox, type_name: str) -> None:
    long_ago = RunWindow("x", dt.datetime(2020, 1, 1, tzinfo=dt.UTC), dt.datetime(2020, 1, 2, tzinfo=dt.UTC))

    items = read(type_name, long_ago)

    assert items == []
    assert len(account.request_log) == 1


@pytest.mark.parametrize(
    ("type_name", "resource", "make"),
    [
        ("stripe_refunds", "refunds", lambda i, t: refund(f"re_{i:03d}", t)),
        ("stripe_payouts", "payouts", lambda i, t: payout(f"po_{i:03d}", t)),
        (
            "stripe_balance_transactions",
            "balance_transactions",
            lambda i, t: transaction(f"txn_{i:03d}", t, 100),
        ),
    ],
)
@pytest.mark.parametrize(("count", "requests", "last_page"), [(5, 1, 5), (7, 3, 1)])
def test_pages_exactly_full_or_with_a_short_last_page(
    connection: Callable[[StripeSandbox], None],
    type_name: str,
    resource: str,
    make: Callable[[int, int], dict],
    count: int,
    requests: int,
    last_page: int,
) -> None:
    page_size = 5 if count == 5 else 3
    server = serve(connection, **{resource: [make(i, START + 60 * i) for i in range(count)]})
    try:
        items = read(type_name, page_size=page_size)
    finally:
        server.stop()

    assert [item.record_key for item in items] == [make(i, 0)["id"] for i in reversed(range(count))]
    assert all(isinstance(item, CanonicalRecord) for item in items)
    assert len(listed(server, resource)) == requests
    assert items[-1].origin == f"stripe:/v1/{resource}?page={requests}"
    assert items[-1].origin_line == last_page


@pytest.mark.parametrize(
    ("type_name", "resource", "make", "settings"),
    [
        ("stripe_refunds", "refunds", lambda n, t: refund(n, t), {}),
        ("stripe_payouts", "payouts", lambda n, t: payout(n, t, arrival_date=t + 3600), {}),
        (
            "stripe_payouts",
            "payouts",
            lambda n, t: payout(n, t - 86_400, arrival_date=t),
            {"window_by": "arrival_date"},
        ),
        ("stripe_balance_transactions", "balance_transactions", lambda n, t: transaction(n, t, 100), {}),
    ],
)
def test_the_window_is_half_open_at_exactly_its_edges(
    connection: Callable[[StripeSandbox], None],
    type_name: str,
    resource: str,
    make: Callable[[str, int], dict],
    settings: dict[str, str],
) -> None:
    edges = {"before_start": START - 1, "at_start": START, "before_end": END - 1, "at_end": END}
    server = serve(connection, **{resource: [make(name, moment) for name, moment in edges.items()]})
    try:
        items = read(type_name, **settings)
    finally:
        server.stop()

    assert [item.record_key for item in items] == ["before_end", "at_start"]
    assert [item.occurred_at for item in items] == [WINDOW.end - dt.timedelta(seconds=1), WINDOW.start]


def test_a_wrong_key_fails_at_once_as_rejected_naming_the_connection(
    account: StripeSandbox, connection: Callable[[StripeSandbox, str], None]
) -> None:
    connection(account, "sk_test_wrong_secret")

    with pytest.raises(SourceRejected) as raised:
        read("stripe_payouts")

    message = str(raised.value)
    assert message.startswith(f"connection {CONN_ID!r}: Stripe refused the API key:")
    assert "sk_test_wrong_secret" not in message
    assert len(account.request_log) == 1  # no retry: the same key fails the same way


def test_a_forbidden_listing_is_rejected_naming_the_connection_and_resource(account: StripeSandbox) -> None:
    account.faults.inject(Fault(status=403))

    with pytest.raises(SourceRejected) as raised:
        read("stripe_refunds")

    assert str(raised.value).startswith(f"connection {CONN_ID!r}: the API key may not read /v1/refunds:")
    assert len(account.request_log) == 1


def test_a_rate_limit_waits_for_retry_after_then_succeeds(account: StripeSandbox) -> None:
    expected = {r["id"] for r in OBJECTS.refunds if START <= r["created"] < END}
    account.faults.inject(Fault(status=429, retry_after=0.4))

    began = time.monotonic()
    items = read("stripe_refunds")
    elapsed = time.monotonic() - began

    assert {item.record_key for item in items} == expected
    assert elapsed >= 0.4
    assert len(listed(account, "refunds")) == 2  # the 429, then the same page again
    assert account.faults.applied == [Fault(status=429, retry_after=0.4)]


def test_a_server_error_is_retried_by_the_sdk_and_succeeds(account: StripeSandbox) -> None:
    account.faults.inject(Fault(status=500), Fault(drop=True))

    items = read("stripe_payouts", WEEK, page_size=3)

    assert {item.record_key for item in items} == {p["id"] for p in OBJECTS.payouts if WEEK.contains(_at(p))}
    assert account.faults.pending() == 0
    pages = -(-len(items) // 3)
    assert len(listed(account, "payouts")) == pages + 2  # every page, plus the two that failed first


def test_a_response_slower_than_the_timeout_is_retried_and_succeeds(account: StripeSandbox) -> None:
    account.faults.inject(Fault(delay=1.5))

    items = read("stripe_payouts", WEEK, timeout_seconds=0.5)

    assert {item.record_key for item in items} == {p["id"] for p in OBJECTS.payouts if WEEK.contains(_at(p))}
    assert account.faults.applied == [Fault(delay=1.5)]
    assert len(listed(account, "payouts")) == 2  # the slow one, abandoned, then the retry


def test_responses_slower_than_the_timeout_on_every_try_are_unavailable(account: StripeSandbox) -> None:
    account.faults.inject(*[Fault(delay=1.0)] * 3)

    with pytest.raises(SourceUnavailable) as raised:
        read("stripe_refunds", timeout_seconds=0.3)

    assert not isinstance(raised.value, SourceRejected)
    assert str(raised.value).startswith(f"connection {CONN_ID!r}: cannot reach Stripe after 2 retries:")
    assert len(listed(account, "refunds")) == 3


def test_rate_limits_past_our_retries_are_unavailable_not_rejected(account: StripeSandbox) -> None:
    account.faults.inject(*[Fault(status=429, retry_after=0)] * 4)

    with pytest.raises(SourceUnavailable) as raised:
        read("stripe_refunds")

    assert not isinstance(raised.value, SourceRejected)
    assert str(raised.value).startswith(f"connection {CONN_ID!r}: Stripe rate-limited /v1/refunds 4 times:")


def test_server_errors_past_the_sdk_retries_are_unavailable(account: StripeSandbox) -> None:
    account.faults.inject(*[Fault(status=503)] * 3)

    with pytest.raises(SourceUnavailable) as raised:
        read("stripe_balance_transactions")

    assert not isinstance(raised.value, SourceRejected)
    assert "after 2 retries (HTTP 503)" in str(raised.value)
    assert len(account.request_log) == 3


# --- refunds --------------------------------------------------------------------------------------


def test_refunds_carry_the_charge_as_reference_and_exact_amounts(connection: Callable) -> None:
    refunds = [
        refund("re_yen", START + 30, amount=1200, currency="jpy"),
        refund("re_dinar", START + 20, amount=1250, currency="kwd", reason="duplicate"),
        refund("re_dollar", START + 10, amount=1999, currency="usd", metadata={"order": "o-7"}),
    ]
    server = serve(connection, refunds=refunds)
    try:
        yen, dinar, dollar = read("stripe_refunds", attributes={"order": "metadata.order"})
    finally:
        server.stop()

    assert isinstance(yen, CanonicalRecord) and isinstance(dinar, CanonicalRecord)
    assert isinstance(dollar, CanonicalRecord)
    assert (yen.amount, yen.currency, str(yen.amount)) == (Decimal("1200"), "JPY", "1200")
    assert (dinar.amount, dinar.currency, str(dinar.amount)) == (Decimal("1.25"), "KWD", "1.250")
    assert str(dollar.amount) == "19.99"
    assert (dinar.reference, dinar.status) == ("ch_for_re_dinar", "succeeded")
    assert dinar.attributes["charge"] == "ch_for_re_dinar"
    assert dinar.attributes["payment_intent"] == "pi_for_re_dinar"
    assert dinar.attributes["reason"] == "duplicate"
    assert (dollar.attributes["order"], yen.attributes["order"]) == ("o-7", None)


def test_generated_refunds_of_the_window_are_all_read(account: StripeSandbox) -> None:
    expected = {r["id"]: r for r in OBJECTS.refunds if START <= r["created"] < END}
    assert len(expected) >= 3  # the premise: the scenario refunds several charges that day

    items = read("stripe_refunds", page_size=2)

    assert {item.record_key for item in items} == set(expected)
    for item in items:
        assert isinstance(item, CanonicalRecord)
        assert item.reference == expected[item.record_key]["charge"]


def test_malformed_refunds_are_quarantined_with_reason_and_position(connection: Callable) -> None:
    refunds = [
        refund("re_good", START + 40),
        refund("re_no_charge", START + 30, charge=None),
        refund("re_text_amount", START + 20, amount="10.00"),
        refund("re_bad_currency", START + 10, currency="dollars"),
    ]
    server = serve(connection, refunds=refunds)
    try:
        items = read("stripe_refunds")
    finally:
        server.stop()

    good, *rejected = items
    assert isinstance(good, CanonicalRecord)
    assert all(isinstance(item, QuarantinedRecord) for item in rejected)
    assert [(r.record_key, r.reason, r.origin_line) for r in rejected] == [  # type: ignore[union-attr]
        ("re_no_charge", "refund has no charge", 2),
        ("re_text_amount", "amount '10.00' is not an integer of minor units", 3),
        ("re_bad_currency", "currency 'dollars' is not an ISO 4217 code", 4),
    ]
    assert {r.origin for r in rejected} == {"stripe:/v1/refunds?page=1"}


# --- payouts --------------------------------------------------------------------------------------


def _at(obj: dict, field: str = "created") -> dt.datetime:
    return dt.datetime.fromtimestamp(obj[field], dt.UTC)


def test_payouts_by_arrival_date_select_what_reaches_the_bank_in_the_window(connection: Callable) -> None:
    payouts = [
        payout("po_made_and_arrived", START + 100, arrival_date=START + 200),
        payout("po_made_earlier", START - 86_400, arrival_date=START + 300),
        payout("po_arrives_later", END - 100, arrival_date=END),
    ]
    server = serve(connection, payouts=payouts)
    try:
        by_created = read("stripe_payouts")
        by_arrival = read("stripe_payouts", window_by="arrival_date")
    finally:
        server.stop()

    assert [p.record_key for p in by_created] == ["po_arrives_later", "po_made_and_arrived"]
    assert [p.record_key for p in by_arrival] == ["po_made_and_arrived", "po_made_earlier"]
    assert "/v1/payouts?arrival_date[gte]=" in server.request_log[-1]
    earlier = by_arrival[1]
    assert isinstance(earlier, CanonicalRecord)
    assert earlier.occurred_at == _at(payouts[1], "arrival_date")
    assert earlier.attributes == {
        "arrival_date": _at(payouts[1], "arrival_date").isoformat(),
        "created": _at(payouts[1]).isoformat(),
        "method": "standard",
        "type": "bank_account",
        "balance_transaction": "txn_of_po_made_earlier",
        "statement_descriptor": "RECON",
        "destination": "ba_test",
        "automatic": None,
        "failure_code": None,
        "reconciliation_status": None,
    }
    assert (earlier.amount, earlier.status) == (Decimal("50.00"), "paid")
    assert earlier.reference == "po_made_earlier"


def test_a_payout_without_an_amount_is_quarantined(connection: Callable) -> None:
    payouts = [payout("po_ok", START + 10), payout("po_no_amount", START + 5, amount=None)]
    server = serve(connection, payouts=payouts)
    try:
        items = read("stripe_payouts")
    finally:
        server.stop()

    assert isinstance(items[0], CanonicalRecord)
    assert isinstance(items[1], QuarantinedRecord)
    assert items[1].reason == "amount None is not an integer of minor units"
    assert items[1].raw["id"] == "po_no_amount"


# --- balance transactions ---------------------------------------------------------------------------


def test_settlement_mode_reads_every_payouts_transactions_grouped_by_payout(account: StripeSandbox) -> None:
    in_week = {p["id"]: p for p in OBJECTS.payouts if WEEK.contains(_at(p))}
    assert len(in_week) >= 4 and OBJECTS.payout_breaks  # the premise: several payouts, one broken

    items = read("stripe_balance_transactions", WEEK, select="payouts")

    assert all(isinstance(item, CanonicalRecord) for item in items)
    by_payout: dict[str, list[CanonicalRecord]] = defaultdict(list)
    for item in items:
        assert isinstance(item, CanonicalRecord)
        by_payout[str(item.group_key)].append(item)
        assert OBJECTS.settlements[item.record_key] == item.group_key
    assert set(by_payout) == set(in_week)
    assert len(items) == sum(1 for p in OBJECTS.settlements.values() if p in in_week)
    broken = {b.payout_id for b in OBJECTS.payout_breaks}
    for payout_id, records in by_payout.items():
        settled = sum(r.amount for r in records if r.attributes["type"] != "payout")
        paid = Decimal(in_week[payout_id]["amount"]).scaleb(-_exponent(records[0].currency))
        assert (settled != paid) == (payout_id in broken), payout_id
        assert sum(r.amount for r in records) == 0  # the payout's own transaction takes it all out
    assert {
        entry.split("payout=")[1].split("&")[0] for entry in listed(account, "balance_transactions")
    } == set(in_week)


def test_settlement_by_arrival_date_and_type_filter(account: StripeSandbox) -> None:
    arriving = {p["id"] for p in OBJECTS.payouts if WEEK.contains(_at(p, "arrival_date"))}

    items = read(
        "stripe_balance_transactions", WEEK, select="payouts", payouts_by="arrival_date", types=["refund"]
    )

    refunds_settled = {
        t["id"]
        for t in OBJECTS.balance_transactions
        if t["type"] == "refund" and OBJECTS.settlements[t["id"]] in arriving
    }
    assert refunds_settled  # the premise
    assert {item.record_key for item in items} == refunds_settled
    assert all("type=refund" in entry for entry in listed(account, "balance_transactions"))
    assert "arrival_date[gte]=" in listed(account, "payouts")[0]


def test_created_mode_with_types_lists_each_type_and_keeps_all_three_figures(account: StripeSandbox) -> None:
    expected = {
        t["id"]: t
        for t in OBJECTS.balance_transactions
        if START <= t["created"] < END and t["type"] in ("charge", "refund")
    }

    items = read("stripe_balance_transactions", types=["charge", "refund"], amount="amount")

    assert {item.record_key for item in items} == set(expected)
    requests = listed(account, "balance_transactions")
    assert [("type=charge" in r, "type=refund" in r) for r in requests] == [(True, False), (False, True)]
    for item in items:
        assert isinstance(item, CanonicalRecord)
        txn = expected[item.record_key]
        scale = -_exponent(item.currency)
        assert item.amount == Decimal(txn["amount"]).scaleb(scale)
        assert item.attributes["fee"] == Decimal(txn["fee"]).scaleb(scale)
        assert item.attributes["net"] == Decimal(txn["net"]).scaleb(scale)
        assert (item.reference, item.group_key) == (txn["source"], None)
        assert item.origin.startswith(f"stripe:/v1/balance_transactions?type={txn['type']}&page=")


def test_net_is_the_default_amount_and_three_decimals_stay_exact(connection: Callable) -> None:
    txns = [
        transaction("txn_kwd", START + 5, 12_340, fee=460, currency="kwd"),
        transaction("txn_jpy", START + 4, 5_000, fee=175, currency="jpy"),
    ]
    server = serve(connection, balance_transactions=txns)
    try:
        kwd, jpy = read("stripe_balance_transactions")
    finally:
        server.stop()

    assert isinstance(kwd, CanonicalRecord) and isinstance(jpy, CanonicalRecord)
    assert (str(kwd.amount), str(kwd.attributes["amount"]), str(kwd.attributes["fee"])) == (
        "11.880",
        "12.340",
        "0.460",
    )
    assert (str(jpy.amount), str(jpy.attributes["fee"])) == ("4825", "175")


def test_an_inconsistent_or_malformed_transaction_is_quarantined(connection: Callable) -> None:
    txns = [
        transaction("txn_ok", START + 9, 1000, fee=59),
        {**transaction("txn_bad_net", START + 8, 1000, fee=59), "net": 1000},
        {**transaction("txn_no_fee", START + 7, 1000), "fee": None},
    ]
    server = serve(connection, balance_transactions=txns)
    try:
        items = read("stripe_balance_transactions")
    finally:
        server.stop()

    assert isinstance(items[0], CanonicalRecord)
    assert [(i.record_key, i.reason) for i in items[1:] if isinstance(i, QuarantinedRecord)] == [
        ("txn_bad_net", "net 1000 is not amount 1000 - fee 59"),
        ("txn_no_fee", "fee None is not an integer of minor units"),
    ]


def test_a_payout_without_id_is_quarantined_not_skipped_in_settlement_mode(connection: Callable) -> None:
    server = serve(connection, payouts=[payout("po_ok", START + 9), {**payout("", START + 5)}])
    try:
        items = read("stripe_balance_transactions", select="payouts")
    finally:
        server.stop()

    assert len(items) == 1
    assert isinstance(items[0], QuarantinedRecord)
    assert items[0].reason == "payout has no id; the transactions it settles cannot be listed"
    assert (items[0].origin, items[0].origin_line) == ("stripe:/v1/payouts?page=1", 2)


# --- spec shape -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_name", "settings", "message"),
    [
        (
            "stripe_balance_transactions",
            {"payouts_by": "arrival_date"},
            "payouts_by only applies with select",
        ),
        ("stripe_balance_transactions", {"types": ["charge", "charge"]}, "lists a type twice"),
        ("stripe_balance_transactions", {"amount": "gross"}, "'net' or 'amount'"),
        ("stripe_payouts", {"window_by": "paid_at"}, "'created' or 'arrival_date'"),
        ("stripe_refunds", {"attributes": {"charge": "metadata.x"}}, "filled by the source type itself"),
        ("stripe_refunds", {"page_size": 101}, "less than or equal to 100"),
        ("stripe_refunds", {"page_sise": 10}, "Extra inputs are not permitted"),
    ],
)
def test_spec_mistakes_are_named(type_name: str, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        source(type_name, **settings)

    assert message in str(raised.value)


def test_defaults_of_the_spec() -> None:
    model = source("stripe_balance_transactions")

    assert (model.connection, model.page_size, model.select, model.payouts_by) == (
        CONN_ID,
        100,
        "created",
        None,
    )
    assert (model.types, model.amount, model.attributes) == ([], "net", {})
    assert source("stripe_payouts").window_by == "created"


def _exponent(currency: str) -> int:
    return {"JPY": 0, "KWD": 3}.get(currency, 2)
