"""The GraphQL source against the order-management sandbox on loopback, through a real connection."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from include.sandbox.faults import Fault
from include.sandbox.graphql_server import OrdersGraphQLSandbox
from include.sandbox.orders import CURRENCY_EXPONENTS, GeneratedOrders, OrdersScenario
from recon.extract import extract_source
from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources import SourceRejected, SourceUnavailable
from recon.sources.graphql import GraphQLSource
from recon.spec import SpecError, load_spec
from recon.warehouse import airflow_connection
from recon.window import RunWindow

pytestmark = pytest.mark.integration  # a real GraphQL server on loopback (and the warehouse for extract)

TOKEN = "oms_source_test_token"
DAY = dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
WINDOW = RunWindow("oms_orders", DAY, DAY + dt.timedelta(days=1))
MAPPING: dict[str, Any] = {
    "record_key": "id",
    "amount": "total.amount",
    "currency": "total.currency",
    "occurred_at": "createdAt",
    "status": "status",
    "customer_email": "customer.email",
}
WINDOW_ARGUMENTS = {
    "arguments": {"createdFrom": "{window_start:%Y-%m-%dT%H:%M:%SZ}", "createdTo": "{window_end}"},
    "argument_types": {"createdFrom": "DateTime!", "createdTo": "DateTime!"},
}

NO_ARGUMENTS: dict[str, Any] = {"arguments": {}, "argument_types": {}}

Serve = Callable[..., OrdersGraphQLSandbox]


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """Start a sandbox with the given orders and point connection ``oms`` at it."""
    running: list[OrdersGraphQLSandbox] = []

    def start(orders: Sequence[dict], path: str = "/graphql") -> OrdersGraphQLSandbox:
        server = OrdersGraphQLSandbox(orders, token=TOKEN, path=path)
        server.start()
        running.append(server)
        conn = {"conn_type": "http", "host": server.base_url, "password": TOKEN}
        monkeypatch.setenv("AIRFLOW_CONN_OMS", json.dumps(conn))
        return server

    yield start
    for server in running:
        server.stop()


def source(**settings: Any) -> GraphQLSource:
    spec: dict[str, Any] = {
        "name": "oms",
        "type": "graphql",
        "connection": "oms",
        "root_field": "orders",
        "fields": MAPPING,
        "backoff_seconds": 0.01,
        "max_retries": 3,
        **WINDOW_ARGUMENTS,
    }
    return GraphQLSource.model_validate({**spec, **settings})


def orders(count: int, seed: int = 7, **scenario: Any) -> GeneratedOrders:
    return GeneratedOrders(OrdersScenario(seed=seed, start=DAY, count=count, **scenario))


def keys(items: list[CanonicalRecord | QuarantinedRecord]) -> list[str | None]:
    return [item.record_key for item in items]


def test_an_empty_window_yields_nothing_after_one_request(serve: Serve) -> None:
    server = serve(orders(5))
    next_day = RunWindow("oms_orders", WINDOW.end, WINDOW.end + dt.timedelta(days=1))

    assert list(source().read(next_day)) == []
    assert len(server.request_log) == 1


def test_exactly_one_full_page_takes_one_request(serve: Serve) -> None:
    data = orders(10)
    server = serve(data)

    records = list(source(page_size=10).read(WINDOW))

    assert keys(records) == [order["id"] for order in data]
    assert {record.origin for record in records} == {"graphql://oms/graphql?page=1"}
    assert len(server.request_log) == 1


def test_a_short_last_page_ends_paging_and_origins_name_page_and_position(serve: Serve) -> None:
    data = orders(7)
    server = serve(data)

    records = list(source(page_size=3).read(WINDOW))

    assert keys(records) == [order["id"] for order in data]
    assert [(r.origin.rsplit("=", 1)[1], r.origin_line) for r in records] == [
        ("1", 1), ("1", 2), ("1", 3), ("2", 1), ("2", 2), ("2", 3), ("3", 1),
    ]  # fmt: skip
    assert len(server.request_log) == 3


def test_many_pages_follow_each_end_cursor(serve: Serve) -> None:
    data = orders(250)
    server = serve(data)

    records = list(source(page_size=10).read(WINDOW))

    assert keys(records) == [order["id"] for order in data]
    cursors = [entry.variables["after"] for entry in server.request_log]
    assert len(cursors) == 25 and cursors[0] is None
    assert len(set(cursors[1:])) == 24 and None not in cursors[1:]
    assert {entry.variables["first"] for entry in server.request_log} == {10}


def test_the_window_is_half_open_and_sent_as_typed_variables(serve: Serve) -> None:
    data = orders(48, span=dt.timedelta(days=2))  # one order an hour over two days
    server = serve(data)
    window = RunWindow("oms_orders", data.created_at(5), data.created_at(29))

    records = list(source(page_size=7).read(window))

    assert keys(records) == [data.record_key(i) for i in range(5, 29)]  # start in, end out
    assert server.request_log[0].variables == {
        "createdFrom": "2026-11-19T05:00:00Z",
        "createdTo": "2026-11-20T05:00:00+00:00",
        "first": 7,
        "after": None,
    }
    assert "$createdFrom: DateTime!" in (server.request_log[0].query or "")


def test_nodes_outside_the_window_are_quarantined_unless_kept(serve: Serve) -> None:
    data = orders(8, span=dt.timedelta(days=2))  # four orders on the window's day, four on the next
    serve(data)
    no_upper_bound = {
        "arguments": {"createdFrom": "{window_start}"},
        "argument_types": {"createdFrom": "DateTime"},
    }

    guarded = list(source(**no_upper_bound).read(WINDOW))
    kept = list(source(**no_upper_bound, out_of_window="keep").read(WINDOW))

    assert [type(item).__name__ for item in guarded] == ["CanonicalRecord"] * 4 + ["QuarantinedRecord"] * 4
    assert guarded[4].reason == (
        "occurred_at 2026-11-20T00:00:00+00:00 is outside the window "
        "[2026-11-19T00:00:00+00:00, 2026-11-20T00:00:00+00:00)"
    )
    assert (guarded[4].record_key, guarded[4].raw["id"]) == (data.record_key(4), data.record_key(4))
    assert keys(kept) == [order["id"] for order in data]
    assert all(isinstance(item, CanonicalRecord) for item in kept)


def test_window_placeholders_fill_strings_at_any_depth_and_epochs_as_integers() -> None:
    spec = source(
        arguments={
            "since": "{window_start:%Y-%m-%d}",
            "until": "{window_end}",
            "range": {
                "from": "{window_start_epoch}",
                "to": ["{window_end_epoch}", "until {window_end:%H:%M}"],
            },
            "limit": 5,
        },
        argument_types={"since": "Date!", "until": "DateTime!", "range": "EpochRange", "limit": "Int"},
    )

    assert spec.variables(WINDOW) == {
        "since": "2026-11-19",
        "until": "2026-11-20T00:00:00+00:00",
        "range": {"from": int(WINDOW.start.timestamp()), "to": [int(WINDOW.end.timestamp()), "until 00:00"]},
        "limit": 5,
        "first": 100,
        "after": None,
    }


def test_nested_paths_and_a_nested_root_field_map_into_the_record(serve: Serve) -> None:
    data = orders(6)
    serve(data)
    nested = source(
        root_field="shop.orders",
        items="nodes",
        attributes={"first_sku": "lines.0.sku", "first_quantity": "lines.0.quantity", "channel": "channel"},
    )

    records = list(nested.read(WINDOW))

    for record, order in zip(records, data, strict=True):
        assert isinstance(record, CanonicalRecord)
        assert (record.customer_email, record.status) == (order["customer"]["email"], order["status"])
        assert record.occurred_at == dt.datetime.fromisoformat(order["createdAt"])
        assert record.attributes == {
            "first_sku": order["lines"][0]["sku"],
            "first_quantity": order["lines"][0]["quantity"],
            "channel": order["channel"],
        }


def test_zero_and_three_decimal_currencies_stay_exact(serve: Serve) -> None:
    # Amounts no float can hold: a 17-digit KWD total and a JPY total past 2**53.
    generated = orders(20)
    planted = [("12345678901234.567", "KWD"), ("0.001", "KWD"), ("9007199254740993", "JPY"), ("1", "JPY")]
    data = [
        *(
            {**generated[i], "total": {"amount": amount, "currency": currency}}
            for i, (amount, currency) in enumerate(planted)
        ),
        *generated[4:],
    ]
    serve(data)

    records = list(source(page_size=6).read(WINDOW))

    assert [r.amount for r in records[:4]] == [
        Decimal("12345678901234.567"), Decimal("0.001"), Decimal("9007199254740993"), Decimal("1"),
    ]  # fmt: skip
    for record, order in zip(records, data, strict=True):
        assert isinstance(record, CanonicalRecord) and isinstance(record.amount, Decimal)
        assert (record.amount, record.currency) == (
            Decimal(order["total"]["amount"]),
            order["total"]["currency"],
        )
        assert -record.amount.as_tuple().exponent == CURRENCY_EXPONENTS[record.currency]
    assert {"JPY", "KWD"} <= {record.currency for record in records[4:]}


@pytest.mark.parametrize("items", ["edges", "nodes"])
def test_only_the_mapped_fields_are_requested(serve: Serve, items: str) -> None:
    server = serve(orders(3))
    spec = source(items=items, attributes={"first_sku": "lines.0.sku"})

    list(spec.read(WINDOW))

    node = "orders.edges.node" if items == "edges" else "orders.nodes"
    mapped = {"id", "total.amount", "total.currency", "createdAt", "status", "customer.email", "lines.sku"}
    assert server.request_log[0].selected == {f"{node}.{path}" for path in mapped} | {
        "orders.pageInfo.hasNextPage",
        "orders.pageInfo.endCursor",
    }


def test_graphql_errors_fail_at_once_with_the_servers_message(serve: Serve) -> None:
    server = serve(orders(3))
    asks_for_unknown = source(attributes={"gift": "giftMessage"})

    with pytest.raises(SourceRejected) as raised:
        list(asks_for_unknown.read(WINDOW))

    column = asks_for_unknown.page_query().index("giftMessage") + 1
    assert str(raised.value) == (
        "connection 'oms': /graphql page 1: GraphQL errors: "
        f'Cannot query field "giftMessage" on type "Order". (line 1, column {column})'
    )
    assert len(server.request_log) == 1


def test_an_execution_error_names_its_path(serve: Serve) -> None:
    serve(orders(3))

    with pytest.raises(SourceRejected) as raised:
        list(source(page_size=1000, root_field="shop.orders").read(WINDOW))

    assert "first must be between 1 and 250, got 1000. at shop.orders" in str(raised.value)


def test_an_internal_error_in_the_response_is_retryable_not_permanent(serve: Serve) -> None:
    server = serve(orders(3))
    error = {"message": "orders backend timed out", "path": ["orders"], "extensions": {"code": "INTERNAL"}}
    server.faults.inject(Fault(status=200, body=json.dumps({"errors": [error], "data": None})))

    with pytest.raises(SourceUnavailable) as raised:
        list(source().read(WINDOW))

    assert not isinstance(raised.value, SourceRejected)
    assert str(raised.value).endswith("GraphQL errors: orders backend timed out at orders")


def test_data_without_the_root_field_fails_naming_the_path(serve: Serve) -> None:
    server = serve(orders(3))
    server.faults.inject(Fault(status=200, body=json.dumps({"data": {"shop": None}})))

    with pytest.raises(SourceRejected) as raised:
        list(source(root_field="shop.orders").read(WINDOW))

    assert str(raised.value) == (
        "connection 'oms': /graphql page 1: the response has no 'shop.orders' (root_field): "
        "data.shop is missing or null; data holds ['shop']"
    )


def test_a_wrong_token_fails_at_once_with_401(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    server = serve(orders(3))
    monkeypatch.setenv(
        "AIRFLOW_CONN_OMS",
        json.dumps({"conn_type": "http", "host": server.base_url, "password": "wrong-token"}),
    )
    began = time.monotonic()

    with pytest.raises(SourceRejected) as raised:
        list(source().read(WINDOW))

    assert "HTTP 401" in str(raised.value) and "'oms'" in str(raised.value)
    assert "wrong-token" not in str(raised.value)
    assert [entry.status for entry in server.request_log] == [401]
    assert time.monotonic() - began < 5


def test_rate_limits_and_server_errors_are_retried(serve: Serve) -> None:
    data = orders(5)
    server = serve(data)
    server.faults.inject(Fault(status=429, retry_after=0.05), Fault(status=500), Fault(status=503))

    records = list(source(page_size=2).read(WINDOW))

    assert keys(records) == [order["id"] for order in data]
    assert [entry.status for entry in server.request_log] == [429, 500, 503, 200, 200, 200]


def test_retries_that_run_out_are_source_unavailable(serve: Serve) -> None:
    server = serve(orders(5))
    server.faults.inject(*[Fault(status=500)] * 4)

    with pytest.raises(SourceUnavailable) as raised:
        list(source(max_retries=3).read(WINDOW))

    assert not isinstance(raised.value, SourceRejected)
    assert "failed after 4 tries" in str(raised.value)
    assert len(server.request_log) == 4


def test_malformed_items_are_quarantined_with_reason_and_origin(serve: Serve) -> None:
    data = orders(9, malformed=frozenset({3, 4, 5}))
    serve(data)

    items = list(source(page_size=4).read(WINDOW))

    rejected = [item for item in items if isinstance(item, QuarantinedRecord)]
    assert len(items) == 9
    assert [(q.record_key, q.origin, q.origin_line) for q in rejected] == [
        (data.record_key(3), "graphql://oms/graphql?page=1", 4),
        (data.record_key(4), "graphql://oms/graphql?page=2", 1),
        (data.record_key(5), "graphql://oms/graphql?page=2", 2),
    ]
    assert "is not a number" in rejected[0].reason and "'total.amount'" in rejected[0].reason
    assert "has more decimals than" in rejected[1].reason
    assert rejected[2].reason == "currency is missing at 'total.currency'"
    assert rejected[2].raw["id"] == data.record_key(5)


def test_an_edge_without_a_node_is_quarantined_not_dropped(serve: Serve) -> None:
    server = serve(orders(1))
    page = {"edges": [{"cursor": "c1", "node": None}], "pageInfo": {"hasNextPage": False, "endCursor": "c1"}}
    server.faults.inject(Fault(status=200, body=json.dumps({"data": {"orders": page}})))

    (item,) = list(source().read(WINDOW))

    assert isinstance(item, QuarantinedRecord)
    assert (item.reason, item.raw, item.origin_line) == ("edge has no node object", page["edges"][0], 1)


def test_a_given_query_is_sent_as_written(serve: Serve) -> None:
    data = orders(4)
    server = serve(data, path="/api/2026-01/graphql")
    query = """
        query Mine($first: Int!, $after: String, $since: DateTime) {  # aliases are the user's business
          orders(first: $first, after: $after, createdFrom: $since) {
            edges { node { id total { amount currency } createdAt status customer { email } } }
            pageInfo { hasNextPage endCursor }
          }
        }"""
    given = source(
        query=query,
        endpoint="/api/2026-01/graphql",
        arguments={"since": "{window_start}"},
        argument_types={},
        page_size=3,
    )

    records = list(given.read(WINDOW))

    assert keys(records) == [order["id"] for order in data]
    assert [entry.query for entry in server.request_log] == [query, query]
    assert records[-1].origin == "graphql://oms/api/2026-01/graphql?page=2"


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"root_field": "shop.orders-v2"}, "root_field 'shop.orders-v2': 'orders-v2' is not a GraphQL name"),
        (
            {"arguments": {"first": 5}, "argument_types": {"first": "Int"}},
            "argument 'first' is set by the source",
        ),
        ({"arguments": {"created-from": "x"}}, "argument 'created-from' is not a GraphQL name"),
        (
            {"arguments": {"since": "{today}"}, "argument_types": {"since": "Date"}},
            "unknown placeholder {today}",
        ),
        ({"arguments": {"since": "{window_start}"}, "argument_types": {}}, "must give the GraphQL type of"),
        ({"argument_types": {"createdFrom": "DateTime!!", "createdTo": "DateTime"}}, "is not a GraphQL type"),
        ({"attributes": {"total": "total"}}, "'total' is mapped both as a value and as an object"),
        ({"endpoint": "https://oms.example.com/graphql"}, "must be a path like /graphql"),
        (
            {"query": "query { orders { pageInfo { hasNextPage endCursor } } }", **NO_ARGUMENTS},
            "must declare the variables ['$first', '$after']",
        ),
        (
            {
                "query": "query ($first: Int!, $after: String) { orders { edges { node { id } } } }",
                **NO_ARGUMENTS,
            },
            "must select pageInfo { hasNextPage endCursor }",
        ),
        (
            {"query": "query ($first: Int!, $after: String) { x }", "arguments": {}},
            "argument_types is for built queries",
        ),
    ],
    ids=[
        "root-field",
        "reserved-argument",
        "argument-name",
        "placeholder",
        "untyped-argument",
        "type-syntax",
        "path-conflict",
        "endpoint",
        "query-variables",
        "query-page-info",
        "query-with-types",
    ],
)
def test_bad_settings_fail_when_the_spec_loads(settings: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError) as raised:
        source(**settings)

    assert problem in str(raised.value)


SPEC_YAML = """\
name: oms_orders
description: The OMS's orders, read twice over GraphQL.
owner: data-team
schedule: "@daily"
warehouse_connection: recon_test_warehouse
sources:
  - name: orders
    type: graphql
    connection: oms
    root_field: orders
    page_size: 4
    backoff_seconds: 0.01
    arguments:
      createdFrom: "{window_start:%Y-%m-%dT%H:%M:%SZ}"
      createdTo: "{window_end:%Y-%m-%dT%H:%M:%SZ}"
    argument_types: {createdFrom: "DateTime!", createdTo: "DateTime!"}
    fields: {record_key: id, amount: total.amount, currency: total.currency, occurred_at: createdAt}
    attributes: {channel: channel}
    max_rejected_share: 0.5
  - name: shop_orders
    type: graphql
    connection: oms
    root_field: shop.orders
    items: nodes
    page_size: 100
    arguments: {createdFrom: "{window_start}", createdTo: "{window_end}"}
    argument_types: {createdFrom: DateTime, createdTo: DateTime}
    fields: {record_key: number, amount: total.amount, currency: total.currency, occurred_at: createdAt}
    max_rejected_share: 0.5
