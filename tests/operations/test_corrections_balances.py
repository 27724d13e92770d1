"""Wallets: each balance set to the ledger's sum (the source of truth), one wallet or all, with a dry run
first; a negative balance from the ledger is refused with the reason."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from recon.corrections.apply import apply_corrections
from recon.corrections.plan import plan_corrections
from recon.spec import Spec
from tests.dbt.harness import day_window, rows, run_matching
from tests.operations.conftest import target_database

pytestmark = pytest.mark.integration

BALANCES = {"u1": "100.000000000000000001", "u2": "50", "u3": "10"}
LEDGER = [("e1", "u1", "100.000000000000000001"), ("e2", "u2", "40"), ("e3", "u2", "5"),
          ("e4", "u3", "5"), ("e5", "u3", "-15")]  # fmt: skip

SPEC = Spec.model_validate(
    {
        "name": "wallets", "description": "test", "owner": "tests", "schedule": "@daily",
        "sources": [
            {"name": name, "type": "sftp_csv", "connection": "app_read", "path": "/x.csv",
             "fields": {"record_key": "id", "amount": "amount", "currency": "currency", "occurred_at": "at"}}
            for name in ("balances", "ledger")
        ],
        "reconcile": {"balances": [{
            "name": "wallets", "left": "balances", "right": "ledger",
            "entity": {"left": ["record_key"], "right": ["group_key"]}, "tolerance": "0.00000001",
        }]},
        "corrections": {
            "source": "balances", "connection": "wallets_writer", "table": "wallet_balances",
            "key": "user_id", "columns": {"amount": "balance"}, "classes": ["balance_mismatch"],
        },
    }
)  # fmt: skip


@pytest.fixture
def wallets_db(warehouse_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"recon_wallets_{os.getpid()}"
    with target_database(warehouse_server_url, name, "wallets_writer", monkeypatch) as url:
        with psycopg.connect(url) as conn:
            conn.execute(
                "create table wallet_balances (user_id text primary key, balance numeric(38, 18) not null)"
            )
            for user, balance in BALANCES.items():
                conn.execute("insert into wallet_balances values (%s, %s)", (user, Decimal(balance)))
        yield url


@pytest.fixture
def wallet_breaks(warehouse: psycopg.Connection, warehouse_url: str, tmp_path: Path) -> dict[str, str]:
    warehouse.commit()
    warehouse.autocommit = True
    records = [
        {"source": "balances", "record_key": user, "amount": amount} for user, amount in BALANCES.items()
    ] + [
        {"source": "ledger", "record_key": entry, "group_key": user, "amount": amount}
        for entry, user, amount in LEDGER
    ]  # fmt: skip
    command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))
    run_matching(warehouse, warehouse_url, SPEC, day_window(SPEC, "2026-11-19"), records, command=command)
    found = rows(warehouse, "select match_key, break_id from reconciliation.breaks")
    return {row["match_key"]: row["break_id"] for row in found}


def balances(url: str) -> dict[str, Decimal]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("select user_id, balance from wallet_balances").fetchall())


def test_one_wallet_is_set_to_its_ledger_sum_after_a_dry_run(
    warehouse: psycopg.Connection, wallets_db: str, wallet_breaks: dict[str, str]
) -> None:
    assert set(wallet_breaks) == {"u2", "u3"}

    plan = plan_corrections(warehouse, SPEC, "ada", break_ids=[wallet_breaks["u2"]])
    assert balances(wallets_db)["u2"] == Decimal(50), "the dry run changes nothing"
    assert [(c.kind, c.record_key, c.before, c.after) for c in plan.changes] == [
        (
            "update",
            "u2",
            {"balance": Decimal("50.000000000000000000")},
            {"balance": Decimal("45.000000000000000000")},
        )
    ]

    (outcome,) = apply_corrections(warehouse, SPEC, "ada")

    assert (outcome.record_key, outcome.status) == ("u2", "applied")
    assert balances(wallets_db) == {"u1": Decimal(BALANCES["u1"]), "u2": Decimal(45), "u3": Decimal(10)}


def test_a_negative_balance_from_the_ledger_is_refused_with_the_reason(
    warehouse: psycopg.Connection, wallets_db: str, wallet_breaks: dict[str, str]
) -> None:
    plan = plan_corrections(warehouse, SPEC, "ada")

    assert [c.record_key for c in plan.changes] == ["u2"]
    assert plan.skipped == [
        (wallet_breaks["u3"], "refused: the source of truth gives a negative amount (-10)")
    ]
