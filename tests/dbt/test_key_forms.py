"""Key forms on real Postgres through dbt: keys that differ only in letter case, spaces, a prefix or
leading zeros match when the spec says the difference does not count, and only then; the dbt match
key, the SQL corrections query targets with and recon.key_forms.normalize agree on every key."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql

from recon.key_forms import KeyForm, normalize, side_forms, sql_expression
from recon.spec import Spec
from recon.staging.schema import ensure_schema
from tests.dbt.harness import day_window, rows, run_matching

pytestmark = pytest.mark.integration

# Ten wallets as the chain spells them (EIP-55 mixed case) and as the app stores them (lower case).
CHAIN = [f"0x{index:02d}Ab{'cD' * 4}eF{index:02d}" for index in range(10)]
APP = [address.lower() for address in CHAIN]
SOURCES = {
    "chain": None, "app": None, "chain_plain": None, "app_plain": None,
    "bank": {"trim": True}, "ledger": None,
    "pos": None, "erp": None,
    "acct_a": {"remove_leading_zeros": True}, "acct_b": {"remove_leading_zeros": True},
    "wallets": None, "entries": None,
}  # fmt: skip
PAIRS = [
    {"name": "wallets", "left": "chain", "right": "app", "key_form": {"case": "lower"}},
    {"name": "wallets_as_typed", "left": "chain_plain", "right": "app_plain"},
    {"name": "spaces", "left": "bank", "right": "ledger"},
    {"name": "prefixed", "left": "pos", "right": "erp", "key_form": {"remove_prefix": "0x"}},
    {"name": "zeros", "left": "acct_a", "right": "acct_b"},
]
SPEC = Spec.model_validate(
    {
        "name": "forms", "description": "test", "owner": "tests", "schedule": "@daily",
        "sources": [
            {"name": name, "type": "sftp_csv", "connection": "unused", "path": "/x.csv",
             "fields": {"record_key": "id", "amount": "amount", "currency": "currency", "occurred_at": "at"},
             **({"key_form": form} if form else {})}
            for name, form in SOURCES.items()
        ],
        "reconcile": {
            "pairs": PAIRS,
            "balances": [{"name": "balances", "left": "wallets", "right": "entries",
                          "entity": {"left": ["record_key"], "right": ["group_key"]},
                          "key_form": {"case": "upper", "trim": True}}],
        },
    }
)  # fmt: skip


def record(source: str, key: str, amount: str = "1.00", **fields: Any) -> dict:
    return {"source": source, "record_key": key, "amount": amount, **fields}


RECORDS = [
    *(record("chain", key) for key in CHAIN), record("chain", "0xOnlyOnChain"),
    *(record("app", key) for key in APP),
    *(record("chain_plain", key) for key in CHAIN), *(record("app_plain", key) for key in APP),
    record("bank", " k1 "), record("bank", "\tk2\n"), record("bank", "K3"),
    record("ledger", "k1"), record("ledger", "k2"), record("ledger", "k3"),
    record("pos", "0Xff01"), record("pos", "0xff02"), record("pos", "0xFF03"), record("pos", "x0ff04"),
    record("erp", "ff01"), record("erp", "ff02"), record("erp", "ff03"), record("erp", "x0ff04"),
    record("acct_a", "000123"), record("acct_a", "000"), record("acct_a", "0100"),
    record("acct_b", "123"), record("acct_b", "0"), record("acct_b", "1"),
    record("wallets", " u1", "15.00"), record("wallets", "u2", "7.00"),
    record("entries", "e1", "10.00", group_key="U1"), record("entries", "e2", "5.00", group_key="u1 "),
    record("entries", "e3", "7.00", group_key="U2"),
]  # fmt: skip


@pytest.fixture(scope="module")
def built(warehouse_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """One run of SPEC over RECORDS; its units by pair, and int_records_paired's rows."""
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        for schema in ("staging", "reconciliation", "recon_intermediate", "recon_staging"):
            conn.execute(f"drop schema if exists {schema} cascade")  # as the warehouse fixture does
        ensure_schema(conn)
        window = day_window(SPEC, "2026-11-19")
        target = tmp_path_factory.mktemp("target")
        command = ("build", "--exclude", "test_type:unit", "--target-path", str(target))
        run_matching(conn, warehouse_url, SPEC, window, RECORDS, command=command)
        found = rows(
            conn,
            "select pair, outcome, missing_in, match_key, left_record_keys, right_record_keys"
            " from recon_intermediate.int_records_matched where run_id = %s order by pair, match_key",
            window.run_id,
        )
        paired = rows(
            conn,
            "select pair, side, record_key, group_key, match_key from recon_intermediate.int_records_paired"
            " where run_id = %s",
            window.run_id,
        )
    units: dict[str, list[dict]] = {"paired": paired}
    for unit in found:
        units.setdefault(unit["pair"], []).append(unit)
    return units


