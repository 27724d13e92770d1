"""Generate a spec's Great Expectations suites from its rules: one batch query and suite per checkpoint
and source, so every rule of a source is checked in the same few scans of the warehouse.

Each rule becomes one column of its batch's query, computed set-wise in SQL (a field's value, an orphan
flag, a stored total's distance from its recomputed sum), and one GX expectation on that column. GX
then counts, judges (with ``mostly`` for a threshold) and samples the offending rows in Postgres: no
record is pulled into Python. Values are compared exactly in SQL; GX only ever sees integer bounds,
because it turns decimal bounds into floats.

Two checkpoints (STYLE.md, "GX at the boundaries"): ``staging`` after load and before dbt (the
contract with the sources), ``results`` after dbt and before publishing (invariants of the results).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from recon.integrity import rules as r
from recon.money import iso_4217_codes
from recon.spec import Spec

# Active ISO 4217 codes, from CLDR's territory currency data (babel), minus CLDR's offshore yuan.
ISO_4217 = tuple(sorted(iso_4217_codes()))
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_TEXT_FIELDS = ("record_key", "group_key", "reference", "customer_email", "status", "currency")


@dataclass(frozen=True)
class Check:
    """One rule on one batch: the column it computes and the GX expectation that judges it."""

    rule: Any  # a model of recon.integrity.rules
    source: str | None
    column: str
    column_sql: str
    expectation: str  # GX expectation type, e.g. expect_column_values_to_be_between
    kwargs: dict[str, Any]

    @property
    def description(self) -> str:
        where = f" on {self.source}" if self.source else ""
        return self.rule.description or f"{self.rule.rule_name}{where}: {_explain(self.rule)}"

    def breaks_sql(self, value: str) -> str:
        """SQL that is true where ``value`` (this check's column) breaks the rule, as GX judges it; a
        null is a break only for not_null. Used to move a quarantine rule's rows (recon.integrity.
        quarantine); ``unique`` needs ``value`` over the whole batch, so it is a window function."""
        kwargs = self.kwargs
        if self.expectation == "expect_column_values_to_not_be_null":
            return f"({value}) is null"
        if self.expectation == "expect_column_values_to_be_unique":
            return f"({value}) is not null and count(*) over (partition by {value}) > 1"
        if self.expectation == "expect_column_values_to_match_regex":
            return f"({value}) !~ {_literal(kwargs['regex'])}"
        if self.expectation == "expect_column_values_to_be_in_set":
            values = ", ".join(_sql_value(item) for item in kwargs["value_set"])
            return f"({value}) not in ({values})"
        if self.expectation == "expect_column_values_to_be_between":
            outside = []
            if kwargs.get("min_value") is not None:
                below = "<=" if kwargs.get("strict_min") else "<"
                outside.append(f"({value}) {below} {kwargs['min_value']}")
            if kwargs.get("max_value") is not None:
                outside.append(f"({value}) > {kwargs['max_value']}")
            return "(" + " or ".join(outside) + ")"
        raise ValueError(f"{self.rule.rule_name}: no row predicate for {self.expectation}")


@dataclass
class Batch:
    """One query over the run's rows and the checks computed on it; the suite is named after it."""

    spec: str
    checkpoint: str
    name: str
    index_sql: str  # what identifies a row: a record key, a pair side
    from_sql: str
    where_sql: str = ""
    checks: list[Check] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)  # one per totals rule: its lines' sums
    index_name: str = "record_key"
    # Computed once into a table rather than read through a view: GX scans a batch three times, and
    # this batch's query (a join over the run's units and records) costs more than a plain scan.
    materialize: bool = False

    @property
    def suite(self) -> str:
        return f"{self.spec}.{self.checkpoint}.{self.name}"

    def query(self, run_id: str) -> str:
        """The batch's SQL for one run (spec and run id as literals; everything else is from the spec)."""
        columns = ",\n    ".join(f"{check.column_sql} as {_ident(check.column)}" for check in self.checks)
        return self.select(run_id, f"{self.index_sql} as {self.index_name},\n    {columns}")

    def select(self, run_id: str, columns: str) -> str:
        """``columns`` (SQL) over the batch's rows of one run."""
        parts = [f"select\n    {columns}", self.from_sql, *self.joins, self.where_sql]
        text = "\n".join(part for part in parts if part)
        return text.replace("{spec}", _literal(self.spec)).replace("{run_id}", _literal(run_id))


