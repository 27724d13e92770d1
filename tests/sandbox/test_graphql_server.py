"""The order-management GraphQL sandbox over raw HTTP, and the seeded orders it serves."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest

from include.sandbox.faults import Fault
from include.sandbox.graphql_server import OrdersGraphQLSandbox
from include.sandbox.orders import CURRENCY_EXPONENTS, GeneratedOrders, OrdersScenario

pytestmark = pytest.mark.integration  # real servers on loopback

TOKEN = "oms_sandbox_test_token"
DAY = dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
SCENARIO = OrdersScenario(seed=11, start=DAY, count=48, malformed=frozenset({4, 5, 6}))
ORDERS = GeneratedOrders(SCENARIO)  # one order every 30 minutes
PAGE_QUERY = """
query Page($first: Int!, $after: String, $from: DateTime, $to: DateTime) {
  orders(first: $first, after: $after, createdFrom: $from, createdTo: $to) {
    edges { cursor node { id createdAt total { amount currency } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[OrdersGraphQLSandbox]:
    with OrdersGraphQLSandbox(ORDERS, token=TOKEN) as running:
        yield running


def post(
    server: OrdersGraphQLSandbox, query: str, variables: dict | None = None, token: str = TOKEN
) -> tuple[int, dict[str, str], dict[str, Any]]:
    body = json.dumps({"query": query, "variables": variables}).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(server.base_url + "/graphql", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.load(error)


def test_cursor_pagination_returns_the_half_open_window_once_in_order(server: OrdersGraphQLSandbox) -> None:
    start, end = ORDERS.created_at(10), ORDERS.created_at(30)
    variables: dict[str, Any] = {"first": 7, "after": None, "from": start.isoformat(), "to": end.isoformat()}
    seen: list[str] = []
    pages = 0
    while True:
        status, _, body = post(server, PAGE_QUERY, variables)
        assert status == 200 and "errors" not in body
        connection = body["data"]["orders"]
        seen += [edge["node"]["id"] for edge in connection["edges"]]
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        variables["after"] = connection["pageInfo"]["endCursor"]

    # createdFrom is inclusive, createdTo exclusive: orders 10..29, in three pages of 7, 7 and 6.
    assert seen == [ORDERS.record_key(i) for i in range(10, 30)]
    assert pages == 3


def test_unknown_fields_are_graphql_errors_with_locations_and_no_data(server: OrdersGraphQLSandbox) -> None:
    status, _, body = post(server, "{ orders(first: 1) {\n  nodes { id giftMessage } } }")

    assert status == 200
    assert "data" not in body
    assert body["errors"] == [
        {
            "message": 'Cannot query field "giftMessage" on type "Order".',
            "locations": [{"line": 2, "column": 14}],
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
        }
    ]


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        ("{ orders(limit: 5) { totalCount } }", None, 'Unknown argument "limit" on field "Query.orders".'),
        (
            "query ($from: DateTime!) { orders(createdFrom: $from) { totalCount } }",
            {"from": "yesterday"},
            'Variable "$from" got invalid value "yesterday"; DateTime cannot represent it.',
        ),
        (
            "query ($from: String) { orders(createdFrom: $from) { totalCount } }",
            {"from": "2026-11-19T00:00:00Z"},
            'Variable "$from" of type "String" used in position expecting type "DateTime".',
        ),
        (
            "{ orders(first: 2) { nodes { total } } }",
            None,
            'Field "total" of type "Money!" must have a selection',
        ),
        ("{ orders(first: 2) { nodes { id } }", None, "Syntax Error: Expected name, found '<EOF>'."),
    ],
    ids=["unknown-argument", "invalid-variable", "variable-type-mismatch", "missing-selection", "syntax"],
)
def test_bad_arguments_and_documents_are_request_errors(
    server: OrdersGraphQLSandbox, query: str, variables: dict | None, message: str
) -> None:
    status, _, body = post(server, query, variables)

    assert status == 200
    assert "data" not in body
    assert [error["message"][: len(message)] for error in body["errors"]] == [message]


def test_an_out_of_range_page_size_is_an_execution_error_with_a_path(server: OrdersGraphQLSandbox) -> None:
    status, _, body = post(server, "{ shop { orders(first: 1000) { nodes { id } } } }")

    assert status == 200
    assert body["data"] is None  # orders is non-null, so the null reaches the root
    assert [(e["message"], e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        ("first must be between 1 and 250, got 1000.", ["shop", "orders"], "BAD_USER_INPUT")
    ]


def test_a_forged_cursor_is_rejected(server: OrdersGraphQLSandbox) -> None:
    _, _, body = post(server, '{ orders(first: 2, after: "bm90LWEtY3Vyc29y") { nodes { id } } }')

    assert body["errors"][0]["message"] == "Invalid cursor 'bm90LWEtY3Vyc29y'."


def test_nodes_aliases_and_nested_shop_orders_are_served(server: OrdersGraphQLSandbox) -> None:
    query = "{ shop { name orders(first: 3) { nodes { key: id total { currency } } totalCount } } }"

    _, _, body = post(server, query)

    orders = body["data"]["shop"]["orders"]
    assert [node["key"] for node in orders["nodes"]] == [ORDERS.record_key(i) for i in range(3)]
    assert orders["nodes"][0]["total"] == {"currency": ORDERS[0]["total"]["currency"]}
    assert orders["totalCount"] == SCENARIO.count


def test_the_request_log_holds_the_selected_leaf_paths(server: OrdersGraphQLSandbox) -> None:
    post(server, "query Q($n: Int) { orders(first: $n) { nodes { id customer { email } } } }", {"n": 2})

    entry = server.request_log[-1]
    assert entry.selected == {"orders.nodes.id", "orders.nodes.customer.email"}
    assert entry.variables == {"n": 2}
    assert (entry.authorized, entry.status) == (True, 200)


@pytest.mark.parametrize("token", ["wrong-token", ""])
def test_a_missing_or_wrong_bearer_token_is_401(server: OrdersGraphQLSandbox, token: str) -> None:
    status, headers, body = post(server, PAGE_QUERY, {"first": 1}, token=token)

    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_injected_faults_answer_before_the_query_runs(server: OrdersGraphQLSandbox) -> None:
    server.faults.inject(Fault(status=429, retry_after=2))

    status, headers, _ = post(server, PAGE_QUERY, {"first": 1})
    again, _, body = post(server, PAGE_QUERY, {"first": 1})

    assert (status, headers["Retry-After"]) == (429, "2")
    assert again == 200 and len(body["data"]["orders"]["edges"]) == 1
    assert [entry.status for entry in server.request_log[-2:]] == [429, 200]


def test_generated_orders_are_deterministic_and_hold_jpy_and_kwd_in_ten_rows() -> None:
    ten = GeneratedOrders(OrdersScenario(seed=3, start=DAY, count=10))

    assert list(ten) == list(GeneratedOrders(OrdersScenario(seed=3, start=DAY, count=10)))
    assert list(ten) != list(GeneratedOrders(OrdersScenario(seed=4, start=DAY, count=10)))
    assert {"JPY", "KWD"} <= {order["total"]["currency"] for order in ten}
    for order in ten:
        amount = Decimal(order["total"]["amount"])
        assert -amount.as_tuple().exponent == CURRENCY_EXPONENTS[order["total"]["currency"]]
    created = [order["createdAt"] for order in ten]
    assert created == sorted(created) and created[0] == "2026-11-19T00:00:00Z"


def test_planted_orders_are_malformed_in_the_documented_ways() -> None:
    clean = GeneratedOrders(OrdersScenario(seed=11, start=DAY, count=48))

    # index % 3: 0 -> amount not a number, 1 -> too many decimals, 2 -> no currency
    not_a_number, too_precise, no_currency = ORDERS[6]["total"], ORDERS[4]["total"], ORDERS[5]["total"]
    with pytest.raises(InvalidOperation):
        Decimal(not_a_number["amount"])
    assert not_a_number["currency"] == clean[6]["total"]["currency"]
    decimals = -Decimal(too_precise["amount"]).as_tuple().exponent
    assert decimals == CURRENCY_EXPONENTS[too_precise["currency"]] + 1
    assert no_currency == {"amount": clean[5]["total"]["amount"], "currency": None}
    unplanted = [i for i in range(SCENARIO.count) if i not in SCENARIO.malformed]
    assert [ORDERS[i] for i in unplanted] == [clean[i] for i in unplanted]


def test_a_million_orders_are_served_lazily_from_any_window() -> None:
    scenario = OrdersScenario(seed=1, start=DAY, count=5_000_000, span=dt.timedelta(days=30))
    orders = GeneratedOrders(scenario)
    middle = 4_321_987
    began = time.monotonic()

    with OrdersGraphQLSandbox(orders, token=TOKEN) as server:
        variables = {"first": 2, "after": None, "from": orders.created_at(middle).isoformat(), "to": None}
        _, _, body = post(server, PAGE_QUERY, variables)

    edges = body["data"]["orders"]["edges"]
    # Several orders share a second at this density: the window starts at the first of them.
    first_in_second = min(
        i for i in range(middle - 5, middle + 1) if orders.created_at(i) == orders.created_at(middle)
    )
    assert [edge["node"]["id"] for edge in edges] == [
        orders.record_key(first_in_second + k) for k in range(2)
    ]
    assert time.monotonic() - began < 5
