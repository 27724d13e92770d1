"""Balance pairs against real Postgres and real dbt: a side that holds one row per entity (a balance table,
an on-chain snapshot) is never summed, so an entity it lists twice is a `duplicate` on that side, not a
doubled balance; a ledger side sums its entries."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from recon.matching import write_pair_settings
from tests.dbt.harness import day_window, dbt, make_spec, rows, run_matching

pytestmark = pytest.mark.integration


def _units(conn: psycopg.Connection) -> list[tuple]:
    return [
        (row["match_key"], row["outcome"], row["missing_in"], row["left_amount"], row["right_amount"])
        for row in rows(
            conn,
            "select match_key, outcome, missing_in, left_amount::text, right_amount::text"
            " from recon_intermediate.int_records_matched order by match_key, outcome",
        )
    ]


def test_a_snapshot_listing_an_address_twice_is_a_duplicate_never_a_doubled_balance(
    conn: psycopg.Connection, warehouse_url: str, tmp_path: Path
) -> None:
    # Both sides keyed by record_key: both hold one row per entity by default.
    spec = make_spec(
        "chain",
        {"balances": [{"name": "wallets", "left": "app", "right": "chain", "entity": ["record_key"]}]},
        sources=("app", "chain"),
    )
    assert spec.reconcile.balances[0].group_side is None
    records = [
        {"source": "app", "record_key": "0xa", "amount": "10"},
        {"source": "app", "record_key": "0xb", "amount": "3"},
        {"source": "chain", "record_key": "0xa", "amount": "10"},
        {"source": "chain", "record_key": "0xa", "amount": "10"},  # the snapshot repeats 0xa
        {"source": "chain", "record_key": "0xb", "amount": "4"},
    ]
    command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))

    run_matching(conn, warehouse_url, spec, day_window(spec, "2026-11-19"), records, command=command)

    assert _units(conn) == [
        ("0xa", "duplicate", "app", None, "10"),
        ("0xa", "matched", None, "10", "10"),
        ("0xb", "balance_mismatch", None, "3", "4"),
    ]
    (repeat,) = rows(
        conn, "select break_class, missing_in from reconciliation.breaks where match_key = '0xa'"
    )
    assert repeat == {"break_class": "duplicate", "missing_in": "app"}


def test_a_ledger_keyed_by_group_sums_and_a_declared_summed_side_sums(
    conn: psycopg.Connection, warehouse_url: str, tmp_path: Path
) -> None:
    spec = make_spec(
        "ledger",
        {"balances": [
            {"name": "by_group", "left": "app", "right": "ledger",
             "entity": {"left": ["record_key"], "right": ["group_key"]}},
            {"name": "declared", "left": "app", "right": "ledger", "sums": ["left", "right"],
             "entity": {"left": ["record_key"], "right": ["group_key"]}},
        ]},
        sources=("app", "ledger"),
    )  # fmt: skip
    assert [b.group_side for b in spec.reconcile.balances] == ["right", "both"]
    records = [
        {"source": "app", "record_key": "u1", "amount": "5"},
        {"source": "app", "record_key": "u1", "amount": "5"},  # the app lists u1 twice
        {"source": "ledger", "record_key": "e1", "group_key": "u1", "amount": "7"},
        {"source": "ledger", "record_key": "e2", "group_key": "u1", "amount": "3"},
    ]
    command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))

    run_matching(conn, warehouse_url, spec, day_window(spec, "2026-11-19"), records, command=command)

    found = rows(
        conn,
        "select pair, outcome, left_amount::text as left_amount, right_amount::text as right_amount"
        " from recon_intermediate.int_records_matched order by pair, outcome",
    )
    assert [tuple(row.values()) for row in found] == [
        ("by_group", "balance_mismatch", "5", "10"),  # the app's first row against the ledger's sum
        ("by_group", "duplicate", "5", None),
        ("declared", "matched", "10", "10"),  # declared summed: the app's two rows add up
    ]


def test_the_balance_unit_test_passes(conn: psycopg.Connection, warehouse_url: str, tmp_path: Path) -> None:
    spec = make_spec("units", {"balances": [{"left": "left", "right": "right"}]})
    window = day_window(spec, "2026-11-19")
    write_pair_settings(conn, spec, window)
    selected = "+int_records_matched"  # the model, what it reads, and their unit tests

    completed = dbt(
        warehouse_url, window, "build", "--select", selected, "--exclude", "test_type:data",
        "--target-path", str(tmp_path / "target"),
    )  # fmt: skip

    assert completed.returncode == 0, completed.stdout[-6000:]
    assert "balances_one_row_side_repeats_are_duplicates" in completed.stdout
