"""The browser tests' stack, built once for the module:

- the demo's run: ``airflow dags test recon_stripe_billing`` for the demo's day and seed, as `make demo`
  runs it, against the sandbox Stripe API, SFTP server and alert receiver, into the session's
  warehouse (emptied first, so the dashboard shows this run and nothing else);
- the real Airflow API server of the session (tests/conftest.py ``airflow_api_server``), which reads
  that warehouse through ``recon_warehouse`` and mounts the dashboard plugin;
- Debian's chromium (``make system-deps``), driven by Playwright's sync API. Nothing downloads a
  browser: ``playwright install`` is never run.

Screenshots go to ``.artifacts/screenshots/`` (test artifacts, not committed); with
RECON_UPDATE_SCREENSHOTS=1 a copy of each goes to ``docs/screenshots/`` (committed, shown in the
README). A failed test leaves a screenshot of where the browser was as
``.artifacts/screenshots/failed-<test>.png``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from playwright.sync_api import Browser, Frame, Page, expect, sync_playwright
from psycopg.rows import dict_row

from include.airflow_server import ApiServer
from include.local_stack import SandboxStack
from include.sandbox.generator import billing_example
from recon.masking import mask_text

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / ".artifacts" / "screenshots"
DOCS_SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
# The demo's defaults (include/demo.py): the day reconciled and the generator's seed.
DEMO_DAY, DEMO_SEED = dt.date(2026, 11, 19), 42
SPEC = "stripe_billing"
DAG_ID = f"recon_{SPEC}"
RUN_ID = "stripe_billing/2026-11-19T00:00:00+00:00/2026-11-20T00:00:00+00:00"
# Airflow 3 shows an external view that has a url_route inside its own page, in this iframe.
DASHBOARD_IFRAME = 'iframe[title="Reconciliation"]'
# SimpleAuthManager's login form, coming back afterwards to the page first asked for.
LOGIN_PAGE = re.compile(r"/auth/login\?next=")


@dataclass(frozen=True)
class Demo:
    """The demo's run in the warehouse, and the API server whose dashboard shows it."""

    server: ApiServer
    warehouse_url: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def sql(self, query: str, *params: Any) -> list[dict[str, Any]]:
        with psycopg.connect(self.warehouse_url) as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            return cur.fetchall()


@pytest.fixture(scope="module")
def demo(airflow_api_server: ApiServer, warehouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """Run the demo's reconciliation into an empty warehouse. The server comes first: it migrates the
    metadata DB that `airflow dags test` then writes the DAG run into."""
    _empty_warehouse(warehouse_url)
    work = tmp_path_factory.mktemp("browser-demo")
    specs = work / "specs"
    specs.mkdir()
    # The shipped spec without retries: a failing task fails the run at once, not after its delays.
    document = yaml.safe_load((PROJECT_ROOT / "include" / "specs" / f"{SPEC}.yml").read_text("utf-8"))
    (specs / f"{SPEC}.yml").write_text(yaml.safe_dump({**document, "retries": 0}), encoding="utf-8")
    with SandboxStack(billing_example(DEMO_SEED, DEMO_DAY), work / "sandbox") as stack:
        env = {
            **os.environ,
            **stack.environment(warehouse_url),
            "RECON_SPECS_DIR": str(specs),
            "RECON_DATA_DOCS_DIR": str(work / "data_docs"),
        }
        logical_date = dt.datetime.combine(DEMO_DAY + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        airflow = str(Path(sys.executable).with_name("airflow"))
        done = subprocess.run(
            [airflow, "dags", "test", DAG_ID, logical_date.isoformat()],
            env=env,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
    found = Demo(airflow_api_server, warehouse_url)
    runs = found.sql("select status from reconciliation.runs where run_id = %s", RUN_ID)
    assert done.returncode == 0 and [row["status"] for row in runs] == ["discrepancy_found"], (
        f"airflow dags test {DAG_ID} (exit {done.returncode}, runs {runs}):\n"
        + mask_text((done.stdout + done.stderr)[-4000:])
    )
    return found


def _empty_warehouse(url: str) -> None:
    from recon.staging.schema import ensure_schema

    with psycopg.connect(url) as conn:
        with conn.transaction():
            for schema in ("staging", "reconciliation", "recon_intermediate", "recon_staging"):
                conn.execute(f"drop schema if exists {schema} cascade")
        ensure_schema(conn)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless, for the whole module."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (apt-get install chromium)")
    for stale in ARTIFACTS.glob("failed-*.png"):  # from an earlier session: not this one's failures
        stale.unlink()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def admin_page(browser: Browser, demo: Demo) -> Iterator[Page]:
    """One page, logged in as admin through Airflow's own login form, shared by the module's tests."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.goto(demo.base_url + "/")
    expect(page).to_have_url(LOGIN_PAGE)
    log_in(page, "admin", demo.server.users["admin"])
    expect(page).to_have_url(demo.base_url + "/")
    yield page
    context.close()


def log_in(page: Page, user: str, password: str) -> None:
    """Fill SimpleAuthManager's login form (the page Airflow redirects to) and submit it."""
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def dashboard_frame(page: Page) -> Frame:
    """The dashboard's frame inside Airflow's page (the external view's iframe)."""
    frame = page.wait_for_selector(DASHBOARD_IFRAME).content_frame()
    assert frame is not None, f"no frame in {DASHBOARD_IFRAME} on {page.url}"
    return frame


def screenshot(page: Page, name: str) -> Path:
    """The viewport as ``<name>.png``, a test artifact; copied for the docs with RECON_UPDATE_SCREENSHOTS=1
    (not by default: the pictures hold the time of the run, so each test run would change the docs)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide")
    if os.environ.get("RECON_UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[Any]:
    """After a failed test, a screenshot of the shared page, to see what the browser saw."""
    report = yield
    page = getattr(item, "funcargs", {}).get("admin_page")
    if report.when == "call" and report.failed and page is not None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(ARTIFACTS / f"failed-{item.name}.png"))
        except Exception as exc:  # the browser may be what failed; the report matters more
            report.sections.append(("failure screenshot", f"none: {exc}"))
    return report
