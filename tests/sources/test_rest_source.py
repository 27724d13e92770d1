"""The generic REST source against the ticketing sandbox on loopback, through a real Airflow connection."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from include.sandbox.faults import Fault
from include.sandbox.ticketing import TicketingScenario
from include.sandbox.ticketing_server import TicketingSandbox
from recon.extract import extract_source
from recon.records import CanonicalRecord, QuarantinedRecord
from recon.sources import SourceRejected, SourceUnavailable
from recon.spec import SOURCE_TYPES, Spec
from recon.warehouse import airflow_connection
from recon.window import RunWindow

pytestmark = pytest.mark.integration

TOKEN = "tix_rest_source_token"
CONN = "tix"
SCENARIO = TicketingScenario(seed=11, count=40)  # one sale every 36 minutes of 2026-11-19
MALFORMED = TicketingScenario(seed=12, count=30, malformed_every=4)
WINDOW_PARAMS = {"from": "{window_start:%Y-%m-%dT%H:%M:%SZ}", "to": "{window_end:%Y-%m-%dT%H:%M:%SZ}"}
FIELDS = {
    "record_key": "id",
    "amount": "total.value",
    "currency": "total.currency",
    "occurred_at": "created_at",
    "status": "status",
    "customer_email": "buyer.email",
    "group_key": "event.id",
}
STYLES: dict[str, dict[str, Any]] = {
    "page": {"endpoint": "/v1/sales", "records_path": "sales", "pagination": {"style": "page"}},
    "offset": {"endpoint": "/v2/sales", "records_path": "results", "pagination": {"style": "offset"}},
    "cursor": {
        "endpoint": "/v3/sales",
        "records_path": "data",
        "pagination": {
            "style": "cursor",
            "cursor_path": "meta.next_cursor",
            "has_more_path": "meta.has_more",
            "size_param": "limit",
        },
    },
    "link": {"endpoint": "/v4/sales", "pagination": {"style": "link", "size_param": "per_page"}},
    "post": {
        "endpoint": "/v1/sales/search",
        "method": "POST",
        "records_path": "sales",
        "pagination": {"style": "page"},
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[TicketingSandbox]:
    with TicketingSandbox(SCENARIO, token=TOKEN) as running:
        yield running


@pytest.fixture
def api(server: TicketingSandbox, monkeypatch: pytest.MonkeyPatch) -> TicketingSandbox:
    """The sandbox with no faults or logged requests, reached through the connection env var."""
    server.faults.clear()
    server.request_log.clear()
    server.scenario = SCENARIO
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN.upper()}",
        json.dumps({"conn_type": "http", "host": server.base_url, "password": TOKEN}),
    )
    return server


def rest_source(style: str = "page", page_size: int = 5, name: str = "tickets", **overrides: Any):
    options = json.loads(json.dumps(STYLES[style]))
    options["pagination"]["page_size"] = page_size
    spec = {
        "type": "rest",
        "name": name,
        "connection": CONN,
        "fields": FIELDS,
        "attributes": {"event_name": "event.name", "quantity": "quantity"},
        "window_params": WINDOW_PARAMS,
        "timeout_seconds": 0.5,
        "max_retries": 2,
        "backoff_seconds": 0.01,
        "max_backoff_seconds": 0.5,
        **options,
        **overrides,
    }
    return SOURCE_TYPES["rest"].model_validate(spec)


def window(first: int, stop: int, scenario: TicketingScenario = SCENARIO) -> RunWindow:
    """The window from sale ``first``'s time up to (not including) sale ``stop``'s time."""
    return RunWindow("tickets", scenario.created_at(first), scenario.created_at(stop))


def keys(records: list) -> list[str]:
    return [record.record_key for record in records]


def sale_ids(indexes: range) -> list[str]:
    return [f"sale_{index:08d}" for index in indexes]


# --- pagination ---------------------------------------------------------------------------------

CASES = {  # name: (sales in the window, page size)
    "empty": (range(0), 5),
    "exactly_one_page": (range(0, 5), 5),
    "short_last_page": (range(0, 13), 5),
    "many_pages": (range(0, 40), 3),
}


def expected_requests(style: str, count: int, size: int) -> int:
    if style in ("page", "offset", "post"):
        return count // size + 1  # a full last page needs one more (empty) page to know it was last
    return max(1, -(-count // size))  # cursor and link say when there is no next page


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("style", STYLES)
def test_every_pagination_style_reads_each_sale_of_the_window_once(
    api: TicketingSandbox, style: str, case: str
) -> None:
    indexes, size = CASES[case]
    before = RunWindow("tickets", SCENARIO.start - dt.timedelta(days=1), SCENARIO.start)
    run = window(indexes.start, indexes.stop) if indexes else before

    records = list(rest_source(style, page_size=size).read(run))

    assert keys(records) == sale_ids(indexes)
    assert all(isinstance(record, CanonicalRecord) for record in records)
    assert len(api.request_log) == expected_requests(style, len(indexes), size)


def test_origin_names_connection_endpoint_and_page_and_line_is_the_position(api: TicketingSandbox) -> None:
    records = list(rest_source("offset", page_size=5).read(window(0, 13)))

    assert [(r.origin, r.origin_line) for r in records[4:6]] == [
        ("rest://tix/v2/sales?page=1&offset=0", 5),
        ("rest://tix/v2/sales?page=2&offset=5", 1),
    ]
    assert records[-1].origin == "rest://tix/v2/sales?page=3&offset=10"


def test_cursor_origin_carries_the_cursor_of_the_page(api: TicketingSandbox) -> None:
    records = list(rest_source("cursor", page_size=5).read(window(0, 13)))

    assert records[0].origin == "rest://tix/v3/sales?page=1"
    assert records[5].origin.startswith("rest://tix/v3/sales?page=2&cursor=")
    assert records[5].origin != records[10].origin


def test_a_style_without_pagination_reads_one_request(api: TicketingSandbox) -> None:
    source = rest_source(
        "page", endpoint="/v1/sales", pagination={"style": "none"}, params={"per_page": 1000}
    )

    records = list(source.read(window(0, 40)))

    assert keys(records) == sale_ids(range(40))
    assert api.request_log == [
        "GET /v1/sales?per_page=1000&from=2026-11-19T00%3A00%3A00Z&to=2026-11-20T00%3A00%3A00Z"
    ]


# --- window and mapping ---------------------------------------------------------------------------


def test_a_sale_exactly_at_the_window_start_is_in_and_one_exactly_at_the_end_is_out(
    api: TicketingSandbox,
) -> None:
    run = window(3, 8)
    assert run.start == SCENARIO.created_at(3) and run.end == SCENARIO.created_at(8)

    records = list(rest_source("cursor").read(run))

    assert keys(records) == sale_ids(range(3, 8))


def test_a_post_search_carries_window_and_page_in_its_json_body(api: TicketingSandbox) -> None:
    records = list(rest_source("post", page_size=4).read(window(2, 9)))

    assert keys(records) == sale_ids(range(2, 9))
    assert api.request_log == ["POST /v1/sales/search"] * 2  # nothing in the query string


def test_an_api_ignoring_the_window_has_its_other_sales_quarantined_not_loaded(api: TicketingSandbox) -> None:
    source = rest_source("page", window_params={}, pagination={"style": "page", "page_size": 100})

    records = list(source.read(window(10, 12)))

    loaded = [r for r in records if isinstance(r, CanonicalRecord)]
    quarantined = [r for r in records if isinstance(r, QuarantinedRecord)]
    assert keys(loaded) == sale_ids(range(10, 12))
    assert len(quarantined) == 38
    assert quarantined[0].reason == (
        "occurred_at 2026-11-19T00:00:00+00:00 is outside the window "
        "[2026-11-19T06:00:00+00:00, 2026-11-19T07:12:00+00:00)"
    )
    kept = list(
        rest_source("page", window_params={}, out_of_window="keep", page_size=100).read(window(10, 12))
    )
    assert len(kept) == 40 and all(isinstance(r, CanonicalRecord) for r in kept)


def test_nested_paths_map_buyer_event_and_total(api: TicketingSandbox) -> None:
    (record,) = rest_source("link").read(window(7, 8))

    sale = SCENARIO.sale(7)
    assert (record.customer_email, record.group_key, record.status) == (
        sale["buyer"]["email"],
        sale["event"]["id"],
        sale["status"],
    )
    assert record.attributes == {"event_name": sale["event"]["name"], "quantity": sale["quantity"]}
    assert record.amount == Decimal(str(sale["total"]["value"]))
    assert record.occurred_at == dt.datetime(2026, 11, 19, 4, 12, tzinfo=dt.UTC)


def test_zero_and_three_decimal_currencies_and_huge_numbers_stay_exact(api: TicketingSandbox) -> None:
    records = {r.record_key: r for r in rest_source("page").read(window(1, 5))}

    jpy, kwd_text, kwd_number, usd_huge = (records[f"sale_{i:08d}"] for i in range(1, 5))
    assert (jpy.currency, jpy.amount.as_tuple().exponent) == ("JPY", 0)
    assert jpy.amount == SCENARIO.amount(1)
    assert kwd_text.currency == "KWD" and str(kwd_text.amount) == SCENARIO.sale(2)["total"]["value"]
    assert str(kwd_text.amount)[-1] != "0" and kwd_text.amount.as_tuple().exponent == -3
    assert str(kwd_number.amount).endswith("0") and kwd_number.amount.as_tuple().exponent == -3
    assert usd_huge.amount == Decimal("9007199254740993.01")


def test_malformed_sales_are_quarantined_with_a_reason_and_none_is_lost(api: TicketingSandbox) -> None:
    api.scenario = MALFORMED
    run = RunWindow("tickets", MALFORMED.start, MALFORMED.end)

    records = list(rest_source("offset", page_size=7).read(run))

    # Nothing is dropped, so the n-th record is the n-th sale of the window.
    quarantined = {i: r for i, r in enumerate(records) if isinstance(r, QuarantinedRecord)}
    expected = {i: MALFORMED.malformed_kind(i) for i in range(30) if MALFORMED.malformed_kind(i)}
    assert len(records) == 30
    assert sorted(quarantined) == sorted(expected)
    reasons = {expected[i]: quarantined[i].reason for i in expected}
    assert reasons == {
        "missing_total": "currency is missing at 'total.currency'",
        "amount_not_a_number": "amount '12,50' at 'total.value' is not a number",
        "bad_currency": (
            "currency 'EURO' at 'total.currency' is not an ISO 4217 code nor one the spec declares under"
            " currencies (declared: none)"
        ),
        "bad_timestamp": (
            "occurred_at 'yesterday' at 'created_at' is not a timestamp (ISO 8601 or Unix seconds)"
        ),
        "too_many_decimals": "amount '12.505' at 'total.value' has more decimals than EUR allows (2)",
        "missing_id": "record_key is missing at 'id'",
    }
    assert all(quarantined[i].raw["status"] == MALFORMED.sale(i)["status"] for i in expected)


def test_a_page_without_a_list_at_records_path_names_the_path_and_the_page(api: TicketingSandbox) -> None:
    source = rest_source("cursor", records_path="sales")

    with pytest.raises(SourceRejected) as raised:
        list(source.read(window(0, 10)))

    assert str(raised.value) == (
        "connection 'tix': /v3/sales page 1: expected a list of items at records_path 'sales',"
        " found nothing (no such path)"
    )


# --- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize("token, status", [("not-the-token", 401), ("tix_readonly_token", 403)])
def test_refused_credentials_fail_at_once_naming_the_connection(
    api: TicketingSandbox, monkeypatch: pytest.MonkeyPatch, token: str, status: int
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIX", json.dumps({"conn_type": "http", "host": api.base_url, "password": token})
    )

    with pytest.raises(SourceRejected) as raised:
        list(rest_source("page").read(window(0, 10)))

    assert str(raised.value) == (
        f"connection 'tix': GET /v1/sales was refused with HTTP {status}; check the connection's credentials"
    )
    assert len(api.request_log) == 1


def test_429_with_retry_after_is_waited_and_the_page_retried(api: TicketingSandbox) -> None:
    api.faults.inject(Fault(status=429, retry_after=0.3, match="page=2"))
    began = time.monotonic()

    records = list(rest_source("page").read(window(0, 13)))

    assert time.monotonic() - began >= 0.3
    assert keys(records) == sale_ids(range(13))
    assert [line.split("page=")[1][0] for line in api.request_log] == ["1", "2", "2", "3"]


def test_a_server_error_mid_feed_is_retried_and_nothing_is_duplicated(api: TicketingSandbox) -> None:
    api.faults.inject(Fault(status=500, match="offset=5"), Fault(status=503, match="offset=5"))

    records = list(rest_source("offset").read(window(0, 13)))

    assert keys(records) == sale_ids(range(13))
    assert len(api.request_log) == 5


def test_a_response_slower_than_the_timeout_is_retried(api: TicketingSandbox) -> None:
    api.faults.inject(Fault(delay=1.2))

    records = list(rest_source("link").read(window(0, 4)))

    assert keys(records) == sale_ids(range(4))
    assert len(api.request_log) == 2


def test_exhausted_retries_are_source_unavailable_naming_the_connection(api: TicketingSandbox) -> None:
    api.faults.inject(*[Fault(status=502, match="/v3/")] * 3)

    with pytest.raises(SourceUnavailable) as raised:
        list(rest_source("cursor").read(window(0, 4)))

    assert not isinstance(raised.value, SourceRejected)
    assert str(raised.value).startswith(
        "connection 'tix': GET /v3/sales failed after 3 tries; last: HTTP 502"
    )


# --- spec validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"pagination": {"style": "cursor"}}, "pagination style 'cursor' needs cursor_path"),
        (
            {"pagination": {"style": "page", "cursor_path": "meta.next"}},
            "cursor_path does not apply to pagination style 'page'; it takes page_param, page_size",
        ),
        ({"window_params": {"from": "{start:%Y}"}}, "from: unknown placeholder {start}; use window_start"),
        ({"body": {"q": 1}}, "body and params_in: body need method: POST"),
        ({"endpoint": "https://api.example.com/v1/sales"}, "endpoint is a path below the connection's host"),
        ({"pagination": {"style": "pages"}}, "Input should be 'none', 'page', 'offset', 'cursor' or 'link'"),
    ],
    ids=["cursor-needs-path", "stray-option", "placeholder", "body-needs-post", "absolute-endpoint", "style"],
)
def test_a_spec_that_cannot_work_is_refused_with_a_clear_message(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        rest_source("page", **overrides)

    assert message in str(raised.value)


# --- through extract into the warehouse --------------------------------------------------------------

WAREHOUSE_CONN = "recon_test_warehouse"


def ticket_spec() -> Spec:
    return Spec.model_validate(
        {
            "name": "tickets",
            "description": "ticket sales of two API versions",
            "owner": "data-team",
            "schedule": "@daily",
            "warehouse_connection": WAREHOUSE_CONN,
            "sources": [
                rest_source("cursor", name="v3", max_rejected_share="0.5").model_dump(exclude_unset=True),
                rest_source("page", name="v1", max_rejected_share="0.5").model_dump(exclude_unset=True),
            ],
        }
    )


def test_extracting_twice_loads_the_same_rows_once(
    api: TicketingSandbox, warehouse: psycopg.Connection, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{WAREHOUSE_CONN.upper()}", airflow_connection(warehouse_url))
    api.scenario = MALFORMED
    run = RunWindow("tickets", MALFORMED.start, MALFORMED.end)
    spec = ticket_spec()

    first = [extract_source(spec, name, run) for name in ("v3", "v1")]
    second = [extract_source(spec, name, run) for name in ("v3", "v1")]

    rows = warehouse.execute(
        "select source, record_key, amount, currency, origin from staging.records order by source, record_key"
    ).fetchall()
    rejects = warehouse.execute("select source, count(*) from staging.quarantine group by source").fetchall()
    warehouse.rollback()
    bad = sum(1 for i in range(30) if MALFORMED.malformed_kind(i))
    assert first == second
    assert [(r.loaded, r.quarantined) for r in second] == [(30 - bad, bad)] * 2
    assert len(rows) == 2 * (30 - bad) and sorted(rejects) == [("v1", bad), ("v3", bad)]
    amounts = {(source, key): (amount, currency) for source, key, amount, currency, _ in rows}
    assert amounts[("v1", "sale_00000004")] == (Decimal("9007199254740993.01"), "USD")
    assert amounts[("v3", "sale_00000002")] == (MALFORMED.amount(2), "KWD")
