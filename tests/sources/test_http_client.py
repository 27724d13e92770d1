"""The JSON HTTP client of the REST/GraphQL sources against the ticketing sandbox on loopback."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from email.utils import format_datetime

import pytest

from include.sandbox.faults import Fault
from include.sandbox.ticketing import TicketingScenario
from include.sandbox.ticketing_server import TicketingSandbox
from recon.sources import SourceRejected, SourceUnavailable
from recon.sources.http import HttpSettings, JsonClient, client_for
from recon.sources.http import _retry_after as retry_after

pytestmark = pytest.mark.integration

TOKEN = "tix_secret_token_for_tests"
CONN = "tix_http"
FAST = HttpSettings(timeout_seconds=0.5, max_retries=2, backoff_seconds=0.01, max_backoff_seconds=0.05)


@pytest.fixture(scope="module")
def server() -> Iterator[TicketingSandbox]:
    with TicketingSandbox(TicketingScenario(count=12), token=TOKEN) as running:
        yield running


@pytest.fixture(autouse=True)
def fresh(server: TicketingSandbox) -> None:
    server.faults.clear()
    server.request_log.clear()


def connect(monkeypatch: pytest.MonkeyPatch, settings: HttpSettings = FAST, **conn: object) -> JsonClient:
    fields = {"conn_type": "http", **conn}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(fields))
    return client_for(CONN, settings)


@pytest.fixture
def client(server: TicketingSandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[JsonClient]:
    with connect(monkeypatch, host=server.base_url, password=TOKEN) as opened:
        yield opened


@pytest.mark.parametrize(
    "extra, login",
    [
        ({}, None),  # a password alone means bearer
        ({"auth": "bearer"}, None),
        ({"auth": "api_key", "header": "X-Api-Key"}, None),
        ({"auth": "api_key", "query_param": "api_key"}, None),
        ({"auth": "basic"}, "recon"),
    ],
    ids=["default-bearer", "bearer", "api-key-header", "api-key-query", "basic"],
)
def test_each_auth_style_of_the_connection_is_accepted(
    server: TicketingSandbox, monkeypatch: pytest.MonkeyPatch, extra: dict, login: str | None
) -> None:
    with connect(monkeypatch, host=server.base_url, password=TOKEN, login=login, extra=extra) as client:
        response = client.request("GET", "/v1/sales", params={"per_page": 2})

    assert response.status == 200
    assert [sale["id"] for sale in response.body["sales"]] == ["sale_00000000", "sale_00000001"]
    assert TOKEN not in response.url


def test_host_without_scheme_takes_schema_and_port(server: TicketingSandbox, monkeypatch) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    with connect(monkeypatch, host=host, port=int(port), schema="http", password=TOKEN) as client:
        response = client.request("GET", "v2/sales", params={"limit": 1})

    assert response.body["total"] == 12


def test_static_headers_from_extra_are_sent(server: TicketingSandbox, monkeypatch) -> None:
    extra = {"auth": "none", "headers": {"X-Api-Key": TOKEN}}
    with connect(monkeypatch, host=server.base_url, extra=extra) as client:
        response = client.request("GET", "/v1/sales")

    assert len(response.body["sales"]) == 12


def test_json_numbers_are_decimals_with_every_digit(client: JsonClient) -> None:
    response = client.request("GET", "/v1/sales", params={"per_page": 5})

    totals = [sale["total"]["value"] for sale in response.body["sales"]]
    assert totals[3] == Decimal("993.660") and str(totals[3]) == "993.660"
    assert totals[4] == Decimal("9007199254740993.01")
    assert not any(isinstance(value, float) for value in totals)


@pytest.mark.parametrize("token, status", [("wrong-token", 401), ("tix_readonly_token", 403)])
def test_refused_credentials_fail_at_once_naming_connection_and_path_not_the_secret(
    server: TicketingSandbox, monkeypatch: pytest.MonkeyPatch, token: str, status: int
) -> None:
    with (
        connect(monkeypatch, host=server.base_url, password=token) as client,
        pytest.raises(SourceRejected) as raised,
    ):
        client.request("GET", "/v1/sales", params={"page": 1})

    message = str(raised.value)
    assert f"connection {CONN!r}" in message and "GET /v1/sales" in message and f"HTTP {status}" in message
    assert token not in message
    assert len(server.request_log) == 1


def test_a_bad_request_is_rejected_with_status_and_body_excerpt(
    client: JsonClient, server: TicketingSandbox
) -> None:
    with pytest.raises(SourceRejected) as raised:
        client.request("GET", "/v1/sales", params={"nonsense": "1"})

    assert "HTTP 400" in str(raised.value) and "unknown parameter 'nonsense'" in str(raised.value)
    assert len(server.request_log) == 1


def test_429_waits_for_retry_after_seconds_then_succeeds(
    server: TicketingSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.faults.inject(Fault(status=429, retry_after=0.3))
    patient = FAST.model_copy(update={"max_backoff_seconds": 1})
    began = time.monotonic()

    with connect(monkeypatch, patient, host=server.base_url, password=TOKEN) as client:
        response = client.request("GET", "/v1/sales")

    assert time.monotonic() - began >= 0.3
    assert len(response.body["sales"]) == 12
    assert len(server.request_log) == 2


def test_a_retry_after_beyond_the_cap_waits_only_the_cap(
    client: JsonClient, server: TicketingSandbox
) -> None:
    server.faults.inject(Fault(status=429, retry_after=30))
    began = time.monotonic()

    response = client.request("GET", "/v1/sales")

    assert time.monotonic() - began < 2  # FAST caps every wait at 0.05 s
    assert response.status == 200


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    from datetime import UTC, datetime, timedelta

    in_two_seconds = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    long_ago = format_datetime(datetime(2000, 1, 1, tzinfo=UTC), usegmt=True)

    assert retry_after("0.25") == 0.25
    # HTTP dates have whole seconds: between one and two seconds from now.
    assert 0.9 <= retry_after(in_two_seconds) <= 2.0
    assert retry_after(long_ago) == 0
    assert retry_after("soon") is None


def test_a_server_error_is_retried_then_succeeds(client: JsonClient, server: TicketingSandbox) -> None:
    server.faults.inject(Fault(status=500), Fault(status=502))

    response = client.request("GET", "/v1/sales")

    assert response.status == 200
    assert len(server.request_log) == 3


@pytest.mark.parametrize("fault", [Fault(delay=1.5), Fault(drop=True)], ids=["slow", "dropped"])
def test_a_slow_or_dropped_response_is_retried(client: JsonClient, server: TicketingSandbox, fault) -> None:
    server.faults.inject(fault)

    response = client.request("GET", "/v1/sales")

    assert len(response.body["sales"]) == 12
    assert len(server.request_log) == 2


def test_exhausted_retries_are_source_unavailable_naming_connection_and_tries(
    client: JsonClient, server: TicketingSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    server.faults.inject(*[Fault(status=503)] * 3)

    with (
        caplog.at_level(logging.WARNING, logger="recon.sources.http"),
        pytest.raises(SourceUnavailable) as raised,
    ):
        client.request("GET", "/v1/sales")

    assert not isinstance(raised.value, SourceRejected)
    assert str(raised.value).startswith(
        f"connection {CONN!r}: GET /v1/sales failed after 3 tries; last: HTTP 503"
    )
    retries = [record.getMessage() for record in caplog.records]
    assert len(retries) == 2 and all("retry" in line for line in retries)
    assert not any(TOKEN in line for line in retries)


def test_a_refused_connection_is_unavailable_after_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    with (
        connect(monkeypatch, host=f"http://127.0.0.1:{port}", password=TOKEN) as client,
        pytest.raises(SourceUnavailable) as raised,
    ):
        client.request("GET", "/v1/sales")

    assert "failed after 3 tries; last: connection failed (ConnectError" in str(raised.value)


def test_a_body_that_is_not_json_is_rejected_with_an_excerpt(
    client: JsonClient, server: TicketingSandbox
) -> None:
    server.faults.inject(Fault(status=200, body="<html>maintenance page</html>"))

    with pytest.raises(SourceRejected) as raised:
        client.request("GET", "/v1/sales")

    assert "but not JSON: <html>maintenance page</html>" in str(raised.value)


def test_an_absolute_url_on_another_host_is_refused_before_sending(
    client: JsonClient, server: TicketingSandbox
) -> None:
    with pytest.raises(SourceRejected) as raised:
        client.request("GET", "http://localhost.invalid/v1/sales")

    assert "not the connection's host" in str(raised.value)
    assert server.request_log == []


def test_an_undefined_connection_or_unknown_auth_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SourceRejected) as undefined:
        client_for("no_such_connection_anywhere", FAST)
    with pytest.raises(SourceRejected) as unknown:
        connect(monkeypatch, host="http://127.0.0.1:1", password=TOKEN, extra={"auth": "oauth"})

    assert str(undefined.value) == "connection 'no_such_connection_anywhere' is not defined"
    assert str(unknown.value) == (
        f"connection {CONN!r}: extra auth 'oauth' is not one of bearer, api_key, basic, none"
    )


def test_an_error_page_echoing_the_key_is_scrubbed_from_errors_and_logs(
    client: JsonClient, server: TicketingSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    echo = json.dumps({"error": f"bad gateway for Authorization: Bearer {TOKEN}"})
    server.faults.inject(*[Fault(status=502, body=echo)] * 3)

    with caplog.at_level(logging.WARNING), pytest.raises(SourceUnavailable) as raised:
        client.request("GET", "/v1/sales")

    assert "Authorization: Bearer ***" in str(raised.value)
    assert TOKEN not in str(raised.value) and TOKEN not in caplog.text
