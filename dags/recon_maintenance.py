"""
### recon maintenance

**Purpose**: deliver the Slack messages and PagerDuty events that could not be sent when their run
published them (the service was down or rate limited): every alert in `reconciliation.alert_outbox`
whose `next_attempt_at` has come is sent again, with the same backoff as the first try, until it is
sent or given up (`recon.alerts.outbox`). A reconciliation's next run does the same for its own spec.

**Inputs**: `reconciliation.alert_outbox` in each warehouse the specs name.

**Outputs**: the outbox rows' `status`, `attempts`, `last_error`, `response`, `sent_at`.

**On failure**: nothing is lost; an alert that was not sent stays `failed` for the next try.
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import dag, task

from recon import tasks
from recon.spec import load_specs

SPECS_DIR = Path(os.environ.get("RECON_SPECS_DIR", Path(__file__).resolve().parents[1] / "include" / "specs"))


@dag(
    dag_id="recon_maintenance",
    doc_md=__doc__,
    schedule="*/30 * * * *",
    catchup=False,
    max_active_runs=1,
    tags=["recon", "maintenance"],
    default_args={"owner": "data-team", "retries": 1},
)
def recon_maintenance():
    @task
    def retry_alerts(warehouse_connection: str) -> dict[str, int]:
        return tasks.retry_alerts(warehouse_connection)

    warehouses = sorted({spec.warehouse_connection for spec in load_specs(SPECS_DIR)})
    for conn_id in warehouses:
        retry_alerts.override(task_id=f"retry_alerts_{conn_id}")(conn_id)


recon_maintenance()
