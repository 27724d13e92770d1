"""What the pages and the JSON API show, against the warehouse's own rows: the overview figures, the
breaks list with every filter, sort and page, a break's history and audit, the history, a run's page
through the alert's link, the CSV exports, masking, and the auto-refresh while a run is in progress."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from recon.runs import mark_failed, start_run
from recon.window import RunWindow

from .conftest import EMAIL, PHONE, Stack, encoded

pytestmark = pytest.mark.integration


def breaks_where(
    stack: Stack, where: str = "true", *params, order: str = "discrepancy_amount desc, break_id desc"
):
    found = stack.sql(f"select break_id from reconciliation.breaks where {where} order by {order}", *params)
    return [row["break_id"] for row in found]


def listed(stack: Stack, query: str = "") -> list[str]:
    answer = stack.client("admin").get(f"/recon/api/breaks?{query}")
    assert answer.status_code == 200, answer.text
    return [item["break_id"] for item in answer.json()["items"]]


def test_overview_figures_match_the_warehouse(stack: Stack) -> None:
    cards = {card["spec"]: card for card in stack.client("admin").get("/recon/api/overview").json()["specs"]}
    tickets, cards_spec = cards["tickets"], cards["cards"]
    runs = stack.sql("select * from reconciliation.runs where spec = 'tickets' order by window_start")

    assert tickets["last_run"]["run_id"] == stack.runs["day2"]
    assert tickets["last_run"]["status"] == "discrepancy_found"
    assert [(r["run_id"], r["discrepancy_percent"]) for r in tickets["trend"]] == [
        (r["run_id"], str(r["discrepancy_percent"])) for r in runs
    ]
    average = sum(r["duration_seconds"] for r in runs) / 2
    assert Decimal(tickets["average_seconds"]) == average
    by_severity = stack.sql(
        "select severity, count(*) as n from reconciliation.breaks where spec = 'tickets' and status = 'open'"
        " group by severity"
    )
    assert tickets["open_by_severity"] == {row["severity"]: row["n"] for row in by_severity}
    assert sum(tickets["open_by_age"].values()) == tickets["open"] == sum(row["n"] for row in by_severity)
    status = stack.sql("select status, count(*) as n from reconciliation.breaks group by status")
    counts = {row["status"]: row["n"] for row in status}
    assert (tickets["found"], tickets["resolved"]) == (len(stack.breaks), counts.get("resolved", 0))
    # Day 2 staged 2 platform and 3 box office records; one box office line was quarantined.
    assert tickets["sources"] == {
        "box_office": {"records": 3, "quarantined": 1},
        "platform": {"records": 2, "quarantined": 0},
    }
    assert cards_spec["last_run"]["status"] == "error" and cards_spec["open"] == 0
    assert (
        EMAIL not in cards_spec["last_run"]["error_message"]
        and "a***@e***.com" in cards_spec["last_run"]["error_message"]
    )


def test_overview_page_draws_the_trend_and_offers_run_now(stack: Stack) -> None:
    page = stack.client("admin").get("/recon/")

    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    card = page.text[page.text.index('id="spec-tickets"') :]
    svg = card[card.index("<svg") : card.index("</svg>")]
    assert svg.count("<circle") == 2 and "<polyline" in svg and 'class="critical"' in svg
    assert 'id="run-now-tickets"' in card and f'href="/recon/runs/{encoded(stack.runs["day2"])}"' in card
    assert 'class="records">3<' in card and 'class="quarantined">1<' in card
    failed = page.text[page.text.index('id="spec-cards"') :]
    assert "point-error" in failed[: failed.index("</svg>")]  # a failed run is a red mark, no figure
    assert '<script src="/recon/static/recon.js"' in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # nothing from a CDN


def test_breaks_list_defaults_to_open_largest_first(stack: Stack) -> None:
    expected = breaks_where(stack, "status = 'open'")

    assert listed(stack) == expected
    answer = stack.client("admin").get("/recon/api/breaks").json()
    assert answer["total"] == len(expected) and answer["next"] is None
    first = answer["items"][0]
    assert first["discrepancy_amount"] == str(max(Decimal(i["discrepancy_amount"]) for i in answer["items"]))


@pytest.mark.parametrize(
    ("query", "where", "params"),
    [
        ("spec=tickets", "spec = 'tickets' and status = 'open'", ()),
        ("spec=cards", "spec = 'cards' and status = 'open'", ()),
        ("class=missing", "break_class = 'missing' and status = 'open'", ()),
        ("class=amount_mismatch&severity=warning", "break_class = 'amount_mismatch' and severity = 'warning'"
         " and status = 'open'", ()),
        ("severity=critical", "severity = 'critical' and status = 'open'", ()),
        ("status=all", "true", ()),
        ("status=resolved", "status = 'resolved'", ()),
        ("amount=50", "discrepancy_amount >= 50 and status = 'open'", ()),
        ("amount=5.00&status=all", "discrepancy_amount >= 5", ()),
    ],
)  # fmt: skip
def test_breaks_filters(stack: Stack, query: str, where: str, params: tuple) -> None:
    assert listed(stack, query) == breaks_where(stack, where, *params)


def test_breaks_age_filter_counts_days_since_first_seen(stack: Stack) -> None:
    now = datetime.now(UTC)
    oldest = stack.sql("select min(first_seen_at) as at from reconciliation.breaks")[0]["at"]
    days = max((now - oldest).days, 0)
    for age in (0, days, days + 1, 400):
        cutoff = now - timedelta(days=age)
        expected = breaks_where(stack, "status = 'open' and first_seen_at <= %s", cutoff)

        assert listed(stack, f"age={age}") == expected, age
    assert listed(stack, "age=400") == []


@pytest.mark.parametrize(
    ("sort", "column"),
    [("amount", "discrepancy_amount"), ("age", "first_seen_at"), ("last_seen", "last_seen_at")],
)
def test_breaks_sort_both_ways(stack: Stack, sort: str, column: str) -> None:
    for direction in ("asc", "desc"):
        order = f"{column} {direction}, break_id {direction}"

        assert listed(stack, f"status=all&sort={sort}&dir={direction}") == breaks_where(stack, order=order)


def test_breaks_pages_follow_cursors_both_ways(stack: Stack) -> None:
    admin, expected = stack.client("admin"), breaks_where(stack, "true")
    seen, pages, query = [], [], "status=all&limit=2"
    answer = admin.get(f"/recon/api/breaks?{query}").json()
    while True:
        pages.append(answer)
        seen += [item["break_id"] for item in answer["items"]]
        if not answer["next"]:
            break
        answer = admin.get(f"/recon/api/breaks?{query}&after={answer['next']}").json()

    assert seen == expected and len(pages) == 3
    assert pages[0]["previous"] is None and pages[1]["previous"] and pages[-1]["next"] is None
    back = admin.get(f"/recon/api/breaks?{query}&before={pages[2]['previous']}").json()
    assert [i["break_id"] for i in back["items"]] == [i["break_id"] for i in pages[1]["items"]]
    html = admin.get(f"/recon/breaks?{query}").text
    assert 'id="page-next"' in html and 'id="page-prev"' not in html and f"{len(expected)} matching" in html
    assert re.search(r'href="/recon/breaks\?[^"]*after=', html)


def test_break_page_shows_both_sides_history_and_masks_personal_data(stack: Stack) -> None:
    break_id = stack.breaks["o5:missing"]
    history = stack.sql(
        "select run_id from reconciliation.run_breaks where break_id = %s order by window_start", break_id
    )

    detail = stack.client("admin").get(f"/recon/api/breaks/{break_id}").json()
    page = stack.client("admin").get(f"/recon/breaks/{break_id}").text

    assert [row["run_id"] for row in detail["history"]] == [row["run_id"] for row in history]
    assert len(history) == 2  # missing on day 1, still missing (carried) on day 2
    assert detail["break"]["left_amount"] == "50.00" and detail["break"]["right_amount"] is None
    assert detail["break"]["customer_email"] == "a***@e***.com"
    assert PHONE not in detail["break"]["reference"] and detail["break"]["reference"].endswith("***58")
    assert 'left-amount">50.00 EUR' in page and page.count('class="history-row"') == 2
    for leaked in (EMAIL, PHONE, "lovelace"):
        assert leaked not in page


def test_a_duplicate_names_the_side_that_repeated(stack: Stack) -> None:
    """o4 was written twice by the till: the break, the run page and the run's advice say so."""
    admin = stack.client("admin")

    page = admin.get(f"/recon/breaks/{stack.breaks['o4:duplicate']}").text
    run_page = admin.get(f"/recon/runs/{encoded(stack.runs['day1'])}").text
    (run,) = stack.sql(
        "select recommendations from reconciliation.runs where run_id = %s", stack.runs["day1"]
    )

    assert "<dt>Repeated in</dt><dd>box_office</dd>" in page and "<dt>Missing in</dt>" not in page
    assert run_page.count('<div class="muted">repeated in box_office</div>') == 1
    assert (
        "1 record is repeated in box_office (a key already seen there): check whether box_office's file was"
        " delivered twice or overlaps the one before, and remove the repeated lines."
    ) in run["recommendations"]


