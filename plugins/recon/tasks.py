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
    """Run one integrity checkpoint (``staging`` after load, ``results`` after dbt) and store it; move
    the rows of ``on_fail: quarantine`` rules to staging.quarantine (before dbt, in the same
    transaction as the results); raise, stopping the run without retries, when a rule whose
    ``on_fail`` is ``stop`` failed (the error lists every failed rule).

    Data Docs go to ``RECON_DATA_DOCS_DIR`` (read now, not when the DAG is parsed), else the default.
    """
    import os
    from pathlib import Path

    from recon import warehouse
    from recon.integrity import quarantine, validate
    from recon.staging.partitions import analyze_run

    window = RunWindow.from_dict(run)
    if checkpoint == "staging":
        with warehouse.connect(spec.warehouse_connection) as conn:
            # A retry checks the run as it was loaded: rows an earlier try moved go back first.
            quarantine.restore(conn, window)
            analyze_run(conn, window)  # statistics for the checks and the matching joins
    results = validate.run_checkpoint(
        spec,
        window,
        checkpoint,
        warehouse.sqlalchemy_url(spec.warehouse_connection),
        Path(os.environ.get("RECON_DATA_DOCS_DIR") or default_docs_dir),
    )
    stops = any(not result.success and result.on_fail == "stop" for result in results)
    with warehouse.connect(spec.warehouse_connection) as conn, conn.transaction():
        validate.store_results(conn, window, checkpoint, results)
        # A run that stops matches nothing: its rows stay where they were loaded.
        moved = 0 if stops else quarantine.move(conn, spec, window, results)
    try:
        validate.raise_on_stop(checkpoint, results)
    except validate.IntegrityError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        # The same rows would fail again: fail now instead of spending the retries.
        raise AirflowFailException(str(exc)) from exc
    return {
        "checked": len(results),
        "failed": sum(not result.success for result in results),
        "quarantined": moved,
    }


def publish(spec: Spec, run: dict[str, str], airflow_run_id: str | None = None) -> dict[str, Any]:
    """Mark the run published with its status and queue its alerts, in one transaction."""
    import psycopg

    from recon import runs, warehouse
    from recon.alerts import outbox
    from recon.alerts.facts import read_run_facts
    from recon.dashboard.indexes import create_indexes
    from recon.recommendations import spec_words

    window = RunWindow.from_dict(run)
    with warehouse.connect(spec.warehouse_connection) as conn:
        with conn.transaction():
            words = spec_words(spec)
            status = runs.publish_run(conn, window, words)
            facts = read_run_facts(
                conn, window, spec.alerts.max_breaks_listed, links(spec, window, airflow_run_id), words
            )
            queued = outbox.queue(
                conn, window.run_id, spec.name, facts.run["attempt"], outbox.result_alerts(conn, spec, facts)
            )
        # The dashboard's read indexes, built the first time the tables exist. A failure leaves the
        # dashboard slower, never the run unpublished.
        try:
            create_indexes(conn)
        except psycopg.Error as exc:
            conn.rollback()
            runs.add_warning(conn, window.run_id, f"dashboard indexes not created: {exc}")
    log.info("run %s published as %s with %d alert(s) queued", window.run_id, status, queued)
    return {"status": status, "alerts": queued}


def notify(spec: Spec, run: dict[str, str], channel: str) -> int:
    """Send the run's queued alerts of ``channel``, and earlier ones now due; never fails the run.

    An alert still undelivered stays ``failed`` in the outbox for the next run or recon_maintenance,
    and the run carries a warning saying so.
    """
    from recon import runs, warehouse
    from recon.alerts import outbox

    window = RunWindow.from_dict(run)
    with warehouse.connect(spec.warehouse_connection) as conn:
        delivery = outbox.deliver(conn, spec.name, channel=channel, run_id=window.run_id)
        for alert in delivery.undelivered:
            if alert["run_id"] == window.run_id:
                runs.add_warning(
                    conn, window.run_id,
                    f"{channel} {alert['event']} alert not delivered after {alert['attempts']} request(s)"
                    f" ({alert['last_error']}); status {alert['status']} in reconciliation.alert_outbox",
                )  # fmt: skip
    return delivery.sent


def auto_correct(spec: Spec, run: dict[str, str]) -> dict[str, int]:
    """Plan the spec's corrections and apply those under ``corrections.auto_apply_up_to``.

    Never fails the published run: a target that cannot be reached or refuses a change leaves the
    corrections planned, the run carrying a warning, for a person to apply later.
    """
    import psycopg

    from recon import runs, warehouse
    from recon.corrections.apply import apply_corrections
    from recon.corrections.plan import CorrectionError, plan_corrections

    window = RunWindow.from_dict(run)
    with warehouse.connect(spec.warehouse_connection) as conn:
        try:
            planned = plan_corrections(conn, spec, "recon (auto)")
            outcomes = apply_corrections(conn, spec, "recon (auto)", auto_only=True)
        except (CorrectionError, psycopg.Error) as exc:
            conn.rollback()
            runs.add_warning(conn, window.run_id, f"corrections not planned or applied: {exc}")
            log.warning("recon %s: corrections not planned or applied: %s", spec.name, exc)
            return {"planned": 0, "applied": 0}
        applied = sum(outcome.status == "applied" for outcome in outcomes)
        for outcome in outcomes:
            if outcome.status != "applied":
                runs.add_warning(
                    conn,
                    window.run_id,
                    f"auto correction {outcome.correction_id} {outcome.status}: {outcome.detail}",
                )
    log.info(
        "recon %s: %d correction(s) planned, %d applied by the run", spec.name, len(planned.changes), applied
    )
    return {"planned": len(planned.changes), "applied": applied}


def retry_alerts(warehouse_connection: str) -> dict[str, int]:
    """recon_maintenance: send every alert whose next attempt has come, for all specs."""
    from recon import warehouse
    from recon.alerts import outbox

    with warehouse.connect(warehouse_connection) as conn:
        delivery = outbox.deliver(conn)
    return {"sent": delivery.sent, "undelivered": len(delivery.undelivered)}


def links(spec: Spec, window: RunWindow, airflow_run_id: str | None) -> Any:
    """Where a message points: the run in the Airflow UI and in the recon dashboard."""
    import os
    from urllib.parse import quote

    from airflow.configuration import conf

    from recon.alerts.facts import Links

    base = conf.get("api", "base_url", fallback=None) or "http://localhost:8080/"
    base = base.rstrip("/")
    dashboard = (
        spec.alerts.dashboard_url or os.environ.get("RECON_DASHBOARD_URL") or f"{base}/recon"
    ).rstrip("/")
    airflow_run = (
        f"{base}/dags/{spec.dag_id}/runs/{quote(airflow_run_id, safe='')}" if airflow_run_id else None
    )
    return Links(airflow_run=airflow_run, dashboard_run=f"{dashboard}/runs/{quote(window.run_id, safe='')}")
