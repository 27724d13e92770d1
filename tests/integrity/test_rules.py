"""Staging rules run by GX against one run's rows in Postgres: for each kind, data that keeps it and data
that breaks it, the count and record ids of the breaks, and the defaults every spec gets.

One run holds every case. A case's rule is checked on two reference sources of its own: ``<case>_ok``
(rows that keep the rule) and ``<case>_bad`` (the same rows plus rows that break it), so the bad
source's unexpected rows must be exactly the breaking ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from recon.integrity.rules import DEFAULT_RULES
from recon.integrity.suites import build_batches
from recon.integrity.validate import CheckResult, IntegrityError, raise_on_stop, run_checkpoint
from recon.spec import Spec
from recon.window import RunWindow
from tests.dbt.harness import load_records
from tests.integrity.support import names, result, rules_spec

pytestmark = pytest.mark.integration

SPEC = "integrity_rules"
WINDOW = RunWindow(SPEC, datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, tzinfo=UTC))
TOMORROW = datetime.now(UTC) + timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)


def row(key: str, **fields: Any) -> dict[str, Any]:
    return {"record_key": key, "amount": "1", **fields}


@dataclass(frozen=True)
class Case:
    name: str  # the rule's name, and the stem of its two sources
    rule: dict[str, Any]
    ok: list[dict[str, Any]]
    bad: list[dict[str, Any]]


CASES = [
    Case(
        "email_not_null",
        {"rule": "not_null", "field": "customer_email"},
        ok=[row("ok", customer_email="ada@example.com")],
        # Empty text is as missing as null.
        bad=[row("null", customer_email=None), row("empty", customer_email="")],
    ),
    Case(
        "quantity_not_null",
        {"rule": "not_null", "field": "attributes.quantity"},
        ok=[row("number", attributes={"quantity": 2}), row("text", attributes={"quantity": "two"})],
        bad=[
            row("absent", attributes={}),
            row("json_null", attributes={"quantity": None}),
            row("empty", attributes={"quantity": ""}),
        ],
    ),
    Case(
        "amount_zero_or_more",
        {"rule": "not_negative", "field": "amount"},
        ok=[row("zero", amount="0"), row("some", amount="12.50")],
        bad=[row("cent_below", amount="-0.01")],
    ),
    Case(
        "quantity_positive",
        {"rule": "positive", "field": "attributes.quantity"},
        ok=[
            row("one", attributes={"quantity": 1}),
            row("half", attributes={"quantity": "0.5"}),
            # Not a number: read as missing, which positive does not judge (not_null does).
            row("words", attributes={"quantity": "two"}),
            row("absent"),
        ],
        bad=[row("zero", attributes={"quantity": 0}), row("minus", attributes={"quantity": "-1"})],
    ),
    Case(
        "amount_between",
        # A float, as YAML reads 0.01: the bound must stay exactly 0.01, and so must the comparison.
        {"rule": "between", "field": "amount", "min": 0, "max": 0.01},
        ok=[row("min", amount="0"), row("max", amount="0.01"), row("max_padded", amount="0.0100000000")],
        bad=[row("above", amount="0.010000001"), row("below", amount="-0.000000001")],
    ),
    Case(
        "price_at_least",
        {"rule": "between", "field": "attributes.price", "min": "9.99"},
        ok=[row("min", attributes={"price": "9.99"}), row("more", attributes={"price": 1e6})],
        bad=[row("below", attributes={"price": "9.989999999"})],
    ),
    Case(
        "price_at_most",
        {"rule": "between", "field": "attributes.price", "max": 0.1},
        ok=[row("max", attributes={"price": "0.1"}), row("less", attributes={"price": -5})],
        bad=[row("above", attributes={"price": "0.1000000001"})],
    ),
    Case(
        "email_format",
        {"rule": "email", "field": "customer_email"},
        ok=[row("ok", customer_email="ada@example.com"), row("none")],
        bad=[
            row("no_tld", customer_email="ada.lovelace@example"),
            row("space", customer_email="grace hopper@navy.mil"),
            row("no_at", customer_email="alan.turing.example.com"),
        ],
    ),
    Case(
        "charge_reference",
        {"rule": "matches", "field": "reference", "pattern": "^ch_[0-9]+$"},
        ok=[row("short", reference="ch_1"), row("long", reference="ch_12345"), row("none")],
        bad=[row("payment", reference="py_1"), row("letters", reference="ch_12a")],
    ),
    Case(
        "known_status",
        {"rule": "in_set", "field": "status", "values": ["paid", "refunded"]},
        ok=[row("paid", status="paid"), row("refunded", status="refunded"), row("none")],
        bad=[row("upper", status="PAID"), row("void", status="void")],
    ),
    Case(
        "known_tier",
        # Numbers in the spec compare as text, like the attribute's value.
        {"rule": "in_set", "field": "attributes.tier", "values": [1, 2]},
        ok=[row("one", attributes={"tier": 1}), row("two", attributes={"tier": "2"})],
        bad=[row("three", attributes={"tier": 3})],
    ),
    Case(
        "currency_code",
        {"rule": "currency_code", "field": "currency"},
        ok=[row("usd", currency="USD"), row("kwd", currency="KWD"), row("jpy", currency="JPY")],
        bad=[row("zzz", currency="ZZZ"), row("lower", currency="usd")],
    ),
    Case(
        "occurred_not_future",
        {"rule": "not_future", "field": "occurred_at"},
        ok=[row("in_window"), row("long_ago", occurred_at=datetime(2001, 1, 1, tzinfo=UTC))],
        bad=[row("tomorrow", occurred_at=TOMORROW)],
    ),
    Case(
        "shipped_not_future",
        {"rule": "not_future", "field": "attributes.shipped_at"},
        ok=[
            row("offset", attributes={"shipped_at": "2026-11-10T12:00:00+02:00"}),
            row("utc", attributes={"shipped_at": "2026-11-10 12:00:00"}),
            row("not_a_time", attributes={"shipped_at": "soon"}),
        ],
        bad=[row("far", attributes={"shipped_at": "2999-01-01T00:00:00Z"})],
    ),
    Case(
        "occurred_in_window",
        {"rule": "in_window", "field": "occurred_at"},
        ok=[row("start", occurred_at=WINDOW.start), row("last", occurred_at=WINDOW.end - MICROSECOND)],
        # The window is [start, end): its end belongs to the next run.
        bad=[row("end", occurred_at=WINDOW.end), row("before", occurred_at=WINDOW.start - MICROSECOND)],
    ),
    Case(
        "reference_unique",
        {"rule": "unique", "field": "reference"},
        ok=[row("a", reference="r1"), row("b", reference="r2"), row("none_1"), row("none_2", reference="")],
        bad=[row("twice_1", reference="r3"), row("twice_2", reference="r3")],
    ),
    Case(
        "event_exists",
        {"rule": "exists_in", "field": "group_key", "reference": {"source": "events"}},
        # A row without a parent value is not an orphan: it has no parent to lose.
        ok=[row("e1", group_key="e1"), row("e2", group_key="e2"), row("null"), row("empty", group_key="")],
        bad=[row("orphan", group_key="e9"), row("upper", group_key="E1")],
    ),
    Case(
        "event_reference_exists",
        {"rule": "exists_in", "field": "reference", "reference": {"source": "events", "field": "reference"}},
        ok=[row("ref", reference="evt_ref_1")],
        # e1 is an event's record_key, not its reference.
        bad=[row("key", reference="e1")],
    ),
    Case(
        "order_total",
        {
            "rule": "totals",
            "field": "amount",
            "lines": {"source": "order_lines", "by": "group_key"},
            "tolerance": 0.01,
        },
        ok=[
            row("o_within", amount="15.01"),  # lines 10 + 5: 0.01 off, the tolerance is inclusive
            row("o_exact", amount="15"),
            row("o_none", amount="0"),  # no lines: compared to 0
        ],
        bad=[
            row("o_above", amount="15.02"),
            row("o_below", amount="14.98"),
            row("o_lonely", amount="3"),  # no lines, so 3 off
        ],
    ),  # fmt: skip
]

REFERENCE_ROWS = [
    {"source": "events", **row("e1", reference="evt_ref_1")},
    {"source": "events", **row("e2")},
    *(
        {"source": "order_lines", **row(f"{order}_{amount}", amount=amount, group_key=order)}
        for order in ("o_within", "o_exact", "o_above", "o_below")
        for amount in ("10", "5")
    ),
    # A line of no order counts toward none.
    {"source": "order_lines", **row("stray", amount="100", group_key=None)},
]

# The reconciled sources: the defaults check them (and only them).
LEFT = [
    row("clean", customer_email="ada@example.com"),
    row("", amount="2"),
    row("negative", amount="-1"),
    row("lower_usd", currency="usd"),
    row("bad_email", customer_email="ada.lovelace@example"),
    row("early", occurred_at=WINDOW.start - timedelta(hours=1)),
    row("tomorrow", occurred_at=TOMORROW),
]
RIGHT = [row("clean", customer_email="ada@example.com"), row("other")]
# Each default on LEFT: the record keys that break it.
DEFAULT_BREAKS = {
    "record_key_not_null": [""],
    "amount_not_negative": ["negative"],
    "currency_iso_4217": ["lower_usd"],
    "customer_email_format": ["bad_email"],
    "occurred_at_not_future": ["tomorrow"],
    "occurred_at_in_window": ["early", "tomorrow"],
}
STAGING_DEFAULTS = [rule.rule_name for rule in DEFAULT_RULES if rule.checkpoint == "staging"]

THRESHOLD_ROWS = [row("a"), row("b"), row("c"), row("negative", amount="-1")]


def spec_with(rules: dict[str, Any]) -> Spec:
    """This module's spec with another rules section (same name, so it checks the same run)."""
    references = (
        "events",
        "order_lines",
        "threshold",
        *(f"{c.name}_{k}" for c in CASES for k in ("ok", "bad")),
    )
    return rules_spec(SPEC, rules, references)


