"""Loading a window's CSV files: quarantine of every bad-input class, limits, whole-or-nothing, reruns."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from recon.errors import PermanentError
from recon.staging.csv_loader import SourceFileError, replace_window_from_files
from tests.staging.conftest import WINDOW, quarantine, records, source

pytestmark = pytest.mark.integration

HEADER = "charge,amount,currency,created_at\n"
GOOD = "ch_ok,12.34,usd,2026-11-19T08:00:00Z\n"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("ch_1,1.00,usd\n", "wrong number of fields: expected 4, found 3"),
        ("ch_1,abc,usd,2026-11-19\n", "amount 'abc' is not a number (column amount)"),
        (
            "ch_1,1.00,usd,2026-13-45\n",
            "occurred_at '2026-13-45' is not a timestamp (ISO 8601) (column created_at)",
        ),
        (",1.00,usd,2026-11-19\n", "record_key is empty (column charge)"),
        (
            "ch_1,1.00,us,2026-11-19\n",
            "currency 'us' is not an ISO 4217 code nor one the spec declares under currencies"
            " (declared: none) (column currency)",
        ),
        (
            "ch_1,1.005,usd,2026-11-19\n",
            "amount '1.005' has more decimals than USD allows (2) (column amount)",
        ),
        ("ch_1,1.5,jpy,2026-11-19\n", "amount '1.5' has more decimals than JPY allows (0) (column amount)"),
        (
            "ch_1,1.2345,kwd,2026-11-19\n",
            "amount '1.2345' has more decimals than KWD allows (3) (column amount)",
        ),
    ],
)
def test_a_bad_row_is_quarantined_with_file_line_text_and_reason_and_the_rest_loads(
    warehouse: psycopg.Connection, load, row: str, reason: str
) -> None:
    result = load(HEADER + GOOD + row + GOOD.replace("ch_ok", "ch_ok2"))

    assert (result.loaded, result.quarantined) == (2, 1)
    assert quarantine(warehouse) == [("sftp://bank/statement.csv", 3, reason, row.rstrip("\n"))]
    assert [key for key, *_ in records(warehouse)] == ["ch_ok", "ch_ok2"]


def test_undecodable_bytes_are_quarantined_naming_the_encoding(warehouse: psycopg.Connection, load) -> None:
    body = (HEADER + GOOD).encode() + b"ch_\xff,1.00,usd,2026-11-19\n"

    result = load(body)

    assert (result.loaded, result.quarantined) == (1, 1)
    ((origin, line, reason, _raw),) = quarantine(warehouse)
    assert (origin, line, reason) == (
        "sftp://bank/statement.csv",
        3,
        "bytes not valid in utf-8 (columns ['charge'])",
    )


def test_line_numbers_stay_physical_across_quoted_line_breaks_and_blank_lines(
    warehouse: psycopg.Connection, load
) -> None:
    load(HEADER + '"ch\n1",1.00,usd,2026-11-19\n\nch_2,x,usd,2026-11-19\n', attributes={})

    assert quarantine(warehouse)[0][1:3] == (5, "amount 'x' is not a number (column amount)")
    assert records(warehouse, "record_key, origin_line") == [("ch\n1", 2)]


def test_a_file_over_the_rejected_share_fails_naming_it_and_keeps_its_quarantine(
    warehouse: psycopg.Connection, write_file
) -> None:
    replace_window_from_files(warehouse, WINDOW, source(), [write_file(HEADER + GOOD)])
    bad = write_file(HEADER + GOOD + "ch_1,x,usd,2026-11-19\nch_2,y,usd,2026-11-19\n", name="bad.csv")

    with pytest.raises(SourceFileError) as raised:
        replace_window_from_files(warehouse, WINDOW, source(max_rejected_share="0.5"), [bad])

    assert isinstance(raised.value, PermanentError)
    assert str(raised.value).startswith("sftp://bank/bad.csv: 2 of 3 rows quarantined (66.7%)")
    assert [line for _, line, _, _ in quarantine(warehouse)] == [3, 4]
    assert records(warehouse) == [("ch_ok", Decimal("12.34"), "USD")]  # the previous slice stays


def test_a_multi_file_window_loads_whole_or_not_at_all(warehouse: psycopg.Connection, write_file) -> None:
    first = write_file(HEADER + GOOD, name="a.csv")
    second = write_file(HEADER + "ch_2,1.00,usd,2026-11-19\n", name="b.csv")
    result = replace_window_from_files(warehouse, WINDOW, source(), [first, second])
    broken = write_file("charge,amount\n", name="c.csv")

    with pytest.raises(SourceFileError) as raised:
        replace_window_from_files(warehouse, WINDOW, source(), [write_file(HEADER, name="d.csv"), broken])

    assert [f.origin for f in result.files] == ["sftp://bank/a.csv", "sftp://bank/b.csv"]
    assert str(raised.value).startswith("sftp://bank/c.csv: line 1: column 'currency'")
    assert [key for key, *_ in records(warehouse)] == ["ch_2", "ch_ok"]


def test_a_rerun_replaces_the_slice_without_duplicates(warehouse: psycopg.Connection, load) -> None:
    load(HEADER + GOOD + "ch_1,x,usd,2026-11-19\n")
    load(HEADER + GOOD.replace("12.34", "99.00"))

    assert records(warehouse) == [("ch_ok", Decimal("99.00"), "USD")]
    assert quarantine(warehouse) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "sftp://bank/statement.csv: line 1: the file is empty; expected a header row"),
        (
            "charge,amount,created_at\n",
            "sftp://bank/statement.csv: line 1: column 'currency' (mapped to field",
        ),
    ],
)
def test_a_structurally_broken_file_fails_naming_file_and_line_and_keeps_the_previous_slice(
    warehouse: psycopg.Connection, load, content: str, message: str
) -> None:
    load(HEADER + GOOD)

    with pytest.raises(SourceFileError) as raised:
        load(content)

    assert str(raised.value).startswith(message)
    assert records(warehouse) == [("ch_ok", Decimal("12.34"), "USD")]


def test_before_commit_runs_inside_the_load_transaction(warehouse: psycopg.Connection, write_file) -> None:
    seen = []

    def before_commit(cur: psycopg.Cursor, result) -> None:
        cur.execute("select count(*) from staging.records")
        seen.append((cur.fetchone()[0], result.loaded))

    replace_window_from_files(warehouse, WINDOW, source(), [write_file(HEADER + GOOD)], before_commit)

    assert seen == [(1, 1)]