def test_text_from_sources_is_escaped(stack: Stack) -> None:
    page = stack.client("admin").get(f"/recon/breaks/{stack.breaks['o8:amount_mismatch']}").text

    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


def test_history_filters_and_pages(stack: Stack) -> None:
    admin = stack.client("admin")
    everything = admin.get("/recon/api/history").json()
    assert [r["run_id"] for r in everything["items"]] == [
        r["run_id"]
        for r in stack.sql("select run_id from reconciliation.runs order by window_start desc, run_id desc")
    ]
    assert [r["run_id"] for r in admin.get("/recon/api/history?spec=cards").json()["items"]] == [
        stack.runs["failed"]
    ]
    assert [r["run_id"] for r in admin.get("/recon/api/history?status=error").json()["items"]] == [
        stack.runs["failed"]
    ]
    first = admin.get("/recon/api/history?spec=tickets&limit=1").json()
    second = admin.get(f"/recon/api/history?spec=tickets&limit=1&after={first['next']}").json()
    assert [first["items"][0]["run_id"], second["items"][0]["run_id"]] == [
        stack.runs["day2"],
        stack.runs["day1"],
    ]
    assert second["next"] is None
    day1 = second["items"][0]
    assert day1["break_counts"] == {"amount_mismatch": 1, "duplicate": 1, "missing": 1, "status_mismatch": 1}
    page = admin.get("/recon/history?status=error").text
    assert page.count('class="run-row"') == 1 and "a***@e***.com" in page and EMAIL not in page
    assert f'href="/recon/runs/{encoded(stack.runs["failed"])}"' in page


