"""The defaults that know a source's conventions, checked by GX on real rows: ``amount_not_negative``
passes by sources whose amounts are signed (by their type, or declared), ``occurred_at_in_window`` passes
by sources that select records by another key (balance transactions ``select: payouts``). Every source
holds a negative amount and a record from before the window, so a rule that ran on it fails."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from recon.integrity.validate import CheckResult, run_checkpoint
from recon.spec import Spec
from tests.dbt.harness import day_window, load_records
from tests.integrity.support import names

pytestmark = pytest.mark.integration

FIELDS = {"record_key": "id", "amount": "amount", "currency": "currency", "occurred_at": "at"}
CSV = {"type": "sftp_csv", "connection": "unused", "path": "/x.csv", "fields": FIELDS}
SOURCES = [
    {"name": "sales", **CSV},  # a CSV's amounts are not signed unless it says so
    {"name": "ledger", **CSV, "signed_amounts": True},
    {"name": "refunds", "type": "stripe_refunds"},  # Stripe's refund amounts are positive
    {"name": "payouts", "type": "stripe_payouts"},  # signed by Stripe, windowed by created
    {"name": "settled", "type": "stripe_balance_transactions", "select": "payouts"},
    {"name": "moved", "type": "stripe_balance_transactions", "select": "created"},
]


def spec(rules: dict | None = None) -> Spec:
    return Spec.model_validate(
        {
            "name": "default_scopes",
            "description": "test",
            "owner": "tests",
            "schedule": "@daily",
            "sources": SOURCES,
            "reconcile": {
                "pairs": [
                    {"left": "sales", "right": "ledger"},
                    {"left": "refunds", "right": "moved"},
                    {"left": "payouts", "right": "settled", "group": {"side": "right", "by": "group_key"}},
                ]
            },
            "rules": rules or {},
        }
    )


WINDOW = day_window(spec(), "2026-11-16")


@pytest.fixture(scope="module")
def loaded(module_warehouse: psycopg.Connection) -> None:
    records = []
    for source in SOURCES:
        name = source["name"]
        records += [
            {"source": name, "record_key": f"{name}_refund", "amount": "-4.20"},
            {"source": name, "record_key": f"{name}_early", "amount": "10",
             "occurred_at": WINDOW.start - timedelta(days=3)},
        ]  # fmt: skip
    load_records(module_warehouse, WINDOW, records)


def check(loaded: None, gx_url: str, rules: dict | None = None) -> list[CheckResult]:
    return run_checkpoint(spec(rules), WINDOW, "staging", gx_url)


def checked_on(results: list[CheckResult], rule_name: str) -> dict[str, tuple[bool, list[str]]]:
    return {
        r.check.source: (r.success, r.sample)
        for r in results
        if r.check.rule.rule_name == rule_name and r.check.source is not None
    }


def test_the_default_not_negative_checks_only_sources_whose_amounts_are_not_signed(
    loaded: None, gx_url: str
) -> None:
    results = check(loaded, gx_url)

    # Balance transactions and payouts are signed by their type, the ledger by its spec.
    assert checked_on(results, "amount_not_negative") == {
        "sales": (False, ["sales_refund"]),
        "refunds": (False, ["refunds_refund"]),
    }


def test_the_default_in_window_passes_by_records_selected_by_their_payout(loaded: None, gx_url: str) -> None:
    results = check(loaded, gx_url)

    in_window = checked_on(results, "occurred_at_in_window")
    assert sorted(in_window) == ["ledger", "moved", "payouts", "refunds", "sales"]
    assert all(sample == [f"{source}_early"] for source, (_, sample) in in_window.items())
    # Every other default still checks the settlement.
    assert "occurred_at_in_window" not in names(results, "settled")
    assert "occurred_at_not_future" in names(results, "settled")


def test_a_redefined_default_keeps_its_scope_unless_it_names_sources(loaded: None, gx_url: str) -> None:
    louder = {"rule": "not_negative", "field": "amount", "severity": "critical", "on_fail": "stop"}
    anywhere = {"rule": "in_window", "field": "occurred_at", "severity": "high", "sources": ["settled"]}
    rules = {"checks": [louder, {**anywhere, "name": "occurred_at_in_window"}]}

    results = check(loaded, gx_url, rules)

    # Under the default's name without sources: the same unsigned sources, now set to stop.
    assert sorted(checked_on(results, "amount_not_negative")) == ["refunds", "sales"]
    assert {r.on_fail for r in results if r.check.rule.rule_name == "amount_not_negative"} == {"stop"}
    # Naming sources checks exactly those, whatever their convention.
    assert checked_on(results, "occurred_at_in_window") == {"settled": (False, ["settled_early"])}
