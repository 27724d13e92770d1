"""The CLI's commands that read and change the warehouse: ``recon breaks ...`` and ``recon stats``.

They connect through the spec's Airflow connection (``--connection``, default ``recon_warehouse``,
e.g. ``AIRFLOW_CONN_RECON_WAREHOUSE``), or to ``$RECON_WAREHOUSE_URL`` when it is set. Bad input
(an unknown break, a missing note) exits 2 with a message naming it, and changes nothing.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import psycopg

from recon.record_keys import both_sides, shown
from recon.review import ACTIONS, STATUSES, ReviewError, list_breaks, review, show_break

BAD_INPUT = 2


def add_commands(commands: Any) -> None:
    from recon.stats import parse_since

    fixes = commands.add_parser("corrections", help="plan, apply and revert corrections of a spec's target")
    fix_actions = fixes.add_subparsers(dest="corrections_command", required=True)
    plan = fix_actions.add_parser("plan", help="the dry run: propose changes, change nothing")
    plan.add_argument("--break", dest="break_ids", action="append", metavar="BREAK_ID", help="only these")
    apply = fix_actions.add_parser("apply", help="apply planned changes: row locks, backups, audit")
    apply.add_argument("--id", dest="correction_ids", action="append", metavar="CORRECTION_ID")
    apply.add_argument("--auto-only", action="store_true", help="only those under auto_apply_up_to")
    revert = fix_actions.add_parser("revert", help="restore applied changes from their backups")
    revert.add_argument(
        "--id", dest="correction_ids", action="append", metavar="CORRECTION_ID", required=True
    )
    listing = fix_actions.add_parser("list", help="planned and applied corrections")
    listing.add_argument("--status", choices=["planned", "applied", "stale", "failed", "reverted", "refused"])
    for parser in (plan, apply, revert, listing):
        parser.add_argument("spec", metavar="SPEC")
        parser.add_argument(
            "--specs-dir", type=Path, default=Path(os.environ.get("RECON_SPECS_DIR") or "include/specs")
        )
        parser.add_argument("--by", default=os.environ.get("RECON_USER") or getpass.getuser(), help="who")

    setup = commands.add_parser("warehouse", help="set up the warehouse (run as its admin)")
    setup_actions = setup.add_subparsers(dest="warehouse_command", required=True)
    roles = setup_actions.add_parser(
        "bootstrap-roles", help="create recon's schemas and the analyst and pipeline roles (idempotent)"
    )
    roles.add_argument("--analyst-role", default="recon_analyst")
    roles.add_argument("--pipeline-role", default="recon_pipeline")
    roles.add_argument(
        "--connection", default="recon_warehouse_admin", help="a superuser's Airflow connection"
    )

    stats = commands.add_parser("stats", help="a spec's runs, success rate, durations and breaks")
    stats.add_argument("spec", metavar="SPEC")
    stats.add_argument(
        "--since", type=parse_since, help="7d, 2026-11-01 or an ISO timestamp (UTC unless it says)"
    )
    stats.add_argument("--connection", default="recon_warehouse", help="the warehouse's Airflow connection")
    breaks = commands.add_parser("breaks", help="list, show and review breaks (ignore, resolve, reopen)")
    actions = breaks.add_subparsers(dest="breaks_command", required=True)
    listing = actions.add_parser("list", help="breaks across runs, largest first")
    listing.add_argument("--spec")
    listing.add_argument("--status", default="open", choices=[*STATUSES, "all"])
    listing.add_argument("--class", dest="break_class", help="e.g. missing, amount_mismatch")
    listing.add_argument("--severity", choices=["critical", "warning"])
    listing.add_argument("--sort", default="amount", choices=["amount", "age", "last_seen"])
    listing.add_argument("--limit", type=int, default=50)
    show = actions.add_parser("show", help="one break: values, history across runs, audit trail")
    show.add_argument("break_id")
    for action in ACTIONS:
        change = actions.add_parser(action, help=f"{action} breaks, with a note, audited")
        change.add_argument("break_ids", nargs="+", metavar="BREAK_ID")
        change.add_argument("--note", help="why (required to ignore or resolve)")
        change.add_argument("--by", default=os.environ.get("RECON_USER") or getpass.getuser(), help="who")
    for parser in (listing, show, *(actions.choices[action] for action in ACTIONS)):
        parser.add_argument(
            "--connection", default="recon_warehouse", help="the warehouse's Airflow connection"
        )


def run_breaks(args: argparse.Namespace) -> int:
    try:
        with _connect(args.connection) as conn:
            if args.breaks_command == "list":
                status = None if args.status == "all" else args.status
                found = list_breaks(
                    conn, spec=args.spec, status=status, break_class=args.break_class,
                    severity=args.severity, sort=args.sort, limit=args.limit,
                )  # fmt: skip
                print(_table(found))
            elif args.breaks_command == "show":
                print(_detail(show_break(conn, args.break_id)))
            else:
                for outcome in review(conn, args.break_ids, args.breaks_command, args.by, args.note):
                    what = (
                        f"{outcome.before} -> {outcome.after}"
                        if outcome.changed
                        else f"already {outcome.after}"
                    )
                    print(f"{outcome.break_id}: {what}")
    except ReviewError as exc:
        print(f"recon breaks {args.breaks_command}: {exc}", file=sys.stderr)
        return BAD_INPUT
    return 0


def run_corrections(args: argparse.Namespace) -> int:
    from recon.corrections.apply import apply_corrections, revert_corrections
    from recon.corrections.plan import CorrectionError, plan_corrections
    from recon.spec import SpecError, load_spec

    command = f"recon corrections {args.corrections_command}"
    path = args.specs_dir / f"{args.spec}.yml"
    if not path.is_file():
        known = sorted(p.stem for p in args.specs_dir.glob("*.yml"))
        print(
            f"{command}: no spec {args.spec!r} in {args.specs_dir} (specs: {', '.join(known)})",
            file=sys.stderr,
        )
        return BAD_INPUT
    try:
        spec = load_spec(path)
        with _connect(spec.warehouse_connection) as conn:
            if args.corrections_command == "plan":
                plan = plan_corrections(conn, spec, args.by, break_ids=args.break_ids)
                for change in plan.changes:
                    auto = " (auto)" if change.auto_apply else ""
                    what = f"{_shown(change.before)} -> {_shown(change.after)}{auto}"
                    print(f"{change.correction_id} {change.kind} {change.record_key}: {what}")
                for break_id, why in plan.skipped:
                    print(f"skipped {break_id}: {why}")
                print(f"{len(plan.changes)} change(s) planned; nothing in the target was changed")
                return 0
            if args.corrections_command == "list":
                print(_corrections_table(conn, spec.name, args.status))
                return 0
            if args.corrections_command == "apply":
                outcomes = apply_corrections(
                    conn, spec, args.by, correction_ids=args.correction_ids, auto_only=args.auto_only
                )
            else:
                outcomes = revert_corrections(conn, spec, args.by, args.correction_ids)
            for outcome in outcomes:
                result = f"{outcome.status} ({outcome.detail})"
                print(f"{outcome.correction_id} {outcome.kind} {outcome.record_key}: {result}")
            if not outcomes:
                print(f"nothing to {args.corrections_command}: every change named or planned is done already")
    except (CorrectionError, SpecError, ReviewError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return BAD_INPUT
    return 0


def _corrections_table(conn: psycopg.Connection, spec: str, status: str | None) -> str:
    found = conn.execute(
        "select correction_id, kind, record_key, status, auto_apply, before, after, outcome"
        " from reconciliation.corrections where spec = %s and (%s::text is null or status = %s)"
        " order by planned_at, correction_id",
        (spec, status, status),
    ).fetchall()
    if not found:
        return "no corrections"
    return "\n".join(
        f"{cid} {kind:<6} {key:<20} {state:<8}{' auto' if auto else '     '}"
        f" {_shown(before)} -> {_shown(after)}" + (f"  [{outcome}]" if outcome else "")
        for cid, kind, key, state, auto, before, after, outcome in found
    )


def _shown(values: Any) -> str:
    return json.dumps(values, default=str, ensure_ascii=False)


def bootstrap(args: argparse.Namespace) -> int:
    from recon.access import AccessError, bootstrap_roles

    try:
        with _connect(args.connection) as conn:  # commits on exit
            done = bootstrap_roles(conn, analyst_role=args.analyst_role, pipeline_role=args.pipeline_role)
    except (AccessError, ReviewError, ValueError) as exc:
        print(f"recon warehouse bootstrap-roles: {exc}", file=sys.stderr)
        return BAD_INPUT
    print("\n".join(done))
    return 0


def _connect(conn_id: str) -> psycopg.Connection:
    url = os.environ.get("RECON_WAREHOUSE_URL")
    if url:
        return psycopg.connect(url)
    from recon.warehouse import connect

    try:
        return connect(conn_id)
    except Exception as exc:  # an unknown connection id or an unreachable server
        raise ReviewError(f"connection {conn_id!r}: cannot reach the warehouse: {exc}") from exc


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no breaks match"
    lines = [f"{'break_id':<34} {'spec':<16} {'class':<18} {'sev':<8} {'status':<8} {'amount':>14} keys"]
    for row in rows:
        keys = both_sides(row["left_record_keys"], row["right_record_keys"])
        amount = f"{row['discrepancy_amount']:,} {row['currency']}"
        lines.append(
            f"{row['break_id']:<34} {row['spec']:<16} {row['break_class']:<18} {row['severity']:<8}"
            f" {row['status']:<8} {amount:>14} {keys}"
        )
    return "\n".join(lines)


def _detail(found: dict[str, Any]) -> str:
    item = found["break"]
    lines = [
        f"break {item['break_id']} ({item['spec']}, {item['pair']}): {item['break_class']}, {item['status']}"
    ]
    for key in ("left_record_keys", "right_record_keys", "left_amount", "right_amount", "left_currency",
                "right_currency", "left_status", "right_status", "missing_in", "discrepancy_amount",
                "first_seen_at", "last_seen_at", "times_seen", "resolved_at", "customer_email"):  # fmt: skip
        if item.get(key) is not None:
            value = shown(item[key]) if key.endswith("_record_keys") else item[key]
            lines.append(f"  {key:<20} {value}")
    lines.append("history (one line per run that found it):")
    for run in found["history"]:
        carried = " (carried)" if run["is_carried_break"] else ""
        lines.append(
            f"  {run['window_start']:%Y-%m-%d %H:%M} {run['run_status'] or 'unpublished':<18}"
            f" {run['left_amount']} vs {run['right_amount']} {run['currency']}{carried}"
        )
    lines.append("audit:" if found["audit"] else "audit: none")
    for entry in found["audit"]:
        lines.append(
            f"  {entry['recorded_at']:%Y-%m-%d %H:%M} {entry['actor']}: {entry['action']}"
            f" {(entry['before'] or {}).get('status')} -> {(entry['after'] or {}).get('status')}"
            f"{': ' + entry['note'] if entry['note'] else ''}"
        )
    return "\n".join(lines)
