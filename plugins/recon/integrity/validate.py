"""Run a checkpoint's generated suites with GX Core against the warehouse, store and gate on the outcome.

GX runs in an ephemeral context: the warehouse's URL (a secret) lives only in memory, never in a
``great_expectations.yml``. Only its validation results and suites go to disk, masked, in a folder
that Data Docs are built from after each run (``docs_dir``; README "Integrity").
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from recon.integrity.rules import SEVERITIES
from recon.integrity.suites import Batch, Check, build_batches
from recon.masking import mask_email, mask_values
from recon.spec import Spec
from recon.window import RunWindow

log = logging.getLogger(__name__)

SAMPLE_SIZE = 10
# GX's own failure severities; recon's four map onto its three for Data Docs.
_GX_SEVERITY = {"critical": "critical", "high": "warning", "medium": "warning", "low": "info"}


class IntegrityError(RuntimeError):
    """A rule set to stop the run failed; the message names every failed rule, source and count."""


@dataclass(frozen=True)
class CheckResult:
    check: Check
    suite: str
    checkpoint: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    sample: list[str]
    details: dict[str, Any]

    @property
    def severity(self) -> str:
        return self.check.rule.severity

    @property
    def on_fail(self) -> str:
        return self.check.rule.on_fail


def run_checkpoint(
    spec: Spec, window: RunWindow, checkpoint: str, sqlalchemy_url: str, docs_dir: Path | None = None
) -> list[CheckResult]:
    """Validate every batch of ``checkpoint`` for the run; build Data Docs into ``docs_dir`` if given.

    Each batch is a view over its query, not a GX query asset: GX runs a query asset's SQL once as
    it is to learn its columns, fetching every row into memory (180 MB at 1M rows). Two passes keep
    the scans few: counts for every rule first (GX bundles them into one scan per batch), then
    samples of the offending rows only for the rules that found some.
    """
    import sqlalchemy as sa

    batches = [batch for batch in build_batches(spec) if batch.checkpoint == checkpoint]
    if not batches:
        return []
    context = _context(docs_dir)
    with warnings.catch_warnings():
        # The generic SQL datasource, not add_postgres: GX's Postgres DSN check rejects Unix-socket
        # URLs (the embedded warehouse), and it warns that a Postgres datasource exists.
        warnings.simplefilter("ignore")
        datasource = context.data_sources.add_sql(name="warehouse", connection_string=sqlalchemy_url)
    run_time = datetime.now(UTC)
    results: list[CheckResult] = []
    stored = []
    engine = sa.create_engine(sqlalchemy_url)
    views = {batch.suite: _view_name(window, batch) for batch in batches}
    try:
        with engine.begin() as conn:
            for batch in batches:
                kind = _relation_kind(batch)
                # A retry after a crash finds the last try's relation: replace it.
                conn.exec_driver_sql(f"drop {kind} if exists staging.{views[batch.suite]}")
                create = "create unlogged table" if batch.materialize else "create view"
                conn.exec_driver_sql(f"{create} staging.{views[batch.suite]} as {batch.query(window.run_id)}")
        for batch in batches:
            asset = datasource.add_table_asset(
                name=batch.suite, table_name=views[batch.suite], schema_name="staging"
            )
            suite, outcome = _validate(asset, batch, spec, window)
            for check, validation in zip(batch.checks, outcome.results, strict=True):
                _mask(validation.result, check)
                results.append(_result(batch, check, validation, batch.index_name))
            if docs_dir is not None:
                stored.append((_store(context, suite, outcome, window, run_time), bool(outcome.success)))
    finally:
        with engine.begin() as conn:
            for batch in batches:
                conn.exec_driver_sql(f"drop {_relation_kind(batch)} if exists staging.{views[batch.suite]}")
        engine.dispose()
    if stored:
        context.build_data_docs(site_names=["recon"], resource_identifiers=[key for key, _ in stored])
        write_offline_index(docs_dir, stored)  # type: ignore[arg-type]
    return results


def _validate(asset: Any, batch: Batch, spec: Spec, window: RunWindow) -> tuple[Any, Any]:
    """One batch's suite: counts for every rule, then samples where a rule found offending rows."""
    import great_expectations as gx

    suite = gx.ExpectationSuite(
        name=batch.suite,
        expectations=[expectation(check) for check in batch.checks],
        meta={"spec": spec.name, "checkpoint": batch.checkpoint, "run_id": window.run_id},
    )
    data = asset.add_batch_definition_whole_table("run").get_batch()
    outcome = data.validate(suite, result_format={"result_format": "BASIC", "partial_unexpected_count": 0})
    # GX returns one result per expectation, in the suite's order.
    offending = [
        position
        for position, validation in enumerate(outcome.results)
        if not validation.success or (validation.result or {}).get("unexpected_count")
    ]
    if offending:
        sampled = data.validate(
            gx.ExpectationSuite(
                name=f"{batch.suite}.samples",
                expectations=[expectation(batch.checks[position]) for position in offending],
            ),
            result_format={
                "result_format": "SUMMARY",
                "unexpected_index_column_names": [batch.index_name],
                "partial_unexpected_count": SAMPLE_SIZE,
            },
        )
        for position, validation in zip(offending, sampled.results, strict=True):
            outcome.results[position] = validation
    return suite, outcome


