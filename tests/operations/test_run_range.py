"""`recon run SPEC --from --to`: the schedule's windows, bad ranges refused, and one real run per window,
locally (dag.test against a scenario's peers) and through the REST API of a real Airflow API server."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
import yaml

from recon.cli import main
from recon.ondemand import RangeError, find_spec, parse_bound, plan, windows
from recon.spec import Spec

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SPECS = PROJECT_ROOT / "include" / "specs"
UTC = dt.UTC


def at(day: int, hour: int = 0, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)


def spec_named(name: str) -> Spec:
    return find_spec(name, SPECS)[0]


def recon_run(*argv: str) -> int:
    """`recon run ...` as typed."""
    return main(["run", *argv])


def test_a_daily_schedule_gives_whole_utc_days_and_a_date_to_is_inclusive() -> None:
    billing = spec_named("stripe_billing")
    found = windows(billing, parse_bound("2026-11-01", end=False), parse_bound("2026-11-03", end=True))

    assert [(w.start, w.end) for w in found] == [(at(1), at(2)), (at(2), at(3)), (at(3), at(4))]
    assert found[0].run_id == "stripe_billing/2026-11-01T00:00:00+00:00/2026-11-02T00:00:00+00:00"


def test_datetime_bounds_keep_only_whole_windows_and_a_datetime_to_is_exclusive() -> None:
    billing = spec_named("stripe_billing")
    # From 06:00 on the 1st, the first whole day starts on the 2nd; a datetime --to of the 4th at
    # midnight ends with the 3rd, and one at 12:00 adds no half day.
    for to in ("2026-11-04T00:00", "2026-11-04T12:00:00+00:00"):
        found = windows(billing, parse_bound("2026-11-01T06:00", end=False), parse_bound(to, end=True))
        assert [(w.start, w.end) for w in found] == [(at(2), at(3)), (at(3), at(4))]


def test_a_quarter_hour_schedule_gives_its_windows_in_utc_whatever_offset_the_bounds_carry() -> None:
    mobile = spec_named("mobile_money")
    assert mobile.schedule == "*/15 * * * *"
    # 07:05+01:00 is 06:05 UTC; 08:00+01:00 is 07:00 UTC.
    found = windows(
        mobile,
        parse_bound("2026-11-19T07:05+01:00", end=False),
        parse_bound("2026-11-19T08:00+01:00", end=True),
    )

    assert [(w.start, w.end) for w in found] == [
        (at(19, 6, 15), at(19, 6, 30)),
        (at(19, 6, 30), at(19, 6, 45)),
        (at(19, 6, 45), at(19, 7)),
    ]
    # Across the night Europe leaves summer time (2026-10-25), a UTC schedule keeps 96 windows a day.
    day = windows(mobile, parse_bound("2026-10-25", end=False), parse_bound("2026-10-25", end=True))
    assert len(day) == 96
    assert all(w.end - w.start == dt.timedelta(minutes=15) for w in day)


def test_plan_refuses_ranges_that_cannot_run() -> None:
    mobile = spec_named("mobile_money")
    with pytest.raises(RangeError) as backwards:
        plan(mobile, at(3), at(2))
    with pytest.raises(RangeError) as too_short:
        plan(mobile, at(19, 6, 5), at(19, 6, 20))
    with pytest.raises(RangeError) as too_many:
        plan(mobile, at(1), at(3), max_runs=100)

    assert "is not after --from" in str(backwards.value)
    assert "holds no whole window" in str(too_short.value)
    assert "more than --max-runs 100" in str(too_many.value)
    assert len(plan(mobile, at(1), at(3), max_runs=192)) == 192


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["stripe_billing", "--from", "2026-11-03", "--to", "2026-11-01"], "is not after --from"),
        (
            ["stripe_billing", "--from", "2026-11-31", "--to", "2026-12-01"],
            "--from '2026-11-31' is not a date",
        ),
        (["stripe_billing", "--from", "yesterday", "--to", "2026-12-01"], "--from 'yesterday' is not a date"),
        (["stripe_billing", "--from", "2026-11-01T06:00", "--to", "2026-11-01T18:00"], "no whole window"),
        (["no_such_spec", "--from", "2026-11-01", "--to", "2026-11-02"], "no spec 'no_such_spec'"),
        (["mobile_money", "--from", "2026-11-01", "--to", "2026-11-30"], "more than --max-runs 1000"),
        (["stripe_billing", "--from", "2026-11-01", "--to", "2026-11-05", "--max-runs", "3"], "--max-runs 3"),
        (["stripe_billing", "--from", "2026-11-01"], "give --from and --to"),
        (
            ["stripe_billing", "--from", "2026-11-01", "--to", "2026-11-01", "--no-wait"],
            "set RECON_AIRFLOW_URL",
        ),
        (["stripe_billing", "--key", "ch_1", "--from", "2026-11-01", "--to", "2026-11-02"], "--key"),
    ],
)
def test_bad_input_exits_2_naming_the_problem_and_runs_nothing(
    argv: list[str],
    message: str,
    warehouse: psycopg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("RECON_AIRFLOW_URL", raising=False)
    assert recon_run(*argv, "--specs-dir", str(SPECS)) == 2

    err = capsys.readouterr().err
    assert err.startswith("recon run: ")
    assert message in err
    assert warehouse.execute("select count(*) from reconciliation.runs").fetchone() == (0,)


@pytest.mark.e2e
def test_a_date_range_runs_each_window_locally_through_the_dag_in_order(
    warehouse: psycopg.Connection,
    warehouse_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from include.scenarios.ticket_orders import Scenario
    from recon.warehouse import airflow_connection

    # The shipped spec without retries, so a failing task fails the run at once.
    specs = tmp_path / "specs"
    specs.mkdir()
    document = yaml.safe_load((SPECS / "ticket_orders.yml").read_text(encoding="utf-8"))
    (specs / "ticket_orders.yml").write_text(yaml.safe_dump({**document, "retries": 0}), encoding="utf-8")
    monkeypatch.delenv("RECON_AIRFLOW_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_RECON_WAREHOUSE", airflow_connection(warehouse_url))
    # The scenario's day (the 19th) holds its planted breaks; the platform and the till hold nothing
    # for the 20th, which therefore reconciles clean.
    with Scenario(seed=5, day=dt.date(2026, 11, 19)).serve(tmp_path / "peers") as connections:
        for conn_id, value in connections.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        code = recon_run(
            "ticket_orders", "--from", "2026-11-19", "--to", "2026-11-20", "--specs-dir", str(specs)
        )

    out = capsys.readouterr().out
    assert code == 0, out
    runs = warehouse.execute(
        "select window_start, window_end, status, break_count from reconciliation.runs order by window_start"
    ).fetchall()
    assert runs == [(at(19), at(20), "discrepancy_found", 4), (at(20), at(21), "success", 0)]
    assert (
        "recon run ticket_orders: 2 window(s) of '@daily' from 2026-11-19 00:00 to 2026-11-21 00:00 UTC"
        in out
    )
    lines = [line for line in out.splitlines() if " -> " in line and "UTC: airflow" in line]
    assert lines[0].startswith(
        "2026-11-19 00:00 -> 2026-11-20 00:00 UTC: airflow success, discrepancy_found,"
    )
    assert ", 4 breaks, " in lines[0]
    assert lines[1].startswith("2026-11-20 00:00 -> 2026-11-21 00:00 UTC: airflow success, success,")
    assert "2 run(s): 2 succeeded, 0 failed" in out


def api(base_url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base_url}/api/v2/dags/recon_stripe_billing/", headers={"Authorization": f"Bearer {token}"}
    )


def dag_runs(client: httpx.Client) -> list[dict]:
    """The DAG runs of the far-off January 2031 these tests trigger (no other test uses it)."""
    found = client.get(
        "dagRuns",
        params={"logical_date_gte": "2031-01-01T00:00:00Z", "logical_date_lt": "2031-02-01T00:00:00Z"},
    )
    found.raise_for_status()
    return sorted(found.json()["dag_runs"], key=lambda run: run["logical_date"])


def delete_runs(client: httpx.Client) -> None:
    """The tests' Airflow DB is shared: leave no queued run of these windows behind."""
    for run in dag_runs(client):
        client.delete(f"dagRuns/{quote(run['dag_run_id'], safe='')}").raise_for_status()