def case_rules() -> list[dict[str, Any]]:
    checks = [
        {
            "name": case.name,
            "severity": "high",
            **case.rule,
            "sources": [f"{case.name}_ok", f"{case.name}_bad"],
        }
        for case in CASES
    ]
    # 1 row in 4 breaks: 25 %.
    for name, threshold in (("within_threshold", 0.3), ("beyond_threshold", 0.2)):
        checks.append(
            {"rule": "not_negative", "field": "amount", "name": name, "severity": "high",
             "threshold": threshold, "sources": ["threshold"]}
        )  # fmt: skip
    return checks


SPEC_WITH_CASES = spec_with({"checks": case_rules()})


def records() -> Iterator[dict[str, Any]]:
    for case in CASES:
        yield from ({"source": f"{case.name}_ok", **r} for r in case.ok)
        yield from ({"source": f"{case.name}_bad", **r} for r in [*case.ok, *case.bad])
    yield from REFERENCE_ROWS
    yield from ({"source": "threshold", **r} for r in THRESHOLD_ROWS)
    yield from ({"source": "left", **r} for r in LEFT)
    yield from ({"source": "right", **r} for r in RIGHT)


@pytest.fixture(scope="module")
def loaded(module_warehouse: psycopg.Connection) -> None:
    load_records(module_warehouse, WINDOW, records())


