"""Integrity gate: Great Expectations Core suites over one run's staging rows.

Suites are declared in ``expectations/*.yml`` (the contract with the outside world); this module
turns them into GX expectations, validates the run's rows in Postgres, stores every result in
``reconciliation.integrity_results`` and fails the task when a critical expectation fails, so
nothing is matched, published or alerted from bad input.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from recon.masking import mask_email, mask_values
from recon.window import RunWindow

log = logging.getLogger(__name__)

# Columns holding personal data. Their unexpected values are often malformed (that is why they are
# unexpected), so the patterns of mask_values miss them: such values are masked whole instead.
_PERSONAL_COLUMNS = frozenset({"customer_email"})


class IntegrityError(RuntimeError):
    """A critical expectation failed; the message lists which and how many rows."""


@dataclass(frozen=True)
class Rule:
    type: str
    severity: str
    kwargs: dict[str, Any]

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column") or ",".join(self.kwargs.get("column_list", [])) or None


@dataclass(frozen=True)
class CheckResult:
    rule: Rule
    success: bool
    unexpected_count: int | None
    details: dict[str, Any]


def load_suite(path: Path) -> tuple[str, list[Rule]]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    rules = []
    for index, item in enumerate(document.get("expectations", [])):
        item = dict(item)
        try:
            rule_type, severity = item.pop("type"), item.pop("severity")
        except KeyError as exc:
            raise ValueError(f"{path}: expectations.{index}: missing field {exc.args[0]!r}") from None
        if severity not in ("critical", "warning"):
            raise ValueError(f"{path}: expectations.{index}.severity: {severity!r} is not critical|warning")
        kwargs = {**item.pop("kwargs", {}), **item}
        rules.append(Rule(type=rule_type, severity=severity, kwargs=kwargs))
    return document["suite"], rules


def run_suite(
    sqlalchemy_url: str, window: RunWindow, suite_name: str, rules: list[Rule]
) -> list[CheckResult]:
    """Validate the window's rows of ``staging.records`` with GX Core (ephemeral context)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    with warnings.catch_warnings():
        # The generic SQL datasource, not add_postgres: GX's Postgres DSN check rejects Unix-socket
        # URLs (the embedded warehouse), and it warns that a Postgres datasource exists.
        warnings.simplefilter("ignore")
        source = context.data_sources.add_sql(name="warehouse", connection_string=sqlalchemy_url)
    query = (
        f"select * from staging.records"
        f" where spec = {_literal(window.spec)} and run_id = {_literal(window.run_id)}"
    )
    asset = source.add_query_asset(name=f"{suite_name}_run", query=query)
    batch = asset.add_batch_definition_whole_table("run").get_batch()
    suite = gx.ExpectationSuite(
        name=suite_name,
        expectations=[getattr(gxe, _class_name(rule.type))(**rule.kwargs) for rule in rules],
    )
    outcome = batch.validate(suite)
    results = []
    # GX returns one result per expectation, in the suite's order.
    for rule, check in zip(rules, outcome.results, strict=True):
        result = dict(check.result or {})
        if rule.column in _PERSONAL_COLUMNS and "partial_unexpected_list" in result:
            result["partial_unexpected_list"] = [
                mask_email(value) if isinstance(value, str) else value
                for value in result["partial_unexpected_list"]
            ]
        results.append(
            CheckResult(
                rule=rule,
                success=bool(check.success),
                unexpected_count=result.get("unexpected_count"),
                details=mask_values(
                    {
                        key: result[key]
                        for key in (
                            "element_count",
                            "unexpected_percent",
                            "partial_unexpected_list",
                            "observed_value",
                        )
                        if key in result
                    }
                ),
            )
        )
    return results


def store_results(
    conn: psycopg.Connection, window: RunWindow, suite: str, results: list[CheckResult]
) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "delete from reconciliation.integrity_results where run_id = %s and suite = %s",
            (window.run_id, suite),
        )
        cur.executemany(
            "insert into reconciliation.integrity_results (run_id, spec, suite, expectation, column_name,"
            " severity, is_success, unexpected_count, details) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (
                    window.run_id,
                    window.spec,
                    suite,
                    r.rule.type,
                    r.rule.column,
                    r.rule.severity,
                    r.success,
                    r.unexpected_count,
                    json.dumps(r.details, default=str),
                )
                for r in results
            ],
        )


def raise_on_critical(suite: str, results: list[CheckResult]) -> None:
    failed = [r for r in results if not r.success and r.rule.severity == "critical"]
    for r in results:
        if not r.success and r.rule.severity == "warning":
            log.warning(
                "%s: %s on %s failed for %s rows", suite, r.rule.type, r.rule.column, r.unexpected_count
            )
    if failed:
        lines = [f"{r.rule.type} on {r.rule.column}: {r.unexpected_count} unexpected rows" for r in failed]
        raise IntegrityError(f"suite {suite!r}: critical expectations failed: " + "; ".join(lines))


def _class_name(rule_type: str) -> str:
    return "".join(part.capitalize() for part in rule_type.split("_"))


def _literal(value: str) -> str:
    return sql.Literal(value).as_string(None)
