"""The spec's ``rules`` section: integrity rules, each a field, a rule, a severity, a threshold and
what a failure does (``on_fail``).

Two settings, kept apart: ``severity`` says how loud a failed rule is (critical pages on-call, as a
critical run does), ``on_fail`` what happens to the run and the rows: ``stop`` the run, ``mark`` the
outcome and match the rows anyway, or ``quarantine`` the offending rows so they are not matched.

A rule is declared, never coded: ``recon.integrity.suites`` turns each into a Great Expectations
expectation over a query of the run's rows, and ``recon.integrity.validate`` runs them. Every spec gets
``DEFAULT_RULES`` unless it names one in ``rules.disable``; a spec rule with a default's name replaces
that default (to change its severity, threshold or on_fail). docs/integrity.md is the user's reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = r"^[a-z][a-z0-9_]*$"
# A rule's name names a column of its batch query: PostgreSQL cuts identifiers at 63 bytes, and the
# totals join's alias adds two characters.
MAX_NAME = 60
# A record field a rule may name: a canonical column, or one mapped attribute (``attributes.<name>``).
FIELD = (
    r"^(record_key|group_key|reference|customer_email|status|currency|amount|occurred_at"
    r"|attributes\.[A-Za-z0-9_.-]+)$"
)
FieldName = Annotated[str, Field(pattern=FIELD)]
Severity = Literal["critical", "high", "medium", "low"]
SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
# What a failed rule does: stop the run, mark its outcome (rows matched anyway), or move the offending
# rows to staging.quarantine before matching.
OnFail = Literal["stop", "mark", "quarantine"]
Checkpoint = Literal["staging", "results"]
# How the reason of every row a quarantine rule moves begins ("integrity rule x on s", "integrity rules
# x, y on s"); the extractors' reasons name a field or a file, never this.
QUARANTINE_REASON = "integrity rule"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _exact(value: object) -> object:
    # YAML reads 0.01 as a float: go through its text so thresholds and bounds stay exact.
    return str(value) if isinstance(value, float) else value


class _Rule(_Strict):
    """What every rule has. ``name`` defaults to ``<field>_<rule>`` (``quantity_positive``)."""

    name: Annotated[str | None, Field(pattern=NAME)] = None
    # How loud a failure is; never whether the run stops (that is on_fail).
    severity: Severity
    on_fail: OnFail = "mark"
    # The share of the checked rows (those with a value) that may break the rule and still pass.
    threshold: Annotated[Decimal, Field(ge=0, lt=1)] = Decimal("0")
    # The sources whose rows are checked; left out: every reconciled source (not reference sources).
    sources: list[str] | None = None
    description: str | None = None

    # Which checkpoint runs the rule: after load (staging) or after dbt (results).
    checkpoint: ClassVar[Checkpoint] = "staging"

    @field_validator("threshold", mode="before")
    @classmethod
    def _exact_threshold(cls, value: object) -> object:
        return _exact(value)

    @property
    def rule_name(self) -> str:
        field = getattr(self, "field", None)
        stem = field.removeprefix("attributes.").replace(".", "_").replace("-", "_") if field else None
        rule = self.rule  # type: ignore[attr-defined]
        return self.name or (f"{stem}_{rule}" if stem else rule)


class _FieldRule(_Rule):
    field: FieldName
    # The type the rule reads its field as: amount is never a time, occurred_at never a number.
    reads: ClassVar[str] = "text"

    @model_validator(mode="after")
    def _field_readable(self) -> _FieldRule:
        unreadable = {"number": "occurred_at", "time": "amount"}.get(self.reads)
        if self.field == unreadable:
            raise ValueError(f"{self.rule} reads a {self.reads}; {self.field} is not one")  # type: ignore[attr-defined]
        return self


class NotNull(_FieldRule):
    """The field has a value (empty text counts as missing)."""

    rule: Literal["not_null"]


class NotNegative(_FieldRule):
    """The field is a number >= 0."""

    reads: ClassVar[str] = "number"

    rule: Literal["not_negative"]


class Positive(_FieldRule):
    """The field is a number > 0."""

    reads: ClassVar[str] = "number"

    rule: Literal["positive"]


class Between(_FieldRule):
    """The field is a number within [min, max] (both inclusive; either may be left out)."""

    reads: ClassVar[str] = "number"

    rule: Literal["between"]
    min: Decimal | None = None
    max: Decimal | None = None

    @field_validator("min", "max", mode="before")
    @classmethod
    def _exact_bounds(cls, value: object) -> object:
        return _exact(value)

    @model_validator(mode="after")
    def _a_bound(self) -> Between:
        if self.min is None and self.max is None:
            raise ValueError("between needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Email(_FieldRule):
    """The field is one email address (something@domain.tld, no spaces)."""

    rule: Literal["email"]


class Matches(_FieldRule):
    """The field matches a regular expression (PostgreSQL's POSIX syntax, unanchored)."""

    rule: Literal["matches"]
    pattern: Annotated[str, Field(min_length=1)]

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        # Python's syntax is close enough to PostgreSQL's to catch a broken pattern at load time.
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        if "(?P" in pattern or "(?<" in pattern:
            raise ValueError("PostgreSQL regular expressions have no named groups or lookbehind")
        return pattern


class InSet(_FieldRule):
    """The field is one of the listed values (compared as text)."""

    rule: Literal["in_set"]
    values: Annotated[list[str], Field(min_length=1)]

    @field_validator("values", mode="before")
    @classmethod
    def _as_text(cls, values: object) -> object:
        return [str(value) for value in values] if isinstance(values, list) else values


class CurrencyCode(_FieldRule):
    """The field is an active ISO 4217 currency code or one the spec declares (upper case)."""

    rule: Literal["currency_code"]


class NotFuture(_FieldRule):
    """The field is a time no later than the moment of the check."""

    reads: ClassVar[str] = "time"

    rule: Literal["not_future"]


class InWindow(_FieldRule):
    """The field is a time inside the run's window [start, end)."""

    reads: ClassVar[str] = "time"

    rule: Literal["in_window"]


class Unique(_FieldRule):
    """No two of the source's rows in the run have the same value."""

    rule: Literal["unique"]


class Parent(_Strict):
    source: str
    field: FieldName = "record_key"


class ExistsIn(_FieldRule):
    """Orphans: the field's value exists in ``reference.field`` of another source's rows in the run."""

    rule: Literal["exists_in"]
    reference: Parent


class Lines(_Strict):
    source: str
    field: FieldName = "amount"
    by: FieldName

    @field_validator("field")
    @classmethod
    def _a_number(cls, field: str) -> str:
        if field == "occurred_at":
            raise ValueError("lines are summed: occurred_at is not a number")
        return field


class Totals(_FieldRule):
    """A stored total (``field``) equals the sum of its lines' ``lines.field``, grouped by ``lines.by``
    and joined on ``key``, within ``tolerance`` (inclusive). A total with no lines is compared to 0."""

    reads: ClassVar[str] = "number"

    rule: Literal["totals"]
    key: FieldName = "record_key"
    lines: Lines
    tolerance: Annotated[Decimal, Field(ge=0)] = Decimal("0")

    @field_validator("tolerance", mode="before")
    @classmethod
    def _exact_tolerance(cls, value: object) -> object:
        return _exact(value)


class NoDuplicates(_Rule):
    """The matching engine classed none of the source's records ``duplicate`` or ``near_duplicate``."""

    rule: Literal["no_duplicates"]
    checkpoint: ClassVar[Checkpoint] = "results"

    @model_validator(mode="after")
    def _marks_only(self) -> NoDuplicates:
        # Its rows are matched already (they are the duplicate breaks): there is nothing to move, and a
        # repeat is a finding of the reconciliation, not a reason to distrust it.
        if self.on_fail != "mark":
            raise ValueError("no_duplicates reads the matching's results: on_fail can only be mark")
        return self


class _Invariant(_Rule):
    """An invariant of the run's results, checked per pair and side; it takes no threshold."""

    checkpoint: ClassVar[Checkpoint] = "results"
    # Results that lose or double a record cannot be trusted: publishing them is never an option.
    on_fail: OnFail = "stop"

    @model_validator(mode="after")
    def _exact_invariant(self) -> _Invariant:
        if self.threshold or self.sources is not None:
            raise ValueError(f"{self.rule} is an invariant of the results: it takes no threshold or sources")  # type: ignore[attr-defined]
        if self.on_fail != "stop":
            raise ValueError(f"{self.rule} is an invariant of the results: on_fail can only be stop")  # type: ignore[attr-defined]
        return self


class AccountedOnce(_Invariant):
    """Each pair side's records of the run sit in the run's units exactly once (none lost or doubled)."""

    rule: Literal["accounted_once"]


class CountsAddUp(_Invariant):
    """The run summary's record counts, over every class, equal the records extracted per pair side."""

    rule: Literal["counts_add_up"]


Rule = Annotated[
    Union[  # noqa: UP007
        NotNull,
        NotNegative,
        Positive,
        Between,
        Email,
        Matches,
        InSet,
        CurrencyCode,
        NotFuture,
        InWindow,
        Unique,
        ExistsIn,
        Totals,
        NoDuplicates,
        AccountedOnce,
        CountsAddUp,
    ],
    Field(discriminator="rule"),
]
# Each kind's model by its ``rule`` value (the union's members, each with a one-value Literal).
RULE_TYPES: dict[str, type[_Rule]] = {
    get_args(model.model_fields["rule"].annotation)[0]: model for model in get_args(get_args(Rule)[0])
}

# Every spec's rules unless its ``rules.disable`` names them. Only the invariants stop a run; the others
# mark their outcome (and are loud by their severity).
DEFAULT_RULES: tuple[_Rule, ...] = (
    NotNull(rule="not_null", field="record_key", severity="critical"),
    NotNegative(rule="not_negative", field="amount", severity="critical"),
    CurrencyCode(rule="currency_code", name="currency_iso_4217", field="currency", severity="critical"),
    Email(rule="email", name="customer_email_format", field="customer_email", severity="medium"),
    NotFuture(rule="not_future", field="occurred_at", severity="high"),
    InWindow(rule="in_window", field="occurred_at", severity="low"),
    NoDuplicates(rule="no_duplicates", name="no_duplicates", severity="low"),
    AccountedOnce(rule="accounted_once", name="records_accounted_once", severity="critical"),
    CountsAddUp(rule="counts_add_up", name="counts_add_up", severity="critical"),
)
DEFAULT_NAMES = tuple(rule.rule_name for rule in DEFAULT_RULES)
# Defaults that fit only some sources: left without ``sources`` (as a default, or redefined under its
# name), such a rule checks the reconciled sources this says yes to. A negative amount is normal where
# amounts are signed (refunds, debits); a record selected by another key (the transactions a payout
# settles) may lie anywhere in time.
DEFAULT_SCOPES: dict[str, Callable[[Any], bool]] = {
    "amount_not_negative": lambda source: not source.has_signed_amounts,
    "occurred_at_in_window": lambda source: source.windowed_by_occurred_at,
}


class Rules(_Strict):
    """The ``rules`` section: default rules to turn off, and the spec's own rules."""

    disable: list[str] = []
    checks: list[Rule] = []

    @field_validator("disable")
    @classmethod
    def _known_defaults(cls, names: list[str]) -> list[str]:
        unknown = sorted(set(names) - set(DEFAULT_NAMES))
        if unknown:
            raise ValueError(f"no default rule {unknown}; the defaults are {list(DEFAULT_NAMES)}")
        return names

    @field_validator("checks")
    @classmethod
    def _names_unique(cls, checks: list[_Rule]) -> list[_Rule]:
        names = [rule.rule_name for rule in checks]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if too_long := sorted(name for name in names if len(name) > MAX_NAME):
            raise ValueError(
                f"rule names {too_long} are over {MAX_NAME} characters: give them a shorter name"
            )
        if "record_key" in names:
            raise ValueError("'record_key' cannot name a rule: it is the column that identifies a row")
        if repeated:
            raise ValueError(f"rule names must be unique, {repeated} repeat: give each rule its own name")
        return checks

    def effective(self) -> list[_Rule]:
        """The rules a run checks: the defaults left on (unless replaced), then the spec's own."""
        own = {rule.rule_name for rule in self.checks}
        kept = [
            rule for rule in DEFAULT_RULES if rule.rule_name not in own and rule.rule_name not in self.disable
        ]
        return [*kept, *self.checks]


def checked_sources(rule: _Rule, reconciled: list[Any]) -> list[str]:
    """The sources ``rule`` checks: those it names, else every reconciled source its scope admits."""
    if rule.sources:
        return list(rule.sources)
    admits = DEFAULT_SCOPES.get(rule.rule_name, lambda source: True)
    return [source.name for source in reconciled if admits(source)]