def build_batches(spec: Spec) -> list[Batch]:
    """Every batch of the spec's checkpoints, staging first, each with its checks in rule order."""
    rules = spec.rules.effective()
    batches: dict[tuple[str, str], Batch] = {}
    for rule in rules:
        if isinstance(rule, r.AccountedOnce | r.CountsAddUp):
            batch = batches.setdefault(("results", "pairs"), _pairs_batch(spec.name))
            batch.checks.append(_invariant_check(rule))
            continue
        for source in r.checked_sources(rule, spec.sources):
            if isinstance(rule, r.NoDuplicates):
                key = ("results", f"duplicates_{source}")
                batch = batches.setdefault(key, _duplicates_batch(spec.name, source))
                batch.checks.append(Check(rule, source, rule.rule_name, "is_duplicate", *_in_set([False])))
                continue
            batch = batches.setdefault(("staging", source), _records_batch(spec.name, source))
            batch.checks.append(_record_check(rule, source, batch, spec))
    order = {"staging": 0, "results": 1}
    return sorted(batches.values(), key=lambda batch: order[batch.checkpoint])


def _records_batch(spec: str, source: str) -> Batch:
    return Batch(
        spec,
        "staging",
        source,
        "r.record_key",
        "from staging.records as r",
        f"where r.spec = {{spec}} and r.run_id = {{run_id}} and r.source = {_literal(source)}",
    )


# Rules that hand their field's value to one expectation as it is: the type the value is read as,
# the expectation, and its arguments (the threshold's ``mostly`` is added to each).
_DIRECT: dict[str, tuple[str, str, dict[str, Any]]] = {
    "not_null": ("text", "expect_column_values_to_not_be_null", {}),
    "not_negative": ("number", "expect_column_values_to_be_between", {"min_value": 0}),
    "positive": ("number", "expect_column_values_to_be_between", {"min_value": 0, "strict_min": True}),
    "email": ("text", "expect_column_values_to_match_regex", {"regex": EMAIL}),
    "currency_code": ("text", "expect_column_values_to_be_in_set", {"value_set": list(ISO_4217)}),
    "unique": ("text", "expect_column_values_to_be_unique", {}),
}


