"""Corrections and key forms, against a real app database: a wallet the chain spells in checksum case is
the app's lower-case row, so it is updated through that row (its own spelling kept) and never inserted
a second time; a wallet the app lacks is inserted with the chain's key in the app's form."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from recon.corrections.apply import apply_corrections
from recon.corrections.plan import plan_corrections
from recon.spec import Spec
from tests.dbt.harness import day_window, rows, run_matching
from tests.operations.conftest import target_database

pytestmark = pytest.mark.integration

# The chain (the truth) in EIP-55 checksum case; the app's balance table in lower case. 0xAbC1 is off
# by 3, 0xDdD2 agrees, 0xEeE3 never reached the app.
CHAIN = {"0xAbC1": "10", "0xDdD2": "5", "0xEeE3": "8"}
APP = {"0xabc1": "7", "0xddd2": "5"}


def wallet_spec(
    pair_form: dict | None = None, source_forms: dict[str, dict] | None = None, **corrections: Any
) -> Spec:
    """Chain (truth) against the app's balances, per wallet; the app is corrected."""
    source_forms = source_forms or {}
    return Spec.model_validate(
        {
            "name": "wallets", "description": "test", "owner": "tests", "schedule": "@daily",
            "sources": [
                {"name": name, "type": "sftp_csv", "connection": "app_read", "path": "/x.csv",
                 "fields": {"record_key": "id", "amount": "amount", "currency": "currency",
                            "occurred_at": "at"},
                 **({"key_form": source_forms[name]} if name in source_forms else {})}
                for name in ("app", "chain")
            ],
            "reconcile": {"balances": [{
                "name": "wallets", "left": "app", "right": "chain",
                **({"key_form": pair_form} if pair_form else {}),
            }]},
            "corrections": {
                "source": "app", "connection": "wallets_writer", "table": "wallet_balances",
                "key": "address", "columns": {"amount": "balance"},
                "classes": ["missing", "balance_mismatch"], **corrections,
            },
        }
    )  # fmt: skip


@pytest.fixture
def wallets(
    warehouse: psycopg.Connection, warehouse_server_url: str, warehouse_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[Spec, dict[str, str]], str]]:  # fmt: skip
    """``run(spec, app)``: the app's table holds ``app``, one run finds the breaks; the table's URL."""
    warehouse.commit()
    warehouse.autocommit = True
    with target_database(
        warehouse_server_url, f"recon_keys_{os.getpid()}", "wallets_writer", monkeypatch
    ) as url:

        def run(spec: Spec, app: dict[str, str]) -> str:
            with psycopg.connect(url) as conn:
                conn.execute(
                    "create table wallet_balances (address text primary key, balance numeric not null)"
                )
                for address, balance in app.items():
                    conn.execute("insert into wallet_balances values (%s, %s)", (address, Decimal(balance)))
            records = [
                {"source": "chain", "record_key": key, "amount": amount} for key, amount in CHAIN.items()
            ]
            records += [{"source": "app", "record_key": key, "amount": amount} for key, amount in app.items()]
            command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))
            run_matching(
                warehouse, warehouse_url, spec, day_window(spec, "2026-11-19"), records, command=command
            )
            return url

        yield run


def balances(url: str) -> dict[str, Decimal]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("select address, balance from wallet_balances").fetchall())


def test_a_case_variant_wallet_is_updated_in_its_own_row_and_a_new_one_inserted_in_the_apps_form(
    warehouse: psycopg.Connection, wallets: Callable[[Spec, dict[str, str]], str]
) -> None:
    spec = wallet_spec(pair_form={"case": "lower"})
    app = wallets(spec, APP)
    found = rows(warehouse, "select break_class, match_key, missing_in from reconciliation.breaks")
    assert sorted(tuple(row.values()) for row in found) == [
        ("balance_mismatch", "0xabc1", None),
        ("missing", "0xeee3", "app"),
    ]

    plan = plan_corrections(warehouse, spec, "ada")

    assert plan.skipped == []
    assert sorted((c.kind, c.record_key, c.row_id, c.before, c.after) for c in plan.changes) == [
        ("insert", "0xeee3", "0xeee3", None, {"address": "0xeee3", "balance": Decimal(8)}),
        ("update", "0xabc1", "0xabc1", {"balance": Decimal(7)}, {"balance": Decimal(10)}),
    ]

    outcomes = apply_corrections(warehouse, spec, "ada")

    assert sorted((o.kind, o.status) for o in outcomes) == [("insert", "applied"), ("update", "applied")]
    assert balances(app) == {"0xabc1": Decimal(10), "0xddd2": Decimal(5), "0xeee3": Decimal(8)}