def _relation_kind(batch: Batch) -> str:
    return "table" if batch.materialize else "view"


def _view_name(window: RunWindow, batch: Batch) -> str:
    # Unique per run and batch, so concurrent runs never share one; dropped when the check is done.
    return "integrity_" + hashlib.sha256(f"{window.run_id}|{batch.suite}".encode()).hexdigest()[:24]


OFFLINE_INDEX = "recon.html"
_INDEX_LOG = "recon_index.jsonl"
_INDEX_LIMIT = 1000


def write_offline_index(docs_dir: Path, stored: list[tuple[Any, bool]]) -> Path:
    """Add this checkpoint's pages to a plain HTML list of every suite run, newest first.

    GX's own index.html draws its table with scripts from CDNs, so it is empty without network; this
    page needs none (the validation pages themselves read fine unstyled). Each run appends a line per
    page to a small log, so the page is rebuilt without reading the stored results again.
    """
    import html

    log_path = docs_dir / _INDEX_LOG
    with log_path.open("a", encoding="utf-8") as log:
        for key, success in stored:
            parts = key.to_tuple()  # suite name parts..., run name, run time, batch: the page's path
            entry = {"run": parts[-3], "checked": parts[-2], "suite": parts[-1], "success": success,
                     "page": "validations/" + "/".join(parts) + ".html"}  # fmt: skip
            log.write(json.dumps(entry) + "\n")
    entries = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line]
    entries = sorted(entries, key=lambda entry: entry["checked"], reverse=True)[:_INDEX_LIMIT]
    rows = "".join(
        f"<tr><td>{html.escape(e['checked'])}</td><td>{html.escape(e['run'])}</td>"
        f'<td><a href="{html.escape(e["page"])}">{html.escape(e["suite"])}</a></td>'
        f"<td>{'passed' if e['success'] else 'FAILED'}</td></tr>"
        for e in entries
    )
    index = docs_dir / OFFLINE_INDEX
    index.write_text(
        '<!doctype html><meta charset="utf-8"><title>recon integrity: Data Docs</title>'
        '<h1>recon integrity checkpoints</h1><p>Newest first; GX\'s own index is <a href="index.html">'
        "index.html</a> (needs network for its styles and table).</p>"
        '<table border="1" cellpadding="4"><tr><th>checked (UTC)</th><th>run</th><th>suite</th>'
        "<th>outcome</th></tr>" + rows + "</table>\n",
        encoding="utf-8",
    )
    return index