"""


def test_a_rerun_through_extract_source_replaces_rather_than_adds(
    serve: Serve,
    warehouse: psycopg.Connection,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_RECON_TEST_WAREHOUSE", airflow_connection(warehouse_url))
    serve(orders(30, malformed=frozenset({2, 9})))
    (tmp_path / "oms_orders.yml").write_text(SPEC_YAML)
    spec = load_spec(tmp_path / "oms_orders.yml")

    results = [extract_source(spec, name, WINDOW) for _ in range(2) for name in ("orders", "shop_orders")]

    assert [(r.source, r.loaded, r.quarantined) for r in results] == [
        ("orders", 28, 2), ("shop_orders", 28, 2), ("orders", 28, 2), ("shop_orders", 28, 2),
    ]  # fmt: skip
    rows = warehouse.execute(
        "select source, count(*), count(distinct record_key) from staging.records group by source"
        " union all select 'quarantine:' || source, count(*), count(distinct record_key)"
        " from staging.quarantine group by source order by 1"
    ).fetchall()
    warehouse.rollback()
    assert rows == [
        ("orders", 28, 28),
        ("quarantine:orders", 2, 2),
        ("quarantine:shop_orders", 2, 2),
        ("shop_orders", 28, 28),
    ]


def test_a_bad_graphql_source_in_a_spec_file_names_the_field_and_line(tmp_path: Path) -> None:
    path = tmp_path / "oms_orders.yml"
    path.write_text(SPEC_YAML.replace("root_field: shop.orders", "root_field: shop..orders"))

    with pytest.raises(SpecError) as raised:
        load_spec(path)

    line = SPEC_YAML.splitlines().index("    root_field: shop.orders") + 1
    assert f"field 'sources.1.root_field' (line {line})" in str(raised.value)
    assert "'' is not a GraphQL name" in str(raised.value)
