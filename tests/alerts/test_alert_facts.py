"""What an alert reads about a run (``facts.read_run_facts``), from real dbt results across runs: the
breaks still open from earlier runs, status codes with the words the pair maps them to, and a balance
pair's breaks told by their entity."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from recon import runs
from recon.alerts.facts import Links, RunFacts, read_run_facts
from recon.alerts.pagerduty import trigger
from recon.alerts.slack import result_message
from recon.recommendations import spec_words
from recon.review import review
from recon.spec import Spec, load_spec
from recon.window import RunWindow
from tests.dbt.harness import day_window, make_spec, rows, run_matching

pytestmark = pytest.mark.integration

SPECS = Path(__file__).resolve().parents[2] / "include" / "specs"
DAY_1, DAY_2, DAY_3 = "2026-11-19", "2026-11-20", "2026-11-21"
Publish = Callable[[Spec, RunWindow, list[dict]], RunFacts]


@pytest.fixture
def conn(warehouse: psycopg.Connection) -> Iterator[psycopg.Connection]:
    warehouse.commit()
    warehouse.autocommit = True
    yield warehouse


@pytest.fixture
def publish(conn: psycopg.Connection, warehouse_url: str, tmp_path: Path) -> Publish:
    """One run as the DAG makes it (start, dbt build, publish) and the facts its alerts are built from."""

    def run(spec: Spec, window: RunWindow, records: list[dict]) -> RunFacts:
        runs.start_run(conn, window, None)
        command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))
        run_matching(conn, warehouse_url, spec, window, records, command=command)
        words = spec_words(spec)
        runs.publish_run(conn, window, words)
        return read_run_facts(conn, window, 10, Links(), words)

    return run


def record(source: str, key: str, amount: str, window: RunWindow, **values) -> dict:
    return {"source": source, "record_key": key, "amount": amount,
            "occurred_at": window.start + timedelta(hours=2), **values}  # fmt: skip


def breaks_line(facts: RunFacts) -> str:
    (section,) = [
        block["text"]["text"]
        for block in result_message(facts)["attachments"][0]["blocks"]
        if block["type"] == "section" and block["text"]["text"].startswith("*Breaks by class*")
    ]
    return section.removeprefix("*Breaks by class*\n")


def test_still_open_counts_the_specs_open_breaks_of_earlier_runs_not_only_the_carried_ones(
    conn: psycopg.Connection, publish: Publish
) -> None:
    spec = make_spec("life", {"pairs": [{"left": "left", "right": "right"}]})
    day_1, day_2, day_3 = (day_window(spec, day) for day in (DAY_1, DAY_2, DAY_3))
    first = publish(spec, day_1, [
        record("left", "a1", "10.00", day_1), record("right", "a1", "12.00", day_1),  # amount mismatch
        record("left", "i1", "5.00", day_1), record("right", "i1", "6.00", day_1),  # reviewed: ignored
        record("left", "m1", "7.00", day_1),  # missing in right, and stays missing
        record("left", "m2", "8.00", day_1),  # missing in right, arrives on day 2
        record("right", "x1", "9.00", day_1),  # missing in left, and stays missing
    ])  # fmt: skip
    (ignored,) = rows(conn, "select break_id from reconciliation.breaks where 'i1' = any(left_record_keys)")
    review(conn, [ignored["break_id"]], "ignore", "ada", "a known fee")

    second = publish(spec, day_2, [
        record("right", "m2", "8.00", day_2),  # the late arrival: m2's break is resolved
        record("left", "n1", "3.00", day_2),  # the day's own break
    ])  # fmt: skip
    rerun = publish(spec, day_2, [record("right", "m2", "8.00", day_2), record("left", "n1", "3.00", day_2)])
    third = publish(spec, day_3, [])

    # Day 1 has no earlier run; day 2: a1 (not looked at again), m1 and x1 (looked at, still missing),
    # not i1 (ignored), m2 (resolved) or n1 (day 2's own). The summary's carried count was only m1 and x1.
    assert (first.still_open, first.seen_again) == (0, 0)
    assert (second.still_open, second.seen_again) == (3, 2)
    assert sum(row["carried_break_count"] for row in second.summary) == 2
    assert [(item.label, item.count) for item in second.counts] == [("missing in right", 1)]
    assert (rerun.still_open, rerun.seen_again) == (3, 2)
    assert (third.still_open, third.seen_again) == (4, 3)  # n1 is now an earlier run's, missing still
    assert (
        breaks_line(second)
        == "missing in right: *1* · still open from earlier runs: 3 (2 still missing in this run)"
    )
    assert trigger(third, "critical", "tests")["custom_details"]["still_open_from_earlier_runs"] == 4
    assert breaks_line(third) == "still open from earlier runs: 4 (3 still missing in this run)"


def test_a_pair_the_spec_no_longer_has_leaves_its_open_breaks_out(
    conn: psycopg.Connection, publish: Publish
) -> None:
    old = make_spec("moved", {"pairs": [{"left": "left", "right": "right", "name": "old_pair"}]})
    new = make_spec("moved", {"pairs": [{"left": "left", "right": "right", "name": "new_pair"}]})
    day_1, day_2 = day_window(old, DAY_1), day_window(new, DAY_2)
    publish(old, day_1, [record("left", "a1", "10.00", day_1), record("right", "a1", "12.00", day_1)])

    assert publish(new, day_2, []).still_open == 0
    assert publish(old, day_2, []).still_open == 1


def test_status_codes_are_shown_with_the_words_the_pair_maps_them_to(
    conn: psycopg.Connection, publish: Publish
) -> None:
    pair = {"left": "provider", "right": "sessions",
            "compare": {"status": {"left": {"0": "completed", "1": "failed", "2": "processing"},
                                   "right": {"done": "completed"}}}}  # fmt: skip
    stuck = [{"source": "provider", "statuses": ["2"], "older_than": "1h"}]
    spec = make_spec("checkout", {"pairs": [pair], "stuck": stuck}, sources=("provider", "sessions"))
    window = day_window(spec, DAY_1)

    facts = publish(spec, window, [
        record("provider", "p1", "50.00", window, status="0"), record("sessions", "p1", "50.00", window,
                                                                       status="pending"),
        record("provider", "p2", "20.00", window, status="1"), record("sessions", "p2", "20.00", window,
                                                                       status="done"),
        record("provider", "p3", "10.00", window, status="0"), record("sessions", "p3", "10.00", window,
                                                                       status="done"),  # matched
        record("provider", "p4", "7.00", window, status="2"),  # stuck
    ])  # fmt: skip

    assert sorted(facts.describe(item) for item in facts.breaks) == [
        "p1 status mismatch: 0 (completed) vs pending (50.00 USD) [provider vs sessions]",
        "p2 status mismatch: 1 (failed) vs done (completed) (20.00 USD) [provider vs sessions]",
        "p4 stuck in 2 (processing): 7.00 USD [provider vs sessions]",
    ]
    # Without the spec's words (an older caller), the codes as stored.
    plain = read_run_facts(conn, window, 10, Links())
    assert sorted(plain.describe(item) for item in plain.breaks)[0] == (
        "p1 status mismatch: 0 vs pending (50.00 USD) [provider vs sessions]"
    )


def test_a_balance_break_names_its_entity_once_and_what_each_side_holds(
    conn: psycopg.Connection, publish: Publish
) -> None:
    spec = load_spec(SPECS / "wallet_balances.yml")
    window = day_window(spec, DAY_1)

    def chain(key: str, amount: str) -> dict:
        return record("chain", key, amount, window, currency="ETH")

    facts = publish(spec, window, [
        record("balances", "0xabc", "10.00", window, currency="ETH"),
        chain("0xAbC", "9.50"),  # the same wallet in checksum case: off by 0.50
        record("balances", "0xdef", "4.00", window, currency="ETH"),
        chain("0xDEF", "4.00"),  # matched
        chain("0x123", "2.00"),  # no balance in the app at all
    ])  # fmt: skip

    assert sorted(facts.describe(item) for item in facts.breaks) == [
        "user_id 0x123 missing in balances: 2.00 ETH in chain [balances vs chain]",
        "user_id 0xabc: balance 10.00 vs 9.50 ETH (0.50 apart) [balances vs chain]",
    ]
    assert len(facts.run["recommendations"]) == 2
    assert facts.run["recommendations"][0].startswith(
        "1 balance differs between balances and chain (per user_id) beyond the tolerance: chain is the"
        " source of truth (the spec's corrections), so set the balance in balances to"
    )
    assert facts.run["recommendations"][1].startswith("1 entity (user_id) is in chain but not in balances")
