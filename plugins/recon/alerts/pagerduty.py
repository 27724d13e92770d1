"""PagerDuty Events API v2 events: a page for a critical run, its resolve, and a pipeline failure.

The outbox stores the arguments of the PagerDuty provider's ``prepare_event_data``; the sender turns
them into the event body, so the provider, not recon, decides the Events v2 layout.

One incident per reconciliation and day: the dedup key is ``recon/<spec>/<date of the window>``, so
every run of that day's windows updates the same incident, and ``recon/<spec>/<date>/failure`` is the
pipeline's own, apart from the data's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from recon.alerts.facts import RunFacts, integrity_lines, percent
from recon.masking import mask_text, mask_values

_SUMMARY_LIMIT = 1024  # Events API v2 truncates longer summaries


def dedup_key(spec: str, window_start: datetime) -> str:
    return f"recon/{spec}/{window_start.astimezone(UTC):%Y-%m-%d}"


def failure_dedup_key(spec: str, window_start: datetime) -> str:
    return f"{dedup_key(spec, window_start)}/failure"


def trigger(facts: RunFacts, severity: str, owner: str) -> dict[str, Any]:
    """A critical run's page: its discrepancy, and every integrity rule it failed (the critical ones
    in the summary, all of them in the details)."""
    run = facts.run
    summary = (
        f"recon {facts.spec} {facts.window}: {percent(facts.discrepancy_percent)} discrepancy"
        f" (critical above {percent(facts.critical_percent)}), {facts.break_count:,} breaks"
    )
    # A class the spec rates critical pages whatever the share: say so, or the page reads as if the
    # percentage were under the line by mistake.
    by_class = sum(row.get("critical_class_break_count") or 0 for row in facts.summary)
    if by_class:
        summary += f"; {by_class:,} of a class rated critical (reconcile severity.classes)"
    failures = run.get("integrity_failures") or []
    critical_rules = [failure for failure in failures if failure["severity"] == "critical"]
    if critical_rules:
        summary += "; critical integrity rules failed: " + ", ".join(
            _rule_count(failure) for failure in critical_rules
        )
    details = {
        "run_id": run["run_id"],
        "window_start": run["window_start"].isoformat(),
        "window_end": run["window_end"].isoformat(),
        "status": run["status"],
        "discrepancy_percent": str(facts.discrepancy_percent),
        "totals": [
            {
                "pair": row["pair"],
                "currency": row["currency"],
                row["left_source"]: str(row["left_total_amount"]),
                row["right_source"]: str(row["right_total_amount"]),
                "discrepancy_amount": str(row["discrepancy_amount"]),
                "discrepancy_percent": str(row["discrepancy_percent"]),
                "severity": row["severity"],
            }
            for row in facts.summary
        ],
        "breaks_by_class": {item.label: item.count for item in facts.counts},
        "still_open_from_earlier_runs": facts.still_open,
        "recommendations": (run.get("recommendations") or [])[:3],
        "largest_breaks": [facts.describe(item) for item in facts.breaks],
        "integrity_rules_failed": integrity_lines(run),
        "quarantined_rows": facts.quarantined,
    }
    return {
        "action": "trigger",
        "dedup_key": dedup_key(facts.spec, run["window_start"]),
        "summary": mask_text(summary)[:_SUMMARY_LIMIT],
        "severity": severity,
        "source": f"recon/{facts.spec}",
        "component": ", ".join(sorted({row["pair"] for row in facts.summary})) or facts.spec,
        "group": owner,
        "class_type": "reconciliation_discrepancy",
        "custom_details": mask_values(details),
        "links": _links(facts.links.airflow_run, facts.links.dashboard_run),
    }


def resolve(key: str, spec: str, why: str) -> dict[str, Any]:
    # PagerDuty ignores a resolve's payload, but the provider builds one: keep it truthful.
    return {
        "action": "resolve",
        "dedup_key": key,
        "summary": why,
        "severity": "info",
        "source": f"recon/{spec}",
    }


def failure(
    spec: str, owner: str, severity: str, *, dag_id: str, task_id: str, airflow_run_id: str,
    window_start: datetime, window: str, error: str, log_url: str | None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "action": "trigger",
        "dedup_key": failure_dedup_key(spec, window_start),
        # One line: an error that lists several failed rules has one per line.
        "summary": mask_text(
            f"recon {spec} {window}: the reconciliation failed in {task_id}: {_one_line(error)}"
        )[:_SUMMARY_LIMIT],
        "severity": severity,
        "source": f"recon/{spec}",
        "component": task_id,
        "group": owner,
        "class_type": "pipeline_failure",
        "custom_details": {
            "dag_id": dag_id,
            "task_id": task_id,
            "airflow_run_id": airflow_run_id,
            "error": mask_text(error)[:4000],
        },
        "links": _links(log_url, None, airflow_label="Task log in Airflow"),
    }


def _rule_count(failure: dict[str, Any]) -> str:
    where = f" on {failure['source']}" if failure.get("source") else ""
    count = failure.get("unexpected_count")
    rows = "not checked" if count is None else f"{count:,} row{'' if count == 1 else 's'}"
    return f"{failure['rule_name']}{where} ({rows})"


def _one_line(text: str) -> str:
    """``a:\n- b\n- c`` as ``a: b; c``."""
    parts = [line.strip().removeprefix("- ") for line in text.splitlines() if line.strip()]
    joined = parts[0] if parts else ""
    for part in parts[1:]:
        joined += (" " if joined.endswith(":") else "; ") + part
    return joined


def _links(airflow: str | None, dashboard: str | None, airflow_label: str = "Airflow run") -> list[dict]:
    links = [{"href": airflow, "text": airflow_label}] if airflow else []
    return links + ([{"href": dashboard, "text": "recon dashboard"}] if dashboard else [])
