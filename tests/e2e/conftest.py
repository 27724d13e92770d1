"""What the end-to-end tests share: one Airflow metadata DB (SQLite under .airflow/tests), migrated once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def airflow_db() -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())


@pytest.fixture
def shipped_dag(airflow_db, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Load the DAG of one shipped example spec (include/specs/<name>.yml), alone and without retries;
    ``changes`` replace top-level sections of the spec (``alerts={...}``) for a variant of it.

    Without retries a failing task fails the test at once instead of after the spec's retry delays.
    """
    import yaml
    from airflow.dag_processing.dagbag import DagBag

    def load(name: str, **changes):
        source = PROJECT_ROOT / "include" / "specs" / f"{name}.yml"
        specs = tmp_path_factory.mktemp(f"{name}-specs")
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
        (specs / source.name).write_text(
            yaml.safe_dump({**document, "retries": 0, **changes}), encoding="utf-8"
        )
        # Kept for the whole test: dag.test() parses the DAG file again to serialize the DAG.
        monkeypatch.setenv("RECON_SPECS_DIR", str(specs))
        bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "recon_specs.py"))
        assert bag.import_errors == {}
        return bag.dags[f"recon_{name}"]

    return load


@pytest.fixture
def run_scenario(warehouse_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Serve a scenario's peers, point the spec's connections (and the warehouse) at them, and run
    the DAG for each of the scenario's logical dates; the DagRuns, in order."""
    from recon.warehouse import airflow_connection

    def run(dag, scenario) -> list:
        monkeypatch.setenv("AIRFLOW_CONN_RECON_WAREHOUSE", airflow_connection(warehouse_url))
        with scenario.serve(tmp_path) as connections:
            for conn_id, value in connections.items():
                monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
            runs = []
            for index, date in enumerate(scenario.logical_dates()):
                runs.append(dag.test(logical_date=date))
                if hasattr(scenario, "after_run"):  # what reaches a source between two runs
                    scenario.after_run(index)
            return runs

    return run


@pytest.fixture
def alert_receiver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The local Slack and PagerDuty endpoint, as the connections ``slack_alerts`` and ``pagerduty_alerts``
    (what a spec variant's ``alerts`` section names); ``received()`` is what reached it."""
    from include.local_stack import alert_connections
    from include.sandbox.alert_receiver import AlertReceiver

    with AlertReceiver(tmp_path / "alerts.jsonl") as receiver:
        for conn_id, value in alert_connections(receiver).items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        yield receiver
