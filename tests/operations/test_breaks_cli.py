"""`recon breaks`: list, show and review breaks from the command line, against breaks a real dbt run made."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from recon.cli import main
from tests.dbt.harness import day_window, make_spec, rows, run_matching

pytestmark = pytest.mark.integration


@pytest.fixture
def breaks(warehouse: psycopg.Connection, warehouse_url: str, tmp_path: Path, monkeypatch) -> dict[str, str]:
    """One day with a missing charge (30.00) and an amount mismatch (0.50); their break ids by key."""
    warehouse.commit()
    warehouse.autocommit = True
    spec = make_spec("cli", {"pairs": [{"left": "left", "right": "right"}]})
    records = [
        {"source": "left", "record_key": "ch_gone", "amount": "30.00", "customer_email": "ada@example.com"},
        {"source": "left", "record_key": "ch_off", "amount": "10.00"},
        {"source": "right", "record_key": "ch_off", "amount": "10.50"},
    ]
    command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))
    run_matching(warehouse, warehouse_url, spec, day_window(spec, "2026-11-19"), records, command=command)
    monkeypatch.setenv("RECON_WAREHOUSE_URL", warehouse_url)
    keyed = (
        "select array_to_string(coalesce(left_record_keys, right_record_keys), ',') as key, break_id"
        " from reconciliation.breaks"
    )
    return {row["key"]: row["break_id"] for row in rows(warehouse, keyed)}


def statuses(conn: psycopg.Connection) -> dict[str, str]:
    found = rows(conn, "select break_id, status from reconciliation.breaks")
    return {row["break_id"]: row["status"] for row in found}


def test_list_shows_open_breaks_largest_first_and_filters(breaks, capsys) -> None:
    assert main(["breaks", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == [breaks["ch_gone"], breaks["ch_off"]]
    assert "30.00 USD" in lines[1] and "missing" in lines[1]

    assert main(["breaks", "list", "--class", "amount_mismatch"]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == [breaks["ch_off"]]
    assert main(["breaks", "list", "--status", "ignored"]) == 0
    assert capsys.readouterr().out.strip() == "no breaks match"


def test_ignore_then_reopen_is_audited_and_a_repeat_changes_nothing(
    breaks, warehouse: psycopg.Connection, capsys
) -> None:
    off = breaks["ch_off"]

    assert main(["breaks", "ignore", off, "--note", "known fee", "--by", "ada"]) == 0
    assert capsys.readouterr().out.strip() == f"{off}: open -> ignored"
    assert main(["breaks", "ignore", off, "--note", "again", "--by", "ada"]) == 0
    assert capsys.readouterr().out.strip() == f"{off}: already ignored"
    assert main(["breaks", "reopen", off, "--by", "grace"]) == 0

    assert statuses(warehouse)[off] == "open"
    audit = rows(warehouse, "select actor, action, note, before, after from reconciliation.audit_log")
    assert audit == [
        {"actor": "ada", "action": "break.ignore", "note": "known fee",
         "before": {"status": "open"}, "after": {"status": "ignored"}},
        {"actor": "grace", "action": "break.reopen", "note": None,
         "before": {"status": "ignored"}, "after": {"status": "open"}},
    ]  # fmt: skip


def test_show_gives_values_history_and_audit_with_the_email_masked(breaks, capsys) -> None:
    gone = breaks["ch_gone"]
    assert main(["breaks", "resolve", gone, "--note", "synced by hand", "--by", "ada"]) == 0
    capsys.readouterr()

    assert main(["breaks", "show", gone]) == 0
    shown = capsys.readouterr().out

    assert shown.startswith(f"break {gone} (cli, left_vs_right): missing, resolved")
    assert "2026-11-19 00:00" in shown and "30.00 vs None USD" in shown
    assert "ada: break.resolve open -> resolved: synced by hand" in shown
    assert "a***@e***.com" in shown and "ada@example.com" not in shown


BAD_INPUT = [
    (["breaks", "ignore", "BREAK", "--by", "ada"], "ignore: a note saying why is required (--note)"),
    (["breaks", "resolve", "BREAK", "nope", "--note", "x", "--by", "ada"], "no such break: nope"),
    (["breaks", "show", "nope"], "break 'nope': no such break"),
    (["breaks", "ignore", "BREAK", "--note", "x", "--by", " "], "a review needs the person's name"),
]


def test_bad_input_exits_2_naming_it_and_changes_nothing(
    breaks, warehouse: psycopg.Connection, capsys
) -> None:
    before = statuses(warehouse)

    for argv, message in BAD_INPUT:
        assert main([breaks["ch_off"] if arg == "BREAK" else arg for arg in argv]) == 2, argv
        assert message in capsys.readouterr().err, argv

    assert statuses(warehouse) == before
    assert rows(warehouse, "select count(*) as n from reconciliation.audit_log") == [{"n": 0}]
