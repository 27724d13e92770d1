"""Benchmark the API extractors against the sandbox servers: records/s at 100 records per page.

    python -m include.bench.extract --records 20000 [--page-size 100] [--repeat 3]

For each API source type (Stripe through the ``stripe`` SDK, generic REST, GraphQL) the sandbox
server runs in a child process (so its CPU is not charged to the client's interpreter) with
``--records`` records in the window, and two readers page through all of them, taking turns:

* ``recon``: the source type's own ``read(window)``, exactly as the DAG runs it (HTTP, retries,
  JSON with exact decimals, mapping into canonical records);
* ``raw``: the floor, a bare ``httpx`` loop over the same pages that parses the JSON and counts the
  items, with no mapping and no checks.

The medians (wall s, records/s, the ratio of recon to raw) are printed as a Markdown table and
written as JSON to ``.demo/bench/extract.json``. Both readers must see every record, or the
benchmark fails.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUTPUT = PROJECT_ROOT / ".demo" / "bench" / "extract.json"
DAY = datetime(2026, 11, 19, tzinfo=UTC)
API_KEY = "sk_test_bench"


@dataclasses.dataclass(frozen=True)
class Case:
    """One source type: how to serve ``n`` records, its spec entry, and the raw reader's paging."""

    name: str
    serve: Callable[[int, int], Any]  # (records, port) -> a started sandbox server
    spec: Callable[[int], dict[str, Any]]  # page size -> the source's spec entry
    raw_pages: Callable[[Any, str, int], Iterator[int]]  # (httpx client, base url, page size) -> items/page
    conn_type: str = "http"


# --- Stripe ---------------------------------------------------------------------------------------------


def _serve_stripe(records: int, port: int) -> Any:
    from include.sandbox.generator import BillingScenario, stripe_charges
    from include.sandbox.stripe_server import StripeSandbox

    scenario = BillingScenario(seed=11, day=DAY.date(), charge_count=records, neighbour_day_charges=0)
    server = StripeSandbox(stripe_charges(scenario), api_key=API_KEY, port=port)
    server.start()
    return server


def _raw_stripe(client: Any, base: str, page_size: int) -> Iterator[int]:
    start, end = int(DAY.timestamp()), int((DAY + timedelta(days=1)).timestamp())
    params: dict[str, Any] = {"limit": page_size, "created[gte]": start, "created[lt]": end}
    while True:
        body = client.get(f"{base}/v1/charges", params=params).json()
        yield len(body["data"])
        if not body["has_more"]:
            return
        params["starting_after"] = body["data"][-1]["id"]


STRIPE = Case(
    name="stripe_charges",
    serve=_serve_stripe,
    spec=lambda page_size: {"type": "stripe_charges", "page_size": page_size},
    raw_pages=_raw_stripe,
    conn_type="generic",
)

# --- REST (the ticketing sandbox, cursor pagination) -------------------------------------------------

_REST_FIELDS = {
    "record_key": "id",
    "amount": "total.value",
    "currency": "total.currency",
    "occurred_at": "created_at",
    "status": "status",
    "customer_email": "buyer.email",
    "group_key": "event.id",
}


def _serve_rest(records: int, port: int) -> Any:
    from include.sandbox.ticketing import TicketingScenario
    from include.sandbox.ticketing_server import TicketingSandbox

    scenario = TicketingScenario(seed=11, start=DAY, end=DAY + timedelta(days=1), count=records)
    server = TicketingSandbox(scenario, token=API_KEY, port=port)
    server.start()
    return server


def _rest_spec(page_size: int) -> dict[str, Any]:
    return {
        "type": "rest",
        "endpoint": "/v3/sales",
        "records_path": "data",
        "window_params": {
            "from": "{window_start:%Y-%m-%dT%H:%M:%SZ}",
            "to": "{window_end:%Y-%m-%dT%H:%M:%SZ}",
        },
        "pagination": {
            "style": "cursor",
            "page_size": page_size,
            "size_param": "limit",
            "cursor_path": "meta.next_cursor",
            "has_more_path": "meta.has_more",
        },
        "fields": _REST_FIELDS,
    }


def _raw_rest(client: Any, base: str, page_size: int) -> Iterator[int]:
    params: dict[str, Any] = {
        "from": "2026-11-19T00:00:00Z",
        "to": "2026-11-20T00:00:00Z",
        "limit": page_size,
    }
    while True:
        body = client.get(f"{base}/v3/sales", params=params).json()
        yield len(body["data"])
        if not body["meta"].get("has_more") or not body["meta"].get("next_cursor"):
            return
        params["cursor"] = body["meta"]["next_cursor"]


REST = Case(name="rest", serve=_serve_rest, spec=_rest_spec, raw_pages=_raw_rest)


# --- GraphQL (the order-management sandbox, Relay cursors) ---------------------------------------------

