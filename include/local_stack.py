"""The local stack shared by `make demo` and the end-to-end tests.

It starts the sandbox peers (Stripe-compatible API, SFTP server, alert receiver) for one scenario,
and builds the environment that points Airflow at them and at the warehouse: a SQLite metadata DB
under the project, the project's dags/ and plugins/, and one ``AIRFLOW_CONN_*`` variable per
connection. Credentials are random per start and live only in that environment.
"""

from __future__ import annotations

import json
import os
import secrets
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from include.sandbox.alert_receiver import AlertReceiver
from include.sandbox.generator import BillingScenario, payments_file_name, stripe_charges, write_payments_csv
from include.sandbox.sftp_server import SftpSandbox
from include.sandbox.stripe_server import StripeSandbox
from recon.warehouse import airflow_connection

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PAYMENTS_DIR = "exports/payments"


def airflow_environment(airflow_home: Path) -> dict[str, str]:
    """Settings for a self-contained Airflow: SQLite metadata, this project's DAGs, no telemetry."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "SCARF_NO_ANALYTICS": "true",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)]),
    }


@dataclass
class SandboxStack:
    """The three sandbox peers for one billing scenario, and the connections that reach them."""

    scenario: BillingScenario
    data_dir: Path
    connections: dict[str, str] = field(default_factory=dict)
    receiver: AlertReceiver | None = None
    stripe: StripeSandbox | None = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> SandboxStack:
        sftp_root = self.data_dir / "sftp"
        (sftp_root / PAYMENTS_DIR).mkdir(parents=True, exist_ok=True)
        write_payments_csv(self.scenario, sftp_root / PAYMENTS_DIR / payments_file_name(self.scenario.day))
        store = self.data_dir / "alerts" / "received.jsonl"
        store.unlink(missing_ok=True)

        api_key = "sk_test_" + secrets.token_hex(12)
        sftp_password = secrets.token_urlsafe(18)
        self.stripe = self._stack.enter_context(StripeSandbox(stripe_charges(self.scenario), api_key=api_key))
        sftp = self._stack.enter_context(SftpSandbox(sftp_root, username="recon", password=sftp_password))
        self.receiver = self._stack.enter_context(AlertReceiver(store))
        receiver_url = self.receiver.base_url
        self.connections = {
            "stripe_default": json.dumps(
                {"conn_type": "generic", "host": self.stripe.base_url, "password": api_key}
            ),
            "payments_sftp": json.dumps(
                {
                    "conn_type": "sftp",
                    "host": "127.0.0.1",
                    "port": sftp.port,
                    "login": "recon",
                    "password": sftp_password,
                    "extra": {"no_host_key_check": True},
                }
            ),
            "slack_alerts": json.dumps(
                {
                    "conn_type": "slackwebhook",
                    "host": f"{receiver_url}/services",
                    "password": "T0SANDBOX/B0SANDBOX/" + secrets.token_hex(8),
                }
            ),
            "pagerduty_alerts": json.dumps(
                {
                    "conn_type": "http",
                    "host": receiver_url,
                    "password": secrets.token_hex(16),
                }
            ),
        }
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def environment(self, warehouse_url: str) -> dict[str, str]:
        connections = {**self.connections, "recon_warehouse": airflow_connection(warehouse_url)}
        return {f"AIRFLOW_CONN_{conn_id.upper()}": value for conn_id, value in connections.items()}
