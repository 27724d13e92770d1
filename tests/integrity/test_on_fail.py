"""What a failed rule does to the run, through the DAG's own task functions on a real warehouse (GX for
the checkpoints, dbt for the matching): ``stop`` fails the task listing every failed rule; ``mark`` keeps
the rows and publishes; ``quarantine`` moves the rows out of matching before dbt, naming the rule. Then
the published run: its severity includes the failed rules, and the alerts it queued list each.

One sale of the left source is a refund (negative), one is void (a status a quarantine rule refuses),
one is both, one has a malformed email. The right source declares signed amounts, so the default
``amount_not_negative`` passes it by.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from airflow.sdk.exceptions import AirflowFailException

from recon import runs, tasks
from recon.matching import write_pair_settings
from recon.spec import Spec
from recon.warehouse import airflow_connection
from recon.window import RunWindow
from tests.dbt.harness import day_window, dbt, load_records, rows
from tests.integrity.support import spec_of

pytestmark = pytest.mark.integration

KNOWN_STATUS = {
    "name": "known_status",
    "rule": "in_set",
    "field": "status",
    "values": ["paid"],
    "severity": "high",
    "on_fail": "quarantine",
}
ALERTS = {
    "slack": {"connection": "slack_alerts"},
    "pagerduty": {"connection": "pagerduty_alerts"},
}
SPEC = spec_of("on_fail", {"checks": [KNOWN_STATUS]}, right={"signed_amounts": True}, alerts=ALERTS)
WINDOW = day_window(SPEC, "2026-11-14")


def sale(source: str, key: str, amount: str, status: str = "paid", **fields: Any) -> dict[str, Any]:
    return {"source": source, "record_key": key, "amount": amount, "status": status, **fields}


LEFT = [
    sale("left", "l_ok1", "10"),
    sale("left", "l_ok2", "20"),
    sale("left", "l_refund", "-5"),
    sale("left", "l_void", "7", "void"),
    sale("left", "l_void_refund", "-3", "void"),
    sale("left", "l_bad_mail", "8", customer_email="ada.lovelace@example"),
]
# The till has every sale, the refund signed as it is on the left.
RIGHT = [sale("right", r["record_key"], r["amount"]) for r in LEFT]


@pytest.fixture(scope="module")
def airflow_warehouse(warehouse_url: str) -> Iterator[None]:
    """The spec's ``recon_warehouse`` connection, pointed at the test database, for the task functions."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_RECON_WAREHOUSE", airflow_connection(warehouse_url))
        yield


def validate(spec: Spec, window: RunWindow, checkpoint: str, docs: Path) -> dict[str, Any]:
    return tasks.validate(spec, window.as_dict(), checkpoint, str(docs))


def staged(conn: psycopg.Connection, window: RunWindow, source: str = "left") -> list[str]:
    found = rows(
        conn,
        "select record_key from staging.records where run_id = %s and source = %s order by 1",
        window.run_id,
        source,
    )
    return [row["record_key"] for row in found]


def quarantined(conn: psycopg.Connection, window: RunWindow) -> list[dict[str, Any]]:
    return rows(
        conn,
        "select source, record_key, origin, origin_line, reason, raw ->> 'amount' as amount,"
        " raw ->> 'status' as status from staging.quarantine where run_id = %s order by record_key",
        window.run_id,
    )


def stored(conn: psycopg.Connection, window: RunWindow) -> dict[tuple[str, str | None], tuple]:
    found = rows(
        conn,
        "select rule_name, source, severity, on_fail, is_success, unexpected_count"
        " from reconciliation.integrity_results where run_id = %s",
        window.run_id,
    )
    return {(r["rule_name"], r["source"]): (r["severity"], r["on_fail"], r["is_success"],
                                            r["unexpected_count"]) for r in found}  # fmt: skip


# --- stop -------------------------------------------------------------------------------------------

STOP_SPEC = spec_of(
    "on_fail",
    {
        "checks": [
            KNOWN_STATUS,
            {"rule": "not_negative", "field": "amount", "severity": "critical", "on_fail": "stop"},
        ]
    },
    right={"signed_amounts": True},
)
STOP_WINDOW = day_window(STOP_SPEC, "2026-11-15")


