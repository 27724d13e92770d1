"""The dashboard's actions call the CLI's functions with the Airflow login as ``by``: reviews (one or in
bulk, each change in reconciliation.audit_log), correction plans (reconciliation.corrections, the
target untouched), and "run now" (a DAG run in Airflow's metadata DB for the last complete day)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from .conftest import PHONE, Stack, csrf_of

pytestmark = pytest.mark.integration


def status_of(stack: Stack, break_id: str) -> str:
    return stack.sql("select status from reconciliation.breaks where break_id = %s", break_id)[0]["status"]


def audit(stack: Stack, break_id: str) -> list[dict]:
    return stack.sql(
        "select actor, action, note, before, after from reconciliation.audit_log where break_id = %s"
        " order by audit_id",
        break_id,
    )


def test_ignore_from_the_break_page_is_audited_under_the_login_name(stack: Stack) -> None:
    admin, break_id = stack.client("admin", cookie=True), stack.breaks["o4:duplicate"]
    page = f"/recon/breaks/{break_id}"
    token = csrf_of(admin.get(page).text)

    answer = admin.post(
        "/recon/breaks/action",
        data={"csrf_token": token, "action": "ignore", "break_id": break_id, "next": page,
              "note": f"double export, the till called {PHONE}"},
    )  # fmt: skip

    assert answer.status_code == 303 and answer.headers["location"] == page
    assert status_of(stack, break_id) == "ignored"
    assert audit(stack, break_id) == [
        {"actor": "admin", "action": "break.ignore", "note": "double export, the till called ***58",
         "before": {"status": "open"}, "after": {"status": "ignored"}},
    ]  # fmt: skip
    shown = admin.get(page).text
    assert 'id="flash" class="flash flash-ok"' in shown and "ignore: 1 break(s) changed" in shown
    assert 'class="audit-actor">admin<' in shown and PHONE not in shown
    assert 'id="action-reopen"' in shown and 'id="action-ignore"' not in shown
    assert 'id="flash"' not in admin.get(page).text  # the notice is shown once

    admin.post("/recon/breaks/action", data={"csrf_token": token, "action": "reopen", "break_id": break_id})
    assert status_of(stack, break_id) == "open"
    assert [row["action"] for row in audit(stack, break_id)] == ["break.ignore", "break.reopen"]


def test_resolve_without_a_note_changes_nothing_and_says_why(stack: Stack) -> None:
    admin, break_id = stack.client("admin", cookie=True), stack.breaks["o8:amount_mismatch"]
    token = csrf_of(admin.get("/recon/breaks").text)
    audited = len(audit(stack, break_id))

    answer = admin.post(
        "/recon/breaks/action",
        data={"csrf_token": token, "action": "resolve", "break_id": break_id, "next": "/recon/breaks"},
    )

    assert answer.status_code == 303
    shown = admin.get("/recon/breaks").text
    assert 'class="flash flash-error"' in shown and "a note saying why is required" in shown
    assert status_of(stack, break_id) == "open" and len(audit(stack, break_id)) == audited


def test_bulk_resolve_through_the_api_then_reopen_from_the_list(stack: Stack) -> None:
    ids = [stack.breaks["o3:status_mismatch"], stack.breaks["o9:missing"]]

    resolved = stack.client("admin").post(
        "/recon/api/breaks/action",
        json={"action": "resolve", "break_ids": ids, "note": "fixed at the source"},
    )

    assert resolved.status_code == 200
    assert sorted(item["break_id"] for item in resolved.json()["changed"]) == sorted(ids)
    assert [status_of(stack, i) for i in ids] == ["resolved", "resolved"]
    for break_id in ids:
        assert audit(stack, break_id)[-1] == {
            "actor": "admin", "action": "break.resolve", "note": "fixed at the source",
            "before": {"status": "open"}, "after": {"status": "resolved"},
        }  # fmt: skip
    listing = stack.client("admin", cookie=True)
    page = listing.get("/recon/breaks?status=resolved").text
    assert all(f'value="{i}"' in page for i in ids) and 'id="bulk-reopen"' in page

    reopened = listing.post(
        "/recon/breaks/action",
        data={
            "csrf_token": csrf_of(page),
            "action": "reopen",
            "break_id": ids,
            "next": "/recon/breaks?status=resolved",
        },
    )

    assert reopened.status_code == 303 and reopened.headers["location"] == "/recon/breaks?status=resolved"
    assert [status_of(stack, i) for i in ids] == ["open", "open"]
    assert "reopen: 2 break(s) changed" in listing.get(reopened.headers["location"]).text
    assert all(
        audit(stack, i)[-1]["action"] == "break.reopen" and audit(stack, i)[-1]["actor"] == "admin"
        for i in ids
    )


def test_a_bulk_action_naming_an_unknown_break_changes_nothing(stack: Stack) -> None:
    known = stack.breaks["o2:amount_mismatch"]
    before = stack.sql("select count(*) as n from reconciliation.audit_log")[0]["n"]

    answer = stack.client("admin").post(
        "/recon/api/breaks/action", json={"action": "ignore", "break_ids": [known, "nope"], "note": "x"}
    )
    bad_action = stack.client("admin").post(
        "/recon/api/breaks/action", json={"action": "delete", "break_ids": [known]}
    )

    assert answer.status_code == 400 and "no such break: nope" in answer.json()["detail"]
    assert bad_action.status_code == 400 and "action 'delete'" in bad_action.json()["detail"]
    assert status_of(stack, known) == "open"
    assert stack.sql("select count(*) as n from reconciliation.audit_log")[0]["n"] == before


def test_plan_corrections_in_bulk_records_the_planner_and_leaves_the_target_alone(stack: Stack) -> None:
    admin = stack.client("admin", cookie=True)
    off, missing, other_side = (stack.breaks[k] for k in ("o2:amount_mismatch", "o5:missing", "o9:missing"))
    token = csrf_of(admin.get("/recon/breaks").text)
    till = _till(stack)

    answer = admin.post(
        "/recon/breaks/action",
        data={
            "csrf_token": token,
            "action": "plan",
            "break_id": [off, missing, other_side],
            "next": "/recon/breaks",
        },
    )

    assert answer.status_code == 303
    planned = stack.sql(
        "select break_id, kind, record_key, before, after, status, planned_by from reconciliation.corrections"
        " order by record_key"
    )
    assert [(row["break_id"], row["kind"], row["status"], row["planned_by"]) for row in planned] == [
        (off, "update", "planned", "admin"),
        (missing, "insert", "planned", "admin"),
    ]
    assert planned[0]["before"] == {"amount": "20.01"} and planned[0]["after"] == {"amount": "20.00"}
    assert _till(stack) == till
    notice = admin.get("/recon/breaks").text
    assert "2 correction(s) planned" in notice and "1 skipped" in notice
    detail = admin.get(f"/recon/api/breaks/{off}").json()
    assert [(c["kind"], c["planned_by"]) for c in detail["corrections"]] == [("update", "admin")]
    assert 'class="correction-row"' in admin.get(f"/recon/breaks/{off}").text


def _till(stack: Stack) -> list[tuple]:
    with psycopg.connect(stack.till_url) as till:
        return till.execute("select * from ticket_sales order by sale_id").fetchall()


def test_run_now_queues_a_dag_run_for_the_last_complete_day(stack: Stack) -> None:
    from airflow.models.dagrun import DagRun

    admin = stack.client("admin", cookie=True)
    token = csrf_of(admin.get("/recon/").text)
    clicked = datetime.now(UTC)

    answer = admin.post("/recon/specs/tickets/run", data={"csrf_token": token, "next": "/recon/"})

    assert answer.status_code == 303 and answer.headers["location"] == "/recon/"
    runs = DagRun.find(dag_id="recon_tickets")
    assert len(runs) == 1
    run = runs[0]
    day_end = clicked.replace(hour=0, minute=0, second=0, microsecond=0)
    assert (run.data_interval_start, run.data_interval_end) == (day_end - timedelta(days=1), day_end)
    assert (run.run_type, run.triggering_user_name, run.state) == ("manual", "admin", "queued")
    shown = admin.get("/recon/").text
    assert run.run_id in shown and 'data-watch="on"' in shown

    api = stack.client("admin").post("/recon/api/specs/tickets/run")

    assert api.status_code == 201 and api.json()["dag_id"] == "recon_tickets"
    assert {r.run_id for r in DagRun.find(dag_id="recon_tickets")} == {run.run_id, api.json()["dag_run_id"]}
    unknown = stack.client("admin").post("/recon/api/specs/nope/run")
    assert unknown.status_code == 404
