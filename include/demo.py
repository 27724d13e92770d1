"""`make demo`: one reconciliation end to end, on the embedded warehouse and the sandbox sources.

Starts the warehouse (embedded Postgres unless RECON_WAREHOUSE_URL is set) and the sandbox peers,
migrates Airflow's SQLite metadata DB under .airflow/, runs `airflow dags test` for one day, stops
what it started and prints what the run found and which alerts on-call would have received.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from include.local_stack import PROJECT_ROOT, SandboxStack, airflow_environment
from include.sandbox.generator import BillingScenario, injected_breaks
from recon.masking import mask_text
from recon.warehouse import configured_url, start_embedded

DAG_ID = "recon_stripe_billing"
DEMO_DIR = PROJECT_ROOT / ".demo"
AIRFLOW_HOME = PROJECT_ROOT / ".airflow"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    scenario = BillingScenario(seed=args.seed, day=args.day)
    warehouse_url = configured_url() or start_embedded(DEMO_DIR / "warehouse" / "pgdata")
    where = (
        "configured warehouse (RECON_WAREHOUSE_URL)"
        if configured_url()
        else (f"embedded Postgres under {DEMO_DIR / 'warehouse'}")
    )
    print(f"recon demo: {DAG_ID} for {args.day} (seed {args.seed}) on the {where}", flush=True)
    env = {**os.environ, **airflow_environment(AIRFLOW_HOME)}
    _migrate_airflow(env)
    with SandboxStack(scenario, DEMO_DIR / "sandbox") as stack:
        env.update(stack.environment(warehouse_url))
        logical_date = dt.datetime.combine(args.day + dt.timedelta(days=1), dt.time(), dt.UTC)
        print(f"running: airflow dags test {DAG_ID} {logical_date.isoformat()} ...", flush=True)
        completed = subprocess.run(
            [
                str(Path(sys.executable).with_name("airflow")),
                "dags",
                "test",
                DAG_ID,
                logical_date.isoformat(),
            ],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
        )
        log_path = DEMO_DIR / "airflow-dags-test.log"
        log_path.write_text(mask_text(completed.stdout + completed.stderr), encoding="utf-8")
        received = stack.receiver.received() if stack.receiver else []
    return _report(warehouse_url, scenario, completed.returncode, log_path, received)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument(
        "--day",
        type=dt.date.fromisoformat,
        default=dt.date(2026, 11, 19),
        help="the day to reconcile (window [day, day+1) UTC)",
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


def _report(
    url: str, scenario: BillingScenario, returncode: int, log_path: Path, received: list[dict]
) -> int:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        run = conn.execute(
            "select * from reconciliation.runs where spec = 'stripe_billing' and window_start = %s",
            (dt.datetime.combine(scenario.day, dt.time(), dt.UTC),),
        ).fetchone()
        if run is None or run["status"] not in ("success", "discrepancy_found"):
            print(
                f"\nthe run did not publish (status: {run and run['status']}): "
                f"{run and run['error_message']}\nAirflow output: {log_path}"
            )
            return returncode or 1
        summary = conn.execute(
            "select * from reconciliation.fct_run_summary where run_id = %s order by currency",
            (run["run_id"],),
        ).fetchall()
        found = conn.execute(
            "select break_type, missing_in, count(*) as n from reconciliation.fct_breaks"
            " where run_id = %s group by 1, 2 order by 1, 2",
            (run["run_id"],),
        ).fetchall()
        quarantined = conn.execute(
            "select count(*) as n from staging.quarantine where run_id = %s", (run["run_id"],)
        ).fetchone()["n"]
    expected = Counter((b.break_type, b.missing_in) for b in injected_breaks(scenario))
    print(f"\nrun {run['run_id']}: {run['status'].upper()}")
    print(
        f"{'currency':<8} {'stripe total':>14} {'(n)':>5} {'internal total':>15} {'(n)':>5} "
        f"{'discrepancy':>12} {'%':>8}"
    )
    for row in summary:
        print(
            f"{row['currency']:<8} {row['left_total_amount']:>14} {row['left_record_count']:>5} "
            f"{row['right_total_amount']:>15} {row['right_record_count']:>5} "
            f"{row['discrepancy_amount']:>12} {row['discrepancy_percent'] or 0:>8}"
        )
    print("\nbreaks found (injected by the generator):")
    for row in found:
        label = f"{row['break_type']}" + (f" ({row['missing_in']})" if row["missing_in"] else "")
        print(f"  {label:<36} {row['n']:>4}  ({expected.get((row['break_type'], row['missing_in']), 0)})")
    print(f"  quarantined rows: {quarantined}")
    print(
        "\nresult tables (schema reconciliation): fct_run_summary, fct_breaks, runs, integrity_results,"
        f" alert_outbox\n  warehouse: {_redact(url)}  (query it with: make psql)"
    )
    print(
        "\nalerts received by the local Slack/PagerDuty endpoint "
        f"({DEMO_DIR / 'sandbox' / 'alerts' / 'received.jsonl'}):"
    )
    # notify_slack and notify_pagerduty run in parallel: list by channel, not arrival order.
    for item in sorted(received, key=lambda item: item["channel"]):
        body = item["body"]
        text = body.get("text") if item["channel"] == "slack" else body.get("payload", {}).get("summary")
        path = "/".join(item["path"].split("/")[:2]) + "/..."  # the rest of a webhook path is its secret
        print(f"  {item['channel']:<9} {path}: {text}")
    matches = Counter({(r["break_type"], r["missing_in"]): r["n"] for r in found}) == expected
    print(f"\nall injected discrepancies found, nothing else: {'yes' if matches else 'NO'}")
    return 0 if returncode == 0 and matches else 1


def _redact(url: str) -> str:
    return url.split("@", 1)[-1] if "@" in url else url


if __name__ == "__main__":
    raise SystemExit(main())