def test_through_the_rest_api_no_wait_triggers_one_dag_run_per_window_and_reruns_finished_ones(
    airflow_api_server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = airflow_api_server
    monkeypatch.setenv("RECON_AIRFLOW_URL", server.base_url)
    monkeypatch.setenv("RECON_AIRFLOW_USER", "admin")
    monkeypatch.setenv("RECON_AIRFLOW_PASSWORD", server.users["admin"])
    argv = (
        "stripe_billing",
        "--from",
        "2031-01-01",
        "--to",
        "2031-01-02",
        "--no-wait",
        "--specs-dir",
        f"{SPECS}",
    )
    with api(server.base_url, server.token("admin")) as client:
        delete_runs(client)
        try:
            first = recon_run(*argv)
            triggered = dag_runs(client)
            first_out = capsys.readouterr().out
            # The 1st's run has finished (failed), the 2nd's is still queued: a second `recon run` clears
            # the 1st to run again and leaves the 2nd as it is; no window gets a second DAG run.
            client.patch(
                f"dagRuns/{quote(triggered[0]['dag_run_id'], safe='')}", json={"state": "failed"}
            ).raise_for_status()
            second = recon_run(*argv)
            rerun = dag_runs(client)
            second_out = capsys.readouterr().out
        finally:
            delete_runs(client)

    assert (first, second) == (0, 0), first_out + second_out
    fields = ("logical_date", "data_interval_start", "data_interval_end", "state", "run_type")
    assert [tuple(run[field] for field in fields) for run in triggered] == [
        ("2031-01-01T00:00:00Z", "2031-01-01T00:00:00Z", "2031-01-02T00:00:00Z", "queued", "manual"),
        ("2031-01-02T00:00:00Z", "2031-01-02T00:00:00Z", "2031-01-03T00:00:00Z", "queued", "manual"),
    ]
    assert (
        triggered[0]["note"] == "recon run stripe_billing/2031-01-01T00:00:00+00:00/2031-01-02T00:00:00+00:00"
    )
    assert [(run["dag_run_id"], run["state"]) for run in rerun] == [
        (run["dag_run_id"], "queued") for run in triggered
    ]
    assert f"through Airflow at {server.base_url}" in first_out
    assert (
        f"2031-01-01 00:00 -> 2031-01-02 00:00 UTC: airflow queued, dag run {triggered[0]['dag_run_id']}"
        in first_out
    )
    assert "2 run(s): 2 triggered (not waited for), 0 failed" in first_out
    assert "the window's earlier run (failed) was cleared to run again" in second_out
    assert "the window's run was queued already" in second_out


def test_a_wrong_password_exits_2_naming_the_airflow_url(
    airflow_api_server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RECON_AIRFLOW_URL", airflow_api_server.base_url)
    monkeypatch.setenv("RECON_AIRFLOW_USER", "admin")
    monkeypatch.setenv("RECON_AIRFLOW_PASSWORD", "not-the-password")

    assert recon_run("stripe_billing", "--from", "2031-01-01", "--to", "2031-01-02") == 2

    err = capsys.readouterr().err
    assert (
        f"recon run: Airflow API {airflow_api_server.base_url}/auth/token: HTTP 401: Invalid credentials"
        in err
    )
    assert "not-the-password" not in err
    with api(airflow_api_server.base_url, airflow_api_server.token("admin")) as client:
        assert dag_runs(client) == []


def test_through_the_rest_api_an_unknown_or_paused_dag_exits_2_and_triggers_nothing(
    airflow_api_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    server = airflow_api_server
    document = yaml.safe_load((SPECS / "stripe_billing.yml").read_text(encoding="utf-8"))
    unknown = tmp_path / "not_in_airflow.yml"
    unknown.write_text(yaml.safe_dump({**document, "name": "not_in_airflow"}), encoding="utf-8")
    monkeypatch.setenv("RECON_AIRFLOW_URL", server.base_url)
    monkeypatch.setenv("RECON_AIRFLOW_TOKEN", server.token("admin"))

    unknown_code = recon_run(str(unknown), "--from", "2031-01-01", "--to", "2031-01-01", "--no-wait")
    unknown_err = capsys.readouterr().err
    # Airflow creates DAGs paused (made sure of here); waiting for a paused DAG's run would never end.
    httpx.patch(
        f"{server.base_url}/api/v2/dags/recon_stripe_billing",
        json={"is_paused": True},
        headers={"Authorization": f"Bearer {server.token('admin')}"},
    ).raise_for_status()
    paused_code = recon_run(
        "stripe_billing", "--from", "2031-01-01", "--to", "2031-01-01", "--specs-dir", f"{SPECS}"
    )
    paused_err = capsys.readouterr().err

    assert (unknown_code, paused_code) == (2, 2)
    assert f"Airflow API {server.base_url}/api/v2/dags/recon_not_in_airflow: HTTP 404" in unknown_err
    assert f"recon_stripe_billing is paused in Airflow at {server.base_url}" in paused_err
    with api(server.base_url, server.token("admin")) as client:
        assert dag_runs(client) == []
