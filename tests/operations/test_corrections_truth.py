"""Corrections never write doubtful truth: a wallet whose truth is repeated, quarantined or breaks an
integrity rule gets no correction and the plan says why; a negative balance is refused at plan for an
insert as for an update. Real Postgres, real GX checkpoint and quarantine, real dbt, a real app database."""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from recon.corrections.apply import apply_corrections
from recon.corrections.plan import plan_corrections
from recon.integrity import quarantine
from recon.integrity.validate import run_checkpoint, store_results
from recon.matching import write_pair_settings
from recon.spec import Spec
from recon.warehouse import sqlalchemy_url_of
from tests.dbt.harness import assert_results_invariants, day_window, dbt, load_records, rows
from tests.operations.conftest import target_database

pytestmark = pytest.mark.integration


FIELDS = {"record_key": "id", "amount": "amount", "currency": "currency", "occurred_at": "at",
          "status": "state", "reference": "memo", "group_key": "wallet"}  # fmt: skip


def _spec(name: str, balance: dict[str, Any], rules: list[dict[str, Any]], **chain: Any) -> Spec:
    return Spec.model_validate(
        {
            "name": name, "description": "test", "owner": "tests", "schedule": "@daily",
            "sources": [
                {"name": source, "type": "sftp_csv", "connection": "app_read", "path": "/x.csv",
                 "fields": FIELDS,
                 **(chain if source != "app" else {})}
                for source in ("app", balance["right"])
            ],
            "reconcile": {"balances": [{"name": "wallets", "left": "app", **balance}]},
            "rules": {"checks": rules},
            "corrections": {
                "source": "app", "connection": "wallets_writer", "table": "wallet_balances", "key": "user_id",
                "columns": {"amount": "balance"}, "classes": ["balance_mismatch", "missing"],
            },
        }
    )  # fmt: skip


# The app's balances against an on-chain snapshot (the truth; one row per wallet, signed).
CHAIN_SPEC = _spec(
    "chain_wallets",
    {"right": "chain", "entity": ["record_key"]},
    [{"rule": "in_set", "field": "status", "values": ["confirmed"], "severity": "high", "on_fail": "mark",
      "sources": ["chain"]}],
    signed_amounts=True,
)  # fmt: skip
RUN = day_window(CHAIN_SPEC, "2026-11-19").run_id
APP = {"w1": "10", "w2": "5", "w3": "1", "w4": "8"}
CHAIN = [
    ("w1", "12", "confirmed"),  # a plain break: corrected
    ("w2", "7", "confirmed"),  # listed twice by the snapshot: its balance is in doubt
    ("w2", "7", "confirmed"),
    ("w3", "3", "unconfirmed"),  # breaks the marking rule status_in_set
    ("w4", "8", "confirmed"),
    ("w5", "-3", "confirmed"),  # the app lacks it, and the truth is negative: no insert
    ("w6", "2", "confirmed"),  # the app lacks it: inserted
]

# The app's balances against a ledger (the truth; entries summed per wallet), one entry quarantined.
LEDGER_SPEC = _spec(
    "ledger_wallets",
    {"right": "ledger", "entity": {"left": ["record_key"], "right": ["group_key"]}},
    [{"rule": "matches", "field": "reference", "pattern": "^ok", "severity": "high", "on_fail": "quarantine",
      "sources": ["ledger"]}],
)  # fmt: skip
LEDGER = [("e1", "w1", "4", "ok"), ("e2", "w1", "8", "ok"), ("e3", "w2", "2", "ok"),
          ("e4", "w2", "5", "garbled")]  # fmt: skip


@pytest.fixture
def wallets_db(warehouse_server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"recon_truth_{os.getpid()}"
    with target_database(warehouse_server_url, name, "wallets_writer", monkeypatch) as url:
        with psycopg.connect(url) as conn:
            conn.execute("create table wallet_balances (user_id text primary key, balance numeric not null)")
            for user, balance in APP.items():
                conn.execute("insert into wallet_balances values (%s, %s)", (user, Decimal(balance)))
        yield url


def _run(conn: psycopg.Connection, warehouse_url: str, spec: Spec, records: list[dict[str, Any]]) -> None:
    """One run as the DAG makes it: load, staging checkpoint (results stored, quarantine rows moved), dbt."""
    conn.commit()
    conn.autocommit = True
    window = day_window(spec, "2026-11-19")
    write_pair_settings(conn, spec, window)
    load_records(conn, window, [{"status": "confirmed", **record} for record in records])
    results = run_checkpoint(spec, window, "staging", sqlalchemy_url_of(warehouse_url))
    store_results(conn, window, "staging", results)
    quarantine.move(conn, spec, window, results)
    completed = dbt(warehouse_url, window, "build", "--exclude", "test_type:unit")
    assert completed.returncode == 0, completed.stdout[-6000:]
    assert_results_invariants(spec, window, warehouse_url)


def _breaks(conn: psycopg.Connection) -> dict[str, str]:
    found = rows(conn, "select match_key, break_class, break_id from reconciliation.breaks")
    return {f"{row['match_key']}:{row['break_class']}": row["break_id"] for row in found}


def _balances(url: str) -> dict[str, Decimal]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("select user_id, balance from wallet_balances").fetchall())


def _stored(conn: psycopg.Connection) -> dict[str, tuple]:
    found = rows(conn, "select record_key, kind, status, outcome from reconciliation.corrections")
    return {row["record_key"]: (row["kind"], row["status"], row["outcome"]) for row in found}


