"""The local stack shared by `make demo` and the end-to-end tests.

It starts sandbox peers (the Stripe-compatible API and the SFTP server of the billing example, the
alert receiver every spec notifies) and builds the environment that points Airflow at them and at the
warehouse: a SQLite metadata DB under the project, the project's dags/ and plugins/, and one
``AIRFLOW_CONN_*`` variable per connection. Credentials are random per start and live only in that
environment.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
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
class BillingPeers:
    """The billing example's two peers while they run, and the connections that reach them."""

    connections: dict[str, str]
    stripe: StripeSandbox
    sftp: SftpSandbox


@contextmanager
def billing_peers(scenario: BillingScenario, data_dir: Path) -> Iterator[BillingPeers]:
    """The Stripe API serving the scenario's charges and the SFTP server holding its payments export."""
    sftp_root = data_dir / "sftp"
    (sftp_root / PAYMENTS_DIR).mkdir(parents=True, exist_ok=True)
    write_payments_csv(scenario, sftp_root / PAYMENTS_DIR / payments_file_name(scenario.day))
    api_key = "sk_test_" + secrets.token_hex(12)
    sftp_password = secrets.token_urlsafe(18)
    with (
        StripeSandbox(stripe_charges(scenario), api_key=api_key) as stripe,
        SftpSandbox(sftp_root, username="recon", password=sftp_password) as sftp,
    ):
        connections = {
            "stripe_default": json.dumps(
                {"conn_type": "generic", "host": stripe.base_url, "password": api_key}
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
        }
        yield BillingPeers(connections, stripe, sftp)


def alert_connections(receiver: AlertReceiver) -> dict[str, str]:
    """``slack_alerts`` and ``pagerduty_alerts``, both pointing at the local alert receiver."""
    return {
        "slack_alerts": json.dumps(
            {
                "conn_type": "slackwebhook",
                "host": f"{receiver.base_url}/services",
                "password": "T0SANDBOX/B0SANDBOX/" + secrets.token_hex(8),
            }
        ),
        "pagerduty_alerts": json.dumps(
            {"conn_type": "http", "host": receiver.base_url, "password": secrets.token_hex(16)}
        ),
    }


def connection_environment(connections: Mapping[str, str], warehouse_url: str) -> dict[str, str]:
    """One ``AIRFLOW_CONN_*`` variable per connection, the warehouse's (``recon_warehouse``) included."""
    everything = {**connections, "recon_warehouse": airflow_connection(warehouse_url)}
    return {f"AIRFLOW_CONN_{conn_id.upper()}": value for conn_id, value in everything.items()}


@dataclass
class SandboxStack:
    """The billing peers and the alert receiver for one billing scenario, and their connections."""

    scenario: BillingScenario
    data_dir: Path
    connections: dict[str, str] = field(default_factory=dict)
    receiver: AlertReceiver | None = None
    stripe: StripeSandbox | None = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> SandboxStack:
        store = self.data_dir / "alerts" / "received.jsonl"
        store.unlink(missing_ok=True)
        peers = self._stack.enter_context(billing_peers(self.scenario, self.data_dir))
        self.stripe = peers.stripe
        self.receiver = self._stack.enter_context(AlertReceiver(store))
        self.connections = {**peers.connections, **alert_connections(self.receiver)}
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()

    def environment(self, warehouse_url: str) -> dict[str, str]:
        return connection_environment(self.connections, warehouse_url)