def store_results(
    conn: psycopg.Connection, window: RunWindow, checkpoint: str, results: list[CheckResult]
) -> None:
    """Replace the run's rows of ``checkpoint`` in ``reconciliation.integrity_results``."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "delete from reconciliation.integrity_results where run_id = %s and checkpoint = %s",
            (window.run_id, checkpoint),
        )
        cur.executemany(
            "insert into reconciliation.integrity_results (run_id, spec, checkpoint, suite, rule_name,"
            " rule, source, field, expectation, column_name, severity, on_fail, threshold, is_success,"
            " element_count, unexpected_count, unexpected_percent, sample_record_ids, details)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    window.run_id,
                    window.spec,
                    checkpoint,
                    result.suite,
                    result.check.rule.rule_name,
                    result.check.rule.rule,
                    result.check.source,
                    getattr(result.check.rule, "field", None),
                    result.check.expectation,
                    result.check.column,
                    result.severity,
                    result.on_fail,
                    result.check.rule.threshold,
                    result.success,
                    result.element_count,
                    result.unexpected_count,
                    result.unexpected_percent,
                    json.dumps(result.sample),
                    json.dumps(result.details, default=str),
                )
                for result in results
            ],
        )


def raise_on_stop(checkpoint: str, results: list[CheckResult]) -> None:
    """Log every failed rule; raise ``IntegrityError`` if one set to stop the run (``on_fail: stop``)
    failed. The message lists every failed rule with its count, those that stop the run first, so the
    failure alert tells on-call all that is wrong at once, not one rule per rerun."""
    failed = [result for result in results if not result.success]
    for result in failed:
        log.warning("integrity %s (%s): %s", result.severity, result.on_fail, _line(result))
    stopping = [result for result in failed if result.on_fail == "stop"]
    if not stopping:
        return
    failed.sort(key=lambda result: (result.on_fail != "stop", SEVERITIES.index(result.severity)))
    rules = "rule" if len(stopping) == 1 else "rules"
    raise IntegrityError(
        f"{checkpoint} checkpoint: {len(stopping)} {rules} set to stop the run failed"
        f" ({len(failed)} failed in all):\n" + "\n".join(f"- {_line(result, tags=True)}" for result in failed)
    )


def _line(result: CheckResult, tags: bool = False) -> str:
    where = f" on {result.check.source}" if result.check.source else ""
    name = result.check.rule.rule_name + where
    if tags:
        name += f" ({result.on_fail}, {result.severity})"
    if "exception" in result.details:
        return f"{name}: could not be checked: {result.details['exception']}"
    count = result.unexpected_count or 0
    share = f" ({result.unexpected_percent:.4g} %)" if result.unexpected_percent is not None else ""
    sample = f", e.g. {', '.join(result.sample[:3])}" if result.sample else ""
    return f"{name}: {count:,} unexpected row{'' if count == 1 else 's'}{share}{sample}"


def expectation(check: Check) -> Any:
    """The GX Core expectation object of one check."""
    import great_expectations.expectations as gxe

    name = "".join(part.capitalize() for part in check.expectation.split("_"))
    rule = check.rule
    return getattr(gxe, name)(
        column=check.column,
        **check.kwargs,
        description=check.description,
        severity=_GX_SEVERITY[rule.severity],
        meta={
            "rule": rule.rule_name,
            "kind": rule.rule,
            "severity": rule.severity,
            "on_fail": rule.on_fail,
            "source": check.source,
        },
    )


def _result(batch: Batch, check: Check, validation: Any, index: str) -> CheckResult:
    result = dict(validation.result or {})
    details = {
        key: result[key]
        for key in ("missing_count", "partial_unexpected_list", "observed_value")
        if key in result
    }
    exception = _exception(validation.exception_info)
    if exception:
        details["exception"] = mask_values(exception)[:500]
    sample = [str(row.get(index)) for row in result.get("partial_unexpected_index_list") or []]
    percent = result.get("unexpected_percent")
    return CheckResult(
        check=check,
        suite=batch.suite,
        checkpoint=batch.checkpoint,
        success=bool(validation.success) and "exception" not in details,
        element_count=result.get("element_count"),
        unexpected_count=result.get("unexpected_count"),
        unexpected_percent=float(percent) if percent is not None else None,
        sample=mask_values(sample),
        details=details,
    )


def _exception(info: Any) -> str | None:
    """The first error GX caught while computing an expectation (a bad regex, a failed query)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception") or info.get("exception_message"):
        return str(info.get("exception_message") or "error")
    for nested in info.values():
        if found := _exception(nested):
            return found
    return None


def _mask(result: dict[str, Any] | None, check: Check) -> None:
    """Mask personal data in GX's result in place, before it is stored anywhere or rendered."""
    if not result:
        return
    personal = check.rule.rule == "email" or getattr(check.rule, "field", None) == "customer_email"
    for key in ("partial_unexpected_list", "partial_unexpected_index_list", "partial_unexpected_counts"):
        if key not in result:
            continue
        values = result[key]
        if personal:
            values = _mask_whole(values, check.column)
        result[key] = mask_values(values)


def _mask_whole(values: Any, column: str) -> Any:
    # Unexpected values of a personal field are malformed (that is why they are unexpected), so
    # the patterns of mask_values miss them: mask each whole.
    if isinstance(values, list):
        return [_mask_whole(value, column) for value in values]
    if isinstance(values, dict):
        return {
            key: (_mask_whole(value, column) if key in (column, "value") else value)
            for key, value in values.items()
        }
    return mask_email(values) if isinstance(values, str) else values


def _context(docs_dir: Path | None) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
    )
    if docs_dir is not None:
        for store, kind, folder in (
            ("validation_results_store", "ValidationResultsStore", "validations"),
            ("expectations_store", "ExpectationsStore", "expectations"),
        ):
            config.stores[store] = {
                "class_name": kind,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir / "gx" / folder),
                },
            }
        config.data_docs_sites = {
            "recon": {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        }
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def _store(context: Any, suite: Any, outcome: Any, window: RunWindow, run_time: datetime) -> Any:
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context.suites.add_or_update(suite)
    # Folder names: the run key without the characters a path cannot hold.
    run_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", window.run_id)
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
        run_id=RunIdentifier(run_name=run_name, run_time=run_time),
        batch_identifier=suite.name,
    )
    context.validation_results_store.set(key, outcome)
    return key
