"""`recon run SPEC --key KEY`: a few records reconciled now against the real sources of the
mobile_money example (REST provider API and app database), out of the way of the scheduled results."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
import yaml

from include.scenarios.mobile_money import Scenario
from recon.cli import main
from recon.warehouse import airflow_connection

pytestmark = pytest.mark.integration

SPECS = Path(__file__).resolve().parents[2] / "include" / "specs"


@pytest.fixture
def scenario(warehouse: psycopg.Connection, warehouse_url: str, tmp_path: Path, monkeypatch):
    """The mobile_money scenario's peers served, and every connection the spec names pointing at them."""
    warehouse.commit()
    s = Scenario(seed=5, day=dt.date(2026, 11, 19))
    monkeypatch.setenv("AIRFLOW_CONN_RECON_WAREHOUSE", airflow_connection(warehouse_url))
    with s.serve(tmp_path) as connections:
        for conn_id, value in connections.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
        yield s


def probe(
    *keys: str, until: str = "2026-11-19T10:30:00+00:00", since: str = "1h", spec: str = "mobile_money"
):
    """``recon run SPEC --key ...`` through the CLI's entry point."""
    keyed = [part for key in keys for part in ("--key", key)]
    return main(["run", spec, "--specs-dir", str(SPECS), "--since", since, "--until", until, *keyed])


def test_each_key_says_matched_or_which_break_and_scheduled_results_are_untouched(
    scenario: Scenario, warehouse: psycopg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    s = scenario
    session_id = next(x.session_id for x in s.sessions if x.provider_payment_id == s.late_session.id)

    code = probe(s.late_session.id, s.never.id, session_id, s.young.id)

    out = capsys.readouterr().out
    assert code == 0, out
    lines = {line.split(" [", 1)[0]: line for line in out.splitlines()[1:]}
    assert "matched by key" in lines[s.late_session.id]
    assert f"{session_id} {s.late_session.amount} KES paid" in lines[s.late_session.id]
    assert "matched by key" in lines[session_id]  # a session id finds the same unit
    assert "break: missing in sessions" in lines[s.never.id]
    assert "pending: no counterpart in sessions yet" in lines[s.young.id]
    assert [phone for phone in s.phones() if phone in out] == []  # no payer's number, in any form

    # Nothing a scheduled run reads or writes was touched, and the probe left nothing behind.
    assert warehouse.execute("select count(*) from reconciliation.runs").fetchone() == (0,)
    assert warehouse.execute(
        "select count(*) from staging.record_partitions where spec like 'mobile_money%'"
    ).fetchone() == (0,)
    assert warehouse.execute("select count(*) from staging.pair_settings").fetchone() == (0,)
    assert warehouse.execute(
        "select count(*) from pg_namespace where nspname like 'recon_probe_%'"
    ).fetchone() == (0,)
    assert warehouse.execute("select to_regclass('recon_intermediate.int_records_matched')").fetchone() == (
        None,
    )


def test_a_key_found_in_no_source_is_named_and_exits_2(
    scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    code = probe(scenario.never.id, "MMP_NO_SUCH_PAYMENT")

    captured = capsys.readouterr()
    assert code == 2
    assert "MMP_NO_SUCH_PAYMENT: not found in any source over the window" in captured.out
    assert "key(s) found in no source of mobile_money: MMP_NO_SUCH_PAYMENT" in captured.err
    assert "break: missing in sessions" in captured.out  # the known key is still reported


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"spec": "no_such_spec"}, "no spec 'no_such_spec'"),
        ({"since": "yesterday"}, "--since 'yesterday' is not a duration"),
        ({"until": "soon"}, "--until 'soon' is not an ISO date"),
    ],
)
def test_bad_input_exits_2_naming_it(
    arguments: dict, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert probe("MMP0000000001", **arguments) == 2
    assert message in capsys.readouterr().err


def test_a_key_typed_in_another_case_finds_its_records_where_the_spec_declares_a_key_form(
    scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = yaml.safe_load((SPECS / "mobile_money.yml").read_text(encoding="utf-8"))
    document["reconcile"]["pairs"][0]["key_form"] = {"case": "upper"}
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "mobile_money.yml").write_text(yaml.safe_dump(document), encoding="utf-8")
    typed = scenario.late_session.id.lower()
    assert typed != scenario.late_session.id
    until = ["--since", "1h", "--until", "2026-11-19T10:30:00+00:00", "--key", typed]

    as_shipped = main(["run", "mobile_money", "--specs-dir", str(SPECS), *until])
    capsys.readouterr()
    code = main(["run", "mobile_money", "--specs-dir", str(specs), *until])

    out = capsys.readouterr().out
    assert as_shipped == 2, "without a key form, case counts"
    assert code == 0, out
    (line,) = out.splitlines()[1:]
    assert line.startswith(
        f"{typed} [payments_vs_sessions]: matched by key; payments {scenario.late_session.id} "
    )