def outcomes(units: list[dict]) -> list[tuple]:
    return sorted((unit["outcome"], unit["missing_in"]) for unit in units)


def test_addresses_that_differ_only_in_letter_case_are_the_same_account(built: dict) -> None:
    wallets = built["wallets"]
    assert outcomes(wallets) == [("matched", None)] * 10 + [("missing", "app")]
    matched = {unit["match_key"]: unit for unit in wallets if unit["outcome"] == "matched"}
    assert sorted(matched) == sorted(APP)
    # The records keep their own spelling; only the match key is in the form.
    assert matched[APP[3]]["left_record_keys"] == [CHAIN[3]]
    assert matched[APP[3]]["right_record_keys"] == [APP[3]]


def test_without_a_key_form_letter_case_counts(built: dict) -> None:
    assert (
        outcomes(built["wallets_as_typed"])
        == [("missing", "app_plain")] * 10 + [("missing", "chain_plain")] * 10
    )


def test_surrounding_white_space_of_a_source_does_not_count_but_case_still_does(built: dict) -> None:
    assert outcomes(built["spaces"]) == [("matched", None)] * 2 + [("missing", "bank"), ("missing", "ledger")]


def test_a_prefix_is_removed_in_any_case_only_from_the_start(built: dict) -> None:
    units = {unit["match_key"]: unit["outcome"] for unit in built["prefixed"]}
    # ff03 differs in case after the prefix; x0ff04 has no prefix and matches as it is.
    assert units == {"ff01": "matched", "ff02": "matched", "FF03": "missing", "ff03": "missing",
                     "x0ff04": "matched"}  # fmt: skip


def test_leading_zeros_are_removed_and_an_all_zero_key_keeps_one(built: dict) -> None:
    units = {unit["match_key"]: unit["outcome"] for unit in built["zeros"]}
    # Only leading zeros: 0100 is 100, not 1.
    assert units == {"123": "matched", "0": "matched", "100": "missing", "1": "missing"}


def test_a_balance_pair_sums_each_entity_over_its_spellings(built: dict) -> None:
    units = {unit["match_key"]: unit["outcome"] for unit in built["balances"]}
    assert units == {"U1": "matched", "U2": "matched"}


def test_every_match_key_is_what_recon_key_forms_normalize_gives(built: dict) -> None:
    sides = {pair.pair_name: dict(zip(("left", "right"), side_forms(SPEC, pair.pair_name), strict=True))
             for pair in SPEC.pairs}  # fmt: skip
    checked = 0
    for row in built["paired"]:
        form = sides[row["pair"]][row["side"]]
        key = row["group_key"] if row["pair"] == "balances" and row["side"] == "right" else row["record_key"]
        assert row["match_key"] == (normalize(form, key) or None), row
        checked += 1
    assert checked == len(RECORDS)


FORMS = [
    KeyForm(case="lower"),
    KeyForm(case="upper", trim=True),
    KeyForm(remove_prefix="0x"),
    KeyForm(remove_prefix="a.b*"),  # regular-expression characters are taken literally
    KeyForm(remove_leading_zeros=True),
    KeyForm(case="lower", trim=True, remove_prefix="0X", remove_leading_zeros=True),
]
KEYS = ["0xAbC", " 0X00ab \t", "000", "0", "0x", "0x000", "a.b*c", "aXb*c", "A.B*0c", "\n007\n", "", "x0x1"]


def test_the_sql_of_a_key_form_gives_what_python_gives(warehouse: psycopg.Connection) -> None:
    for form in FORMS:
        query = sql.SQL("select k, {} from unnest(%s::text[]) as t (k)").format(
            sql_expression(form, sql.SQL("k"))
        )
        in_sql = dict(warehouse.execute(query, (KEYS,)).fetchall())
        assert in_sql == {key: form.normalize(key) for key in KEYS}, form
