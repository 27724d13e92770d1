"""The recon dashboard in a real browser (Debian's headless chromium) inside the real Airflow UI, on
the demo's run: log in through Airflow's login page, open "Reconciliation" from Airflow's navigation,
read the overview, filter the breaks, resolve one with a note, follow History to the run and export
its breaks as CSV; and the breaks page on a phone. Each page's screenshot is saved (conftest.py).

The tests share one logged-in page and run in file order; each starts again from Airflow's navigation.
"""

from __future__ import annotations

import collections
import csv
import json
import re
from decimal import Decimal

import pytest
from playwright.sync_api import Browser, Frame, Page, expect

from include.scenarios.stripe_billing import Scenario
from recon.masking import mask_email
from tests.browser.conftest import (
    DEMO_DAY,
    DEMO_SEED,
    DESKTOP,
    LOGIN_PAGE,
    RUN_ID,
    SPEC,
    Demo,
    dashboard_frame,
    log_in,
    screenshot,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

NOTE = "Refunded by support on 2026-11-20; finance confirmed (ticket FIN-1234)"
PHONE = {"width": 390, "height": 844}


def open_dashboard(page: Page, demo: Demo) -> Frame:
    """From Airflow's home page, the "Reconciliation" entry of its navigation: the dashboard's frame."""
    page.goto(demo.base_url + "/")
    # Exactly that name: the home page also lists assets such as "reconciliation.stripe_billing".
    page.get_by_test_id("nav-sidebar").get_by_role("link", name="Reconciliation", exact=True).click()
    expect(page).to_have_url(re.compile(r"/plugin/recon(/|$)"))
    frame = dashboard_frame(page)
    expect(frame.locator("body")).to_have_id("page-overview")
    return frame


def test_an_anonymous_visitor_is_sent_to_airflows_login_and_comes_back_after_it(
    browser: Browser, demo: Demo
) -> None:
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        page.goto(demo.base_url + "/recon/")
        expect(page).to_have_url(LOGIN_PAGE)
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert "_token" not in {cookie["name"] for cookie in context.cookies()}

        log_in(page, "viewer", demo.server.users["viewer"])

        expect(page).to_have_url(demo.base_url + "/recon/")
        expect(page.locator("#current-user")).to_have_text("viewer")
        expect(page.locator(f"#spec-{SPEC}")).to_be_visible()
        page.goto(demo.base_url + "/recon/breaks")
        expect(page.locator(".break-row").first).to_be_visible()
        expect(page.locator("#bulk-actions")).to_have_count(0)  # a viewer reads, never reviews
    finally:
        context.close()


def test_the_admin_opens_the_dashboard_from_airflows_navigation_and_sees_the_demo_run(
    admin_page: Page, demo: Demo
) -> None:
    frame = open_dashboard(admin_page, demo)
    run = demo.sql("select status, discrepancy_percent from reconciliation.runs where run_id = %s", RUN_ID)[0]
    open_by_severity = {
        row["severity"]: row["n"]
        for row in demo.sql(
            "select severity, count(*) as n from reconciliation.breaks"
            " where spec = %s and status = 'open' group by severity",
            SPEC,
        )
    }
    planted = sum(Scenario(seed=DEMO_SEED, day=DEMO_DAY).expected_breaks().values())

    card = frame.locator(f"#spec-{SPEC}")
    expect(frame.locator("#current-user")).to_have_text("admin")
    expect(card.locator(".last-status")).to_have_text("discrepancy found")
    expect(card.locator(".last-run-link")).to_have_text("2026-11-19 00:00 → 2026-11-20 00:00")
    expect(card.locator(".open-count")).to_have_text(str(sum(open_by_severity.values())))
    expect(card.locator(".open-critical")).to_have_text(str(open_by_severity.get("critical", 0)))
    expect(card.locator(".open-warning")).to_have_text(str(open_by_severity.get("warning", 0)))
    # The run's discrepancy percent is the trend's one point (its title, shown on hover).
    expect(card.locator(".trend .point")).to_have_count(1)
    point = card.locator(".trend .point title")
    expect(point).to_have_text(f"2026-11-19 00:00: {run['discrepancy_percent']} %")
    assert run["status"] == "discrepancy_found"
    assert sum(open_by_severity.values()) == planted == 17  # the README's demo output: 17 breaks
    screenshot(admin_page, "overview")


def test_the_admin_filters_the_breaks_and_resolves_one_with_a_note_that_is_audited(
    admin_page: Page, demo: Demo
) -> None:
    frame = open_dashboard(admin_page, demo)
    open_breaks = demo.sql(
        "select break_id, break_class from reconciliation.breaks where spec = %s and status = 'open'", SPEC
    )
    missing = {row["break_id"] for row in open_breaks if row["break_class"] == "missing"}

    frame.locator("#nav-breaks").click()
    expect(frame.locator("body")).to_have_id("page-breaks")
    expect(frame.locator(".break-row")).to_have_count(len(open_breaks))
    screenshot(admin_page, "breaks")
    frame.locator("#filter-class").select_option("missing")
    frame.locator("#apply-filters").click()
    frame.wait_for_url(re.compile(r"/recon/breaks\?.*\bclass=missing\b"))
    rows = frame.locator(".break-row")
    expect(rows).to_have_count(len(missing))
    expect(frame.locator("#result-count")).to_have_text(f"{len(missing)} matching")
    listed = {row.get_attribute("data-break-id") for row in rows.all()}
    classes = {text.splitlines()[0] for text in frame.locator(".break-row .break-class").all_inner_texts()}

    chosen = rows.first.get_attribute("data-break-id")
    rows.first.locator(".break-link").click()
    frame.wait_for_url(f"**/recon/breaks/{chosen}")
    expect(frame.locator("#break-status")).to_have_text("open")
    frame.locator("#review-note").fill(NOTE)
    frame.locator("#action-resolve").click()
    expect(frame.locator("#flash")).to_have_text("resolve: 1 break(s) changed")
    expect(frame.locator("#break-status")).to_have_text("resolved")
    audit = frame.locator("#break-audit .audit-row")
    expect(audit).to_have_count(1)
    expect(audit.locator(".audit-actor")).to_have_text("admin")
    expect(audit.locator(".audit-action")).to_have_text("break.resolve")
    expect(audit.locator(".audit-note")).to_have_text(NOTE)
    screenshot(admin_page, "break")
    frame.locator("#nav-breaks").click()
    expect(frame.locator(".break-row")).to_have_count(len(open_breaks) - 1)
    expect(frame.locator(f'.break-row[data-break-id="{chosen}"]')).to_have_count(0)

    assert len(missing) == 7 and listed == missing and classes == {"missing"}
    stored = demo.sql("select status from reconciliation.breaks where break_id = %s", chosen)
    audited = demo.sql(
        "select actor, action, spec, note, before, after from reconciliation.audit_log where break_id = %s",
        chosen,
    )
    assert stored == [{"status": "resolved"}]
    assert audited == [
        {"actor": "admin", "action": "break.resolve", "spec": SPEC, "note": NOTE,
         "before": {"status": "open"}, "after": {"status": "resolved"}},
    ]  # fmt: skip


def test_history_leads_to_the_run_whose_breaks_csv_matches_run_breaks(admin_page: Page, demo: Demo) -> None:
    frame = open_dashboard(admin_page, demo)
    run = demo.sql(
        "select status, discrepancy_percent, break_count from reconciliation.runs where run_id = %s", RUN_ID
    )[0]
    stored = demo.sql(
        "select break_id, break_class, severity, missing_in, left_record_keys, right_record_keys,"
        " discrepancy_amount, currency, customer_email from reconciliation.run_breaks where run_id = %s",
        RUN_ID,
    )
    by_id = {row["break_id"]: row for row in stored}

    frame.locator("#nav-history").click()
    expect(frame.locator("body")).to_have_id("page-history")
    row = frame.locator(f'.run-row[data-run-id="{RUN_ID}"]')
    expect(row).to_have_attribute("data-status", "discrepancy_found")
    percent = run["discrepancy_percent"].quantize(Decimal("0.01"))
    expect(row.locator('[data-label="Discrepancy"]')).to_have_text(f"{percent} %")
    screenshot(admin_page, "history")
    row.locator(".run-link").click()
    frame.wait_for_url(re.compile(r"/recon/runs/[^/]+$"))
    expect(frame.locator("#run-id")).to_have_text(RUN_ID)
    expect(frame.locator("#run-discrepancy")).to_have_text(f"{percent} %")
    expect(frame.locator("#run-break-count")).to_have_text(str(run["break_count"]))
    expect(frame.locator(".run-break-row")).to_have_count(len(stored))
    screenshot(admin_page, "run")
    with admin_page.expect_download() as started:
        frame.locator("#run-breaks-csv").click()
    download = started.value
    with open(download.path(), encoding="utf-8", newline="") as file:
        exported = list(csv.DictReader(file))

    assert download.failure() is None
    assert download.suggested_filename.startswith("recon-breaks-stripe_billing_2026-11-19")
    assert run["break_count"] == len(stored) == 17
    # One line per row of run_breaks: the same breaks, none twice, none left out.
    assert collections.Counter(line["break_id"] for line in exported) == collections.Counter(
        row["break_id"] for row in stored
    )
    for line in exported:
        want = by_id[line["break_id"]]
        assert line["run_id"] == RUN_ID
        assert (line["break_class"], line["severity"], line["missing_in"] or None, line["currency"]) == (
            want["break_class"], want["severity"], want["missing_in"], want["currency"],
        )  # fmt: skip
        # Record keys (text[]) leave as a JSON array a cell: ["ch_1"], a group's ["ch_1", "ch_2"].
        sides = ("left_record_keys", "right_record_keys")
        exported_keys = [json.loads(line[side]) if line[side] else None for side in sides]
        assert exported_keys == [want[side] for side in sides]
        assert Decimal(line["discrepancy_amount"]) == want["discrepancy_amount"]
        # Emails leave the dashboard masked, in the CSV as on the page.
        assert line["customer_email"] == (mask_email(want["customer_email"]) or "")


def test_the_breaks_page_fits_a_phone_screen(browser: Browser, admin_page: Page, demo: Demo) -> None:
    # The admin's login, on a phone that opens the dashboard's own address (as a link in an alert does).
    context = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, storage_state=admin_page.context.storage_state()
    )
    try:
        page = context.new_page()
        page.goto(demo.base_url + "/recon/breaks")
        expect(page.locator("body")).to_have_id("page-breaks")
        expect(page.locator(".break-row").first).to_be_visible()
        # A phone widens its layout viewport to fit what overflows, so innerWidth is checked too; and the
        # list, stacked into one card per break, must not scroll sideways inside its own frame either.
        widths = page.evaluate(
            """() => ({page: document.documentElement.scrollWidth, window: window.innerWidth,
                      list: document.querySelector('#breaks-table').parentElement.scrollWidth,
                      listBox: document.querySelector('#breaks-table').parentElement.clientWidth})"""
        )
        screenshot(page, "phone-breaks")
    finally:
        context.close()

    assert widths["window"] == PHONE["width"], f"the page is wider than the phone: {widths}"
    assert widths["page"] <= widths["window"], f"the page scrolls sideways: {widths}"
    assert widths["list"] <= widths["listBox"], f"the breaks list scrolls sideways in its box: {widths}"
