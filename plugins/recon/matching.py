"""What a run hands to the dbt matching models: its spec's ``reconcile`` section, one row per pair.

The models are generic SQL; every setting that differs between specs reaches them through
``staging.pair_settings`` (dbt vars would not hold lists of rules and status maps readably).
"""

from __future__ import annotations

from datetime import timedelta

import psycopg
from psycopg.types.json import Jsonb

from recon.key_forms import side_forms
from recon.reconcile import pair_settings
from recon.spec import Spec
from recon.window import RunWindow

COLUMNS = (
    "pair", "pair_kind", "left_source", "right_source", "left_keys", "right_keys", "group_side",
    "amount_tolerance", "amount_tolerance_percent", "left_status_map", "right_status_map",
    "compare_attributes", "late_after", "settlement_window", "copy_within", "near_fields", "near_within",
    "near_amount_tolerance", "fallback_rules", "left_stuck_statuses", "left_stuck_after",
    "right_stuck_statuses", "right_stuck_after", "tolerance_percent", "critical_percent",
    "critical_min_amount", "key_forms", "left_pending_within", "left_pending_statuses",
    "right_pending_within", "right_pending_statuses", "class_severity",
)  # fmt: skip


def dbt_run_vars(window: RunWindow, overlap: timedelta) -> dict[str, str | int]:
    """The dbt vars of one run: its key, and how far before its window its sources were read."""
    return {**window.as_dict(), "window_overlap_seconds": int(overlap.total_seconds())}


def settings_rows(spec: Spec) -> list[dict]:
    rows = []
    for row in pair_settings(spec.reconcile):
        rules = [
            {
                "rule_order": order,
                "rule_name": rule["name"],
                "amount_tolerance": str(rule["amount_tolerance"]),
                "time_drift_seconds": rule["time_drift"] / timedelta(seconds=1),
                "reference_mode": rule["reference"],
            }
            for order, rule in enumerate(row.pop("rules"), start=1)
        ]
        rows.append(
            {
                **row,
                "pair_kind": row.pop("kind"),
                "left_status_map": _json(row.pop("status_left")),
                "right_status_map": _json(row.pop("status_right")),
                "fallback_rules": Jsonb(rules),
                "key_forms": _key_forms(spec, row["pair"]),
                "left_pending_statuses": _json(row.pop("left_pending_statuses")),
                "right_pending_statuses": _json(row.pop("right_pending_statuses")),
                "class_severity": _json(row.pop("class_severity")),
            }
        )
    return rows


def _key_forms(spec: Spec, pair: str) -> Jsonb | None:
    """``{"left": form, "right": form}`` (a side without one: null); null when no side has one."""
    forms = side_forms(spec, pair)
    if forms == (None, None):
        return None
    left, right = (form.settings() if form else None for form in forms)
    return Jsonb({"left": left, "right": right})


def write_pair_settings(conn: psycopg.Connection, spec: Spec, window: RunWindow) -> int:
    """Replace the run's pair settings (a rerun takes the spec as it is now)."""
    rows = settings_rows(spec)
    placeholders = ", ".join(f"%({column})s" for column in COLUMNS)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("delete from staging.pair_settings where run_id = %s", (window.run_id,))
        cur.executemany(
            f"insert into staging.pair_settings (run_id, spec, {', '.join(COLUMNS)})"  # noqa: S608
            f" values (%(run_id)s, %(spec)s, {placeholders})",
            [{**row, "run_id": window.run_id, "spec": spec.name} for row in rows],
        )
    return len(rows)


def _json(value: dict | None) -> Jsonb | None:
    return None if value is None else Jsonb(value)
