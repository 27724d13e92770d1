"""What a published run says, on real Postgres through dbt: publish_run counts the run's breaks in SQL
(per side, per differing field, per status pair) and stores sentences that fit the spec's sources and
hints; the alert facts read from the same tables name the side that repeated."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import yaml

from recon import runs
from recon.alerts.facts import Links, describe_break, read_run_facts
from recon.recommendations import spec_words
from recon.spec import load_spec
from tests.dbt.harness import day_window, rows, run_matching

pytestmark = pytest.mark.integration

SPECS = Path(__file__).resolve().parents[2] / "include" / "specs"


def ticket_spec(tmp_path: Path):
    """The shipped ticketing spec (platform: REST API, box_office: app database), comparing quantity,
    with the box office's own hint for orders it never wrote."""
    document = yaml.safe_load((SPECS / "ticket_orders.yml").read_text(encoding="utf-8"))
    pair = document["reconcile"]["pairs"][0]
    pair["compare"]["attributes"] = ["quantity"]
    pair["hints"] = {"missing_in_right": "Ask the box office to rerun the till sync."}
    path = tmp_path / "ticket_orders.yml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load_spec(path)


def test_publish_stores_sentences_that_fit_the_sources_fields_statuses_sides_and_hints(
    conn: psycopg.Connection, warehouse_url: str, tmp_path: Path
) -> None:
    spec = ticket_spec(tmp_path)
    window = day_window(spec, "2026-11-19")
    noon, later = window.start + timedelta(hours=12), window.start + timedelta(hours=12, minutes=2)

    def sale(source: str, key: str, status: str, quantity: int = 1, **values) -> dict:
        record = {"source": source, "record_key": key, "amount": "25.00", "currency": "EUR", "status": status,
                  "occurred_at": noon, "attributes": {"quantity": quantity}}  # fmt: skip
        return {**record, **values}

    records = [
        sale("platform", "o1", "paid"), sale("box_office", "o1", "sold"),  # matched
        sale("platform", "o2", "paid", 2), sale("box_office", "o2", "sold", 3),  # quantity differs
        sale("platform", "o3", "paid", 4), sale("box_office", "o3", "sold", 1),  # quantity differs
        sale("platform", "o4", "refunded"), sale("box_office", "o4", "sold"),  # refunded vs settled
        sale("platform", "o5", "paid"),  # never written by the till
        sale("platform", "o6", "paid"), sale("box_office", "o6", "sold"),
        sale("box_office", "o6", "sold"),  # the till wrote it twice
        sale("platform", "o7", "paid", customer_email="ada@example.com"), sale("box_office", "o7", "sold"),
        sale("platform", "o8", "paid", customer_email="ada@example.com", occurred_at=later),
    ]  # fmt: skip
    runs.start_run(conn, window, None)
    run_matching(conn, warehouse_url, spec, window, records, command=("run",))

    runs.publish_run(conn, window, spec_words(spec))

    (run,) = rows(conn, "select recommendations from reconciliation.runs where run_id = %s", window.run_id)
    assert run["recommendations"] == [
        "2 records differ between platform and box_office: quantity differs on 2 records; correct the side"
        " that is wrong.",
        "1 record is repeated in box_office (a key already seen there): remove the repeated rows or fix the"
        " double write in the application.",
        "1 record is in platform but not in box_office: check that the application wrote it to box_office"
        " (failed writes, a stopped sync or replication job), and write the missing row. Ask the box office"
        " to rerun the till sync.",
        "1 record in platform looks like a repeat (same customer_email and amount, at most 5m apart): check"
        " for double submissions and cancel or remove the extra one.",
        "1 record has a different status in platform and box_office (platform vs box_office: refunded vs"
        " settled on 1): update the side that missed the change.",
    ]
    facts = read_run_facts(conn, window, 10, Links())
    assert sorted(item.label for item in facts.counts) == [
        "duplicates in box_office", "field mismatches", "likely double submissions in platform",
        "missing in box_office", "status mismatches",
    ]  # fmt: skip
    repeats = [describe_break(item) for item in facts.breaks if "duplicate" in item["break_class"]]
    assert sorted(line.split(":")[0] for line in repeats) == [
        "o6 duplicate in box_office",
        "o8 likely double submission in platform",
    ]


def test_publish_without_the_specs_words_is_generic(
    conn: psycopg.Connection, warehouse_url: str, tmp_path: Path
) -> None:
    spec = ticket_spec(tmp_path)
    window = day_window(spec, "2026-11-20")
    runs.start_run(conn, window, None)
    records = [{"source": "platform", "record_key": "o9", "amount": "5.00", "currency": "EUR"}]
    run_matching(conn, warehouse_url, spec, window, records, command=("run",))

    runs.publish_run(conn, window)

    (run,) = rows(conn, "select recommendations from reconciliation.runs where run_id = %s", window.run_id)
    assert run["recommendations"] == [
        "1 record is in platform but not in box_office: check that box_office receives it (exports, sync"
        " jobs), or sync it."
    ]
