"""Who may see and do what: anonymous refused (pages redirect to Airflow's login, the API answers 401),
viewers read but never act (403), cookie-authenticated writes need the CSRF token and our origin,
and request text never becomes SQL."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
import pytest
from psycopg import sql

from .conftest import Stack, csrf_of, encoded

pytestmark = pytest.mark.integration


def pages(stack: Stack) -> list[str]:
    run, break_id = encoded(stack.runs["day1"]), stack.breaks["o2:amount_mismatch"]
    return ["/recon/", "/recon/breaks", f"/recon/breaks/{break_id}", "/recon/history", "/recon/history.csv",
            f"/recon/runs/{run}", f"/recon/runs/{run}/breaks.csv"]  # fmt: skip


def api_reads(stack: Stack) -> list[str]:
    run, break_id = encoded(stack.runs["day1"]), stack.breaks["o2:amount_mismatch"]
    return ["/recon/api/status", "/recon/api/overview", "/recon/api/breaks", f"/recon/api/breaks/{break_id}",
            "/recon/api/history", f"/recon/api/runs/{run}", f"/recon/api/runs/{run}/breaks"]  # fmt: skip


def audit_count(stack: Stack) -> int:
    return stack.sql("select count(*) as n from reconciliation.audit_log")[0]["n"]


def test_anonymous_pages_redirect_to_airflow_login_and_come_back(stack: Stack) -> None:
    anonymous = stack.client()
    for path in pages(stack):
        answer = anonymous.get(path)

        assert answer.status_code == 302, path
        location = urlsplit(answer.headers["location"])
        assert location.path == "/auth/login", path
        assert unquote(urlsplit(parse_qs(location.query)["next"][0]).path) == unquote(path)


def test_anonymous_api_and_bad_tokens_get_401_and_change_nothing(stack: Stack) -> None:
    before = audit_count(stack)
    for client in (stack.client(), _with_token(stack, "not-a-jwt"), _with_cookie(stack, "not-a-jwt")):
        for path in api_reads(stack):
            assert client.get(path).status_code == 401, path
        answer = client.post(
            "/recon/api/breaks/action",
            json={"action": "ignore", "break_ids": [stack.breaks["o2:amount_mismatch"]], "note": "x"},
        )
        assert answer.status_code == 401
        assert client.post("/recon/api/specs/tickets/run").status_code == 401
    form = stack.client().post("/recon/breaks/action", data={"action": "ignore", "break_id": "x"})
    assert form.status_code == 303 and urlsplit(form.headers["location"]).path == "/auth/login"
    assert parse_qs(urlsplit(form.headers["location"]).query)["next"] == ["http://testserver/recon/"]
    assert audit_count(stack) == before


def _with_token(stack: Stack, token: str):
    client = stack.client()
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def _with_cookie(stack: Stack, token: str):
    client = stack.client()
    client.cookies.set("_token", token)
    return client


def test_static_files_are_public(stack: Stack) -> None:
    anonymous = stack.client()
    for name, kind in (("recon.css", "text/css"), ("recon.js", "javascript"), ("icon.svg", "image/svg")):
        answer = anonymous.get(f"/recon/static/{name}")

        assert answer.status_code == 200 and kind in answer.headers["content-type"]
    assert 'fetch(base + "/api/status"' in anonymous.get("/recon/static/recon.js").text


def test_viewer_reads_everything_but_may_not_act(stack: Stack) -> None:
    viewer, break_id = stack.client("viewer"), stack.breaks["o2:amount_mismatch"]
    for path in pages(stack) + api_reads(stack):
        assert viewer.get(path).status_code == 200, path
    before = stack.sql("select status from reconciliation.breaks where break_id = %s", break_id)
    audited = audit_count(stack)
    planned = stack.sql("select count(*) as n from reconciliation.corrections")

    review = viewer.post(
        "/recon/api/breaks/action", json={"action": "ignore", "break_ids": [break_id], "note": "no"}
    )
    plan = viewer.post("/recon/api/breaks/action", json={"action": "plan", "break_ids": [break_id]})
    trigger = viewer.post("/recon/api/specs/tickets/run")

    assert (review.status_code, plan.status_code, trigger.status_code) == (403, 403, 403)
    assert "recon_tickets" in review.json()["detail"]
    assert stack.sql("select status from reconciliation.breaks where break_id = %s", break_id) == before
    assert audit_count(stack) == audited
    assert stack.sql("select count(*) as n from reconciliation.corrections") == planned


def test_viewer_in_the_browser_sees_no_actions_and_a_forged_form_is_refused(stack: Stack) -> None:
    viewer, break_id = stack.client("viewer", cookie=True), stack.breaks["o2:amount_mismatch"]
    overview, listing = viewer.get("/recon/").text, viewer.get("/recon/breaks").text
    detail = viewer.get(f"/recon/breaks/{break_id}").text
    assert 'id="run-now-tickets"' not in overview
    assert (
        'id="bulk-form"' in listing and 'id="bulk-actions"' not in listing and "break-select" not in listing
    )
    assert 'id="review-form"' not in detail

    token = csrf_of(detail)
    review = viewer.post(
        "/recon/breaks/action",
        data={"csrf_token": token, "action": "resolve", "break_id": break_id, "note": "x"},
    )
    trigger = viewer.post("/recon/specs/tickets/run", data={"csrf_token": token})

    assert review.status_code == 403 and "recon_tickets" in review.text
    assert trigger.status_code == 403
    assert (
        stack.sql("select status from reconciliation.breaks where break_id = %s", break_id)[0]["status"]
        == "open"
    )


def test_cookie_writes_need_the_session_csrf_token_and_our_origin(stack: Stack) -> None:
    admin, break_id = stack.client("admin", cookie=True), stack.breaks["o3:status_mismatch"]
    token = csrf_of(admin.get("/recon/breaks").text)
    form = {"action": "ignore", "break_id": break_id, "note": "known", "next": "/recon/breaks"}
    audited = audit_count(stack)

    missing = admin.post("/recon/breaks/action", data=form)
    wrong = admin.post("/recon/breaks/action", data={**form, "csrf_token": "0" * 64})
    viewer_token = csrf_of(stack.client("viewer", cookie=True).get("/recon/").text)
    someone_elses = admin.post("/recon/breaks/action", data={**form, "csrf_token": viewer_token})
    foreign = admin.post(
        "/recon/breaks/action", data={**form, "csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    api = admin.post(
        "/recon/api/breaks/action", json={"action": "ignore", "break_ids": [break_id], "note": "x"}
    )
    run_now = admin.post("/recon/api/specs/tickets/run")

    assert [r.status_code for r in (missing, wrong, someone_elses, foreign, api, run_now)] == [403] * 6
    assert "CSRF" in missing.text and "another site" in foreign.text
    assert audit_count(stack) == audited
    # The same request with the token, from our own page, goes through.
    allowed = admin.post(
        "/recon/breaks/action", data={**form, "csrf_token": token}, headers={"Origin": "http://testserver"}
    )
    assert allowed.status_code == 303 and allowed.headers["location"] == "/recon/breaks"
    reopened = admin.post(
        "/recon/api/breaks/action",
        json={"action": "reopen", "break_ids": [break_id]},
        headers={"X-CSRF-Token": token},
    )
    assert reopened.status_code == 200 and reopened.json()["changed"][0]["after"] == "open"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sort=discrepancy_amount;drop table reconciliation.breaks", "sort"),
        ("sort=amount&dir=desc,break_id", "dir"),
        ("class=missing' or '1'='1", "class"),
        ("status=open' --", "status"),
        ("severity=critical;select", "severity"),
        ("age=1 day", "age"),
        ("amount=1e3)--", "amount"),
        ("after=eyJ4Ijoi", "cursor"),
        ("limit=100000", "limit"),
    ],
)
def test_request_text_never_reaches_sql(stack: Stack, query: str, message: str) -> None:
    admin = stack.client("admin")

    answer = admin.get(f"/recon/api/breaks?{query}")
    page = admin.get(f"/recon/breaks?{query}")

    assert answer.status_code == 400 and answer.json()["detail"].startswith(message)
    assert page.status_code == 400 and 'id="error-message"' in page.text
    assert stack.sql("select count(*) as n from reconciliation.breaks")[0]["n"] == len(stack.breaks)


def test_an_unknown_spec_filter_is_404_and_history_status_is_checked(stack: Stack) -> None:
    admin = stack.client("admin")
    assert admin.get("/recon/api/breaks?spec=tickets' or true --").status_code == 404
    assert admin.get("/recon/api/history?status=done").status_code == 400
    assert admin.get("/recon/api/runs/no/such/run").status_code == 404
    assert admin.get("/recon/breaks/nope").status_code == 404


def test_the_plugin_is_registered_with_airflow(stack: Stack) -> None:
    plugins = stack.client("admin").get("/api/v2/plugins").json()["plugins"]

    ours = next(plugin for plugin in plugins if plugin["name"] == "recon_dashboard")
    assert ours["fastapi_apps"][0]["url_prefix"] == "/recon"
    view = ours["external_views"][0]
    assert (view["name"], view["href"], view["url_route"], view["destination"]) == (
        "Reconciliation", "recon/", "recon", "nav",
    )  # fmt: skip


def test_results_of_a_spec_this_dashboard_does_not_show_stay_hidden(stack: Stack) -> None:
    """A spec of another warehouse connection, or whose file was removed: nobody's DAG rights cover it."""
    source = stack.breaks["o2:amount_mismatch"]
    with psycopg.connect(stack.warehouse_url) as conn:
        copy = sql.SQL("create temp table ghost as select * from reconciliation.breaks where break_id = {}")
        conn.execute(copy.format(sql.Literal(source)))
        conn.execute("update ghost set break_id = 'ghost', spec = 'payroll'")
        conn.execute("insert into reconciliation.breaks select * from ghost")
    admin = stack.client("admin")
    try:
        listed = admin.get("/recon/api/breaks?status=all&limit=200").json()["items"]
        detail = admin.get("/recon/api/breaks/ghost")
        acted = admin.post("/recon/api/breaks/action", json={"action": "reopen", "break_ids": ["ghost"]})
        filtered = admin.get("/recon/api/breaks?spec=payroll")

        assert "ghost" not in {item["break_id"] for item in listed}
        assert (detail.status_code, acted.status_code, filtered.status_code) == (404, 404, 404)
    finally:
        with psycopg.connect(stack.warehouse_url) as conn:
            conn.execute("delete from reconciliation.breaks where break_id = 'ghost'")
