"""`recon corrections apply` and `revert` against a real app database: exactly the planned rows change,
each with a backup and an audit entry; a row changed meanwhile is stale; one failure stops nothing else;
revert restores; applying twice changes nothing."""

from __future__ import annotations

import threading

import psycopg
import pytest

from recon.corrections.apply import apply_corrections, revert_corrections
from recon.corrections.plan import CorrectionError, plan_corrections
from tests.dbt.harness import rows
from tests.operations.conftest import SPEC, TILL, till

pytestmark = pytest.mark.integration


def planned(conn: psycopg.Connection) -> dict[str, str]:
    """Correction ids by (record key, kind)."""
    found = rows(conn, "select record_key, kind, correction_id from reconciliation.corrections")
    return {f"{row['record_key']}:{row['kind']}": row["correction_id"] for row in found}


def statuses(conn: psycopg.Connection) -> dict[str, str]:
    found = rows(conn, "select record_key, kind, status from reconciliation.corrections")
    return {f"{row['record_key']}:{row['kind']}": row["status"] for row in found}


def as_text(table: list[tuple]) -> list[tuple]:
    return [tuple(str(value) for value in row) for row in table]


def test_apply_changes_exactly_the_planned_rows_with_backups_and_audit(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str]
) -> None:
    plan_corrections(warehouse, SPEC, "ada")

    outcomes = apply_corrections(warehouse, SPEC, "grace")

    assert sorted((o.record_key, o.kind, o.status, o.detail) for o in outcomes) == [
        ("o2", "update", "applied", "updated"),
        ("o3", "update", "applied", "updated"),
        ("o4", "delete", "applied", "deleted"),
        ("o5", "insert", "applied", "inserted"),
    ]
    assert as_text(till(app_db)) == [
        ("recon-o5", "o5", "50.00", "EUR", "2026-11-19 10:00:00+00:00", "sold", "recon"),
        ("s1", "o1", "10.00", "EUR", "2026-11-19 10:00:00+00:00", "sold", "till-1"),
        ("s2", "o2", "20.00", "EUR", "2026-11-19 10:00:00+00:00", "sold", "till-1"),
        ("s3", "o3", "30.00", "EUR", "2026-11-19 10:00:00+00:00", "refunded", "till-1"),
        ("s4a", "o4", "40.00", "EUR", "2026-11-19 10:00:00+00:00", "sold", "till-1"),
    ]
    backed_up = "select c.record_key, b.row_data from reconciliation.correction_backups b"
    backups = rows(
        warehouse, backed_up + " join reconciliation.corrections c using (correction_id) order by 1"
    )
    assert [(row["record_key"], row["row_data"]["sale_id"]) for row in backups] == [
        ("o2", "s2"),
        ("o3", "s3"),
        ("o4", "s4b"),
    ]
    assert backups[0]["row_data"]["amount"] == "20.01"
    audit = rows(warehouse, "select actor, action, break_id, before, after from reconciliation.audit_log"
                            " order by audit_id")  # fmt: skip
    assert [(entry["actor"], entry["action"]) for entry in audit] == [("grace", "correction.apply")] * 4
    o2 = next(entry for entry in audit if entry["before"] == {"amount": "20.01"})
    assert (o2["after"], o2["break_id"]) == ({"amount": "20.00"}, ticket_breaks["o2:amount_mismatch"])


def test_a_second_apply_changes_nothing_and_says_so(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str]
) -> None:
    plan_corrections(warehouse, SPEC, "ada")
    apply_corrections(warehouse, SPEC, "grace")
    after_first = till(app_db)

    assert apply_corrections(warehouse, SPEC, "grace") == []
    assert till(app_db) == after_first
    assert rows(warehouse, "select count(*) as n from reconciliation.audit_log") == [{"n": 4}]


