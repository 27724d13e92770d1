"""
### Reconciliation DAGs, one per spec

**Purpose**: reconcile the records of a spec's sources, pair by pair, for one time window, as declared in
`include/specs/<name>.yml`; one DAG `recon_<name>` per spec file, on the spec's schedule.

**Inputs**: the spec's sources (Stripe API, REST, GraphQL, SFTP CSV, Postgres) for the window
`[data_interval_start, data_interval_end)`, read through Airflow connections, and its `reconcile`
section (pairs, rules, tolerances), written to `staging.pair_settings` for dbt.

**Outputs**: `staging.records` (canonical records), `reconciliation.run_summary` (per pair and
currency), `reconciliation.matches`, `reconciliation.run_breaks` (one row per break per run),
`reconciliation.breaks` (each break's life across runs), `reconciliation.runs` (status, severity,
recommendations), and the Slack / PagerDuty messages queued in `reconciliation.alert_outbox`.

**Integrity**: the spec's rules (and the defaults) run as Great Expectations checkpoints: `validate_staging`
after load, `validate_results` after dbt; every outcome lands in `reconciliation.integrity_results`.

**Alerts**: Slack for every run with discrepancies (orange, red above `reconcile.severity.critical_percent`),
PagerDuty only above that line, one incident per spec and day (`recon/<spec>/<date>`), resolved when a
later run of the day is no longer critical; through `reconciliation.alert_outbox` (docs/alerts.md).

**On failure**: a task that fails after its retries (or at once: a rule with `on_fail: stop`, bad credentials)
marks the run `error` in `reconciliation.runs`, publishes nothing, and posts to Slack and pages on-call with
the task, the error and the log link (`RunFailureNotifier`). Every task is safe to retry: each write is keyed
by the run (spec, window) and replaces what an earlier try wrote.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Asset, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior, TestIndirectSelection
from cosmos.profiles import PostgresUserPasswordProfileMapping

from recon import tasks
from recon.alerts.failure import RunFailureNotifier
from recon.spec import Spec, load_specs

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT = PROJECT_ROOT / "dbt_project"
SPECS_DIR = Path(os.environ.get("RECON_SPECS_DIR", PROJECT_ROOT / "include" / "specs"))
# Great Expectations Data Docs, rebuilt after each checkpoint (open index.html in a browser);
# RECON_DATA_DOCS_DIR, read when the task runs, puts them elsewhere.
DATA_DOCS_DIR = str(PROJECT_ROOT / "data_docs")


def dbt_vars(spec: Spec) -> dict[str, str]:
    """The dbt vars of one run; Jinja pulls the run key that ``start_run`` returned."""
    pull = "{{{{ ti.xcom_pull(task_ids='start_run')['{}'] }}}}"
    return {
        "spec": spec.name,
        "run_id": pull.format("run_id"),
        "window_start": pull.format("window_start"),
        "window_end": pull.format("window_end"),
        # Spec.window_overlap: the matching leaves out what an earlier run reconciled in the margin.
        "window_overlap_seconds": str(int(spec.window_overlap.total_seconds())),
    }


def match_records(spec: Spec) -> DbtTaskGroup:
    """Cosmos renders each dbt model as its own `dbt build` task (model + its tests) from the manifest."""
    return DbtTaskGroup(
        group_id="match_records",
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT, manifest_path=DBT_PROJECT / "target" / "manifest.json"
        ),
        profile_config=ProfileConfig(
            profile_name="recon",
            target_name="warehouse",
            profile_mapping=PostgresUserPasswordProfileMapping(
                conn_id=spec.warehouse_connection, profile_args={"schema": "reconciliation"}
            ),
        ),
        execution_config=ExecutionConfig(
            invocation_mode=InvocationMode.DBT_RUNNER,
            # A test that reads several models runs with the last of them to be built, not the first.
            test_indirect_selection=TestIndirectSelection.BUILDABLE,
            dbt_executable_path=str(Path(sys.executable).with_name("dbt")),
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,
            # Per-model lineage assets need a host in the warehouse URI, which a Unix-socket
            # warehouse (the embedded one) lacks; the DAG publishes one asset of its own instead.
            emit_datasets=False,
        ),
        operator_args={
            "vars": dbt_vars(spec),
            "install_deps": False,
            # Unit tests prove the SQL in CI (`make test`); a production run needs only data tests.
            "dbt_cmd_flags": ["--exclude", "test_type:unit"],
        },
    )


def build_dag(spec: Spec) -> DAG:
    @dag(
        dag_id=spec.dag_id,
        description=spec.description,
        doc_md=__doc__,
        schedule=CronDataIntervalTimetable(spec.schedule, timezone="UTC"),
        catchup=False,
        max_active_runs=1,
        tags=["recon", *spec.tags],
        default_args={
            "owner": spec.owner,
            "retries": spec.retries,
            "retry_delay": timedelta(seconds=spec.retry_delay_seconds),
            # Task level (a DAG-level failure callback is unreliable in Airflow 3.1+): marks the run
            # ``error``, then posts to Slack and pages, per the spec's alerts.
            "on_failure_callback": [RunFailureNotifier(spec)],
        },
    )
    def reconcile():
        @task
        def start_run(data_interval_start=None, data_interval_end=None, run_id=None) -> dict[str, str]:
            return tasks.start_run(spec, data_interval_start, data_interval_end, run_id)

        @task
        def extract_source(run: dict[str, str], source_name: str) -> dict:
            return tasks.extract(spec, source_name, run)

        @task
        def validate_staging(run: dict[str, str]) -> dict:
            return tasks.validate(spec, run, "staging", DATA_DOCS_DIR)

        @task
        def validate_results(run: dict[str, str]) -> dict:
            return tasks.validate(spec, run, "results", DATA_DOCS_DIR)

        @task(outlets=[Asset(f"reconciliation.{spec.name}")])
        def publish_results(run: dict[str, str], run_id=None) -> dict:
            return tasks.publish(spec, run, run_id)

        @task
        def notify_slack(run: dict[str, str]) -> int:
            return tasks.notify(spec, run, "slack")

        @task
        def notify_pagerduty(run: dict[str, str]) -> int:
            return tasks.notify(spec, run, "pagerduty")

        @task
        def auto_correct(run: dict[str, str]) -> dict:
            return tasks.auto_correct(spec, run)

        run = start_run()
        extracts = [
            extract_source.override(task_id=f"extract_{s.name}")(run, s.name) for s in spec.loaded_sources
        ]
        checked = validate_staging(run)
        results_checked = validate_results(run)
        published = publish_results(run)
        extracts >> checked >> match_records(spec) >> results_checked >> published
        if spec.alerts.slack:
            published >> notify_slack(run)
        if spec.alerts.pagerduty:
            published >> notify_pagerduty(run)
        if spec.corrections and spec.corrections.auto_apply_up_to is not None:
            published >> auto_correct(run)

    return reconcile()


for _spec in load_specs(SPECS_DIR):
    globals()[_spec.dag_id] = build_dag(_spec)