def test_without_a_key_form_the_case_variant_wallets_are_apart(
    warehouse: psycopg.Connection, wallets: Callable[[Spec, dict[str, str]], str]
) -> None:
    wallets(wallet_spec(), APP)

    found = rows(warehouse, "select match_key, missing_in from reconciliation.breaks order by 1")

    assert [tuple(row.values()) for row in found] == [
        ("0xAbC1", "app"), ("0xDdD2", "app"), ("0xEeE3", "app"), ("0xabc1", "chain"), ("0xddd2", "chain"),
    ]  # fmt: skip


def test_an_insert_finding_the_account_spelt_otherwise_since_the_plan_is_stale_not_a_second_row(
    warehouse: psycopg.Connection, wallets: Callable[[Spec, dict[str, str]], str]
) -> None:
    spec = wallet_spec(pair_form={"case": "lower"})
    app = wallets(spec, APP)
    plan_corrections(warehouse, spec, "ada")
    with psycopg.connect(app) as conn:  # the app's own sync wrote the wallet meanwhile, in upper case
        conn.execute("insert into wallet_balances values ('0XEEE3', 8)")

    outcomes = apply_corrections(warehouse, spec, "ada")

    assert sorted((o.kind, o.status, o.detail) for o in outcomes) == [
        ("insert", "stale", "a row for the key appeared"),
        ("update", "applied", "updated"),
    ]
    assert balances(app) == {"0xabc1": Decimal(10), "0xddd2": Decimal(5), "0XEEE3": Decimal(8)}


def test_an_app_that_stores_keys_without_the_prefix_gets_them_so_and_insert_key_can_add_it_back(
    warehouse: psycopg.Connection, wallets: Callable[[Spec, dict[str, str]], str]
) -> None:
    # The chain's keys lose their 0x prefix and case; the app's are already bare and lower case.
    forms = {"chain": {"case": "lower", "remove_prefix": "0x"}, "app": {"case": "lower"}}
    bare = {"abc1": "7", "ddd2": "5"}
    spec = wallet_spec(source_forms=forms)
    wallets(spec, bare)

    plan = plan_corrections(warehouse, spec, "ada")
    # The same app, asked to store the prefix back: its own key form must remove it to match.
    prefixed = wallet_spec(source_forms={**forms, "app": {"case": "lower", "remove_prefix": "0x"}},
                           insert_key="0x{key}")  # fmt: skip
    again = plan_corrections(warehouse, prefixed, "ada")
    # A template whose keys would not match again is refused at plan, naming both keys.
    wrong = wallet_spec(source_forms=forms, insert_key="0x{key}")
    refused = plan_corrections(warehouse, wrong, "ada")

    assert sorted((c.kind, c.record_key) for c in plan.changes) == [("insert", "eee3"), ("update", "abc1")]
    assert [(c.kind, c.after) for c in again.changes if c.kind == "insert"] == [
        ("insert", {"address": "0xeee3", "balance": Decimal(8)})
    ]
    assert [why for _, why in refused.skipped] == [
        "refused: the inserted key '0xeee3' would not match 'eee3' in the target's key form"
        " (corrections.insert_key, key_form)"
    ]


def test_insert_key_must_hold_the_key_once() -> None:
    with pytest.raises(ValueError, match="corrections.insert_key"):
        wallet_spec(insert_key="recon-{record_key}")
    with pytest.raises(ValueError, match="corrections.insert_key"):
        wallet_spec(insert_key="{key}-{key}")