@pytest.fixture(scope="module")
def results(loaded: None, gx_url: str) -> list[CheckResult]:
    return run_checkpoint(SPEC_WITH_CASES, WINDOW, "staging", gx_url)


RunRules = Callable[[dict[str, Any]], list[CheckResult]]


@pytest.fixture
def check(loaded: None, gx_url: str) -> RunRules:
    """Run the staging checkpoint of this run with another rules section."""

    def run(rules: dict[str, Any]) -> list[CheckResult]:
        return run_checkpoint(spec_with(rules), WINDOW, "staging", gx_url)

    return run


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_rows_that_keep_the_rule_pass(results: list[CheckResult], case: Case) -> None:
    found = result(results, case.name, f"{case.name}_ok")

    assert (found.success, found.unexpected_count, found.sample) == (True, 0, [])
    assert found.element_count == len(case.ok)
    assert "exception" not in found.details


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_rows_that_break_the_rule_fail_with_their_count_and_record_ids(
    results: list[CheckResult], case: Case
) -> None:
    found = result(results, case.name, f"{case.name}_bad")

    assert found.success is False
    assert found.unexpected_count == len(case.bad)
    assert sorted(found.sample) == sorted(r["record_key"] for r in case.bad)
    assert found.element_count == len(case.ok) + len(case.bad)
    assert (found.severity, found.checkpoint, found.suite) == (
        "high",
        "staging",
        f"{SPEC}.staging.{case.name}_bad",
    )


def test_a_non_numeric_attribute_reads_as_missing(results: list[CheckResult]) -> None:
    found = result(results, "quantity_positive", "quantity_positive_ok")

    # "two" and the absent quantity: neither a break nor a pass, just no value to judge.
    assert found.details["missing_count"] == 2
    assert (found.success, found.unexpected_count) == (True, 0)


def test_a_threshold_is_the_share_of_rows_allowed_to_break(results: list[CheckResult]) -> None:
    within = result(results, "within_threshold", "threshold")
    beyond = result(results, "beyond_threshold", "threshold")

    assert (within.success, within.unexpected_count, within.unexpected_percent) == (True, 1, 25.0)
    assert within.sample == ["negative"]
    assert (beyond.success, beyond.unexpected_count, beyond.unexpected_percent) == (False, 1, 25.0)
    assert beyond.sample == ["negative"]


