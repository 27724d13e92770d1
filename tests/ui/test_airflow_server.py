"""The real Airflow API server the UI tests share (include/airflow_server.py), and recon's client of its
REST API (recon.airflow_api): authentication, roles, the shipped DAGs, triggering and waiting."""

from __future__ import annotations

import datetime as dt
import socket
from urllib.parse import quote

import httpx
import pytest

from include.airflow_server import ApiServerError
from include.airflow_server import airflow_api_server as start_api_server
from recon.airflow_api import AirflowApi, AirflowApiError, AirflowRunTimeout, get_token

pytestmark = pytest.mark.integration

DAG = "recon_stripe_billing"
# Far from any window another test runs, in the Airflow DB the tests share.
START, END = dt.datetime(2032, 3, 1, tzinfo=dt.UTC), dt.datetime(2032, 3, 2, tzinfo=dt.UTC)


def test_the_api_refuses_anonymous_calls_and_lists_the_shipped_dags_to_the_admin(airflow_api_server) -> None:
    base = airflow_api_server.base_url

    anonymous = httpx.get(f"{base}/api/v2/dags")
    admin = httpx.get(
        f"{base}/api/v2/dags", headers={"Authorization": f"Bearer {airflow_api_server.token('admin')}"}
    )

    assert anonymous.status_code == 401
    assert admin.status_code == 200
    dag_ids = {dag["dag_id"] for dag in admin.json()["dags"]}
    assert {DAG, "recon_ticket_orders", "recon_mobile_money", "recon_maintenance"} <= dag_ids
    assert httpx.get(f"{base}/api/v2/monitor/health").json()["metadatabase"]["status"] == "healthy"
    assert airflow_api_server.log_path.is_file()


def test_the_viewer_reads_but_may_not_trigger(airflow_api_server) -> None:
    base = airflow_api_server.base_url
    viewer = {"Authorization": f"Bearer {airflow_api_server.token('viewer')}"}

    read = httpx.get(f"{base}/api/v2/dags/{DAG}", headers=viewer)
    trigger = httpx.post(
        f"{base}/api/v2/dags/{DAG}/dagRuns", headers=viewer, json={"logical_date": START.isoformat()}
    )

    assert read.status_code == 200
    assert read.json()["dag_id"] == DAG
    assert trigger.status_code == 403
    assert set(airflow_api_server.users) == {"admin", "viewer"}


def test_the_ui_is_served_under_its_base_url(airflow_api_server) -> None:
    page = httpx.get(f"{airflow_api_server.base_url}/", follow_redirects=True)

    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]


def test_the_client_triggers_a_window_finds_it_and_times_out_waiting_without_a_scheduler(
    airflow_api_server,
) -> None:
    with AirflowApi(airflow_api_server.base_url, airflow_api_server.token("admin")) as api:
        run_id = api.trigger(DAG, START, END, note="test")
        try:
            found = api.find_run(DAG, START)
            with pytest.raises(AirflowRunTimeout) as waited:
                api.wait(DAG, run_id, timeout_seconds=0.5, poll_seconds=0.2)
            with pytest.raises(AirflowApiError) as twice:
                api.trigger(DAG, START, END)
            state = api.run_state(DAG, run_id)
        finally:
            httpx.delete(
                f"{airflow_api_server.base_url}/api/v2/dags/{DAG}/dagRuns/{quote(run_id, safe='')}",
                headers={"Authorization": f"Bearer {airflow_api_server.token('admin')}"},
            ).raise_for_status()

    assert found is not None
    assert (found["dag_run_id"], found["data_interval_start"], found["data_interval_end"]) == (
        run_id,
        "2032-03-01T00:00:00Z",
        "2032-03-02T00:00:00Z",
    )
    assert found["note"] == "test"
    assert state == "queued"
    assert waited.value.state == "queued"
    assert "still queued after 0.5 s" in str(waited.value)
    assert twice.value.status == 409
    assert str(twice.value).startswith(
        f"Airflow API {airflow_api_server.base_url}/api/v2/dags/{DAG}/dagRuns: HTTP 409"
    )


def test_client_errors_name_the_url_and_the_status_but_never_the_secret(airflow_api_server) -> None:
    base = airflow_api_server.base_url
    with pytest.raises(AirflowApiError) as bad_password:
        get_token(base, "admin", "wrong-secret")
    with AirflowApi(base, "not-a-token-secret") as api, pytest.raises(AirflowApiError) as bad_token:
        api.dag(DAG)
    with (
        AirflowApi(base, airflow_api_server.token("admin")) as api,
        pytest.raises(AirflowApiError) as unknown,
    ):
        api.dag("recon_no_such_spec")

    assert bad_password.value.status == 401
    assert bad_password.value.url == f"{base}/auth/token"
    assert (bad_token.value.status, bad_token.value.detail) == (403, "Invalid JWT token")
    assert unknown.value.status == 404
    assert "recon_no_such_spec" in unknown.value.detail
    for error in (bad_password.value, bad_token.value, unknown.value):
        assert "secret" not in str(error)


def test_the_client_reads_its_settings_from_the_environment(
    airflow_api_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RECON_AIRFLOW_URL", "RECON_AIRFLOW_TOKEN", "RECON_AIRFLOW_USER", "RECON_AIRFLOW_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    assert AirflowApi.from_env() is None

    monkeypatch.setenv("RECON_AIRFLOW_URL", airflow_api_server.base_url + "/")
    with pytest.raises(AirflowApiError) as incomplete:
        AirflowApi.from_env()
    monkeypatch.setenv("RECON_AIRFLOW_USER", "viewer")
    monkeypatch.setenv("RECON_AIRFLOW_PASSWORD", airflow_api_server.users["viewer"])
    with AirflowApi.from_env() as by_password:
        assert by_password.dag(DAG)["dag_id"] == DAG
    monkeypatch.setenv("RECON_AIRFLOW_TOKEN", airflow_api_server.token("admin"))
    monkeypatch.setenv("RECON_AIRFLOW_PASSWORD", "not used when a token is set")
    with AirflowApi.from_env() as by_token:
        assert by_token.base_url == airflow_api_server.base_url
        assert by_token.dag(DAG)["dag_id"] == DAG

    assert "neither RECON_AIRFLOW_TOKEN nor RECON_AIRFLOW_USER and RECON_AIRFLOW_PASSWORD" in str(
        incomplete.value
    )


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            pytest.raises(ApiServerError) as refused,
            start_api_server({"AIRFLOW_HOME": str(tmp_path)}, port),
        ):
            pass

    assert f"port {port} on 127.0.0.1 is in use" in str(refused.value)
    assert not (tmp_path / "airflow.db").exists()
