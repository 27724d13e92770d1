"""window_timezone: a REST or GraphQL source's window written in the zone its API takes.

The server here plays a mobile-money API that knows East Africa Time only: it filters on local times
without an offset and returns local times. Read with ``window_timezone`` (and ``timezone`` for the
times it returns) the window's payments come back; read in UTC the same window asks for the wrong
three hours.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from pydantic import ValidationError

from recon.records import CanonicalRecord
from recon.spec import SOURCE_TYPES
from recon.window import RunWindow

pytestmark = pytest.mark.integration

CONN = "eat_api"
LOCAL = "%Y-%m-%d %H:%M:%S"
# One payment every 5 minutes of 2026-01-03 from 00:00 East Africa Time (= 2026-01-02 21:00 UTC).
PAYMENTS = [
    {"id": f"pay_{n:02d}", "amount": "100.00", "currency": "KES", "created": f"2026-01-03 00:{5 * n:02d}:00"}
    for n in range(12)
]
# 21:00 to 21:15 UTC is 00:00 to 00:15 in Nairobi: payments 0, 1 and 2.
WINDOW = RunWindow("mm", datetime(2026, 1, 2, 21, 0, tzinfo=UTC), datetime(2026, 1, 2, 21, 15, tzinfo=UTC))


class _EatOnly(BaseHTTPRequestHandler):
    queries: list[dict[str, list[str]]] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        query = parse_qs(urlparse(self.path).query)
        type(self).queries.append(query)
        try:
            since = datetime.strptime(query["from"][0], LOCAL)
            until = datetime.strptime(query["to"][0], LOCAL)
        except (KeyError, ValueError):
            self._send(400, {"error": "from and to are local times, YYYY-MM-DD HH:MM:SS"})
            return
        chosen = [p for p in PAYMENTS if since <= datetime.strptime(p["created"], LOCAL) < until]
        self._send(200, {"payments": chosen})

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_EatOnly]]:
    _EatOnly.queries = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EatOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({"conn_type": "http", "host": host}))
    try:
        yield _EatOnly
    finally:
        server.shutdown()
        server.server_close()


def source(**overrides: Any):
    spec = {
        "type": "rest",
        "name": "payments",
        "connection": CONN,
        "endpoint": "/payments",
        "records_path": "payments",
        "window_params": {"from": f"{{window_start:{LOCAL}}}", "to": f"{{window_end:{LOCAL}}}"},
        "fields": {"record_key": "id", "amount": "amount", "currency": "currency", "occurred_at": "created"},
        "max_retries": 0,
        **overrides,
    }
    return SOURCE_TYPES["rest"].model_validate(spec)


def test_the_window_is_sent_in_the_apis_zone_and_its_payments_come_back(api: type[_EatOnly]) -> None:
    records = list(source(window_timezone="Africa/Nairobi", timezone="Africa/Nairobi").read(WINDOW))

    assert api.queries == [{"from": ["2026-01-03 00:00:00"], "to": ["2026-01-03 00:15:00"]}]
    assert all(isinstance(record, CanonicalRecord) for record in records)
    assert [record.record_key for record in records] == ["pay_00", "pay_01", "pay_02"]
    # Read back in Nairobi time, stored in UTC: inside the UTC window.
    assert [record.occurred_at for record in records] == [
        WINDOW.start + timedelta(minutes=m) for m in (0, 5, 10)
    ]


def test_by_default_the_window_is_written_in_utc(api: type[_EatOnly]) -> None:
    records = list(source(timezone="Africa/Nairobi").read(WINDOW))

    # 21:00 UTC asked of an East Africa Time API: three hours before any of its payments.
    assert api.queries == [{"from": ["2026-01-02 21:00:00"], "to": ["2026-01-02 21:15:00"]}]
    assert records == []


def test_a_plain_placeholder_carries_the_zones_offset_and_epochs_have_no_zone() -> None:
    from recon.sources.rest import _window_values

    params = {"iso": "{window_start}", "epoch": "{window_start_epoch}", "day": "{window_end:%Y-%m-%d}"}
    nairobi = source(window_timezone="Africa/Nairobi", window_params=params)
    values = _window_values(WINDOW, nairobi)

    assert {name: template.format(**values) for name, template in params.items()} == {
        "iso": "2026-01-03T00:00:00+03:00",
        "epoch": str(int(WINDOW.start.timestamp())),
        "day": "2026-01-03",
    }


def test_graphql_arguments_are_written_in_the_window_timezone() -> None:
    graphql = SOURCE_TYPES["graphql"].model_validate(
        {
            "type": "graphql",
            "name": "orders",
            "connection": CONN,
            "root_field": "orders",
            "fields": {"record_key": "id", "amount": "a", "currency": "c", "occurred_at": "t"},
            "arguments": {"since": "{window_start}", "day": ["{window_start:%Y-%m-%d %H:%M}"]},
            "argument_types": {"since": "DateTime!", "day": "[String!]"},
            "window_timezone": "Asia/Kolkata",
        }
    )

    variables = graphql.variables(WINDOW)

    assert (variables["since"], variables["day"]) == ("2026-01-03T02:30:00+05:30", ["2026-01-03 02:30"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {
                "window_timezone": "Africa/Nairobi",
                "window_params": {"from": "{window_start:%Y-%m-%dT%H:%M:%SZ}"},
            },
            "window_params.from: '{window_start:%Y-%m-%dT%H:%M:%SZ}' writes a literal Z (UTC) but"
            " window_timezone is Africa/Nairobi",
        ),
        (
            {"window_timezone": "Africa/Nairobi", "window_params": {"to": "{window_end:%Y-%m-%dT%H:%M:%S}Z"}},
            "window_params.to: '{window_end:%Y-%m-%dT%H:%M:%S}Z' writes a literal Z",
        ),
        ({"window_timezone": "East Africa"}, "unknown time zone 'East Africa'"),
    ],
)
def test_a_window_zone_that_cannot_work_is_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        source(**overrides)

    assert message in str(raised.value)


def test_a_z_literal_is_fine_in_utc_and_an_offset_directive_in_any_zone() -> None:
    utc = source(window_params={"from": "{window_start:%Y-%m-%dT%H:%M:%SZ}"})
    offset = source(
        window_timezone="Africa/Nairobi", window_params={"from": "{window_start:%Y-%m-%dT%H:%M:%S%z}"}
    )

    assert (utc.window_timezone, offset.window_timezone) == ("UTC", "Africa/Nairobi")