def test_every_reconciled_source_gets_the_default_rules(results: list[CheckResult]) -> None:
    assert names(results, "left") == STAGING_DEFAULTS
    assert names(results, "right") == STAGING_DEFAULTS
    for name in STAGING_DEFAULTS:
        on_left, on_right = result(results, name, "left"), result(results, name, "right")
        assert sorted(on_left.sample) == DEFAULT_BREAKS[name], name
        assert (on_left.success, on_left.unexpected_count) == (False, len(DEFAULT_BREAKS[name])), name
        assert (on_right.success, on_right.unexpected_count) == (True, 0), name


def test_reference_sources_get_no_default_rules(results: list[CheckResult]) -> None:
    # A reference is what rules look things up in, not a side of a reconciliation: only rules naming it run.
    assert names(results, "events") == []
    assert names(results, "order_lines") == []
    assert names(results, "email_format_bad") == ["email_format"]


def test_rules_disable_turns_a_default_off(check: RunRules) -> None:
    spec_rules = {"disable": ["customer_email_format", "no_duplicates"]}

    checked = check(spec_rules)

    expected = [name for name in STAGING_DEFAULTS if name != "customer_email_format"]
    assert names(checked, "left") == expected
    assert names(checked, "right") == expected
    results_batches = [
        batch.name for batch in build_batches(spec_with(spec_rules)) if batch.checkpoint == "results"
    ]
    assert results_batches == ["pairs"]


def test_a_rule_named_like_a_default_replaces_it(check: RunRules) -> None:
    softer = {"rule": "currency_code", "name": "currency_iso_4217", "field": "currency", "severity": "low"}

    checked = check({"checks": [softer]})

    # Run once, as the spec's own rule (after the defaults); the other defaults stay on.
    others = [name for name in STAGING_DEFAULTS if name != "currency_iso_4217"]
    assert names(checked, "left") == [*others, "currency_iso_4217"]
    currency = result(checked, "currency_iso_4217", "left")
    assert (currency.severity, currency.success, currency.sample) == ("low", False, ["lower_usd"])


@pytest.mark.parametrize("on_fail", ["mark", "quarantine"])
@pytest.mark.parametrize("severity", ["critical", "high", "medium", "low"])
def test_a_failed_rule_stops_the_run_only_when_its_on_fail_says_so(
    check: RunRules, severity: str, on_fail: str
) -> None:
    checked = check({"disable": STAGING_DEFAULTS, "checks": [not_negative(severity, on_fail)]})
    assert result(checked, "amount_not_negative", "left").success is False

    raise_on_stop("staging", checked)  # must not raise: severity is how loud, not whether to stop


def test_a_failed_stop_rule_stops_the_run_whatever_its_severity(check: RunRules) -> None:
    checked = check({"disable": STAGING_DEFAULTS, "checks": [not_negative("low", "stop")]})

    with pytest.raises(IntegrityError) as raised:
        raise_on_stop("staging", checked)

    # 1 row of LEFT's 7 (14.29 %); right passes, so it is not named.
    assert str(raised.value) == (
        "staging checkpoint: 1 rule set to stop the run failed (1 failed in all):\n"
        "- amount_not_negative on left (stop, low): 1 unexpected row (14.29 %), e.g. negative"
    )


def test_the_stop_error_lists_every_failed_rule_stopping_ones_first(check: RunRules) -> None:
    # The defaults fail on LEFT as DEFAULT_BREAKS says; two of them are made to stop the run.
    stopping = [
        {"rule": "currency_code", "name": "currency_iso_4217", "field": "currency", "severity": "high",
         "on_fail": "stop"},
        {"rule": "in_window", "name": "occurred_at_in_window", "field": "occurred_at", "severity": "low",
         "on_fail": "stop"},
    ]  # fmt: skip
    checked = check({"checks": stopping})

    with pytest.raises(IntegrityError) as raised:
        raise_on_stop("staging", checked)

    lines = str(raised.value).splitlines()
    assert lines[0] == "staging checkpoint: 2 rules set to stop the run failed (6 failed in all):"
    # Stopping rules first, then the others loudest first; within one, in the order they ran.
    assert [line.split(":")[0] for line in lines[1:]] == [
        "- currency_iso_4217 on left (stop, high)",
        "- occurred_at_in_window on left (stop, low)",
        "- record_key_not_null on left (mark, critical)",
        "- amount_not_negative on left (mark, critical)",
        "- occurred_at_not_future on left (mark, high)",
        "- customer_email_format on left (mark, medium)",
    ]
    assert lines[2] == (
        "- occurred_at_in_window on left (stop, low): 2 unexpected rows (28.57 %), e.g. early, tomorrow"
    )


def not_negative(severity: str, on_fail: str) -> dict[str, Any]:
    return {"rule": "not_negative", "field": "amount", "severity": severity, "on_fail": on_fail,
            "sources": ["left", "right"]}  # fmt: skip
