"""`recon run SPEC --key KEY`: reconcile a few records now, without touching the scheduled runs' results.

The probe reads every reconciled source of the spec over the last ``--since`` (24 hours by default) as a
run would, loads it into staging under a probe spec name of its own (``<spec>~probe<random>``, which no spec
can have), and runs the same dbt models in scratch schemas (var ``recon_schema_prefix``), so nothing a
scheduled run reads or writes is touched: not ``reconciliation.*``, not the records an earlier run left
pending, not the break lives. It then reports, per key, the match units that hold it: matched, or which
break. Everything it wrote (staging rows, pair settings, file registry rows, scratch schemas) is dropped
before it returns, whatever happened.

A key is looked up as a record key, a match key (the pair's key fields), or a reference; where the spec
declares key forms (``key_form``), in the pair sides' forms too, so ``0XABC`` finds ``0xAbc``.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from recon.key_forms import normalize, side_forms, sql_expression
from recon.masking import mask_text
from recon.spec import Spec
from recon.window import RunWindow

log = logging.getLogger(__name__)

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
PROBE_SUFFIX = "~probe"
SCHEMAS = ("recon_staging", "recon_intermediate", "reconciliation")
UNIT_COLUMNS = (
    "pair", "outcome", "is_break", "rule", "missing_in", "left_source", "right_source", "left_record_keys",
    "right_record_keys", "match_key", "left_amount", "right_amount", "left_currency", "right_currency",
    "amount_difference", "left_status", "right_status", "left_occurred_at", "right_occurred_at",
    "different_fields", "reference",
)  # fmt: skip


class ProbeError(RuntimeError):
    """The probe could not reconcile: a source or the warehouse failed; nothing was kept."""


@dataclass(frozen=True)
class KeyOutcome:
    key: str
    units: list[dict[str, Any]]  # empty: the key is in no source over the window

    @property
    def found(self) -> bool:
        return bool(self.units)


def reconcile_keys(
    spec: Spec, keys: list[str], since: timedelta, now: datetime | None = None
) -> tuple[RunWindow, list[KeyOutcome]]:
    """Reconcile the records holding ``keys`` over ``[now - since, now)``; what each key came out as."""
    from recon import warehouse
    from recon.extract import extract_source
    from recon.matching import dbt_run_vars, write_pair_settings
    from recon.staging.schema import ensure_schema

    end = (now or datetime.now(UTC)).replace(microsecond=0)
    token = secrets.token_hex(4)  # two probes at once share nothing
    window = RunWindow(f"{spec.name}{PROBE_SUFFIX}{token}", end - since, end)
    prefix = f"recon_probe_{token}_"
    try:
        with warehouse.connect(spec.warehouse_connection) as conn:
            ensure_schema(conn)
            write_pair_settings(conn, spec, window)
        for source in spec.sources:  # references only serve integrity rules
            try:
                extract_source(spec, source.name, window)
            except Exception as exc:
                raise ProbeError(f"source {source.name!r}: {type(exc).__name__}: {exc}") from exc
        _dbt_run(spec, {**dbt_run_vars(window, timedelta(0)), "recon_schema_prefix": prefix})
        with warehouse.connect(spec.warehouse_connection) as conn:
            return window, [KeyOutcome(key, _units(conn, prefix, spec, key)) for key in keys]
    finally:
        with warehouse.connect(spec.warehouse_connection) as conn:
            _clean_up(conn, window, prefix)


def _dbt_run(spec: Spec, dbt_vars: dict[str, Any]) -> None:
    """``dbt run`` (models only: the probe reports, it does not gate) with the warehouse's connection."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(spec.warehouse_connection)
    env = {
        **os.environ,
        "RECON_WAREHOUSE_HOST": conn.host or "127.0.0.1",
        "RECON_WAREHOUSE_PORT": str(conn.port or 5432),
        "RECON_WAREHOUSE_USER": conn.login or "postgres",
        "RECON_WAREHOUSE_PASSWORD": conn.password or "",
        "RECON_WAREHOUSE_DBNAME": conn.schema or "postgres",
    }
    with tempfile.TemporaryDirectory(prefix="recon-probe-dbt-") as scratch:
        command = [
            str(Path(sys.executable).with_name("dbt")), "run", "--project-dir", str(DBT_PROJECT),
            "--profiles-dir", str(DBT_PROJECT), "--target-path", f"{scratch}/target",
            "--log-path", f"{scratch}/logs", "--vars", json.dumps(dbt_vars),
        ]  # fmt: skip
        completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise ProbeError(f"dbt run failed: {mask_text(completed.stdout[-3000:])}")


def _units(conn: psycopg.Connection, prefix: str, spec: Spec, key: str) -> list[dict[str, Any]]:
    query = sql.SQL(
        "select {columns} from {table}"
        " where %(key)s in (match_key, reference)"
        " or %(key)s = any(left_record_keys)"
        " or %(key)s = any(right_record_keys)"
        "{in_forms}"
        " order by pair, is_break desc, outcome"
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, UNIT_COLUMNS)),
        table=sql.Identifier(f"{prefix}recon_intermediate", "int_records_matched"),
        in_forms=sql.SQL("").join(_in_key_forms(spec, key)),
    )
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, {"key": key})
        return cur.fetchall()


