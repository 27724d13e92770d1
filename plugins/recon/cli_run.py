"""`recon run SPEC --from DATE --to DATE`: run a spec's schedule windows on demand, one line per run.

    recon run stripe_billing --from 2026-11-01 --to 2026-11-03   # days 1, 2 and 3 (a date --to is inclusive)
    recon run mobile_money --from 2026-11-19T06:00 --to 2026-11-19T07:00   # four 15-minute windows
    recon run stripe_billing --key ch_123 [--since 24h]          # single records' keys (recon.probe)

Through Airflow's REST API when ``RECON_AIRFLOW_URL`` is set (``--no-wait`` only triggers), else in
this process with ``dag.test()``. Exit 0 when every run published (``success`` or
``discrepancy_found``; with ``--no-wait``: every run was triggered), 1 when one did not, 2 for bad
input (nothing is run then). The logic is in ``recon.ondemand``; this module parses and prints.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from recon.airflow_api import AirflowApi, AirflowApiError
from recon.masking import mask_text
from recon.ondemand import (
    DEFAULT_MAX_RUNS,
    RangeError,
    RangeRun,
    RunOutcome,
    find_spec,
    parse_bound,
    plan,
    run_local,
    run_remote,
)

BAD_INPUT = 2


def add_run_command(commands: Any) -> None:
    run = commands.add_parser(
        "run", help="run a spec's windows over a date range (Airflow REST API, or locally with dag.test)"
    )
    run.add_argument("spec", metavar="SPEC", help="a spec name in --specs-dir, or the path of a .yml file")
    run.add_argument(
        "--from", dest="start", metavar="DATE", help="first day (2026-11-01) or moment (ISO, UTC if naive)"
    )
    run.add_argument(
        "--to", dest="end", metavar="DATE", help="last day, inclusive (2026-11-03), or moment, exclusive"
    )
    run.add_argument(
        "--key", dest="keys", action="append", metavar="KEY", help="run only these records' keys"
    )
    run.add_argument("--since", default="24h", metavar="DURATION", help="with --key: how far back (24h)")
    run.add_argument("--until", metavar="DATETIME", help="with --key: the end of that span (default: now)")
    run.add_argument("--no-wait", action="store_true", help="through Airflow: trigger, do not wait")
    run.add_argument(
        "--timeout", type=float, default=3600, metavar="SECONDS", help="through Airflow: wait per run"
    )
    run.add_argument(
        "--max-runs",
        type=int,
        default=DEFAULT_MAX_RUNS,
        help=f"refuse more windows (default {DEFAULT_MAX_RUNS})",
    )
    run.add_argument(
        "--specs-dir", type=Path, default=Path(os.environ.get("RECON_SPECS_DIR") or "include/specs")
    )


def run_command(args: argparse.Namespace) -> int:
    if args.keys:
        if args.start or args.end:
            return _bad("--key runs single records: give it without --from and --to")
        from recon.probe import run_keys

        return run_keys(args)
    if not args.start or not args.end:
        return _bad("give --from and --to (or --key)")
    try:
        start, end = parse_bound(args.start, end=False), parse_bound(args.end, end=True)
        spec, path = find_spec(args.spec, args.specs_dir)
        job = RangeRun(spec, path, plan(spec, start, end, args.max_runs))
        api = AirflowApi.from_env()
    except (RangeError, AirflowApiError) as exc:
        return _bad(str(exc))
    if api is None and args.no_wait:
        return _bad("--no-wait triggers runs in Airflow: set RECON_AIRFLOW_URL (see recon.airflow_api)")
    where = f"through Airflow at {api.base_url}" if api else "locally with dag.test()"
    print(
        f"recon run {spec.name}: {len(job.windows)} window(s) of {spec.schedule!r}"
        f" from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, {where}",
        flush=True,
    )
    if api is None:
        outcomes = run_local(job, report=_print_outcome)
    else:
        with api:
            try:
                outcomes = run_remote(
                    api, job, wait=not args.no_wait, timeout_seconds=args.timeout, report=_print_outcome
                )
            except (RangeError, AirflowApiError) as exc:  # before the first trigger: nothing was run
                return _bad(str(exc))
    failed = sum(not outcome.succeeded for outcome in outcomes)
    skipped = len(job.windows) - len(outcomes)
    done = "triggered (not waited for)" if args.no_wait and api else "succeeded"
    print(
        f"{len(outcomes)} run(s): {len(outcomes) - failed} {done}, {failed} failed"
        + (f", {skipped} not started" if skipped else ""),
        flush=True,
    )
    return 1 if failed or skipped else 0


def outcome_line(outcome: RunOutcome) -> str:
    """``<window>: airflow <state>, <status>, severity .., N breaks, P % discrepancy[, error: ..]``."""
    window = f"{outcome.window.start:%Y-%m-%d %H:%M} -> {outcome.window.end:%Y-%m-%d %H:%M} UTC"
    parts = [f"airflow {outcome.airflow_state}"]
    run = outcome.ledger
    if run is not None:
        parts.append(run["status"])
        parts.append(f"severity {run['severity'] or '-'}")
        parts.append(f"{run['break_count'] if run['break_count'] is not None else '-'} breaks")
        percent = run["discrepancy_percent"]
        parts.append(f"{percent if percent is not None else '-'} % discrepancy")
        if run["error_message"]:
            parts.append("error: " + _short(run["error_message"]))
    elif not outcome.waited and outcome.dag_run_id:
        parts.append(f"dag run {outcome.dag_run_id} (not waited for)")
    if outcome.note:
        parts.append(_short(outcome.note))
    return f"{window}: " + ", ".join(parts)


def _print_outcome(outcome: RunOutcome) -> None:
    print(outcome_line(outcome), flush=True)


def _short(text: str, limit: int = 300) -> str:
    line = " ".join(mask_text(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _bad(message: str) -> int:
    print(f"recon run: {message}", file=sys.stderr)
    return BAD_INPUT
