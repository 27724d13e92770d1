"""Reconciliation specs: one YAML file declares one reconciliation.

A spec is validated with pydantic when it is loaded, so a wrong or missing field fails at load time
with a message that names the file, the field and its line, before any DAG or task exists.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recon.corrections.config import CorrectionTarget
from recon.integrity.rules import RULE_TYPES, Rules
from recon.money import Currencies, declared_currency_problems
from recon.reconcile import Reconcile, parse_duration
from recon.sources.base import SourceConfig
from recon.sources.mapping import RecordMapping
from recon.sources.registry import source_models

NAME = r"^[a-z][a-z0-9_]*$"
Severity = Literal["critical", "warning"]


class SpecError(ValueError):
    """A spec file that cannot be used, with the file, field and line it is about."""


class _Strict(BaseModel):
    # Unknown keys are typos until proven otherwise: reject them instead of ignoring them.
    model_config = ConfigDict(extra="forbid", frozen=True)


# Every registered source type (one module each under recon.sources), told apart by ``type``.
SOURCE_TYPES: dict[str, type[SourceConfig]] = source_models()
Source = Annotated[Union[tuple(SOURCE_TYPES.values())], Field(discriminator="type")]  # noqa: UP007


EventSeverity = Literal["critical", "error", "warning", "info"]


class SlackAlert(_Strict):
    # An Airflow ``slackwebhook`` connection (the webhook URL's secret part is its password).
    connection: str = "slack_alerts"
    # Runs that found nothing (status ``success``) are posted too, in green.
    notify_on_success: bool = False
    # A task that fails after its retries (or at once on a critical rule) is posted, in red.
    on_failure: bool = True


class PagerDutyAlert(_Strict):
    # An Airflow ``http`` connection: host = Events API base URL, password = the routing key.
    connection: str = "pagerduty_alerts"
    # The event severity of a page for a critical run (reconcile.severity.critical_percent).
    severity: EventSeverity = "critical"
    on_failure: bool = True
    failure_severity: EventSeverity = "error"

    @model_validator(mode="before")
    @classmethod
    def _no_amount_threshold(cls, data: object) -> object:
        if isinstance(data, dict) and "min_discrepancy_amount" in data:
            raise ValueError(
                "min_discrepancy_amount: removed; PagerDuty pages when a pair and currency's discrepancy"
                " exceeds reconcile.severity.critical_percent (default 5) of its total"
            )
        return data


class Alerts(_Strict):
    slack: SlackAlert | None = None
    pagerduty: PagerDutyAlert | None = None
    # How many of the largest breaks (by amount at risk) a message lists.
    max_breaks_listed: Annotated[int, Field(ge=0, le=20)] = 5
    # The recon dashboard's base URL for links; else $RECON_DASHBOARD_URL, else <Airflow base URL>/recon.
    dashboard_url: Annotated[str, Field(pattern=r"^https?://")] | None = None


class Spec(_Strict):
    """One reconciliation: two sources, how to match them, when to run and whom to tell."""

    name: Annotated[str, Field(pattern=NAME)]
    description: str
    owner: str
    schedule: str
    # How far back before its window a run reads its sources, so a record that reaches a source after
    # the previous run read it is still reconciled; what an earlier run already reconciled, unchanged,
    # is not reconciled again (docs/matching.md, "Overlapping windows").
    window_overlap: Annotated[timedelta, Field(ge=timedelta(0), le=timedelta(days=7))] = timedelta(0)
    tags: list[str] = []
    retries: Annotated[int, Field(ge=0)] = 2
    retry_delay_seconds: Annotated[int, Field(ge=0)] = 60
    warehouse_connection: str = "recon_warehouse"
    # The spec's own currency codes and their decimals, for what ISO 4217 does not list (tokens, loyalty
    # points): {FLOW: 8, USDC: 6, ETH: 18, POINTS: 0}. Sources may name and carry them; an amount with
    # more decimals is quarantined; the default currency_iso_4217 rule accepts them (docs/sources.md).
    currencies: dict[str, Annotated[int, Field(ge=0, le=38)]] = {}
    # Per-record data (staging, record matches) of runs older than this is dropped; results are kept.
    retention_days: Annotated[int, Field(ge=1)] = 400
    sources: Annotated[list[Source], Field(min_length=2)]
    # Loaded like any source but never matched: what integrity rules look things up in (an events
    # table for orphaned sales, stored totals to recompute). A reference may map no amount nor
    # currency, and one whose query has no window placeholders is read whole every run.
    references: list[Source] = []
    # Which sources are reconciled against which, and how (recon/reconcile.py, docs/matching.md).
    # Left out with exactly two sources: the first against the second, by record_key.
    reconcile: Reconcile = Reconcile()
    # Integrity rules (Great Expectations), on top of the defaults (recon/integrity/rules.py).
    rules: Rules = Rules()
    alerts: Alerts = Alerts()
    # The system that is not the source of truth, and how recon may correct it (docs/operations.md).
    corrections: CorrectionTarget | None = None

    @field_validator("currencies")
    @classmethod
    def _currency_codes(cls, value: dict[str, int]) -> dict[str, int]:
        problems = declared_currency_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _sources_read_declared_currencies(self) -> Spec:
        # Each source reads the spec's codes (``recon.money.DeclaredCurrencies``); a fixed currency
        # must be one it can read.
        table = Currencies(self.currencies)
        problems = []
        for section, sources in (("sources", self.sources), ("references", self.references)):
            for index, source in enumerate(sources):
                if hasattr(source, "use_currencies"):
                    source.use_currencies(table)
                fixed = getattr(source, "currency", None)
                if isinstance(fixed, str) and not table.knows(fixed):
                    problems.append(
                        f"{section}.{index}.currency: {fixed!r} {table.unknown(fixed)};"
                        f" declare it with its decimals, e.g. currencies: {{{fixed.upper()}: 8}}"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def currency_table(self) -> Currencies:
        """ISO 4217 and the spec's declared codes, as every source of the spec reads them."""
        return Currencies(self.currencies)

    @field_validator("window_overlap", mode="before")
    @classmethod
    def _overlap_duration(cls, value: object) -> object:
        return parse_duration(value)

    @field_validator("window_overlap")
    @classmethod
    def _whole_seconds(cls, value: timedelta) -> timedelta:
        if value.microseconds:
            raise ValueError(f"window_overlap: whole seconds only, got {value}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_pair(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        if "match" in data:
            raise ValueError("match: replaced by the 'reconcile' section (docs/matching.md)")
        sources, reconcile = data.get("sources"), data.get("reconcile") or {}
        if not isinstance(reconcile, dict) or reconcile.get("pairs") or reconcile.get("balances"):
            return data
        if isinstance(sources, list) and len(sources) == 2 and all(isinstance(s, dict) for s in sources):
            pair = {"left": sources[0].get("name"), "right": sources[1].get("name")}
            return {**data, "reconcile": {**reconcile, "pairs": [pair]}}
        return data

    @model_validator(mode="after")
    def _pairs_name_sources(self) -> Spec:
        names = {source.name for source in self.sources}
        every = names | {source.name for source in self.references}
        problems = []
        if not self.reconcile.pairs and not self.reconcile.balances:
            problems.append("reconcile: with more than two sources, list the pairs to reconcile")
        for section in ("pairs", "balances"):
            for index, pair in enumerate(getattr(self.reconcile, section)):
                for side in ("left", "right"):
                    if getattr(pair, side) not in names:
                        problems.append(
                            f"reconcile.{section}.{index}.{side}: no source {getattr(pair, side)!r};"
                            f" the spec has {sorted(names)}"
                        )
        for index, rule in enumerate(self.reconcile.stuck):
            if rule.source not in names:
                problems.append(f"reconcile.stuck.{index}.source: no source {rule.source!r}")
        problems += _reconciled_source_problems(self.sources)
        problems += _rule_sources(self.rules, names, every)
        problems += _correction_problems(self)
        problems += _personal_key_problems(self)
        pair_names = [pair.pair_name for pair in self.pairs]
        if len(set(pair_names)) != len(pair_names):
            problems.append(f"reconcile: pair names must be unique, got {pair_names}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # A field validator (not a model one) so the error is located at 'sources' and gets its line.
    @field_validator("sources")
    @classmethod
    def _source_names_unique(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [source.name for source in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique, got {names}")
        return sources

    @model_validator(mode="after")
    def _reference_names_unique(self) -> Spec:
        names = [source.name for source in [*self.sources, *self.references]]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(
                f"references: names must differ from each other and the sources', {repeated} repeat"
            )
        return self

    @property
    def dag_id(self) -> str:
        return f"recon_{self.name}"

    @property
    def pairs(self) -> list:
        """Every reconciled pair: record pairs, then balance pairs."""
        return [*self.reconcile.pairs, *self.reconcile.balances]

    @property
    def loaded_sources(self) -> list[SourceConfig]:
        """Every source a run extracts: the reconciled ones, then the references."""
        return [*self.sources, *self.references]

    def source(self, name: str) -> SourceConfig:
        for source in self.loaded_sources:
            if source.name == name:
                return source
        names = sorted(source.name for source in self.loaded_sources)
        raise ValueError(f"spec {self.name!r} has no source {name!r}; it has {names}")


def _reconciled_source_problems(sources: list[SourceConfig]) -> list[str]:
    """What a reconciled source needs that a reference may do without: a window, money."""
    problems = []
    for index, source in enumerate(sources):
        if getattr(source, "reads_whole", False) and not getattr(source, "snapshot", False):
            problems.append(
                f"sources.{index}.query: a reconciled source must filter on the run window with"
                " %(window_start)s and %(window_end)s (>= start, < end); to read a table whole every"
                " run, set snapshot: true (only references are read whole without saying so)"
            )
        if isinstance(source, RecordMapping) and not source.maps_money:
            problems.append(
                f"sources.{index}.fields.amount: required for a reconciled source (matching compares"
                " amounts and currencies); only references may map no amount"
            )
    return problems


def _rule_sources(rules: Rules, reconciled: set[str], every: set[str]) -> list[str]:
    """Problems with the sources the spec's own rules name, located at the rule's field."""
    problems = []
    for index, rule in enumerate(rules.checks):
        where = f"rules.checks.{index}"
        for name in rule.sources or []:
            if name not in every:
                problems.append(
                    f"{where}.sources: no source or reference {name!r}; the spec has {sorted(every)}"
                )
        for part, model in (
            ("reference", getattr(rule, "reference", None)),
            ("lines", getattr(rule, "lines", None)),
        ):
            if model is not None and model.source not in every:
                problems.append(f"{where}.{part}.source: no source or reference {model.source!r}")
        if rule.rule == "no_duplicates" and set(rule.sources or []) - reconciled:
            problems.append(f"{where}.sources: no_duplicates reads the matching, so only reconciled sources")
    return problems


def load_spec(path: Path | str) -> Spec:
    """Read and validate one spec file; raise ``SpecError`` naming the file, field and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise SpecError(f"{path}: a spec must be a YAML mapping, got {type(document).__name__}")
    try:
        spec = Spec.model_validate(document)
    except ValidationError as exc:
        lines = _field_lines(text)
        problems = [_describe(error, lines) for error in exc.errors()]
        raise SpecError(f"{path}: invalid spec:\n  " + "\n  ".join(problems)) from None
    if spec.name != path.stem:
        line = _field_lines(text).get(("name",))
        where = f" (line {line})" if line else ""
        raise SpecError(
            f"{path}: field 'name'{where} is {spec.name!r} but must equal the file name {path.stem!r}"
        )
    return spec


def load_specs(directory: Path | str) -> list[Spec]:
    """Every ``*.yml`` spec in ``directory``, sorted by name."""
    return [load_spec(path) for path in sorted(Path(directory).glob("*.yml"))]


_LOCATED = re.compile(r"^Value error, ([a-z_][a-z0-9_.]*): (.*)$", re.S)


def _describe(error: dict, lines: dict[tuple[str, ...], int]) -> str:
    location = tuple(str(part) for part in error["loc"])
    # Discriminated unions put the tag in the location ("sources.1.sftp_csv.path",
    # "rules.checks.0.matches.pattern"): drop it.
    location = tuple(
        part
        for index, part in enumerate(location)
        if not (part in SOURCE_TYPES and index == 2 and location[0] in ("sources", "references"))
        and not (part in RULE_TYPES and index == 3 and location[:2] == ("rules", "checks"))
    )
    message = error["msg"]
    found = _LOCATED.match(message)
    if found and not location:
        # A cross-field check names its own location: "reconcile.pairs.0.left: ..."
        location, message = tuple(found.group(1).split(".")), found.group(2)
    elif found and len(location) == 2 and location[0] in ("sources", "references"):
        # A source's own check names the key inside it: "fields.occurred_at: ..."
        location, message = (*location, *found.group(1).split(".")), found.group(2)
    field = ".".join(location) or "(top level)"
    line = _nearest_line(location, lines)
    where = f" (line {line})" if line else ""
    return f"field '{field}'{where}: {message}"


def _nearest_line(location: tuple[str, ...], lines: dict[tuple[str, ...], int]) -> int | None:
    # A missing field has no line of its own: point at the nearest enclosing one that exists.
    for size in range(len(location), -1, -1):
        if location[:size] in lines:
            return lines[location[:size]]
    return None


def _field_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path in the YAML text to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, str(key.value))] = key.start_mark.line + 1
                walk(value, (*path, str(key.value)))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, (*path, str(index)))

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def _correction_problems(spec: Spec) -> list[str]:
    target = spec.corrections
    if target is None:
        return []
    names = {source.name for source in spec.sources}
    if target.source not in names:
        return [f"corrections.source: no source {target.source!r}; the spec has {sorted(names)}"]
    problems = []
    if not any(target.source in (pair.left, pair.right) for pair in spec.pairs):
        problems.append(
            f"corrections.source: {target.source!r} is in no reconcile pair, so nothing says its truth"
        )
    if target.connection == spec.source(target.source).connection:
        problems.append(
            "corrections.connection: must be a connection with write rights of its own, not the one"
            f" {target.source!r} is read through ({target.connection!r})"
        )
    return problems


def _personal_key_problems(spec: Spec) -> list[str]:
    """A field masked at load (``personal``) cannot be matched on: every masked phone number of the
    same last two digits reads ``***78``, so unrelated records would match. Refused, not hashed: a
    bare hash of a phone number is undone by hashing every number, so it would not be masking."""
    index = {source.name: position for position, source in enumerate(spec.sources)}
    problems = []
    for pair in spec.pairs:
        keys = pair.key_fields
        used = {"left": [*keys.left], "right": [*keys.right]}
        group = getattr(pair, "group", None)
        if group is not None:
            used[group.side].append(group.by)
        for rule in getattr(pair, "rules", []):
            if rule.reference != "any":
                used["left"].append("reference")
                used["right"].append("reference")
        compare = getattr(pair, "compare", None)
        for name in getattr(compare, "attributes", []):
            used["left"].append(f"attributes.{name}")
            used["right"].append(f"attributes.{name}")
        for side, fields in used.items():
            if getattr(pair, side) not in index:
                continue  # an unknown source, reported where the pair names it
            source = spec.sources[index[getattr(pair, side)]]
            is_personal = getattr(source, "is_personal", None)
            for field in dict.fromkeys(fields):
                if is_personal is not None and is_personal(field):
                    problems.append(
                        f"sources.{index[source.name]}.personal: {field} is matched on by pair"
                        f" {pair.pair_name!r}; a masked value would match unrelated records, so a field"
                        " recon matches on is stored as read: leave it out of personal"
                    )
    return problems
