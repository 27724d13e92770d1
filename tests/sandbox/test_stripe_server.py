"""The Stripe sandbox, driven both by the real stripe SDK and by raw HTTP for the error paths."""

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
