"""Rows as the result tables hold them (runs, run_summary, run_breaks) and a ``RunFacts`` built from them.

The alert builders are pure functions of these rows, so their tests need no warehouse. Column sets follow
``plugins/recon/runs.py`` and ``dbt_project/models/marts/run_summary.yml`` / ``run_breaks.yml``; every
builder takes keyword overrides for the columns a test is about.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from recon.alerts.facts import ClassCount, Links, RunFacts
from recon.recommendations import Words

SPEC = "stripe_billing"
PAIR = "stripe_vs_internal"
WINDOW_START = datetime(2026, 11, 19, tzinfo=UTC)
WINDOW_END = datetime(2026, 11, 20, tzinfo=UTC)
RUN_ID = f"{SPEC}/{WINDOW_START.isoformat()}/{WINDOW_END.isoformat()}"
AIRFLOW_RUN_ID = "scheduled__2026-11-20T00:00:00+00:00"


def run_row(status: str = "discrepancy_found", severity: str = "warning", **values: Any) -> dict[str, Any]:
    """A published ``reconciliation.runs`` row."""
    return {
        "run_id": RUN_ID,
        "spec": SPEC,
        "window_start": WINDOW_START,
        "window_end": WINDOW_END,
        "status": status,
        "airflow_run_id": AIRFLOW_RUN_ID,
        "error_message": None,
        "started_at": datetime(2026, 11, 20, 0, 5, tzinfo=UTC),
        "finished_at": datetime(2026, 11, 20, 0, 9, tzinfo=UTC),
        "severity": severity,
        "duration_seconds": Decimal("240.5"),
        "break_count": 0,
        "pending_count": 0,
        "discrepancy_percent": Decimal("0"),
        "break_counts": {},
        "totals": [],
        "recommendations": [],
        "integrity_failures": [],
        "attempt": 1,
        "warnings": [],
        **values,
    }


def summary_row(
    currency: str = "USD",
    *,
    left_total: str = "1000.00",
    right_total: str = "1000.00",
    discrepancy: str = "0",
    discrepancy_percent: str = "0",
    severity: str = "ok",
    **values: Any,
) -> dict[str, Any]:
    """A ``reconciliation.run_summary`` row: one pair and currency of the run."""
    left, right = Decimal(left_total), Decimal(right_total)
    return {
        "run_id": RUN_ID,
        "spec": SPEC,
        "window_start": WINDOW_START,
        "window_end": WINDOW_END,
        "pair": PAIR,
        "pair_kind": "records",
        "currency": currency,
        "left_source": "stripe",
        "right_source": "internal",
        "left_record_count": 10,
        "right_record_count": 10,
        "left_total_amount": left,
        "right_total_amount": right,
        "net_difference_amount": left - right,
        "matched_count": 10,
        "matched_within_tolerance_count": 0,
        "amount_mismatch_count": 0,
        "currency_mismatch_count": 0,
        "status_mismatch_count": 0,
        "attribute_mismatch_count": 0,
        "late_count": 0,
        "missing_in_left_count": 0,
        "missing_in_right_count": 0,
        "pending_count": 0,
        "duplicate_count": 0,
        "near_duplicate_count": 0,
        "group_mismatch_count": 0,
        "balance_mismatch_count": 0,
        "stuck_count": 0,
        "break_count": 0,
        "carried_break_count": 0,
        "pending_amount": Decimal("0"),
        "discrepancy_amount": Decimal(discrepancy),
        "gross_amount": max(abs(left), abs(right)),
        "tolerance_percent": Decimal("1"),
        "critical_percent": Decimal("5"),
        "discrepancy_percent": Decimal(discrepancy_percent),
        "status": "success" if severity in ("ok", "info") else "discrepancy_found",
        "severity": severity,
        "summarized_at": datetime(2026, 11, 20, 0, 8, tzinfo=UTC),
        **values,
    }


def break_row(record_key: str | None, break_class: str, **values: Any) -> dict[str, Any]:
    """A ``reconciliation.run_breaks`` row, matched on both sides unless overridden."""
    return {
        "run_id": RUN_ID,
        "spec": SPEC,
        "window_start": WINDOW_START,
        "window_end": WINDOW_END,
        "pair": PAIR,
        "break_id": f"id-{record_key}-{break_class}",
        "break_class": break_class,
        "severity": "warning",
        "missing_in": None,
        "left_source": "stripe",
        "right_source": "internal",
        "match_key": record_key,
        "left_record_keys": [record_key] if record_key else None,
        "right_record_keys": [record_key] if record_key else None,
        "left_amount": None,
        "right_amount": None,
        "left_currency": "USD",
        "right_currency": "USD",
        "currency": "USD",
        "amount_difference": None,
        "discrepancy_amount": Decimal("0"),
        "left_occurred_at": datetime(2026, 11, 19, 8, tzinfo=UTC),
        "right_occurred_at": datetime(2026, 11, 19, 8, tzinfo=UTC),
        "occurred_at": datetime(2026, 11, 19, 8, tzinfo=UTC),
        "time_difference_seconds": Decimal("0"),
        "left_status": "succeeded",
        "right_status": "succeeded",
        "different_fields": None,
        "customer_email": None,
        "reference": None,
        "match_rule": "key",
        "carried_from_run_id": None,
        "is_carried_break": False,
        "detected_at": datetime(2026, 11, 20, 0, 8, tzinfo=UTC),
        **values,
    }


def missing_row(record_key: str, missing_in: str, amount: str, **values: Any) -> dict[str, Any]:
    """A lone record: present on one side of stripe_vs_internal, ``missing_in`` the other."""
    in_left = missing_in == "internal"  # missing in the right side: the record is stripe's
    return break_row(
        record_key,
        "missing",
        missing_in=missing_in,
        left_record_keys=[record_key] if in_left else None,
        right_record_keys=None if in_left else [record_key],
        left_amount=Decimal(amount) if in_left else None,
        right_amount=None if in_left else Decimal(amount),
        left_currency="USD" if in_left else None,
        right_currency=None if in_left else "USD",
        left_status="succeeded" if in_left else None,
        right_status=None if in_left else "succeeded",
        time_difference_seconds=None,
        match_rule=None,
        discrepancy_amount=Decimal(amount),
        **values,
    )


def class_counts(breaks: list[dict[str, Any]]) -> list[ClassCount]:
    """Counts per class, per side for missing records and repeats, largest first, as ``read_run_facts``
    groups run_breaks."""

    def side(row: dict[str, Any]) -> tuple[str | None, str | None]:
        if row["break_class"] == "missing":
            return row["missing_in"], None
        if row["break_class"] in ("duplicate", "near_duplicate"):
            return None, row["right_source"] if row["left_amount"] is None else row["left_source"]
        return None, None

    counted = Counter((row["break_class"], *side(row)) for row in breaks)
    ordered = sorted(
        counted.items(), key=lambda item: (-item[1], item[0][0], item[0][1] or "", item[0][2] or "")
    )
    return [
        ClassCount(cls, missing_in, count, repeated_in) for (cls, missing_in, repeated_in), count in ordered
    ]


def run_facts(
    run: dict[str, Any] | None = None,
    summary: list[dict[str, Any]] | None = None,
    breaks: list[dict[str, Any]] | None = None,
    *,
    counts: list[ClassCount] | None = None,
    still_open: int = 0,
    seen_again: int = 0,
    quarantined: int = 0,
    links: Links | None = None,
    words: Words | None = None,
) -> RunFacts:
    """What ``read_run_facts`` would read: counts from the breaks unless given; the breaks still open
    from earlier runs (read from reconciliation.breaks) as given."""
    run = run if run is not None else run_row()
    summary = summary if summary is not None else [summary_row()]
    breaks = breaks if breaks is not None else []
    return RunFacts(
        run=run,
        summary=summary,
        counts=counts if counts is not None else class_counts(breaks),
        still_open=still_open,
        breaks=breaks,
        quarantined=quarantined,
        links=links if links is not None else Links(),
        seen_again=seen_again,
        words=words or Words(),
    )