def test_the_alert_link_opens_the_run_page(stack: Stack) -> None:
    """Slack and PagerDuty messages link to <base>/recon/runs/<URL-encoded run id>."""
    payload = stack.sql(
        "select payload from reconciliation.alert_outbox where run_id = %s", stack.runs["day1"]
    )
    links = re.findall(r"http://localhost:8080(/recon/runs/[^\s|>\"]+)", str(payload[0]["payload"]))
    assert links and "%2F" in links[0]

    page = stack.client("admin").get(links[0])

    assert page.status_code == 200
    assert f'<code id="run-id">{stack.runs["day1"]}</code>' in page.text
    assert page.text.count('class="run-break-row"') == 4
    assert (
        page.text.count('class="integrity-row')
        == len(
            stack.sql("select 1 from reconciliation.integrity_results where run_id = %s", stack.runs["day1"])
        )
        > 0
    )
    assert 'class="alert-row" data-channel="slack" data-status="pending"' in page.text
    assert "4 breaks" in page.text  # the Slack message's own headline


def test_run_api_gives_breaks_integrity_and_alerts_without_secrets(stack: Stack) -> None:
    run = stack.client("admin").get(f"/recon/api/runs/{encoded(stack.runs['day1'])}").json()

    assert run["run"]["status"] == "discrepancy_found"
    assert {item["break_id"] for item in run["breaks"]["items"]} == {
        row["break_id"]
        for row in stack.sql(
            "select break_id from reconciliation.run_breaks where run_id = %s", stack.runs["day1"]
        )
    }
    assert {row["rule_name"] for row in run["integrity"]} == {
        row["rule_name"] for row in stack.sql("select rule_name from reconciliation.integrity_results")
    }
    alert = run["alerts"][0]
    assert alert["channel"] == "slack" and alert["summary"].startswith("tickets 2026-11-19")
    assert all("password" not in key and "token" not in key for key in str(alert["payload"]).split("'"))
    paged = stack.client("admin").get(f"/recon/api/runs/{encoded(stack.runs['day1'])}/breaks?limit=3").json()
    assert len(paged["items"]) == 3 and paged["next"] and paged["total"] == 4


