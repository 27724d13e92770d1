"""Stripe charges through the real SDK against the loopback Stripe sandbox, mapped to canonical records."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from decimal import Decimal

import pytest
import stripe

from include.sandbox.generator import BillingScenario, stripe_charges, window_bounds
from include.sandbox.stripe_server import StripeSandbox
from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources import SourceRejected, SourceUnavailable
from recon.sources.stripe_charges import StripeChargesSource, charge_records, client_from_connection
from recon.window import RunWindow

pytestmark = pytest.mark.integration

API_KEY = "sk_test_recon_source"
CONN_ID = "stripe_source_test"
SCENARIO = BillingScenario(seed=11, day=dt.date(2026, 11, 19), charge_count=30, neighbour_day_charges=6)
START, END = window_bounds(SCENARIO.day)
WINDOW = RunWindow(
    "stripe_billing", dt.datetime.fromtimestamp(START, dt.UTC), dt.datetime.fromtimestamp(END, dt.UTC)
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[StripeSandbox]:
    with StripeSandbox(stripe_charges(SCENARIO), api_key=API_KEY) as running:
        yield running


def use_connection(monkeypatch: pytest.MonkeyPatch, **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "generic", **fields}))


def direct_client(base_url: str, key: str = API_KEY) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": base_url}, max_network_retries=0)


def window_charges() -> dict[str, dict]:
    return {c["id"]: c for c in stripe_charges(SCENARIO) if START <= c["created"] < END}


def test_the_scenario_has_charges_on_both_window_edges_and_outside() -> None:
    # Guards the premise of the window tests below: without edge charges they would prove nothing.
    created = [c["created"] for c in stripe_charges(SCENARIO)]
    assert START in created and END - 1 in created
    assert END in created and START - 1 in created
    assert len(window_charges()) == 30


def test_charge_records_returns_exactly_the_window_across_pages(sandbox: StripeSandbox) -> None:
    sandbox.request_log.clear()

    items = list(charge_records(direct_client(sandbox.base_url), WINDOW, CONN_ID, page_size=7))

    assert all(isinstance(item, CanonicalRecord) for item in items)
    keys = [item.record_key for item in items]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(window_charges())
    # Newest first; ties on the same second come by id, descending, as Stripe lists them.
    expected_order = sorted(window_charges().values(), key=lambda c: (c["created"], c["id"]), reverse=True)
    assert keys == [c["id"] for c in expected_order]
    assert [(item.origin, item.origin_line) for item in items] == [
        (f"stripe:/v1/charges?page={index // 7 + 1}", index % 7 + 1) for index in range(30)
    ]
    listed = [entry for entry in sandbox.request_log if entry.startswith("/v1/charges?")]
    assert len(listed) == 5  # 7 + 7 + 7 + 7 + 2
    assert all(f"created[gte]={START}" in entry and f"created[lt]={END}" in entry for entry in listed)
    assert sum("starting_after=" in entry for entry in listed) == 4


def test_records_carry_exact_major_unit_amounts_and_the_charge_fields(sandbox: StripeSandbox) -> None:
    charges = window_charges()

    items = list(charge_records(direct_client(sandbox.base_url), WINDOW, CONN_ID))

    by_currency: dict[str, list[CanonicalRecord]] = {}
    for item in items:
        charge = charges[item.record_key]
        scale = {"usd": 2, "eur": 2, "jpy": 0, "kwd": 3}[charge["currency"]]
        assert item.amount == Decimal(charge["amount"]).scaleb(-scale)
        assert item.amount.as_tuple().exponent == -scale
        assert item.currency == charge["currency"].upper()
        assert item.occurred_at == dt.datetime.fromtimestamp(charge["created"], dt.UTC)
        assert item.customer_email == charge["billing_details"]["email"]
        assert item.reference == charge["metadata"]["payment_id"]
        assert item.status == "succeeded"
        by_currency.setdefault(item.currency, []).append(item)
    assert {"USD", "EUR", "JPY", "KWD"} <= set(by_currency)
    assert all("." not in str(item.amount) for item in by_currency["JPY"])
    assert all(len(str(item.amount).split(".")[1]) == 3 for item in by_currency["KWD"])


def test_a_malformed_charge_is_quarantined_with_its_reason_and_position() -> None:
    base = {"object": "charge", "currency": "usd", "status": "succeeded", "livemode": False}
    charges = [
        {**base, "id": "ch_good_newest", "amount": 1234, "created": START + 30},
        {**base, "id": "ch_no_amount", "created": START + 20},
        {**base, "id": "ch_text_amount", "amount": "12.34", "created": START + 10},
        {**base, "id": "ch_bad_currency", "amount": 500, "currency": "dollars", "created": START + 5},
    ]
    with StripeSandbox(charges, api_key=API_KEY) as server:
        items = list(charge_records(direct_client(server.base_url), WINDOW, CONN_ID))

    assert [type(item).__name__ for item in items] == [
        "CanonicalRecord",
        "QuarantinedRecord",
        "QuarantinedRecord",
        "QuarantinedRecord",
    ]
    good, no_amount, text_amount, bad_currency = items
    assert (good.record_key, good.amount) == ("ch_good_newest", Decimal("12.34"))
    assert isinstance(no_amount, QuarantinedRecord)
    assert (no_amount.record_key, no_amount.reason) == (
        "ch_no_amount",
        "amount None is not an integer of minor units",
    )
    assert (no_amount.origin, no_amount.origin_line) == ("stripe:/v1/charges?page=1", 2)
    assert no_amount.raw["id"] == "ch_no_amount" and "amount" not in no_amount.raw
    assert isinstance(text_amount, QuarantinedRecord)
    assert text_amount.reason == "amount '12.34' is not an integer of minor units"
    assert isinstance(bad_currency, QuarantinedRecord)
    assert bad_currency.reason == "currency 'dollars' is not an ISO 4217 code"


def test_a_fully_refunded_charge_is_refunded_and_a_partly_refunded_one_keeps_its_status() -> None:
    # Stripe's own shape: status stays "succeeded"; refunded is true only once everything went back.
    base = {"object": "charge", "currency": "usd", "status": "succeeded", "livemode": False, "amount": 5000}
    charges = [
        {**base, "id": "ch_full", "created": START + 30, "amount_refunded": 5000, "refunded": True},
        {**base, "id": "ch_part", "created": START + 20, "amount_refunded": 1250, "refunded": False},
        {**base, "id": "ch_none", "created": START + 10, "amount_refunded": 0, "refunded": False},
        {**base, "id": "ch_failed", "created": START + 5, "status": "failed", "paid": False},
    ]
    with StripeSandbox(charges, api_key=API_KEY) as server:
        items = list(charge_records(direct_client(server.base_url), WINDOW, CONN_ID))

    got = {i.record_key: (i.status, i.amount, i.attributes["amount_refunded"]) for i in items}
    assert got == {
        "ch_full": ("refunded", Decimal("50.00"), Decimal("50.00")),
        "ch_part": ("succeeded", Decimal("50.00"), Decimal("12.50")),
        "ch_none": ("succeeded", Decimal("50.00"), Decimal("0.00")),
        "ch_failed": ("failed", Decimal("50.00"), None),
    }


def test_the_client_reads_key_and_base_url_from_the_airflow_connection(
    sandbox: StripeSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, host=sandbox.base_url, password=API_KEY)
    sandbox.request_log.clear()

    items = list(charge_records(client_from_connection(CONN_ID), WINDOW, CONN_ID, page_size=100))

    assert {item.record_key for item in items} == set(window_charges())
    assert len(sandbox.request_log) == 1


def test_a_host_without_scheme_is_completed_from_schema_and_port(
    sandbox: StripeSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = int(sandbox.base_url.rsplit(":", 1)[1])
    use_connection(monkeypatch, host="127.0.0.1", port=port, schema="http", password=API_KEY)

    items = list(charge_records(client_from_connection(CONN_ID), WINDOW, CONN_ID))

    assert len(items) == 30


def test_a_connection_without_a_key_is_refused_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(monkeypatch, host="http://127.0.0.1:9")

    with pytest.raises(SourceRejected) as raised:
        client_from_connection(CONN_ID)

    assert str(raised.value) == f"connection {CONN_ID!r}: no API key (set the connection's password)"


def test_a_wrong_key_is_rejected_for_good_naming_the_connection(
    sandbox: StripeSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, host=sandbox.base_url, password="sk_test_wrong")
    client = client_from_connection(CONN_ID)

    with pytest.raises(SourceRejected) as raised:
        list(charge_records(client, WINDOW, CONN_ID))

    message = str(raised.value)
    assert message.startswith(f"connection {CONN_ID!r}: Stripe refused the API key:")
    assert "sk_test_wrong" not in message


def test_an_unreachable_api_is_source_unavailable_naming_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A bound but not listening socket: connections to its port are refused, and no one else can take it.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        use_connection(monkeypatch, host=f"http://127.0.0.1:{closed.getsockname()[1]}", password=API_KEY)
        client = client_from_connection(CONN_ID)

        with pytest.raises(SourceUnavailable) as raised:
            list(charge_records(client, WINDOW, CONN_ID))

    assert not isinstance(raised.value, SourceRejected)  # an outage is worth Airflow's retries
    assert str(raised.value).startswith(f"connection {CONN_ID!r}: cannot reach Stripe after 2 retries:")


def test_the_spec_source_adds_extra_attributes_and_keeps_refunded_amounts_exact(
    sandbox: StripeSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_connection(monkeypatch, host=sandbox.base_url, password=API_KEY)
    source = StripeChargesSource(
        name="stripe",
        type="stripe_charges",
        connection=CONN_ID,
        attributes={"app_payment": "metadata.payment_id"},
    )

    items = list(source.read(WINDOW))

    assert len(items) == 30
    for item in items:
        assert isinstance(item, CanonicalRecord)
        assert item.attributes["app_payment"] == item.reference
        refunded = item.attributes["amount_refunded"]
        assert isinstance(refunded, Decimal) and refunded == 0
        assert refunded.as_tuple().exponent == item.amount.as_tuple().exponent  # same scale as the amount