def _record_check(rule: Any, source: str, batch: Batch, spec: Spec) -> Check:
    name = rule.rule_name
    kind = rule.rule
    overlap = spec.window_overlap
    if kind == "currency_code" and spec.currencies:
        # The spec's own codes (tokens, points) are currencies of this spec as much as ISO 4217's.
        codes = sorted({*ISO_4217, *spec.currencies})
        return Check(rule, source, name, value(rule.field, "text"), *_in_set(codes, rule))
    if kind in _DIRECT:
        reads, expectation, kwargs = _DIRECT[kind]
        return Check(rule, source, name, value(rule.field, reads), expectation, {**kwargs, **_mostly(rule)})
    if kind == "between":
        return _within(rule, source, value(rule.field, "number"), rule.min, rule.max)
    if kind == "matches":
        return Check(rule, source, name, value(rule.field, "text"), "expect_column_values_to_match_regex",
                     {"regex": rule.pattern, **_mostly(rule)})  # fmt: skip
    if kind == "in_set":
        return Check(rule, source, name, value(rule.field, "text"), *_in_set(list(rule.values), rule))
    if kind == "not_future":
        time = value(rule.field, "time")
        return Check(rule, source, name, f"({time} <= now())", *_in_set([True], rule))
    if kind == "in_window":
        time = value(rule.field, "time")
        # A run reads its sources from window_overlap before its start (Spec.window_overlap).
        margin = int(overlap.total_seconds())
        start = f"r.window_start - interval '{margin} seconds'" if margin else "r.window_start"
        column = f"({time} >= {start} and {time} < r.window_end)"
        return Check(rule, source, name, column, *_in_set([True], rule))
    if kind == "exists_in":
        child = value(rule.field, "text")
        parent = value(rule.reference.field, "text", "p")
        column = (
            f"case when {child} is null then null else {child} in (select {parent} from staging.records as p"
            f" where p.spec = {{spec}} and p.run_id = {{run_id}}"
            f" and p.source = {_literal(rule.reference.source)} and {parent} is not null) end"
        )
        return Check(rule, source, name, column, *_in_set([True], rule))
    if kind == "totals":
        alias = f"t_{name}"
        lines = rule.lines
        by = value(lines.by, "text", "l")
        batch.joins.append(
            f"left join (select {by} as key, sum({value(lines.field, 'number', 'l')}) as total"
            f" from staging.records as l where l.spec = {{spec}} and l.run_id = {{run_id}}"
            f" and l.source = {_literal(lines.source)} and {by} is not null group by 1) as {_ident(alias)}"
            f" on {_ident(alias)}.key = {value(rule.key, 'text')}"
        )
        difference = f"({value(rule.field, 'number')} - coalesce({_ident(alias)}.total, 0))"
        return _within(rule, source, difference, -rule.tolerance, rule.tolerance)
    raise ValueError(f"rule {name!r}: {kind!r} is not a record rule")


def _within(rule: Any, source: str, number: str, low: Any, high: Any) -> Check:
    """A number checked against [low, high] (either may be None): the column is how far outside it
    lies (0 inside, null when the number is), computed exactly in SQL so GX compares with 0 only."""
    cases = [f"when {number} < {low} then {number} - {low}"] if low is not None else []
    cases += [f"when {number} > {high} then {number} - {high}"] if high is not None else []
    column = f"case {' '.join(cases)} else {number} * 0 end"
    return Check(rule, source, rule.rule_name, column, "expect_column_values_to_be_between",
                 {"min_value": 0, "max_value": 0, **_mostly(rule)})  # fmt: skip


def _duplicates_batch(spec: str, source: str) -> Batch:
    # The engine keeps the earliest of a repeated key and classes the others duplicate (per pair):
    # flag that many of the key's rows, so the batch has one row per record of the source.
    side_units = " union all ".join(
        f"select pair, {side}_source as source, {side}_record_keys[1] as record_key, count(*) as n"
        f" from recon_intermediate.int_records_matched where run_id = {{run_id}}"
        f" and outcome in ('duplicate', 'near_duplicate') and {side}_record_count = 1"
        f" and not is_{side}_carried group by 1, 2, 3"
        for side in ("left", "right")
    )
    return Batch(
        spec,
        "results",
        f"duplicates_{source}",
        "record_key",
        (
            f"from (\n"
            f"  with dups as (select record_key, max(n) as n from ({side_units}) as units"
            f" where source = {_literal(source)} group by record_key)\n"
            f"  select r.record_key, false as is_duplicate from staging.records as r\n"
            f"  where r.spec = {{spec}} and r.run_id = {{run_id}} and r.source = {_literal(source)}\n"
            f"    and not exists (select from dups as d where d.record_key = r.record_key)\n"
            f"  union all\n"
            f"  select r.record_key, row_number() over (partition by r.record_key"
            f" order by r.occurred_at desc, r.origin desc, r.origin_line desc) <= d.n\n"
            f"  from staging.records as r join dups as d on d.record_key = r.record_key\n"
            f"  where r.spec = {{spec}} and r.run_id = {{run_id}} and r.source = {_literal(source)}\n"
            f") as records"
        ),
        materialize=True,
    )