def test_a_row_changed_since_the_plan_is_stale_and_the_others_still_apply(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str]
) -> None:
    plan_corrections(warehouse, SPEC, "ada")
    with psycopg.connect(app_db) as conn:  # the till corrects o2 differently meanwhile
        conn.execute("update ticket_sales set amount = 20.05 where sale_id = 's2'")

    apply_corrections(warehouse, SPEC, "grace")

    assert statuses(warehouse) == {
        "o2:update": "stale", "o3:update": "applied", "o4:delete": "applied", "o5:insert": "applied"
    }  # fmt: skip
    assert ("s2", "o2", "20.05") in [row[:3] for row in as_text(till(app_db))]
    outcome = rows(warehouse, "select outcome from reconciliation.corrections where record_key = 'o2'")
    assert outcome == [{"outcome": "the row now holds {'amount': '20.05'}, not the planned before"}]


def test_a_concurrent_update_waits_for_the_row_lock_and_then_makes_the_change_stale(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str]
) -> None:
    plan_corrections(warehouse, SPEC, "ada")
    ids = planned(warehouse)
    holder = psycopg.connect(app_db)
    holder.execute("update ticket_sales set amount = 20.07 where sale_id = 's2'")  # locked, not committed
    done: list = []

    def apply_o2() -> None:
        with psycopg.connect(warehouse.info.dsn) as conn:
            done.extend(apply_corrections(conn, SPEC, "grace", correction_ids=[ids["o2:update"]]))

    worker = threading.Thread(target=apply_o2)
    worker.start()
    worker.join(timeout=1.5)
    assert worker.is_alive(), "the apply must wait on the row lock"
    holder.commit()
    holder.close()
    worker.join(timeout=30)

    assert [(o.status, o.detail) for o in done] == [
        ("stale", "the row now holds {'amount': '20.07'}, not the planned before")
    ]


def test_a_failed_change_leaves_the_others_applied(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str]
) -> None:
    plan_corrections(warehouse, SPEC, "ada")
    with psycopg.connect(app_db) as conn:  # the target refuses refunds from now on
        conn.execute("alter table ticket_sales add constraint no_refunds check (status <> 'refunded')")

    outcomes = {f"{o.record_key}:{o.kind}": o for o in apply_corrections(warehouse, SPEC, "grace")}

    assert outcomes["o3:update"].status == "failed" and "no_refunds" in outcomes["o3:update"].detail
    assert {key: o.status for key, o in outcomes.items() if key != "o3:update"} == {
        "o2:update": "applied", "o4:delete": "applied", "o5:insert": "applied"
    }  # fmt: skip
    assert ("s3", "o3", "30.00", "EUR", "2026-11-19 10:00:00+00:00", "sold", "till-1") in as_text(
        till(app_db)
    )


def test_revert_restores_every_row_from_its_backup_and_is_audited(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str]
) -> None:
    original = till(app_db)
    plan_corrections(warehouse, SPEC, "ada")
    apply_corrections(warehouse, SPEC, "grace")

    outcomes = revert_corrections(warehouse, SPEC, "grace", list(planned(warehouse).values()))

    assert {o.status for o in outcomes} == {"reverted"}
    assert till(app_db) == original
    actions = rows(
        warehouse, "select action, count(*) as n from reconciliation.audit_log group by 1 order by 1"
    )
    assert actions == [{"action": "correction.apply", "n": 4}, {"action": "correction.revert", "n": 4}]


def test_bad_input_names_it_and_changes_nothing(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str]
) -> None:
    plan_corrections(warehouse, SPEC, "ada")

    with pytest.raises(CorrectionError, match="no correction of 'tickets': nope; nothing was changed"):
        apply_corrections(warehouse, SPEC, "grace", correction_ids=["nope"])
    with pytest.raises(CorrectionError, match="revert: name the corrections"):
        revert_corrections(warehouse, SPEC, "grace", [])

    assert len(till(app_db)) == len(TILL)
    assert set(statuses(warehouse).values()) == {"planned"}
