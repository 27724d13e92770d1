"""`recon corrections plan`, the dry run: proposed changes to a real app database, from breaks a real dbt
run made, stored with the values before and after, and nothing changed in the target."""

from __future__ import annotations

import psycopg
import pytest

from recon.corrections.plan import CorrectionError, plan_corrections
from recon.spec import Spec
from tests.operations.conftest import SPEC, stored, till

pytestmark = pytest.mark.integration


def test_the_plan_proposes_each_change_with_before_and_after_and_changes_nothing(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str]
) -> None:
    assert set(ticket_breaks) == {"o2:amount_mismatch", "o3:status_mismatch", "o4:duplicate", "o5:missing"}
    before = till(app_db)

    plan = plan_corrections(warehouse, SPEC, "ada")

    assert till(app_db) == before, "a plan never writes to the target"
    assert plan.skipped == []
    assert stored(warehouse) == [
        {"break_class": "amount_mismatch", "kind": "update", "record_key": "o2", "row_id": "s2",
         "before": {"amount": "20.01"}, "after": {"amount": "20.00"}, "status": "planned", "auto_apply": True,
         "planned_by": "ada"},
        {"break_class": "status_mismatch", "kind": "update", "record_key": "o3", "row_id": "s3",
         "before": {"status": "sold"}, "after": {"status": "refunded"}, "status": "planned",
         "auto_apply": False, "planned_by": "ada"},
        {"break_class": "duplicate", "kind": "delete", "record_key": "o4", "row_id": "s4b",
         "before": {"sale_id": "s4b", "order_ref": "o4", "amount": "40.00", "currency": "EUR",
                    "sold_at": "2026-11-19 10:01:00+00:00", "status": "sold", "till": "till-1"},
         "after": None, "status": "planned", "auto_apply": False, "planned_by": "ada"},
        {"break_class": "missing", "kind": "insert", "record_key": "o5", "row_id": "recon-o5", "before": None,
         "after": {"order_ref": "o5", "till": "recon", "amount": "50.00", "currency": "EUR", "status": "sold",
                   "sold_at": "2026-11-19 10:00:00+00:00", "sale_id": "recon-o5"},
         "status": "planned", "auto_apply": False, "planned_by": "ada"},
    ]  # fmt: skip


def test_planning_again_replaces_the_plan_instead_of_adding_to_it(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str]
) -> None:
    plan_corrections(warehouse, SPEC, "ada")
    first = stored(warehouse)

    plan_corrections(warehouse, SPEC, "grace")

    assert [{**row, "planned_by": "ada"} for row in stored(warehouse)] == first
    assert {row["planned_by"] for row in stored(warehouse)} == {"grace"}


def test_a_change_the_target_already_holds_is_skipped_with_the_reason(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str]
) -> None:
    with psycopg.connect(app_db) as conn:  # someone fixed o3 by hand since the run
        conn.execute("update ticket_sales set status = 'refunded' where sale_id = 's3'")

    plan = plan_corrections(warehouse, SPEC, "ada", break_ids=[ticket_breaks["o3:status_mismatch"]])

    assert plan.changes == []
    assert plan.skipped == [
        (ticket_breaks["o3:status_mismatch"], "public.ticket_sales.status already holds 'refunded'")
    ]


def test_bad_input_is_refused_naming_it_and_plans_nothing(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str]
) -> None:
    with pytest.raises(CorrectionError, match="no open, correctable break of 'tickets': nope"):
        plan_corrections(warehouse, SPEC, "ada", break_ids=[ticket_breaks["o2:amount_mismatch"], "nope"])
    with pytest.raises(CorrectionError, match="declares no corrections"):
        plan_corrections(warehouse, SPEC.model_copy(update={"corrections": None}), "ada")
    unreachable = SPEC.model_copy(
        update={"corrections": SPEC.corrections.model_copy(update={"connection": "no_such_conn"})}
    )
    with pytest.raises(
        CorrectionError, match="corrections.connection 'no_such_conn': cannot reach the target"
    ):
        plan_corrections(warehouse, unreachable, "ada")

    assert stored(warehouse) == []


def test_the_spec_refuses_correcting_through_the_read_connection() -> None:
    document = SPEC.model_dump(mode="json", exclude_none=True)
    document["corrections"]["connection"] = "box_office_read"

    with pytest.raises(ValueError, match="corrections.connection: must be a connection with write rights"):
        Spec.model_validate(document)
