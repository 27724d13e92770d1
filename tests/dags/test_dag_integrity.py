"""Every DAG file imports cleanly, follows the house rules, and does no I/O while being parsed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p for p in (PROJECT_ROOT / "dags").glob("*.py") if not p.name.startswith("_"))

# Runs in a fresh interpreter: after Airflow is imported, any network connection, database
# connection, Airflow connection lookup or Variable read during parsing raises, so it shows up as
# an import error of the DAG file.
PARSE_WITHOUT_IO = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import BaseHook, Variable
import psycopg, psycopg2

def refuse(what):
    def blocked(*args, **kwargs):
        raise RuntimeError(f"{what} at DAG parse time")
    return blocked

def audit(event, args):
    if event == "socket.connect":
        raise RuntimeError(f"network connection to {args[1]!r} at DAG parse time")

psycopg.connect = refuse("Postgres connection")
psycopg2.connect = refuse("Postgres connection")
BaseHook.get_connection = classmethod(refuse("Airflow connection lookup"))
Variable.get = staticmethod(refuse("Airflow Variable read"))
sys.addaudithook(audit)
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dags)}))
"""


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_there_are_dag_files_to_check() -> None:
    assert DAG_FILES, "no DAG files found under dags/"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_without_network_or_database(dag_file: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", PARSE_WITHOUT_IO, str(dag_file)],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    parsed = json.loads(completed.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    assert parsed["dags"], f"{dag_file.name} defines no DAG"


def test_the_parse_check_catches_a_connection_lookup_at_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad_dag.py"
    bad.write_text(
        "from airflow.sdk import BaseHook, dag\n"
        "BaseHook.get_connection('recon_warehouse')\n"
        "@dag(schedule=None)\n"
        "def bad_dag():\n"
        "    pass\n"
        "bad_dag()\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", PARSE_WITHOUT_IO, str(bad)], capture_output=True, text=True, timeout=300
    )

    errors = json.loads(completed.stdout.strip().splitlines()[-1])["errors"]
    assert "Airflow connection lookup at DAG parse time" in errors[str(bad)]


def test_an_invalid_spec_is_an_import_error_naming_its_file_and_field(tmp_path: Path) -> None:
    spec = (PROJECT_ROOT / "include" / "specs" / "stripe_billing.yml").read_text()
    (tmp_path / "stripe_billing.yml").write_text(spec.replace("owner: data-team\n", ""))

    completed = subprocess.run(
        [sys.executable, "-c", PARSE_WITHOUT_IO, str(PROJECT_ROOT / "dags" / "recon_specs.py")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RECON_SPECS_DIR": str(tmp_path)},
    )

    errors = json.loads(completed.stdout.strip().splitlines()[-1])["errors"]
    (error,) = errors.values()
    assert f"{tmp_path / 'stripe_billing.yml'}: invalid spec:" in error
    # A missing top-level field points at the start of the document (line 3, after the comments).
    assert "field 'owner' (line 3): Field required" in error


def test_dagbag_has_no_import_errors(dagbag) -> None:
    assert dagbag.import_errors == {}


def test_one_dag_per_spec_named_after_it(dagbag) -> None:
    specs = sorted(p.stem for p in (PROJECT_ROOT / "include" / "specs").glob("*.yml"))

    assert sorted(dagbag.dags) == sorted([*(f"recon_{name}" for name in specs), "recon_maintenance"])


def test_every_task_has_an_owner_and_retries(dagbag) -> None:
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag.dag_id}.{task.task_id} has no owner"
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} has no retries"


def test_every_dag_is_tagged_and_documented(dagbag) -> None:
    for dag in dagbag.dags.values():
        assert "recon" in dag.tags
        assert dag.doc_md and "On failure" in dag.doc_md


def test_every_reconciliation_task_reports_its_failure(dagbag) -> None:
    from recon.alerts.failure import RunFailureNotifier

    reconciliations = [dag for dag in dagbag.dags.values() if dag.dag_id != "recon_maintenance"]
    assert reconciliations
    for dag in reconciliations:
        for task in dag.tasks:
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            notifiers = [cb for cb in callbacks if isinstance(cb, RunFailureNotifier)]
            assert len(notifiers) == 1, f"{dag.dag_id}.{task.task_id} has no failure notifier"
            assert f"recon_{notifiers[0].spec.name}" == dag.dag_id


def test_the_maintenance_dag_retries_alerts_in_every_warehouse_the_specs_name(dagbag) -> None:
    dag = dagbag.dags["recon_maintenance"]

    assert {task.task_id for task in dag.tasks} == {"retry_alerts_recon_warehouse"}


def test_reference_sources_are_extracted_before_the_staging_checkpoint(dagbag) -> None:
    dag = dagbag.dags["recon_ticket_orders"]
    extracts = {t for t in dag.get_task("validate_staging").upstream_task_ids if t.startswith("extract_")}

    assert extracts == {"extract_platform", "extract_box_office", "extract_events"}


def test_the_reconciliation_runs_in_order(dagbag) -> None:
    dag = dagbag.dags["recon_stripe_billing"]
    build_tasks = [t for t in dag.task_ids if t.startswith("match_records.")]

    assert dag.get_task("validate_staging").upstream_task_ids == {
        "start_run",
        "extract_stripe",
        "extract_internal",
    }
    assert build_tasks, "the dbt task group rendered no task"
    # The results checkpoint runs after the whole dbt group and before anything is published.
    assert dag.get_task("validate_results").upstream_task_ids - {"start_run"} <= set(build_tasks)
    assert dag.get_task("validate_results").upstream_task_ids & set(build_tasks)
    assert dag.get_task("publish_results").upstream_task_ids == {"start_run", "validate_results"}
    assert dag.get_task("notify_slack").upstream_task_ids == {"start_run", "publish_results"}
    assert dag.get_task("notify_pagerduty").upstream_task_ids == {"start_run", "publish_results"}


# Airflow executes every .py file under the plugins folder as a top-level module named by its stem.
LOAD_PLUGINS = """
import json, sys
from airflow._shared.plugins_manager.plugins_manager import _load_plugins_from_plugin_directory
plugins, errors = _load_plugins_from_plugin_directory(sys.argv[1])
import http
print(json.dumps({"errors": errors, "http": http.__file__, "loaded": sorted(sys.modules)}))
"""


def test_the_plugins_folder_never_runs_recon_modules_under_bare_names() -> None:
    # Without plugins/.airflowignore, plugins/recon/sources/http.py would replace the standard
    # library's http module inside every task, and each source type would register twice.
    completed = subprocess.run(
        [sys.executable, "-c", LOAD_PLUGINS, str(PROJECT_ROOT / "plugins")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}{os.pathsep}{PROJECT_ROOT}"},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    assert report["errors"] == {}
    assert "recon" not in Path(report["http"]).parts
    assert not {"stripe_charges", "spec", "registry", "partitions"} & set(report["loaded"])