def test_a_failed_stop_rule_fails_the_task_listing_every_failed_rule_and_moves_nothing(
    module_warehouse: psycopg.Connection, airflow_warehouse: None, tmp_path: Path
) -> None:
    write_pair_settings(module_warehouse, STOP_SPEC, STOP_WINDOW)
    load_records(module_warehouse, STOP_WINDOW, [*LEFT, *RIGHT])

    with pytest.raises(AirflowFailException) as raised:
        validate(STOP_SPEC, STOP_WINDOW, "staging", tmp_path)

    # The rule that stops first, then every other failed rule, loudest first, each with its count (the
    # email's share is of the rows that have one).
    assert str(raised.value) == (
        "staging checkpoint: 1 rule set to stop the run failed (3 failed in all):\n"
        "- amount_not_negative on left (stop, critical): 2 unexpected rows (33.33 %),"
        " e.g. l_refund, l_void_refund\n"
        "- known_status on left (quarantine, high): 2 unexpected rows (33.33 %), e.g. l_void, l_void_refund\n"
        "- customer_email_format on left (mark, medium): 1 unexpected row (100 %), e.g. l_bad_mail"
    )
    # A run that stops matches nothing: no row was moved, and every outcome is stored.
    assert staged(module_warehouse, STOP_WINDOW) == sorted(r["record_key"] for r in LEFT)
    assert quarantined(module_warehouse, STOP_WINDOW) == []
    outcomes = stored(module_warehouse, STOP_WINDOW)
    assert outcomes[("amount_not_negative", "left")] == ("critical", "stop", False, 2)
    assert outcomes[("known_status", "left")] == ("high", "quarantine", False, 2)
    assert outcomes[("customer_email_format", "left")] == ("medium", "mark", False, 1)
    # Redefined under the default's name without sources, the rule keeps the default's scope: the right
    # source's amounts are signed, so it is not checked there.
    assert ("amount_not_negative", "right") not in outcomes


# --- mark and quarantine, then the published run ----------------------------------------------------