@pytest.fixture
def chain_breaks(warehouse: psycopg.Connection, warehouse_url: str) -> dict[str, str]:
    records = [{"source": "app", "record_key": user, "amount": amount} for user, amount in APP.items()]
    records += [
        {"source": "chain", "record_key": user, "amount": amount, "status": state}
        for user, amount, state in CHAIN
    ]
    _run(warehouse, warehouse_url, CHAIN_SPEC, records)
    return _breaks(warehouse)


def test_doubtful_truth_is_refused_at_plan_with_the_reason_and_apply_writes_none_of_it(
    warehouse: psycopg.Connection, wallets_db: str, chain_breaks: dict[str, str]
) -> None:
    assert set(chain_breaks) == {
        "w1:balance_mismatch", "w2:balance_mismatch", "w2:duplicate", "w3:balance_mismatch",
        "w5:missing", "w6:missing",
    }  # fmt: skip

    plan = plan_corrections(warehouse, CHAIN_SPEC, "ada")

    assert sorted((c.kind, c.record_key, c.after) for c in plan.changes) == [
        ("insert", "w6", {"user_id": "w6", "balance": Decimal("2")}),
        ("update", "w1", {"balance": Decimal("12")}),
    ]
    why = dict(plan.skipped)
    assert why[chain_breaks["w2:balance_mismatch"]] == (
        f"refused: the source of truth chain lists 'w2' 2 times in run {RUN}: which one is true is in doubt"
    )
    assert why[chain_breaks["w3:balance_mismatch"]].startswith(
        "refused: the source of truth's record 'w3' on chain breaks integrity rule status_in_set (run "
    )
    assert why[chain_breaks["w5:missing"]] == "refused: the source of truth gives a negative amount (-3)"
    assert set(why) == {chain_breaks[k] for k in ("w2:balance_mismatch", "w3:balance_mismatch", "w5:missing")}
    stored = _stored(warehouse)
    assert {key: (kind, status) for key, (kind, status, _) in stored.items()} == {
        "w1": ("update", "planned"), "w2": ("update", "refused"), "w3": ("update", "refused"),
        "w5": ("insert", "refused"), "w6": ("insert", "planned"),
    }  # fmt: skip
    assert stored["w2"][2] == why[chain_breaks["w2:balance_mismatch"]], "the refusal is kept with its reason"

    outcomes = apply_corrections(warehouse, CHAIN_SPEC, "ada")

    assert sorted((o.record_key, o.status) for o in outcomes) == [("w1", "applied"), ("w6", "applied")]
    assert _balances(wallets_db) == {
        "w1": Decimal(12),
        "w2": Decimal(5),
        "w3": Decimal(1),
        "w4": Decimal(8),
        "w6": Decimal(2),
    }


def test_a_plan_made_before_the_truth_came_into_doubt_is_refused_at_apply(
    warehouse: psycopg.Connection, warehouse_url: str, wallets_db: str, chain_breaks: dict[str, str]
) -> None:
    plan_corrections(warehouse, CHAIN_SPEC, "ada")
    assert _stored(warehouse)["w1"][:2] == ("update", "planned")
    # The window is run again, and now the snapshot lists w1 twice: the planned change is in doubt.
    records = [{"source": "app", "record_key": user, "amount": amount} for user, amount in APP.items()]
    records += [
        {"source": "chain", "record_key": user, "amount": amount, "status": state}
        for user, amount, state in [*CHAIN, ("w1", "12", "confirmed")]
    ]
    _run(warehouse, warehouse_url, CHAIN_SPEC, records)
    assert "w1:duplicate" in _breaks(warehouse)

    outcomes = apply_corrections(warehouse, CHAIN_SPEC, "ada")

    w1 = next(o for o in outcomes if o.record_key == "w1")
    assert w1.status == "refused"
    assert w1.detail.startswith("refused: the source of truth chain lists 'w1' 2 times in run ")
    assert _balances(wallets_db)["w1"] == Decimal(10), "nothing doubtful is written"
    assert _stored(warehouse)["w1"][1:] == ("refused", w1.detail)


def test_a_ledger_entry_quarantined_leaves_its_wallet_uncorrected(
    warehouse: psycopg.Connection, warehouse_url: str, wallets_db: str
) -> None:
    records = [{"source": "app", "record_key": user, "amount": amount} for user, amount in APP.items()]
    records += [
        {"source": "ledger", "record_key": entry, "group_key": user, "amount": amount, "reference": memo}
        for entry, user, amount, memo in LEDGER
    ]
    _run(warehouse, warehouse_url, LEDGER_SPEC, records)
    found = _breaks(warehouse)
    (quarantined,) = rows(warehouse, "select record_key from staging.quarantine")
    assert quarantined == {"record_key": "e4"}
    # w1: 10 against 4 + 8; w2: 5 against 2 (its entry e4 of 5 quarantined: the sum is short).
    assert {"w1:balance_mismatch", "w2:balance_mismatch"} <= set(found)

    plan = plan_corrections(warehouse, LEDGER_SPEC, "ada")

    assert [(c.record_key, c.after) for c in plan.changes] == [("w1", {"balance": Decimal(12)})]
    why = dict(plan.skipped)[found["w2:balance_mismatch"]]
    assert why.startswith("refused: a record of 'w2' in the source of truth ledger was quarantined in run ")
    assert "integrity rule reference_matches on ledger" in why
    apply_corrections(warehouse, LEDGER_SPEC, "ada")
    assert _balances(wallets_db)["w2"] == Decimal(5)
