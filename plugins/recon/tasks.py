"""What each DAG task does, as plain functions of (spec, window): the DAG file only wires them.

Heavy imports (GX, stripe, providers) happen inside the functions, so parsing a DAG stays fast.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from recon.spec import Spec
from recon.window import RunWindow

log = logging.getLogger(__name__)


def start_run(spec: Spec, start: datetime, end: datetime, airflow_run_id: str | None) -> dict[str, str]:
    """Create the warehouse tables if needed and register the run; return the run key."""
    from recon import runs, warehouse
    from recon.matching import write_pair_settings
    from recon.retention import apply_retention
    from recon.staging.schema import ensure_schema

    window = RunWindow(spec.name, start, end)
    with warehouse.connect(spec.warehouse_connection) as conn:
        ensure_schema(conn)
        runs.start_run(conn, window, airflow_run_id)
        write_pair_settings(conn, spec, window)
        # Measured from the window, not the wall clock, so a backfill keeps what it reconciles.
        apply_retention(conn, spec.name, spec.retention_days, window.end)
    log.info("run %s started", window.run_id)
    return window.as_dict()


def extract(spec: Spec, source_name: str, run: dict[str, str]) -> dict[str, Any]:
    from recon.errors import PermanentError
    from recon.extract import extract_source

    try:
        result = extract_source(spec, source_name, RunWindow.from_dict(run))
    except PermanentError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        # Bad credentials or a broken file fail the same way on every try: fail now.
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    return result.summary()  # file sources also report each file's version


def validate(spec: Spec, run: dict[str, str], checkpoint: str, default_docs_dir: str) -> dict[str, Any]:
    """Run one integrity checkpoint (``staging`` after load, ``results`` after dbt) and store it;
    raise, stopping the run without retries, when a critical rule fails.

    Data Docs go to ``RECON_DATA_DOCS_DIR`` (read now, not when the DAG is parsed), else the default.
    """
    import os
    from pathlib import Path

    from recon import warehouse
    from recon.integrity import validate
    from recon.staging.partitions import analyze_run

    window = RunWindow.from_dict(run)
    if checkpoint == "staging":
        with warehouse.connect(spec.warehouse_connection) as conn:
            analyze_run(conn, window)  # statistics for the checks and the matching joins
    results = validate.run_checkpoint(
        spec,
        window,
        checkpoint,
        warehouse.sqlalchemy_url(spec.warehouse_connection),
        Path(os.environ.get("RECON_DATA_DOCS_DIR") or default_docs_dir),
    )
    with warehouse.connect(spec.warehouse_connection) as conn:
        validate.store_results(conn, window, checkpoint, results)
    try:
        validate.raise_on_critical(checkpoint, results)
    except validate.IntegrityError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        # The same rows would fail again: fail now instead of spending the retries.
        raise AirflowFailException(str(exc)) from exc
    return {"checked": len(results), "failed": sum(not result.success for result in results)}


def publish(spec: Spec, run: dict[str, str]) -> dict[str, Any]:
    """Mark the run published with its status and put its alerts in the outbox."""
    from recon import runs, warehouse
    from recon.alerts.build import build_alerts, read_run, write_outbox

    window = RunWindow.from_dict(run)
    with warehouse.connect(spec.warehouse_connection) as conn:
        status = runs.publish_run(conn, window)
        run_row, summary, breaks = read_run(conn, window, spec.alerts.max_breaks_listed)
        pending = write_outbox(conn, window, build_alerts(spec, run_row, summary, breaks))
    log.info("run %s published as %s with %d alert(s) queued", window.run_id, status, pending)
    return {"status": status, "alerts": pending}


def notify(spec: Spec, run: dict[str, str], channel: str) -> int:
    from recon import warehouse
    from recon.alerts.send import send_pending

    with warehouse.connect(spec.warehouse_connection) as conn:
        return send_pending(conn, RunWindow.from_dict(run), channel)


def record_failure(spec: Spec, context: dict[str, Any]) -> None:
    """Task failure callback: mark the run as ``error`` so nothing of it is published.

    Never raises: a broken callback must not hide the task's own error.
    """
    from recon import runs, warehouse

    try:
        window = RunWindow(spec.name, context["data_interval_start"], context["data_interval_end"])
        task_id = context["ti"].task_id
        error = context.get("exception")
        with warehouse.connect(spec.warehouse_connection) as conn:
            runs.mark_failed(conn, window, f"{task_id}: {type(error).__name__}: {error}")
    except Exception:  # noqa: BLE001
        log.exception("could not record the failure of run %s", spec.name)