def test_run_breaks_csv_is_the_runs_breaks_masked(stack: Stack) -> None:
    answer = stack.client("admin").get(f"/recon/runs/{encoded(stack.runs['day1'])}/breaks.csv")

    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    exported = list(csv.DictReader(io.StringIO(answer.text)))
    stored = stack.sql(
        "select break_id, discrepancy_amount from reconciliation.run_breaks where run_id = %s"
        " order by discrepancy_amount desc, break_id desc",
        stack.runs["day1"],
    )
    assert [(row["break_id"], row["discrepancy_amount"]) for row in exported] == [
        (row["break_id"], str(row["discrepancy_amount"])) for row in stored
    ]
    # Record keys (text[]) leave as a JSON array in their cell.
    sides = ("left_record_keys", "right_record_keys")
    keys = stack.sql(
        "select break_id, left_record_keys, right_record_keys from reconciliation.run_breaks"
        " where run_id = %s",
        stack.runs["day1"],
    )
    assert {
        row["break_id"]: [json.loads(row[side]) if row[side] else None for side in sides] for row in exported
    } == {row["break_id"]: [row[side] for side in sides] for row in keys}
    missing = next(row for row in exported if row["break_class"] == "missing")
    assert missing["customer_email"] == "a***@e***.com" and PHONE not in missing["reference"]
    assert EMAIL not in answer.text and PHONE not in answer.text


def test_history_csv_keeps_the_filters(stack: Stack) -> None:
    admin = stack.client("admin")
    everything = list(csv.DictReader(io.StringIO(admin.get("/recon/history.csv").text)))
    tickets = list(csv.DictReader(io.StringIO(admin.get("/recon/history.csv?spec=tickets").text)))
    failed = list(csv.DictReader(io.StringIO(admin.get("/recon/history.csv?status=error").text)))

    assert [row["run_id"] for row in tickets] == [stack.runs["day2"], stack.runs["day1"]]
    assert len(everything) == len(stack.sql("select 1 from reconciliation.runs"))
    assert [row["run_id"] for row in failed] == [stack.runs["failed"]]
    assert failed[0]["error_message"].startswith("extract_cards: login refused for a***@e***.com")
    assert json.loads(tickets[1]["break_counts"]) == {
        "amount_mismatch": 1, "duplicate": 1, "missing": 1, "status_mismatch": 1,
    }  # fmt: skip


def test_pages_poll_while_a_run_is_in_progress_and_stop_after(stack: Stack) -> None:
    admin = stack.client("admin")
    quiet = admin.get("/recon/").text
    assert "data-running='[]'" in quiet and 'id="running-banner"' not in quiet
    window = RunWindow("cards", datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    with psycopg.connect(stack.warehouse_url, autocommit=True) as conn:
        start_run(conn, window, "manual__test")
        try:
            status = admin.get("/recon/api/status").json()
            busy = admin.get("/recon/history").text

            assert [run["run_id"] for run in status["running"]] == [window.run_id]
            assert f"data-running='[\"{window.run_id}\"]'" in busy and 'id="running-banner"' in busy
        finally:
            mark_failed(conn, window, "stopped by the test")
    assert admin.get("/recon/api/status").json() == {"running": []}
    assert "data-running='[]'" in admin.get("/recon/history").text


def test_api_money_is_exact_text(stack: Stack) -> None:
    items = stack.client("admin").get("/recon/api/breaks?class=amount_mismatch&status=all").json()["items"]

    assert sorted(item["discrepancy_amount"] for item in items) == ["0.01", "5.00"]


def test_publish_builds_the_read_indexes(stack: Stack) -> None:
    """recon.tasks.publish creates the dashboard's indexes; a second call finds nothing missing."""
    from recon.dashboard.indexes import INDEXES, _name, create_indexes

    found = {row["indexname"] for row in stack.sql("select indexname from pg_indexes")}
    assert {_name(statement) for statement in INDEXES} <= found
    with psycopg.connect(stack.warehouse_url) as conn:
        assert create_indexes(conn) == 0