def _in_key_forms(spec: Spec, key: str) -> list[sql.Composable]:
    """Per pair with key forms: the typed key, in each side's form, as the match key or a record key of
    that side in the same form (a key typed ``0XABC`` finds ``0xAbc`` where the form lower-cases)."""
    conditions = []
    for pair in spec.pairs:
        forms = side_forms(spec, pair.pair_name)
        if forms == (None, None):
            continue
        keyed = [normalize(form, key) for form in forms]
        sides = [
            sql.SQL("exists (select from unnest({keys}) as k (key) where {stored} = {typed})").format(
                keys=sql.Identifier(f"{side}_record_keys"),
                stored=sql_expression(form, sql.SQL("k.key")),
                typed=sql.Literal(typed),
            )
            for side, form, typed in zip(("left", "right"), forms, keyed, strict=True)
        ]
        conditions.append(
            sql.SQL(" or (pair = {pair} and (match_key = any({keyed}) or {sides}))").format(
                pair=sql.Literal(pair.pair_name), keyed=sql.Literal(keyed), sides=sql.SQL(" or ").join(sides)
            )
        )
    return conditions


def _clean_up(conn: psycopg.Connection, window: RunWindow, prefix: str) -> None:
    """Drop all the probe wrote; each step alone, so one failing does not keep the others."""
    from recon.staging.partitions import drop_runs_before

    steps = [
        lambda: drop_runs_before(conn, window.spec, window.end + timedelta(days=1)),
        lambda: _execute(conn, "delete from staging.pair_settings where run_id = %s", window.run_id),
        lambda: _execute(conn, "delete from staging.source_files where spec = %s", window.spec),
        *(
            (lambda schema=schema: _execute(conn, sql.SQL("drop schema if exists {} cascade").format(
                sql.Identifier(f"{prefix}{schema}"))))
            for schema in SCHEMAS
        ),
    ]  # fmt: skip
    for step in steps:
        try:
            step()
        except psycopg.Error as exc:  # never hide the probe's own outcome behind its clean-up
            conn.rollback()
            log.warning("recon probe: clean-up step failed: %s", exc)


def _execute(conn: psycopg.Connection, statement: Any, *params: Any) -> None:
    with conn.transaction():
        conn.execute(statement, params or None)


def describe(outcome: KeyOutcome) -> list[str]:
    """One line per unit holding the key: how it came out, with the values that differ."""
    if not outcome.found:
        return [f"{outcome.key}: not found in any source over the window"]
    lines = []
    for unit in outcome.units:
        if unit["outcome"] in ("matched", "matched_within_tolerance"):
            how = f"{unit['outcome']} by {unit['rule']}"
        elif unit["outcome"] == "missing":
            how = f"break: missing in {unit['missing_in']}"
        elif unit["outcome"] == "pending":
            how = f"pending: no counterpart in {unit['missing_in']} yet (inside the settlement window)"
        else:
            how = f"break: {unit['outcome']}"
        left = _side(unit, "left")
        right = _side(unit, "right")
        sides = f"{unit['left_source']} {left}; {unit['right_source']} {right}"
        lines.append(f"{outcome.key} [{unit['pair']}]: {how}; {sides}")
    return lines


def _side(unit: dict[str, Any], side: str) -> str:
    keys = unit[f"{side}_record_keys"]
    if keys is None:
        return "(none)"
    amount = unit[f"{side}_amount"]
    status = unit[f"{side}_status"]
    shown = f"{', '.join(keys)} {amount} {unit[f'{side}_currency'] or ''}".rstrip()
    return mask_text(f"{shown} {status}" if status else shown)


BAD_INPUT = 2


def run_keys(args: Any) -> int:
    """The CLI: ``recon run SPEC --key KEY [--key ...] [--since 24h] [--until DATETIME]``.

    Exit 0 when every key was found (matched or a break: the lines say which), 2 when one is found
    nowhere or the input is wrong.
    """
    from recon.ondemand import RangeError, find_spec
    from recon.reconcile import parse_duration

    since = parse_duration(args.since)
    if not isinstance(since, timedelta) or since <= timedelta(0):
        print(f"recon run: --since {args.since!r} is not a duration like 90m, 24h or 7d", file=sys.stderr)
        return BAD_INPUT
    keys = [key.strip() for key in args.keys]
    if any(not key for key in keys):
        print("recon run: --key must not be empty", file=sys.stderr)
        return BAD_INPUT
    until = getattr(args, "until", None)
    try:
        now = datetime.fromisoformat(until) if until else None
    except ValueError:
        print(f"recon run: --until {until!r} is not an ISO date or datetime", file=sys.stderr)
        return BAD_INPUT
    if now is not None and now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    try:
        spec, _ = find_spec(str(args.spec), args.specs_dir)
        window, outcomes = reconcile_keys(spec, list(dict.fromkeys(keys)), since, now)
    except (RangeError, ProbeError) as exc:
        print(f"recon run: {exc}", file=sys.stderr)
        return BAD_INPUT
    span = f"[{window.start.isoformat()}, {window.end.isoformat()})"
    print(f"recon {spec.name}: {len(keys)} key(s) reconciled over {span}; scheduled results untouched")
    for outcome in outcomes:
        for line in describe(outcome):
            print(line)
    missing = [outcome.key for outcome in outcomes if not outcome.found]
    if missing:
        print(f"recon run: key(s) found in no source of {spec.name}: {', '.join(missing)}", file=sys.stderr)
        return BAD_INPUT
    return 0