_ORDERS_QUERY = """
query ($first: Int!, $after: String, $from: DateTime!, $to: DateTime!) {
  orders(first: $first, after: $after, createdFrom: $from, createdTo: $to) {
    edges { node { id total { amount currency } createdAt status customer { email } } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def _serve_graphql(records: int, port: int) -> Any:
    from include.sandbox.graphql_server import OrdersGraphQLSandbox
    from include.sandbox.orders import GeneratedOrders, OrdersScenario

    orders = GeneratedOrders(OrdersScenario(seed=11, start=DAY, count=records))
    server = OrdersGraphQLSandbox(orders, token=API_KEY, port=port)
    server.start()
    return server


def _graphql_spec(page_size: int) -> dict[str, Any]:
    return {
        "type": "graphql",
        "root_field": "orders",
        "page_size": page_size,
        "arguments": {"createdFrom": "{window_start:%Y-%m-%dT%H:%M:%SZ}", "createdTo": "{window_end}"},
        "argument_types": {"createdFrom": "DateTime!", "createdTo": "DateTime!"},
        "fields": {
            "record_key": "id",
            "amount": "total.amount",
            "currency": "total.currency",
            "occurred_at": "createdAt",
            "status": "status",
            "customer_email": "customer.email",
        },
    }


def _raw_graphql(client: Any, base: str, page_size: int) -> Iterator[int]:
    variables: dict[str, Any] = {
        "first": page_size,
        "after": None,
        "from": "2026-11-19T00:00:00Z",
        "to": "2026-11-20T00:00:00Z",
    }
    while True:
        body = client.post(f"{base}/graphql", json={"query": _ORDERS_QUERY, "variables": variables}).json()
        orders = body["data"]["orders"]
        yield len(orders["edges"])
        if not orders["pageInfo"]["hasNextPage"]:
            return
        variables["after"] = orders["pageInfo"]["endCursor"]


GRAPHQL = Case(name="graphql", serve=_serve_graphql, spec=_graphql_spec, raw_pages=_raw_graphql)

CASES: dict[str, Case] = {case.name: case for case in (STRIPE, REST, GRAPHQL)}


# --- the runs -------------------------------------------------------------------------------------------


def _server_process(case_name: str, records: int, ready: Any, stop: Any) -> None:
    server = CASES[case_name].serve(records, 0)
    ready.put(server.base_url)
    stop.wait()
    server.stop()


@contextmanager
def served(case: Case, records: int) -> Iterator[str]:
    """The case's sandbox server in a child process; yields its base URL."""
    context = multiprocessing.get_context("fork")
    ready, stop = context.Queue(), context.Event()
    process = context.Process(target=_server_process, args=(case.name, records, ready, stop), daemon=True)
    process.start()
    try:
        yield ready.get(timeout=300)
    finally:
        stop.set()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def time_recon(case: Case, base_url: str, page_size: int) -> tuple[float, int]:
    from recon.records import CanonicalRecord
    from recon.sources.registry import source_models
    from recon.window import RunWindow

    conn_id = f"bench_{case.name}"
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(
        {"conn_type": case.conn_type, "host": base_url, "password": API_KEY}
    )
    settings = {"name": "bench", "connection": conn_id, **case.spec(page_size)}
    source = source_models()[settings["type"]].model_validate(settings)
    window = RunWindow("bench", DAY, DAY + timedelta(days=1))
    started = time.perf_counter()
    count = sum(isinstance(item, CanonicalRecord) for item in source.read(window))
    return time.perf_counter() - started, count


def time_raw(case: Case, base_url: str, page_size: int) -> tuple[float, int]:
    import httpx

    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(headers=headers, timeout=60) as client:
        started = time.perf_counter()
        count = sum(case.raw_pages(client, base_url, page_size))
        return time.perf_counter() - started, count


def run(records: int, page_size: int, repeat: int, cases: list[str]) -> list[dict[str, Any]]:
    results = []
    for name in cases:
        case = CASES[name]
        timings: dict[str, list[float]] = {"recon": [], "raw": []}
        with served(case, records) as base_url:
            for _ in range(repeat):
                for reader, timer in (("recon", time_recon), ("raw", time_raw)):
                    seconds, count = timer(case, base_url, page_size)
                    if count != records:
                        raise RuntimeError(f"{name}/{reader} read {count} records, expected {records}")
                    timings[reader].append(seconds)
        recon_s, raw_s = statistics.median(timings["recon"]), statistics.median(timings["raw"])
        results.append(
            {
                "source_type": name,
                "records": records,
                "page_size": page_size,
                "recon_s": round(recon_s, 3),
                "recon_records_per_s": round(records / recon_s),
                "raw_s": round(raw_s, 3),
                "raw_records_per_s": round(records / raw_s),
                "recon_share_of_raw": round(raw_s / recon_s, 3),
                "runs": timings,
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    # Airflow (read for connections) keeps its files under the project, never in ~/airflow.
    from include.local_stack import airflow_environment

    os.environ.update(airflow_environment(PROJECT_ROOT / ".airflow" / "bench"))
    load_before = os.getloadavg()
    results = run(args.records, args.page_size, args.repeat, args.cases)
    print("| source type | records | page | recon s | recon rec/s | raw s | raw rec/s | recon/raw |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['source_type']} | {r['records']:,} | {r['page_size']} | {r['recon_s']:.2f} |"
            f" {r['recon_records_per_s']:,} | {r['raw_s']:.2f} | {r['raw_records_per_s']:,} |"
            f" {r['recon_share_of_raw']:.0%} |"
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "results": results,
    }
    args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"full report: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
