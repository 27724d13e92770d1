"""The ticketing sandbox: its seeded sales generator and its REST API, spoken to with plain httpx."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from include.sandbox.ticketing import FLAW_KINDS, MALFORMED_KINDS, UNKNOWN_EVENT, TicketingScenario, to_json
from include.sandbox.ticketing_server import TicketingSandbox

pytestmark = pytest.mark.integration  # the server tests; the generator ones are quick either way

TOKEN = "tix_sandbox_test_token"


# --- generator ----------------------------------------------------------------------------------


def test_the_same_scenario_gives_the_same_sales_and_another_seed_other_ones() -> None:
    first = list(TicketingScenario(seed=3, count=25).sales())
    again = list(TicketingScenario(seed=3, count=25).sales())
    other = list(TicketingScenario(seed=4, count=25).sales())

    assert first == again
    assert [s["total"] for s in first] != [s["total"] for s in other]


def test_a_sale_is_built_alone_so_a_million_row_feed_streams_from_any_point() -> None:
    huge = TicketingScenario(count=5_000_000)
    noon = dt.datetime(2026, 11, 19, 12, tzinfo=dt.UTC)

    afternoon = huge.index_range(noon, None)
    streamed = huge.sales(noon, noon + dt.timedelta(seconds=1))

    assert afternoon == range(2_500_000, 5_000_000)
    assert isinstance(streamed, Iterator)
    assert [s["id"] for s in streamed] == [
        f"sale_{i:08d}" for i in huge.index_range(noon, noon.replace(second=1))
    ]
    assert huge.sale(4_999_999) == TicketingScenario(count=5_000_000).sale(4_999_999)


def test_sale_times_never_decrease_and_the_first_is_at_the_start() -> None:
    scenario = TicketingScenario(count=200_000)  # more sales than seconds in the day: shared seconds
    times = [scenario.created_at(i) for i in range(0, 200_000, 7)]

    assert times == sorted(times)
    assert scenario.created_at(0) == scenario.start
    assert scenario.created_at(1) == scenario.created_at(2)


def test_planted_amounts_cover_zero_and_three_decimals_and_json_numbers() -> None:
    scenario = TicketingScenario(count=10)
    totals = [scenario.sale(i)["total"] for i in range(5)]

    assert totals[1]["currency"] == "JPY" and isinstance(totals[1]["value"], Decimal)
    assert totals[2]["currency"] == "KWD" and totals[2]["value"].split(".")[1][-1] != "0"
    assert totals[3]["currency"] == "KWD" and str(totals[3]["value"]).endswith("0")
    assert totals[4] == {"value": Decimal("9007199254740993.01"), "currency": "USD"}


def test_to_json_writes_decimals_as_numbers_with_every_digit() -> None:
    text = to_json({"a": Decimal("993.660"), "b": Decimal("-1"), "c": "12.50", "d": [Decimal("0.001")]})

    assert text == '{"a": 993.660, "b": -1, "c": "12.50", "d": [0.001]}'
    assert json.loads(text, parse_float=Decimal)["a"] == Decimal("993.660")


def test_malformed_sales_rotate_through_every_kind() -> None:
    scenario = TicketingScenario(count=5 + 3 * len(MALFORMED_KINDS), malformed_every=3)

    kinds = [scenario.malformed_kind(i) for i in range(scenario.count)]

    assert [k for k in kinds if k] == list(MALFORMED_KINDS)
    assert kinds[:5] == [None] * 5
    assert "total" not in scenario.sale(5)


def test_a_flaw_changes_only_its_own_value_of_its_own_sale() -> None:
    clean = TicketingScenario(seed=3, count=12)
    flawed = TicketingScenario(
        seed=3,
        count=12,
        flaws=((7, "zero_quantity"), (8, "no_buyer_email"), (9, "unknown_event"), (10, "negative_total")),
    )

    sales = list(flawed.sales())

    assert sales[7] == {**clean.sale(7), "quantity": 0}
    assert sales[8] == {**clean.sale(8), "buyer": {"email": None}}
    assert sales[9] == {**clean.sale(9), "event": UNKNOWN_EVENT}
    total = clean.sale(10)["total"]
    assert sales[10] == {**clean.sale(10), "total": {**total, "value": f"-{total['value']}"}}
    assert [sale for i, sale in enumerate(sales) if i not in (7, 8, 9, 10)] == [
        sale for i, sale in enumerate(clean.sales()) if i not in (7, 8, 9, 10)
    ]
    assert [flawed.flaw(i) for i in (6, 7, 8, 9, 10)] == [None, *FLAW_KINDS]


def test_a_flaw_must_be_known_and_alone_on_its_sale() -> None:
    with pytest.raises(ValueError, match="unknown flaw") as unknown:
        TicketingScenario(flaws=((7, "negative_quantity"),))
    with pytest.raises(ValueError, match="one flaw at most") as twice:
        TicketingScenario(flaws=((7, "zero_quantity"), (7, "no_buyer_email")))

    assert "zero_quantity" in str(unknown.value)
    assert "[7]" in str(twice.value)


# --- server -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[TicketingSandbox]:
    with TicketingSandbox(TicketingScenario(count=48), token=TOKEN) as running:
        yield running


def get(server: TicketingSandbox, path: str, token: str = TOKEN, **params: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.base_url}{path}", params=params, headers=headers, timeout=5)


def test_the_window_filter_is_half_open(server: TicketingSandbox) -> None:
    # Sales are 30 minutes apart: 01:00 is sale 2, 02:00 is sale 4.
    body = get(server, "/v2/sales", **{"from": "2026-11-19T01:00:00Z", "to": "2026-11-19T02:00:00Z"}).json()

    assert [s["id"] for s in body["results"]] == ["sale_00000002", "sale_00000003"]
    assert body["total"] == 2


def test_cursor_pages_follow_next_cursor_until_has_more_is_false(server: TicketingSandbox) -> None:
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 20} | ({"cursor": cursor} if cursor else {})
        body = get(server, "/v3/sales", **params).json()
        pages += 1
        seen += [s["id"] for s in body["data"]]
        cursor = body["meta"]["next_cursor"]
        if not body["meta"]["has_more"]:
            break

    assert pages == 3 and len(seen) == 48 and len(set(seen)) == 48
    assert cursor is None


def test_link_pages_carry_the_window_and_end_without_a_next_link(server: TicketingSandbox) -> None:
    first = get(server, "/v4/sales", per_page=30, to="2026-11-19T23:00:00Z")
    second = httpx.get(first.links["next"]["url"], headers={"X-Api-Key": TOKEN}, timeout=5)

    assert len(first.json()) == 30 and len(second.json()) == 16
    assert "to=2026-11-19T23%3A00%3A00Z" in first.links["next"]["url"]
    assert "next" not in second.links


def test_bad_or_missing_tokens_are_401_and_a_token_without_scope_403(server: TicketingSandbox) -> None:
    assert get(server, "/v1/sales", token="nope").status_code == 401
    assert httpx.get(f"{server.base_url}/v1/sales", timeout=5).status_code == 401
    assert get(server, "/v1/sales", token="tix_readonly_token").status_code == 403
    assert get(server, "/v1/sales", api_key=TOKEN, token="").status_code == 200


@pytest.mark.parametrize(
    "path, params, message",
    [
        ("/v1/sales", {"pagee": 2}, "unknown parameter 'pagee'"),
        ("/v1/sales", {"per_page": 5000}, "per_page must be between 1 and 1000"),
        ("/v2/sales", {"from": "yesterday"}, "from is not an ISO 8601 time: 'yesterday'"),
        ("/v3/sales", {"cursor": "garbage!"}, "invalid cursor 'garbage!'"),
        ("/v9/sales", {}, "no route GET /v9/sales"),
    ],
)
def test_bad_requests_get_a_json_error_naming_the_problem(
    server: TicketingSandbox, path: str, params: dict, message: str
) -> None:
    response = get(server, path, **params)

    assert response.status_code in (400, 404)
    assert response.json()["error"]["message"] == message


def test_the_request_log_never_holds_an_api_key(server: TicketingSandbox) -> None:
    server.request_log.clear()

    get(server, "/v1/sales", api_key=TOKEN, token="")

    assert server.request_log == ["GET /v1/sales?api_key=%2A%2A%2A"]
