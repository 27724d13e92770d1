"""Personal data in integrity results: an e-mail (valid, malformed, or used as a record key) is masked in
every sample and detail before it is stored or rendered, and the Data Docs built from a run hold none."""

from __future__ import annotations

import json
import re
from pathlib import Path

import psycopg
import pytest

from recon.integrity.validate import CheckResult, run_checkpoint, store_results
from tests.dbt.harness import day_window, load_records, rows
from tests.integrity.support import result, rules_spec

pytestmark = pytest.mark.integration

SPEC = rules_spec(
    "integrity_docs", {"checks": [{"rule": "unique", "field": "customer_email", "severity": "low"}]}
)
WINDOW = day_window(SPEC, "2026-11-14")

RAW = ["ada.lovelace@example.com", "grace hopper@navy.mil", "alan.turing@example", "same@example.com"]
# Not even part of one: a malformed address masked by its pattern would still show its name.
NAMES = ["lovelace", "grace", "hopper", "turing", "same@"]
RECORDS = [
    # A record key that is an e-mail address, with a negative amount and a malformed e-mail.
    {"source": "left", "record_key": "ada.lovelace@example.com", "amount": "-1",
     "customer_email": "grace hopper@navy.mil"},
    {"source": "left", "record_key": "k2", "amount": "1", "customer_email": "alan.turing@example"},
    # Valid, but the same twice: the unique rule reports the address itself.
    {"source": "left", "record_key": "k3", "amount": "1", "customer_email": "same@example.com"},
    {"source": "left", "record_key": "k4", "amount": "1", "customer_email": "same@example.com"},
    {"source": "right", "record_key": "k1", "amount": "1"},
]  # fmt: skip


@pytest.fixture(scope="module")
def docs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs")


@pytest.fixture(scope="module")
def results(module_warehouse: psycopg.Connection, gx_url: str, docs_dir: Path) -> list[CheckResult]:
    load_records(module_warehouse, WINDOW, RECORDS)
    return run_checkpoint(SPEC, WINDOW, "staging", gx_url, docs_dir)


def assert_no_raw_email(text: str) -> None:
    for raw in RAW + NAMES:
        assert raw not in text, f"{raw!r} in {text[:2000]}"


def test_a_malformed_email_is_masked_whole_in_the_sample_and_details(results: list[CheckResult]) -> None:
    found = result(results, "customer_email_format", "left")

    assert (found.success, found.unexpected_count) == (False, 2)
    # The record key that is an e-mail keeps its shape, masked; the malformed values have no shape to keep.
    assert sorted(found.sample) == ["a***@e***.com", "k2"]
    assert found.details["partial_unexpected_list"] == ["***", "***"]
    assert_no_raw_email(json.dumps([found.sample, found.details]))


def test_a_record_key_that_is_an_email_is_masked_in_any_rule(results: list[CheckResult]) -> None:
    found = result(results, "amount_not_negative", "left")

    assert (found.unexpected_count, found.sample) == (1, ["a***@e***.com"])


def test_a_valid_email_reported_by_a_rule_keeps_only_its_shape(results: list[CheckResult]) -> None:
    found = result(results, "customer_email_unique", "left")

    assert (found.success, found.unexpected_count, sorted(found.sample)) == (False, 2, ["k3", "k4"])
    assert found.details["partial_unexpected_list"] == ["s***@e***.com", "s***@e***.com"]


def test_no_result_of_the_run_holds_a_raw_email(results: list[CheckResult]) -> None:
    assert_no_raw_email(json.dumps([[r.sample, r.details] for r in results], default=str))


def test_stored_results_hold_no_raw_email(
    module_warehouse: psycopg.Connection, results: list[CheckResult]
) -> None:
    store_results(module_warehouse, WINDOW, "staging", results)

    stored = rows(
        module_warehouse,
        "select sample_record_ids::text as sample, details::text as details"
        " from reconciliation.integrity_results where run_id = %s",
        WINDOW.run_id,
    )

    assert len(stored) == len(results)
    assert_no_raw_email(json.dumps(stored))


def test_data_docs_are_built_into_the_docs_folder_naming_each_suite(
    results: list[CheckResult], docs_dir: Path
) -> None:
    index = (docs_dir / "index.html").read_text(encoding="utf-8")

    assert "integrity_docs.staging.left" in index
    assert "integrity_docs.staging.right" in index


def test_the_offline_index_links_each_suite_run_with_its_outcome(
    results: list[CheckResult], gx_url: str, tmp_path: Path
) -> None:
    docs_dir = tmp_path / "docs"
    run_checkpoint(SPEC, WINDOW, "staging", gx_url, docs_dir)
    run_checkpoint(SPEC, WINDOW, "staging", gx_url, docs_dir)  # a second run adds to the index
    index = (docs_dir / "recon.html").read_text(encoding="utf-8")
    links = re.findall(r'href="(validations/[^"]+)">([^<]+)</a></td><td>(\w+)</td>', index)
    outcomes = {suite: outcome for _link, suite, outcome in links}

    assert len(links) == 4, "two suites, each run twice"
    assert all((docs_dir / link).is_file() for link, _suite, _outcome in links)
    # The left source holds a malformed email (a failed medium rule); the right one is clean.
    assert outcomes == {"integrity_docs.staging.left": "FAILED", "integrity_docs.staging.right": "passed"}


def test_the_validation_results_and_pages_under_the_docs_folder_hold_no_raw_email(
    results: list[CheckResult], docs_dir: Path
) -> None:
    validations = [path for path in docs_dir.rglob("*.json") if "validations" in path.parts]
    pages = list(docs_dir.rglob("*.html"))

    # One validation result per suite (left, right), stored as JSON and rendered as a page each.
    assert len(validations) == 2
    (left,) = [path for path in validations if path.name == "integrity_docs.staging.left.json"]
    assert "***" in left.read_text(encoding="utf-8")
    assert len(pages) >= 3
    for path in [*validations, *pages]:
        assert_no_raw_email(path.read_text(encoding="utf-8"))
