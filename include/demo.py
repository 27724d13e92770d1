"""`make demo SPEC=<name>`: one example spec end to end, on the embedded warehouse and sandbox peers.

Loads the spec's scenario (include/scenarios/<name>.py; stripe_billing when no SPEC is given), starts
the warehouse (embedded Postgres unless RECON_WAREHOUSE_URL is set), the scenario's peers and the
local alert receiver, migrates Airflow's SQLite metadata DB under .airflow/, runs `airflow dags test
recon_<name>` for each of the scenario's logical dates, stops what it started and prints what the last
run found: its summary per pair and currency, its breaks by class beside the scenario's expected
ones, its recommendations, and the Slack message and page on-call would have received. Exits non-zero
when the run failed or its breaks differ from the expected ones.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.rows import dict_row

from include.alert_view import render_page, render_slack
from include.local_stack import PROJECT_ROOT, airflow_environment, alert_connections, connection_environment
from include.sandbox.alert_receiver import AlertReceiver
from include.scenarios import scenario_module
from recon.masking import mask_text
from recon.warehouse import configured_url, start_embedded

DEFAULT_SPEC = "stripe_billing"
DEMO_DIR = PROJECT_ROOT / ".demo"
DATA_DOCS_DIR = DEMO_DIR / "data_docs"
AIRFLOW_HOME = PROJECT_ROOT / ".airflow"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    scenario = scenario_module(args.spec).Scenario(seed=args.seed, day=args.day)
    dag_id = f"recon_{args.spec}"
    warehouse_url = configured_url() or start_embedded(DEMO_DIR / "warehouse" / "pgdata")
    where = (
        "configured warehouse (RECON_WAREHOUSE_URL)"
        if configured_url()
        else f"embedded Postgres under {DEMO_DIR / 'warehouse'}"
    )
    print(f"recon demo: {dag_id} for {args.day} (seed {args.seed}) on the {where}", flush=True)
    env = {**os.environ, **airflow_environment(AIRFLOW_HOME), "RECON_DATA_DOCS_DIR": str(DATA_DOCS_DIR)}
    _migrate_airflow(env)
    workdir = DEMO_DIR / "sandbox" / args.spec
    store = DEMO_DIR / "sandbox" / "alerts" / "received.jsonl"
    store.unlink(missing_ok=True)
    failed = 0
    with ExitStack() as stack:
        connections = stack.enter_context(scenario.serve(workdir))
        receiver = stack.enter_context(AlertReceiver(store))
        env.update(connection_environment({**connections, **alert_connections(receiver)}, warehouse_url))
        log_path = DEMO_DIR / f"airflow-dags-test-{args.spec}.log"
        log = []
        for index, logical_date in enumerate(scenario.logical_dates()):
            print(f"running: airflow dags test {dag_id} {logical_date.isoformat()} ...", flush=True)
            completed = subprocess.run(
                [
                    str(Path(sys.executable).with_name("airflow")),
                    "dags",
                    "test",
                    dag_id,
                    logical_date.isoformat(),
                ],
                env=env,
                cwd=PROJECT_ROOT,
                capture_output=True,
                text=True,
            )
            log.append(mask_text(completed.stdout + completed.stderr))
            failed = failed or completed.returncode
            if hasattr(scenario, "after_run"):  # what reaches a source between two runs
                scenario.after_run(index)
        log_path.write_text("\n".join(log), encoding="utf-8")
        received = receiver.received()
    return _report(warehouse_url, args.spec, scenario, failed, log_path, received)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument(
        "--spec",
        default=DEFAULT_SPEC,
        help="the example spec to run: include/specs/<spec>.yml with include/scenarios/<spec>.py",
    )
    parser.add_argument(
        "--day",
        type=dt.date.fromisoformat,
        default=dt.date(2026, 11, 19),
        help="the day the scenario's data is for",
    )
    parser.add_argument("--seed", type=int, default=42, help="data generator seed")
    return parser


def _migrate_airflow(env: dict[str, str]) -> None:
    AIRFLOW_HOME.mkdir(exist_ok=True)
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True)
    if done.returncode:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"airflow db migrate failed (exit {done.returncode})")


def _report(url: str, spec: str, scenario: Any, returncode: int, log_path: Path, received: list[dict]) -> int:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        # The last run: the logical dates run in order, so the one started last (a rerun restarts it).
        run = conn.execute(
            "select * from reconciliation.runs where spec = %s order by started_at desc limit 1", (spec,)
        ).fetchone()
        if run is None or run["status"] not in ("success", "discrepancy_found"):
            print(
                f"\nthe run did not publish (status: {run and run['status']}): "
                f"{run and run['error_message']}\nAirflow output: {log_path}"
            )
            return returncode or 1
        summary = conn.execute(
            "select * from reconciliation.run_summary where run_id = %s order by pair, currency",
            (run["run_id"],),
        ).fetchall()
        found = conn.execute(
            "select break_class, missing_in, count(*) as n from reconciliation.run_breaks"
            " where run_id = %s group by 1, 2 order by 1, 2",
            (run["run_id"],),
        ).fetchall()
        quarantined = conn.execute(
            "select count(*) as n from staging.quarantine where run_id = %s", (run["run_id"],)
        ).fetchone()["n"]
    expected = scenario.expected_breaks()
    got = Counter({(row["break_class"], row["missing_in"]): row["n"] for row in found})
    print(f"\nrun {run['run_id']}: {run['status'].upper()} (severity {run['severity']})")
    _print_summary(summary)
    print("\nbreaks by class: found (expected)")
    for key in sorted(set(got) | set(expected), key=lambda k: (k[0], k[1] or "")):
        label = key[0] + (f" (missing in {key[1]})" if key[1] else "")
        mark = "" if got[key] == expected[key] else "   <-- differs"
        print(f"  {label:<40} {got[key]:>4}  ({expected[key]}){mark}")
    print(f"  quarantined rows: {quarantined}")
    failures = run["integrity_failures"] or []
    print(f"\nintegrity rules failed (severity: how loud; on_fail: what it did): {len(failures) or 'none'}")
    for failure in failures:
        where = f" on {failure['source']}" if failure["source"] else ""
        rows = f"{failure['unexpected_count']} row{'' if failure['unexpected_count'] == 1 else 's'}"
        outcome = f"{failure['severity']:<8} {failure.get('on_fail') or '':<10}"
        print(f"  {outcome} {failure['rule_name']}{where}: {rows}")
    print(f"  Great Expectations Data Docs: open {DATA_DOCS_DIR / 'recon.html'} in a browser")
    print("\nrecommendations:")
    for sentence in run["recommendations"] or []:
        print(f"  - {sentence}")
    print(
        "\nresult tables (schema reconciliation): runs, run_summary, run_breaks, breaks, matches,"
        f" integrity_results, alert_outbox\n  warehouse: {_redact(url)}  (query it with: make psql)"
    )
    print(
        "\nalerts, as on-call sees them (recorded by the local Slack/PagerDuty endpoint in "
        f"{DEMO_DIR / 'sandbox' / 'alerts' / 'received.jsonl'}):"
    )
    # notify_slack and notify_pagerduty run in parallel: Slack first, then the page, not arrival order.
    for item in sorted(received, key=lambda item: item["channel"], reverse=True):
        shown = render_slack(item["body"]) if item["channel"] == "slack" else render_page(item["body"])
        print("\n" + shown)
    if not any(item["channel"] == "pagerduty" for item in received):
        print(
            "\nno page: the spec pages no one (it has no alerts.pagerduty)"
            if run["severity"] == "critical"
            else "\nno page: the run is not critical (reconcile.severity)"
        )
    matches = got == expected
    print(f"\nall injected discrepancies found, nothing else: {'yes' if matches else 'NO'}")
    base = "http://localhost:8080/recon"
    print(
        f"\nthe recon dashboard: run `make ui` (Airflow's UI and API server on this warehouse; it prints the"
        f" users and passwords),\nlog in, and open {base} (or Reconciliation in Airflow's menu);"
        f" this run: {base}/runs/{quote(run['run_id'], safe='')}"
    )
    return 0 if returncode == 0 and matches else 1


def _print_summary(summary: list[dict]) -> None:
    print(
        f"{'pair':<28} {'currency':<8} {'left total':>14} {'(n)':>5} {'right total':>14} {'(n)':>5}"
        f" {'breaks':>6} {'pending':>7} {'discrepancy':>12} {'%':>8}  status"
    )
    for row in summary:
        print(
            f"{row['pair']:<28} {row['currency']:<8} {row['left_total_amount']:>14}"
            f" {row['left_record_count']:>5} {row['right_total_amount']:>14} {row['right_record_count']:>5}"
            f" {row['break_count']:>6}"
            f" {row['pending_count']:>7} {row['discrepancy_amount']:>12} {row['discrepancy_percent']:>8}"
            f"  {row['status']}"
        )
    if summary:
        first = summary[0]
        print(
            f"  (left = {first['left_source']}, right = {first['right_source']}; a pair and currency within"
            f" tolerance_percent {first['tolerance_percent']} % succeeds, its breaks kept)"
        )


def _redact(url: str) -> str:
    return url.split("@", 1)[-1] if "@" in url else url


if __name__ == "__main__":
    raise SystemExit(main())