def _pairs_batch(spec: str) -> Batch:
    counts = (
        "from staging.pair_settings as s\n"
        "cross join lateral (values ('left', s.left_source), ('right', s.right_source))"
        " as side (side, source)\n"
        "left join (select source, count(*) as n from staging.records"
        " where spec = {spec} and run_id = {run_id} group by source) as staged"
        " on staged.source = side.source\n"
        # Records an earlier run already reconciled, unchanged (window_overlap), are in no unit.
        "left join (select pair, side, count(*) as n"
        " from recon_intermediate.int_records_reconciled_earlier where run_id = {run_id}"
        " group by pair, side) as earlier on earlier.pair = s.pair and earlier.side = side.side\n"
        "left join (select pair, sum(left_record_count) filter (where not is_left_carried) as left_n,"
        " sum(right_record_count) filter (where not is_right_carried) as right_n"
        " from recon_intermediate.int_records_matched where run_id = {run_id} group by pair) as units"
        " on units.pair = s.pair\n"
        "left join (select pair, sum(left_record_count) as left_n, sum(right_record_count) as right_n"
        " from reconciliation.run_summary where run_id = {run_id} group by pair) as summary"
        " on summary.pair = s.pair\n"
        "where s.run_id = {run_id}"
    )
    return Batch(spec, "results", "pairs", "s.pair || ':' || side.side", counts, index_name="pair_side")


def _invariant_check(rule: Any) -> Check:
    staged = "(coalesce(staged.n, 0) - coalesce(earlier.n, 0))"
    if rule.rule == "accounted_once":
        other = "case side.side when 'left' then units.left_n else units.right_n end"
    else:
        other = "case side.side when 'left' then summary.left_n else summary.right_n end"
    # The difference from the records staged: 0 when the invariant holds.
    return Check(
        rule,
        None,
        rule.rule_name,
        f"coalesce({other}, 0) - {staged}",
        "expect_column_values_to_be_between",
        {"min_value": 0, "max_value": 0},
    )


def value(field_name: str, kind: str, alias: str = "r") -> str:
    """SQL for a rule's field in one of three types; text that is not a number or time reads as null."""
    if field_name in ("amount", "occurred_at"):
        native = "number" if field_name == "amount" else "time"
        if kind not in (native, "text"):
            raise ValueError(f"field {field_name!r} cannot be read as {kind}")
        return f"{alias}.{field_name}" if kind == native else f"{alias}.{field_name}::text"
    if field_name in _TEXT_FIELDS:
        text = f"nullif({alias}.{field_name}, '')"
    else:
        text = f"nullif({alias}.attributes ->> {_literal(field_name.removeprefix('attributes.'))}, '')"
    typed = {
        "text": text,
        "number": f"staging.try_numeric({text})",
        "time": f"staging.try_timestamptz({text})",
    }
    return typed[kind]


def _in_set(values: list[Any], rule: Any = None) -> tuple[str, dict[str, Any]]:
    return "expect_column_values_to_be_in_set", {"value_set": values, **(_mostly(rule) if rule else {})}


def _mostly(rule: Any) -> dict[str, Any]:
    # GX's mostly is the share that must pass; the spec's threshold is the share that may fail.
    return {"mostly": float(1 - rule.threshold)} if rule.threshold else {}


def _explain(rule: Any) -> str:
    text = " ".join((r.RULE_TYPES[rule.rule].__doc__ or rule.rule).split())
    field_name = getattr(rule, "field", None)
    return text.replace("The field", field_name, 1) if field_name else text


def _sql_value(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return _literal(str(item))


def _literal(text: str) -> str:
    return sql.Literal(text).as_string(None)


def _ident(text: str) -> str:
    return sql.Identifier(text).as_string(None)
