"""Command line for the sandbox: ``serve`` the local peers, or ``generate`` a day's files to disk.

python -m include.sandbox serve --day 2026-11-19 --seed 7 --data-dir .demo/sandbox
python -m include.sandbox generate --day 2026-11-19 --seed 7 --out .demo/generated
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from include.sandbox import generator

PAYMENTS_EXPORT_DIR = Path("exports/payments")  # relative to the SFTP root


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    scenario = generator.BillingScenario(seed=args.seed, day=args.day)
    if args.command == "generate":
        return _generate(scenario, args.out)
    return _serve(scenario, args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m include.sandbox", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the Stripe, SFTP and alert sandboxes until stopped")
    _add_scenario_args(serve)
    serve.add_argument("--data-dir", type=Path, default=Path(".demo/sandbox"))
    serve.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0 inside a container)")
    serve.add_argument("--stripe-port", type=int, default=12111)
    serve.add_argument("--sftp-port", type=int, default=2222)
    serve.add_argument("--receiver-port", type=int, default=8099)
    serve.add_argument("--ticketing-port", type=int, default=12112, help="the ticketing REST API")
    serve.add_argument("--graphql-port", type=int, default=12113, help="the order-management GraphQL API")
    serve.add_argument("--sales", type=int, default=500, help="ticket sales and orders in the day")
    serve.add_argument(
        "--sftp-password",
        default=os.environ.get("RECON_SANDBOX_SFTP_PASSWORD", "sandbox"),
        help="defaults to $RECON_SANDBOX_SFTP_PASSWORD, else 'sandbox'",
    )

    generate = commands.add_parser("generate", help="write the CSV, charges.json and expected_breaks.json")
    _add_scenario_args(generate)
    generate.add_argument("--out", type=Path, required=True)
    return parser


def _add_scenario_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--day", type=dt.date.fromisoformat, required=True, help="YYYY-MM-DD")
    parser.add_argument("--seed", type=int, default=7)


def _generate(scenario: generator.BillingScenario, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    rows = generator.write_payments_csv(scenario, out / generator.payments_file_name(scenario.day))
    charges = generator.stripe_charges(scenario)
    (out / "charges.json").write_text(json.dumps(charges, indent=2) + "\n", encoding="utf-8")
    breaks = sorted(
        (dataclasses.asdict(b) for b in generator.injected_breaks(scenario)), key=lambda b: b["record_key"]
    )
    (out / "expected_breaks.json").write_text(json.dumps(breaks, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {rows} CSV rows, {len(charges)} charges and {len(breaks)} expected breaks to {out}")
    return 0


def _serve(scenario: generator.BillingScenario, args: argparse.Namespace) -> int:
    # Imported here so `generate` works without the server dependencies.
    from include.sandbox.alert_receiver import AlertReceiver
    from include.sandbox.graphql_server import OrdersGraphQLSandbox
    from include.sandbox.orders import GeneratedOrders, OrdersScenario
    from include.sandbox.sftp_server import SftpSandbox
    from include.sandbox.stripe_server import StripeSandbox
    from include.sandbox.ticketing import TicketingScenario
    from include.sandbox.ticketing_server import TicketingSandbox

    sftp_root = args.data_dir / "sftp"
    csv_path = sftp_root / PAYMENTS_EXPORT_DIR / generator.payments_file_name(scenario.day)
    rows = generator.write_payments_csv(scenario, csv_path)

    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())

    stripe = StripeSandbox(generator.stripe_charges(scenario), host=args.host, port=args.stripe_port)
    sftp = SftpSandbox(sftp_root, password=args.sftp_password, host=args.host, port=args.sftp_port)
    receiver = AlertReceiver(args.data_dir / "alerts.jsonl", host=args.host, port=args.receiver_port)
    start = dt.datetime.combine(scenario.day, dt.time(), tzinfo=dt.UTC)
    tickets = TicketingScenario(
        seed=scenario.seed, start=start, end=start + dt.timedelta(days=1), count=args.sales
    )
    ticketing = TicketingSandbox(tickets, host=args.host, port=args.ticketing_port)
    orders = GeneratedOrders(OrdersScenario(seed=scenario.seed, start=start, count=args.sales))
    graphql = OrdersGraphQLSandbox(orders, host=args.host, port=args.graphql_port)
    with stripe, sftp, receiver, ticketing, graphql:
        print(f"scenario: day={scenario.day} seed={scenario.seed}, {rows} CSV rows at {csv_path}")
        print(f"stripe:   {stripe.base_url}  (api key sk_test_sandbox)")
        print(f"sftp:     {args.host}:{sftp.port}  user {sftp.username}, files under /{PAYMENTS_EXPORT_DIR}")
        print(f"          host key: {sftp.host_public_key}")
        print(f"tickets:  {ticketing.base_url}  (REST /v1 page, /v2 offset, /v3 cursor, /v4 link)")
        print(f"orders:   {graphql.base_url}/graphql  (GraphQL, Relay cursors)")
        print("          tokens: tix_test_token (tickets), oms_test_token (orders)")
        print(f"alerts:   {receiver.base_url}  (slack: /services/..., pagerduty: /v2/enqueue)")
        print(f"          recorded in {receiver.store}")
        sys.stdout.flush()
        stopped.wait()
    print("sandbox stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