@pytest.fixture(scope="module")
def checked_twice(
    module_warehouse: psycopg.Connection, airflow_warehouse: None, tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    """The staging checkpoint run twice, as a retried task would: each try's summary."""
    runs.start_run(module_warehouse, WINDOW, "scheduled__2026-11-15T00:00:00+00:00")
    write_pair_settings(module_warehouse, SPEC, WINDOW)
    load_records(module_warehouse, WINDOW, [*LEFT, *RIGHT])
    docs = tmp_path_factory.mktemp("docs")
    return [validate(SPEC, WINDOW, "staging", docs), validate(SPEC, WINDOW, "staging", docs)]


@pytest.fixture(scope="module")
def published(
    module_warehouse: psycopg.Connection,
    checked_twice: list[dict[str, Any]],
    warehouse_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """The rest of the run: dbt matching, the results checkpoint, publishing; the runs row."""
    target = tmp_path_factory.mktemp("dbt") / "target"
    completed = dbt(
        warehouse_url, WINDOW, "build", "--exclude", "test_type:unit", "--target-path", str(target)
    )
    assert completed.returncode == 0, completed.stdout[-6000:]
    validate(SPEC, WINDOW, "results", tmp_path_factory.mktemp("docs"))
    tasks.publish(SPEC, WINDOW.as_dict(), "scheduled__2026-11-15T00:00:00+00:00")
    (run,) = rows(module_warehouse, "select * from reconciliation.runs where run_id = %s", WINDOW.run_id)
    return run


def test_quarantine_moves_the_rows_it_finds_naming_the_rule_and_a_retry_moves_the_same(
    module_warehouse: psycopg.Connection, checked_twice: list[dict[str, Any]]
) -> None:
    # Both tries moved the same two rows: the second put them back first and checked the run as loaded.
    assert checked_twice[0] == checked_twice[1] == {"checked": 13, "failed": 3, "quarantined": 2}
    assert quarantined(module_warehouse, WINDOW) == [
        {"source": "left", "record_key": "l_void", "origin": "test", "origin_line": 4,
         "reason": "integrity rule known_status on left (on_fail: quarantine)", "amount": "7",
         "status": "void"},
        {"source": "left", "record_key": "l_void_refund", "origin": "test", "origin_line": 5,
         "reason": "integrity rule known_status on left (on_fail: quarantine)", "amount": "-3",
         "status": "void"},
    ]  # fmt: skip
    # Marked rows stay: the refund and the malformed email are matched like any other.
    assert staged(module_warehouse, WINDOW) == ["l_bad_mail", "l_ok1", "l_ok2", "l_refund"]
    assert len(staged(module_warehouse, WINDOW, "right")) == len(RIGHT)


def test_the_outcomes_are_stored_with_what_each_failure_did(
    module_warehouse: psycopg.Connection, checked_twice: list[dict[str, Any]]
) -> None:
    outcomes = stored(module_warehouse, WINDOW)

    # Counted on the rows as loaded: l_void_refund breaks both rules, and is moved once.
    assert outcomes[("amount_not_negative", "left")] == ("critical", "mark", False, 2)
    assert outcomes[("known_status", "left")] == ("high", "quarantine", False, 2)
    assert outcomes[("customer_email_format", "left")] == ("medium", "mark", False, 1)
    # The default not-negative rule skips the right source, whose amounts are signed.
    assert ("amount_not_negative", "right") not in outcomes
    assert outcomes[("known_status", "right")] == ("high", "quarantine", True, 0)


def test_quarantined_rows_are_not_matched_and_the_invariants_count_what_is_left(
    module_warehouse: psycopg.Connection, published: dict[str, Any]
) -> None:
    breaks = rows(
        module_warehouse,
        "select break_class, missing_in, left_record_keys, right_record_keys from reconciliation.run_breaks"
        " where run_id = %s order by right_record_keys",
        WINDOW.run_id,
    )
    # The two void sales are gone from the left: their till rows have nothing to match, and are
    # unreadable there (their counterparts were quarantined), not missing.
    assert [(b["break_class"], b["missing_in"], b["right_record_keys"]) for b in breaks] == [
        ("unreadable", "left", ["l_void"]),
        ("unreadable", "left", ["l_void_refund"]),
    ]
    summary = rows(
        module_warehouse,
        "select left_record_count, right_record_count, matched_count from reconciliation.run_summary"
        " where run_id = %s",
        WINDOW.run_id,
    )
    assert summary == [{"left_record_count": 4, "right_record_count": 6, "matched_count": 4}]
    outcomes = stored(module_warehouse, WINDOW)
    assert outcomes[("records_accounted_once", None)] == ("critical", "stop", True, 0)
    assert outcomes[("counts_add_up", None)] == ("critical", "stop", True, 0)


def test_a_failed_critical_rule_makes_the_published_run_critical(published: dict[str, Any]) -> None:
    assert published["status"] == "discrepancy_found"
    assert published["severity"] == "critical"
    assert [
        (f["severity"], f["rule_name"], f["source"], f["on_fail"], f["unexpected_count"])
        for f in published["integrity_failures"]
    ] == [
        ("critical", "amount_not_negative", "left", "mark", 2),
        ("high", "known_status", "left", "quarantine", 2),
        ("medium", "customer_email_format", "left", "mark", 1),
    ]
    # The sample is masked like every stored value: a malformed address is masked whole.
    (email,) = [f for f in published["integrity_failures"] if f["rule_name"] == "customer_email_format"]
    assert email["sample_record_ids"] == ["l_bad_mail"]


def test_the_queued_slack_message_and_page_list_every_failed_rule_with_its_count(
    module_warehouse: psycopg.Connection, published: dict[str, Any]
) -> None:
    alerts = {
        (row["channel"], row["event"]): row["payload"]
        for row in rows(
            module_warehouse, "select * from reconciliation.alert_outbox where run_id = %s", WINDOW.run_id
        )
    }

    assert sorted(alerts) == [("pagerduty", "trigger"), ("slack", "result")]
    lines = [
        "critical amount_not_negative on left: 2 rows (33.33 %)",
        "high known_status on left: 2 rows (33.33 %), moved to quarantine",
        "medium customer_email_format on left: 1 row (100.00 %)",
    ]
    blocks = alerts[("slack", "result")]["attachments"][0]["blocks"]
    (integrity,) = [b["text"]["text"] for b in blocks if b["type"] == "section"
                    and b["text"]["text"].startswith("*Integrity rules failed*")]  # fmt: skip
    assert integrity == "*Integrity rules failed*\n" + "\n".join(f"• {line}" for line in lines)
    assert alerts[("slack", "result")]["attachments"][0]["color"] == "#FF0000"
    page = alerts[("pagerduty", "trigger")]
    assert page["dedup_key"] == "recon/on_fail/2026-11-14"
    assert page["custom_details"]["integrity_rules_failed"] == lines
    assert page["summary"].endswith("; critical integrity rules failed: amount_not_negative on left (2 rows)")
