"""The Stripe sandbox, driven both by the real stripe SDK and by raw HTTP for the error paths, and the
refunds, payouts and balance transactions it derives from charges (``stripe_objects``)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe

from include.sandbox import generator as g
from include.sandbox.faults import Fault
from include.sandbox.stripe_objects import stripe_objects
from include.sandbox.stripe_server import StripeSandbox

pytestmark = pytest.mark.integration  # real servers on loopback


API_KEY = "sk_test_sandbox"
SCENARIO = g.BillingScenario(seed=5, day=dt.date(2026, 11, 19), charge_count=30)
START, END = g.window_bounds(SCENARIO.day)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[StripeSandbox]:
    with StripeSandbox(g.stripe_charges(SCENARIO), api_key=API_KEY) as running:
        yield running


@pytest.fixture
def client(sandbox: StripeSandbox) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": sandbox.base_url}, max_network_retries=0)


def _get(
    sandbox: StripeSandbox, path: str, params: dict[str, Any] | None = None, auth: str | None = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    url = sandbox.base_url + path + (f"?{urlencode(params)}" if params else "")
    request = urllib.request.Request(url, headers={"Authorization": auth or f"Bearer {API_KEY}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.load(error)


def _newest_first(charges: list[dict]) -> list[str]:
    return [c["id"] for c in sorted(charges, key=lambda c: (c["created"], c["id"]), reverse=True)]


def _window_ids() -> list[str]:
    return _newest_first([c for c in g.stripe_charges(SCENARIO) if START <= c["created"] < END])


def test_sdk_auto_paging_returns_the_window(sandbox: StripeSandbox, client: stripe.StripeClient) -> None:
    sandbox.request_log.clear()
    listing = client.v1.charges.list(params={"limit": 7, "created": {"gte": START, "lt": END}})
    seen = [charge.id for charge in listing.auto_paging_iter()]
    assert seen == _window_ids()
    assert len(seen) == 30
    pages = [entry for entry in sandbox.request_log if entry.startswith("/v1/charges?")]
    assert len(pages) == 5  # ceil(30 / 7)
    assert all("created[gte]=" in p and "created[lt]=" in p for p in pages)
    assert sum("starting_after=" in p for p in pages) == 4


def test_sdk_objects_carry_the_charge_fields(client: stripe.StripeClient) -> None:
    first = client.v1.charges.list(params={"limit": 1, "created": {"gte": START, "lt": END}}).data[0]
    assert first.id == _window_ids()[0]
    assert isinstance(first.amount, int)
    assert first.metadata["payment_id"].startswith("pay_")
    assert client.v1.charges.retrieve(first.id).amount == first.amount


def test_sdk_surfaces_stripe_errors(sandbox: StripeSandbox, client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as bad_cursor:
        client.v1.charges.list(params={"starting_after": "ch_doesnotexist"})
    assert (bad_cursor.value.param, bad_cursor.value.code) == ("starting_after", "resource_missing")
    wrong_key = stripe.StripeClient("sk_test_wrong", base_addresses={"api": sandbox.base_url})
    with pytest.raises(stripe.AuthenticationError):
        wrong_key.v1.charges.list()


def test_list_shape_and_default_limit(sandbox: StripeSandbox) -> None:
    status, headers, body = _get(sandbox, "/v1/charges")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert headers["Request-Id"].startswith("req_")
    assert (body["object"], body["url"], body["has_more"]) == ("list", "/v1/charges", True)
    assert [c["id"] for c in body["data"]] == _newest_first(g.stripe_charges(SCENARIO))[:10]


def test_ties_on_created_are_ordered_by_id(sandbox: StripeSandbox) -> None:
    _, _, body = _get(sandbox, "/v1/charges", {"limit": 100})
    keys = [(c["created"], c["id"]) for c in body["data"]]
    assert keys == sorted(keys, reverse=True)
    assert len({created for created, _ in keys}) < len(keys)  # the scenario really has a tie
    assert body["has_more"] is False


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"created[gte]": START, "created[lt]": END}, lambda c: START <= c < END),
        ({"created[gt]": START, "created[lte]": END}, lambda c: START < c <= END),
        ({"created": END}, lambda c: c == END),
        ({"created[lt]": START}, lambda c: c < START),
    ],
)
def test_created_filters(sandbox: StripeSandbox, params: dict[str, int], expected: Any) -> None:
    _, _, body = _get(sandbox, "/v1/charges", {"limit": 100, **params})
    wanted = _newest_first([c for c in g.stripe_charges(SCENARIO) if expected(c["created"])])
    assert [c["id"] for c in body["data"]] == wanted
    assert wanted  # every filter here selects something in this scenario


def test_starting_after_and_ending_before(sandbox: StripeSandbox) -> None:
    everything = _newest_first(g.stripe_charges(SCENARIO))
    _, _, after = _get(sandbox, "/v1/charges", {"limit": 5, "starting_after": everything[9]})
    assert [c["id"] for c in after["data"]] == everything[10:15]
    assert after["has_more"] is True
    _, _, before = _get(sandbox, "/v1/charges", {"limit": 5, "ending_before": everything[9]})
    assert [c["id"] for c in before["data"]] == everything[4:9]
    assert before["has_more"] is True
    _, _, last = _get(sandbox, "/v1/charges", {"limit": 5, "starting_after": everything[-3]})
    assert [c["id"] for c in last["data"]] == everything[-2:]
    assert last["has_more"] is False


def test_unknown_cursor_is_a_stripe_error(sandbox: StripeSandbox) -> None:
    status, _, body = _get(sandbox, "/v1/charges", {"starting_after": "ch_000000000000000000000000"})
    assert status == 400
    error = body["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "resource_missing",
        "starting_after",
    )


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_limit_out_of_range(sandbox: StripeSandbox, limit: str) -> None:
    status, _, body = _get(sandbox, "/v1/charges", {"limit": limit})
    assert status == 400
    assert body["error"]["param"] == "limit"
    assert "limit" in body["error"]["message"]


def test_bad_filter_value_and_unknown_parameter(sandbox: StripeSandbox) -> None:
    status, _, body = _get(sandbox, "/v1/charges", {"created[gte]": "yesterday"})
    assert (status, body["error"]["param"]) == (400, "created[gte]")
    status, _, body = _get(sandbox, "/v1/charges", {"created[from]": START})
    assert (status, body["error"]["param"]) == (400, "created[from]")


@pytest.mark.parametrize(
    ("auth", "message_start"),
    [
        ("Bearer sk_test_wrong_key_123", "Invalid API Key provided: sk_t***"),
        ("", "You did not provide an API key"),
        ("Token sk_test_sandbox", "You did not provide an API key"),
    ],
)
def test_rejected_credentials(sandbox: StripeSandbox, auth: str, message_start: str) -> None:
    status, _, body = _get(sandbox, "/v1/charges", auth=auth or " ")
    assert status == 401
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith(message_start)
    assert "wrong_key_123" not in body["error"]["message"]


def test_basic_auth_with_the_key_as_user(sandbox: StripeSandbox) -> None:
    token = base64.b64encode(f"{API_KEY}:".encode()).decode()
    status, _, body = _get(sandbox, "/v1/charges", {"limit": 1}, auth=f"Basic {token}")
    assert status == 200 and len(body["data"]) == 1


def test_retrieve_and_not_found(sandbox: StripeSandbox) -> None:
    charge = g.stripe_charges(SCENARIO)[0]
    status, _, body = _get(sandbox, f"/v1/charges/{charge['id']}")
    assert (status, body) == (200, charge)
    status, _, body = _get(sandbox, "/v1/charges/ch_missing")
    assert status == 404
    assert body["error"]["code"] == "resource_missing"
    status, _, body = _get(sandbox, "/v1/customers")
    assert status == 404
    assert body["error"]["type"] == "invalid_request_error"


def test_stop_releases_the_port() -> None:
    running = StripeSandbox([])
    url = running.start()
    running.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/v1/charges", timeout=2)


# --- refunds, payouts, balance transactions --------------------------------------------------------

OBJECTS = stripe_objects(g.stripe_charges(SCENARIO), seed=9, refund_share=0.3, per_payout=4, broken_payouts=2)
COLLECTIONS = {
    "refunds": OBJECTS.refunds,
    "payouts": OBJECTS.payouts,
    "balance_transactions": OBJECTS.balance_transactions,
}


@pytest.fixture(scope="module")
def account() -> Iterator[StripeSandbox]:
    with StripeSandbox(OBJECTS.charges, api_key=API_KEY, **OBJECTS.sandbox_kwargs()) as running:
        yield running


@pytest.fixture
def account_client(account: StripeSandbox) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": account.base_url}, max_network_retries=0)


@pytest.mark.parametrize("resource", sorted(COLLECTIONS))
def test_each_collection_lists_newest_first_with_stripes_list_shape(
    account: StripeSandbox, resource: str
) -> None:
    status, _, body = _get(account, f"/v1/{resource}")
    assert status == 200
    assert (body["object"], body["url"], body["has_more"]) == ("list", f"/v1/{resource}", True)
    assert [o["id"] for o in body["data"]] == _newest_first(COLLECTIONS[resource])[:10]


@pytest.mark.parametrize("resource", sorted(COLLECTIONS))
def test_each_collection_pages_both_ways_from_a_cursor(account: StripeSandbox, resource: str) -> None:
    everything = _newest_first(COLLECTIONS[resource])
    _, _, after = _get(account, f"/v1/{resource}", {"limit": 3, "starting_after": everything[4]})
    _, _, before = _get(account, f"/v1/{resource}", {"limit": 3, "ending_before": everything[4]})
    _, _, last = _get(account, f"/v1/{resource}", {"limit": 100, "starting_after": everything[-2]})
    assert [o["id"] for o in after["data"]] == everything[5:8]
    assert [o["id"] for o in before["data"]] == everything[1:4]
    assert ([o["id"] for o in last["data"]], last["has_more"]) == (everything[-1:], False)


@pytest.mark.parametrize(
    ("resource", "noun"),
    [("refunds", "refund"), ("payouts", "payout"), ("balance_transactions", "balance transaction")],
)
def test_each_collection_retrieves_by_id_and_names_what_is_missing(
    account: StripeSandbox, resource: str, noun: str
) -> None:
    wanted = COLLECTIONS[resource][-1]
    status, _, body = _get(account, f"/v1/{resource}/{wanted['id']}")
    assert (status, body) == (200, wanted)
    status, _, body = _get(account, f"/v1/{resource}/xx_missing")
    assert status == 404
    assert (body["error"]["message"], body["error"]["code"]) == (
        f"No such {noun}: 'xx_missing'",
        "resource_missing",
    )
    status, _, body = _get(account, f"/v1/{resource}", {"starting_after": OBJECTS.charges[0]["id"]})
    assert (status, body["error"]["param"]) == (400, "starting_after")
    assert body["error"]["message"].startswith(f"No such {noun}:")


def test_payouts_filter_by_arrival_date_and_created(account: StripeSandbox) -> None:
    bound = max(p["arrival_date"] for p in OBJECTS.payouts)  # the scenario's payouts arrive on two days
    _, _, arriving = _get(account, "/v1/payouts", {"limit": 100, "arrival_date[gte]": bound})
    _, _, exact = _get(account, "/v1/payouts", {"limit": 100, "arrival_date": bound})
    _, _, created = _get(account, "/v1/payouts", {"limit": 100, "created[lt]": bound})
    assert [p["id"] for p in arriving["data"]] == _newest_first(
        [p for p in OBJECTS.payouts if p["arrival_date"] >= bound]
    )
    assert [p["id"] for p in exact["data"]] == _newest_first(
        [p for p in OBJECTS.payouts if p["arrival_date"] == bound]
    )
    assert [p["id"] for p in created["data"]] == _newest_first(
        [p for p in OBJECTS.payouts if p["created"] < bound]
    )
    assert exact["data"] and 0 < len(arriving["data"]) < len(OBJECTS.payouts)


def test_arrival_date_is_a_payout_filter_only(account: StripeSandbox) -> None:
    status, _, body = _get(account, "/v1/refunds", {"arrival_date[gte]": START})
    assert (status, body["error"]["param"]) == (400, "arrival_date[gte]")
    status, _, body = _get(account, "/v1/charges", {"payout": OBJECTS.payouts[0]["id"]})
    assert (status, body["error"]["message"]) == (400, "Received unknown parameter: payout")


def test_balance_transactions_filter_by_payout_and_type(account_client: stripe.StripeClient) -> None:
    payout_id = OBJECTS.payouts[0]["id"]
    settled = [t for t in OBJECTS.balance_transactions if OBJECTS.settlements[t["id"]] == payout_id]

    by_payout = account_client.v1.balance_transactions.list(params={"payout": payout_id, "limit": 2})
    seen = [t.id for t in by_payout.auto_paging_iter()]
    only_payout = account_client.v1.balance_transactions.list(params={"payout": payout_id, "type": "payout"})

    assert seen == _newest_first(settled)
    assert [t.id for t in only_payout.data] == [OBJECTS.payouts[0]["balance_transaction"]]
    assert only_payout.data[0].amount == -sum(t["net"] for t in settled if t["type"] != "payout")


def test_an_unknown_payout_filter_is_a_stripe_error(account_client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        account_client.v1.balance_transactions.list(params={"payout": "po_missing"})
    assert (raised.value.param, raised.value.code) == ("payout", "resource_missing")


def test_refunds_filter_by_charge_through_the_sdk(account_client: stripe.StripeClient) -> None:
    refund = OBJECTS.refunds[0]
    listing = account_client.v1.refunds.list(params={"charge": refund["charge"]})
    assert [r.id for r in listing.data] == [refund["id"]]
    assert account_client.v1.refunds.retrieve(refund["id"]).amount == refund["amount"]
    assert (
        account_client.v1.payouts.retrieve(OBJECTS.payouts[0]["id"]).arrival_date
        == OBJECTS.payouts[0]["arrival_date"]
    )


def test_faults_answer_one_request_each_then_the_real_response_follows(account: StripeSandbox) -> None:
    account.faults.inject(Fault(status=429, retry_after=2), Fault(status=500, match="/v1/payouts"))

    first = _get(account, "/v1/refunds", {"limit": 1})
    second = _get(account, "/v1/refunds", {"limit": 1})
    third = _get(account, "/v1/payouts", {"limit": 1})
    fourth = _get(account, "/v1/payouts", {"limit": 1})

    assert (first[0], first[1]["Retry-After"]) == (429, "2")
    assert second[0] == 200 and len(second[2]["data"]) == 1
    assert (third[0], third[2]["error"]["message"]) == (500, "injected fault 500")
    assert fourth[0] == 200
    assert account.faults.pending() == 0


def test_a_dropped_connection_is_an_sdk_connection_error(account: StripeSandbox) -> None:
    account.faults.inject(Fault(drop=True))
    client = stripe.StripeClient(API_KEY, base_addresses={"api": account.base_url}, max_network_retries=0)
    with pytest.raises(stripe.APIConnectionError):
        client.v1.payouts.list()
    assert client.v1.payouts.list().data  # the next request is served


# --- the derived objects ---------------------------------------------------------------------------


def test_objects_are_derived_the_same_way_from_the_same_seed() -> None:
    again = stripe_objects(
        g.stripe_charges(SCENARIO), seed=9, refund_share=0.3, per_payout=4, broken_payouts=2
    )
    other = stripe_objects(
        g.stripe_charges(SCENARIO), seed=10, refund_share=0.3, per_payout=4, broken_payouts=2
    )
    assert again == OBJECTS
    assert [r["id"] for r in other.refunds] != [r["id"] for r in OBJECTS.refunds]


def test_every_charge_and_refund_moves_the_balance_by_one_transaction() -> None:
    by_source = {t["source"]: t for t in OBJECTS.balance_transactions}
    for charge in OBJECTS.charges:
        txn = by_source[charge["id"]]
        assert (txn["id"], txn["type"], txn["amount"]) == (
            charge["balance_transaction"],
            "charge",
            charge["amount"],
        )
        assert txn["net"] == txn["amount"] - txn["fee"] and txn["fee"] > 0
        refunded = sum(r["amount"] for r in OBJECTS.refunds if r["charge"] == charge["id"])
        assert charge["amount_refunded"] == refunded
        assert charge["refunded"] == (refunded == charge["amount"])
    for refund in OBJECTS.refunds:
        txn = by_source[refund["id"]]
        assert (txn["id"], txn["amount"], txn["net"]) == (
            refund["balance_transaction"],
            -refund["amount"],
            -refund["amount"],
        )
        assert (
            0 < refund["amount"] <= next(c["amount"] for c in OBJECTS.charges if c["id"] == refund["charge"])
        )
    assert len(OBJECTS.refunds) >= 5  # the premise: a 0.3 share of 30 charges


def test_each_payout_settles_the_net_of_its_transactions_except_the_injected_breaks() -> None:
    breaks = {b.payout_id: b for b in OBJECTS.payout_breaks}
    assert len(breaks) == 2
    assert set(OBJECTS.settlements) == {t["id"] for t in OBJECTS.balance_transactions}
    for payout in OBJECTS.payouts:
        settled = [t for t in OBJECTS.balance_transactions if OBJECTS.settlements[t["id"]] == payout["id"]]
        assert {t["currency"] for t in settled} == {payout["currency"]}
        net = sum(t["net"] for t in settled if t["type"] != "payout")
        own = [t for t in settled if t["type"] == "payout"]
        assert [t["id"] for t in own] == [payout["balance_transaction"]]
        assert own[0]["amount"] == -net and net > 0
        assert payout["created"] > max(t["created"] for t in settled if t["type"] != "payout")
        assert payout["arrival_date"] > payout["created"]
        if payout["id"] in breaks:
            found = breaks[payout["id"]]
            assert (found.settled_net_minor, found.payout_amount_minor) == (net, payout["amount"])
            assert payout["amount"] != net
        else:
            assert payout["amount"] == net


def test_three_decimal_amounts_end_in_zero_and_the_input_is_not_changed() -> None:
    charges = g.stripe_charges(SCENARIO)
    before = json.dumps(charges, sort_keys=True)
    derived = stripe_objects(charges, seed=9, refund_share=1.0, broken_payouts=3, break_minor=125)
    assert json.dumps(charges, sort_keys=True) == before
    kwd = [o for kind in (derived.refunds, derived.payouts, derived.balance_transactions) for o in kind]
    kwd = [o for o in kwd if o["currency"] == "kwd"]
    assert kwd
    assert all(o[f] % 10 == 0 for o in kwd for f in ("amount", "fee", "net") if f in o)
