"""The record-by-record load (API and database sources): rejected share, exact JSON, quarantine kept."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from recon.records import QuarantinedRecord
from recon.staging.loader import RejectedShareExceeded, replace_window, to_json
from tests.staging.conftest import WINDOW
from tests.staging.test_partitions import keys, record

pytestmark = pytest.mark.integration


def bad(position: int) -> QuarantinedRecord:
    return QuarantinedRecord("amount 'n/a' is not a number", {"amount": "n/a"}, "api://p/1", position)


def test_too_many_rejects_load_nothing_keep_the_previous_slice_and_show_why(
    warehouse: psycopg.Connection,
) -> None:
    replace_window(warehouse, WINDOW, "api", [record("before")])
    items = [record("a"), record("b"), record("c"), bad(4)]  # 25 % rejected

    with pytest.raises(RejectedShareExceeded) as raised:
        replace_window(warehouse, WINDOW, "api", items, max_rejected_share=Decimal("0.2"))

    assert "1 of 4 rows quarantined (25.0%), more than max_rejected_share 20.0% of source 'api'" in str(
        raised.value
    )
    assert keys(warehouse) == ["before"]
    quarantined = warehouse.execute("select origin_line, reason from staging.quarantine").fetchall()
    assert quarantined == [(4, "amount 'n/a' is not a number")]


def test_a_share_at_the_limit_loads(warehouse: psycopg.Connection) -> None:
    items = [record("a"), record("b"), record("c"), bad(4)]

    result = replace_window(warehouse, WINDOW, "api", items, max_rejected_share=Decimal("0.25"))

    assert (result.loaded, result.quarantined) == (3, 1)
    assert keys(warehouse) == ["a", "b", "c"]


def test_decimals_in_attributes_and_raw_items_stay_exact_json_numbers(warehouse: psycopg.Connection) -> None:
    item = record("a")
    exact = Decimal("9007199254740993.01")  # no float can hold it
    loaded = item.__class__(**{**item.__dict__, "attributes": {"fee": exact, "note": "x"}})
    rejected = QuarantinedRecord("why", {"total": {"value": exact}}, "api://p/1", 2)

    replace_window(warehouse, WINDOW, "api", [loaded, rejected])

    # Read back as text: psycopg would turn a JSON number into a float on the way out.
    fee = warehouse.execute("select attributes ->> 'fee' from staging.records").fetchone()[0]
    value = warehouse.execute("select raw #>> '{total,value}' from staging.quarantine").fetchone()[0]
    kinds = warehouse.execute(
        "select jsonb_typeof(attributes -> 'fee'), (attributes ->> 'fee')::numeric from staging.records"
    ).fetchone()
    assert (fee, value) == (str(exact), str(exact))
    assert kinds == ("number", exact)


def test_to_json_writes_decimals_as_numbers_and_leaves_strings_alone() -> None:
    text = to_json({"a": Decimal("12.50"), "b": "12.50", "c": [Decimal("-0.001")], "d": None})

    assert text == '{"a": 12.50, "b": "12.50", "c": [-0.001], "d": null}'
