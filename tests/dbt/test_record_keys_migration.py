"""A warehouse built when record keys were comma-joined text, upgraded by the next dbt run.

Run 1 builds the tables; they are then put back in the shape the previous version left them
(left_record_keys / right_record_keys text, the matches view and an analyst's view over them).
Run 2, with the current project, converts the columns in place (a pre-hook of every model,
macros/recon_record_keys_as_arrays.sql) and must carry on where run 1 stopped: the same break ids,
the carried records matched, old and new rows both arrays.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from tests.dbt.harness import at, day_window, make_spec, rows, run_matching

pytestmark = pytest.mark.integration

TABLES = ("recon_intermediate.int_records_matched", "reconciliation.run_breaks", "reconciliation.breaks")
KEY_COLUMNS = ("left_record_keys", "right_record_keys")
SPEC = make_spec(
    "keys",
    {
        "pairs": [
            {
                "left": "payouts",
                "right": "charges",
                "group": {"side": "right", "by": "group_key"},
                "timing": {"settlement_window": "2h"},
            }
        ]
    },
    sources=("payouts", "charges"),
)
PAIR = "payouts_vs_charges"


def payout(key: str, amount: str, occurred_at: datetime) -> dict:
    return {"source": "payouts", "record_key": key, "amount": amount, "occurred_at": occurred_at}


def group(day: str) -> list[dict]:
    """A payout of 10.00 whose charges sum to 9.00: a group_mismatch with two keys on the right."""
    return [
        payout("po_1", "10.00", at(day, "08:00:00")),
        {"source": "charges", "record_key": "ch_b", "group_key": "po_1", "amount": "5.00"},
        {"source": "charges", "record_key": "ch_a", "group_key": "po_1", "amount": "4.00"},
    ]


def to_previous_shape(conn: psycopg.Connection) -> None:
    """What the previous version left: text keys, and views reading them (dbt's and an analyst's)."""
    matches = conn.execute("select pg_get_viewdef('reconciliation.matches')").fetchone()[0]
    with conn.transaction():
        conn.execute("drop view reconciliation.matches")
        for table in TABLES:
            for column in KEY_COLUMNS:
                conn.execute(
                    f"alter table {table} alter column {column} type text"
                    f" using array_to_string({column}, ',')"
                )
        conn.execute(f"create view reconciliation.matches as {matches}")
        conn.execute(
            "create view public.analyst_open_keys as select break_id, left_record_keys, right_record_keys"
            " from reconciliation.breaks where status = 'open'"
        )
        conn.execute("grant select on public.analyst_open_keys to public")


def key_types(conn: psycopg.Connection) -> set[tuple[str, str, str]]:
    found = conn.execute(
        "select table_name, column_name, udt_name from information_schema.columns"
        " where column_name in ('left_record_keys', 'right_record_keys')"
        " and table_schema in ('recon_intermediate', 'reconciliation', 'public')"
    ).fetchall()
    return set(found)


def test_a_warehouse_with_text_keys_is_converted_and_keeps_its_breaks(
    conn: psycopg.Connection, warehouse_url: str, tmp_path: Path
) -> None:
    command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))
    day_1, day_2 = day_window(SPEC, "2026-11-19"), day_window(SPEC, "2026-11-20")
    run_matching(
        conn, warehouse_url, SPEC, day_1,
        [
            *group("2026-11-19"),
            payout("po_gone", "30.00", at("2026-11-19", "09:00:00")),
            payout("po_late", "20.00", at("2026-11-19", "23:00:00")),  # pending: in the settlement window
        ],
        command=command,
    )  # fmt: skip
    to_previous_shape(conn)
    assert {udt for _, _, udt in key_types(conn)} == {"text"}
    old = rows(
        conn,
        "select break_class, left_record_keys, right_record_keys, break_id from reconciliation.run_breaks"
        " where run_id = %s order by break_class",
        day_1.run_id,
    )
    assert [(b["break_class"], b["left_record_keys"], b["right_record_keys"]) for b in old] == [
        ("group_mismatch", "po_1", "ch_a,ch_b"),
        ("missing", "po_gone", None),
    ]
    # The identity the previous version gave the group break: md5 over its comma-joined keys.
    identity = f"keys|{PAIR}|group_mismatch|po_1|ch_a,ch_b|po_1|1"
    assert old[0]["break_id"] == hashlib.md5(identity.encode()).hexdigest()  # noqa: S324 - as the model
    carried = rows(
        conn,
        "select record ->> 'record_key' as record_key, jsonb_typeof(record -> 'record_key') as kind"
        " from recon_intermediate.int_records_matched, jsonb_array_elements(carry_records) as record"
        " where run_id = %s order by 1",
        day_1.run_id,
    )
    assert carried == [
        {"record_key": "po_gone", "kind": "string"},
        {"record_key": "po_late", "kind": "string"},
    ]

    # Run 2, current project: the same group again, the pending payout's charge arrives late.
    day_2_records = [
        *group("2026-11-20"),
        {"source": "charges", "record_key": "ch_late", "group_key": "po_late", "amount": "20.00"},
    ]
    run_matching(conn, warehouse_url, SPEC, day_2, day_2_records, command=command)

    assert key_types(conn) == {
        (table, column, "_text")
        for table in ("int_records_matched", "run_breaks", "breaks", "matches", "analyst_open_keys")
        for column in KEY_COLUMNS
    }
    both = rows(
        conn,
        "select run_id, break_class, left_record_keys, right_record_keys, break_id, is_carried_break"
        " from reconciliation.run_breaks order by window_start, break_class",
    )
    assert [(b["run_id"], b["break_class"], b["left_record_keys"], b["right_record_keys"]) for b in both] == [
        (day_1.run_id, "group_mismatch", ["po_1"], ["ch_a", "ch_b"]),
        (day_1.run_id, "missing", ["po_gone"], None),
        (day_2.run_id, "group_mismatch", ["po_1"], ["ch_a", "ch_b"]),
        (day_2.run_id, "missing", ["po_gone"], None),
    ]
    assert [b["break_id"] for b in both] == [b["break_id"] for b in old] * 2
    assert both[3]["is_carried_break"] is True  # the old row's carried record, missing still

    lives = rows(
        conn,
        "select break_id, right_record_keys, status, times_seen, first_seen_run_id from reconciliation.breaks"
        " order by break_class",
    )
    assert lives == [
        {"break_id": old[0]["break_id"], "right_record_keys": ["ch_a", "ch_b"], "status": "open",
         "times_seen": 2, "first_seen_run_id": day_1.run_id},
        {"break_id": old[1]["break_id"], "right_record_keys": None, "status": "open",
         "times_seen": 2, "first_seen_run_id": day_1.run_id},
    ]  # fmt: skip
    late = rows(
        conn,
        "select left_record_keys, right_record_keys, outcome, carried_from_run_id from reconciliation.matches"
        " where run_id = %s and 'po_late' = any(left_record_keys)",
        day_2.run_id,
    )
    assert late == [
        {"left_record_keys": ["po_late"], "right_record_keys": ["ch_late"], "outcome": "matched",
         "carried_from_run_id": day_1.run_id}
    ]  # fmt: skip
    analyst = rows(conn, "select left_record_keys from public.analyst_open_keys order by 1")
    assert analyst == [{"left_record_keys": ["po_1"]}, {"left_record_keys": ["po_gone"]}]
    granted = rows(
        conn,
        "select grantee, privilege_type from information_schema.role_table_grants"
        " where table_name = 'analyst_open_keys' and grantee = 'PUBLIC'",
    )
    assert granted == [{"grantee": "PUBLIC", "privilege_type": "SELECT"}]

    # Converted once: a later run finds nothing to convert and rewrites no table.
    files = rows(
        conn,
        "select " + ", ".join(f"pg_relation_filenode('{table}') as t{i}" for i, table in enumerate(TABLES)),
    )
    run_matching(conn, warehouse_url, SPEC, day_2, day_2_records, command=command)
    assert (
        rows(
            conn,
            "select "
            + ", ".join(f"pg_relation_filenode('{table}') as t{i}" for i, table in enumerate(TABLES)),
        )
        == files
    )


def test_a_view_that_cannot_read_arrays_stops_the_conversion_with_its_name(
    conn: psycopg.Connection, warehouse_url: str, tmp_path: Path
) -> None:
    command = ("run", "--target-path", str(tmp_path / "target"))
    day_1 = day_window(SPEC, "2026-11-19")
    run_matching(conn, warehouse_url, SPEC, day_1, group("2026-11-19"), command=command)
    to_previous_shape(conn)
    conn.execute(
        "create view public.analyst_key_prefixes as"
        " select break_id, left(right_record_keys, 4) as prefix from reconciliation.run_breaks"
    )

    with pytest.raises(AssertionError) as failed:
        run_matching(
            conn, warehouse_url, SPEC, day_window(SPEC, "2026-11-20"), group("2026-11-20"), command=command
        )

    assert "public.analyst_key_prefixes no longer builds" in str(failed.value)
    # Nothing was changed (the conversion is one transaction) and no model wrote: dbt goes on after a
    # failed on-run-start hook and would store '{po_1}' in the text column, a failed pre-hook stops it.
    assert {udt for _, _, udt in key_types(conn)} == {"text"}
    assert rows(conn, "select count(*) as n from public.analyst_key_prefixes") == [{"n": 1}]
