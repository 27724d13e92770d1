"""The spec's ``reconcile`` section: which sources are reconciled against which, and how.

Everything here is declarative: the models validate the YAML, and ``pair_settings`` flattens each pair
into one row that the run writes to ``staging.pair_settings``. The dbt models read that row, so a new
reconciliation needs no SQL (docs/matching.md describes the semantics these settings drive).
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recon.key_forms import KeyForm
from recon.recommendations import BalanceHintKey, Hint, PairHintKey

# What a spec may rate per class (``severity.classes``): a hint key (a break class, or ``missing`` on
# one side) of a record pair or of a balance pair. ``critical``: every such new break is critical and
# pages; ``warning``: such a break is never critical and its discrepancy is left out of the percentage
# rule (docs/matching.md, "Status, severity and the run's tolerance").
SeverityClass = PairHintKey | BalanceHintKey
ClassSeverity = Literal["critical", "warning"]

NAME = r"^[a-z][a-z0-9_]*$"
# A record field a setting may name: a canonical column, or one mapped attribute.
CANONICAL_FIELDS = ("record_key", "group_key", "reference", "customer_email", "status", "currency")
FIELD = r"^(record_key|group_key|reference|customer_email|status|currency|attributes\.[A-Za-z0-9_.-]+)$"
FieldName = Annotated[str, Field(pattern=FIELD)]
MAX_KEY_FIELDS = 3
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_duration(value: object) -> object:
    """``90s``, ``5m``, ``2h``, ``3d`` (or a number of seconds, or ISO 8601) as a timedelta."""
    if isinstance(value, str) and (found := _DURATION.match(value)):
        return timedelta(seconds=float(found.group(1)) * _UNIT_SECONDS[found.group(2)])
    return value


def exact(value: object) -> object:
    """YAML reads 0.1 as a float: go through its text so a tolerance stays exact."""
    return str(value) if isinstance(value, float) else value


Duration = Annotated[timedelta, Field(ge=timedelta(0))]
Amount = Annotated[Decimal, Field(ge=0)]


class _Exact(_Strict):
    @field_validator("*", mode="before")
    @classmethod
    def _exact_and_durations(cls, value: object) -> object:
        return parse_duration(exact(value))


class Keys(_Exact):
    """The fields that form the shared key on each side (composite keys: up to three fields)."""

    left: Annotated[list[FieldName], Field(min_length=1, max_length=MAX_KEY_FIELDS)]
    right: Annotated[list[FieldName], Field(min_length=1, max_length=MAX_KEY_FIELDS)]

    @model_validator(mode="after")
    def _same_length(self) -> Keys:
        if len(self.left) != len(self.right):
            raise ValueError(f"left has {len(self.left)} key fields but right has {len(self.right)}")
        return self


class FallbackRule(_Exact):
    """Matches records left without a key match: amount close, time close, reference related."""

    name: Annotated[str, Field(pattern=NAME)]
    amount_tolerance: Amount = Decimal("0")
    time_drift: Duration = timedelta(hours=1)
    # equal: the same text; contains: one contains the other; close: equal once case, spaces and
    # punctuation are ignored; any: the reference is not looked at.
    reference: Literal["equal", "contains", "close", "any"] = "any"


class AmountCompare(_Exact):
    """A matched amount within either tolerance (inclusive) is ``matched_within_tolerance``."""

    tolerance: Amount = Decimal("0")
    tolerance_percent: Amount = Decimal("0")


class StatusCompare(_Strict):
    """Both sides' statuses are mapped to one vocabulary, then compared; unmapped values stay as is."""

    left: dict[str, str] = {}
    right: dict[str, str] = {}


class Compare(_Exact):
    amount: AmountCompare = AmountCompare()
    # Off by default: most sources spell statuses differently; give the mapping to compare them.
    status: StatusCompare | None = None
    attributes: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]] = []


class PendingRule(_Exact):
    """Records of ``side`` (in one of ``statuses``, when given) at most ``within`` before the window's
    end are ``pending``: a lone one is not yet missing; a matched pair with a record in a listed
    (transitional) status is not yet judged."""

    side: Literal["left", "right", "both"] = "both"
    statuses: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] | None = None
    within: Annotated[timedelta, Field(gt=timedelta(0))]


class Timing(_Exact):
    # A matched pair whose times differ by more than this is ``late``; null = never late.
    late_after: Duration | None = None
    # Shorthand for ``pending: [{side: both, within: <this>}]``: any lone record this close to the
    # window's end is ``pending`` rather than ``missing``, whatever its status.
    settlement_window: Duration = timedelta(0)
    pending: list[PendingRule] = []

    def pending_rules(self) -> list[PendingRule]:
        """``pending`` with ``settlement_window`` as one more rule (both sides, any status)."""
        shorthand = [PendingRule(within=self.settlement_window)] if self.settlement_window else []
        return [*shorthand, *self.pending]

    def pending_settings(self, side: Literal["left", "right"]) -> tuple[timedelta, dict[str, float] | None]:
        """For one side: how long a lone record of any status is held, and per listed status how long
        (in seconds) a record in it is held, lone or matched; a status several rules list takes the
        longest."""
        rules = [rule for rule in self.pending_rules() if rule.side in (side, "both")]
        any_status = max((rule.within for rule in rules if rule.statuses is None), default=timedelta(0))
        statuses: dict[str, float] = {}
        for rule in rules:
            for status in rule.statuses or ():
                statuses[status] = max(statuses.get(status, 0.0), rule.within.total_seconds())
        return any_status, statuses or None


class NearDuplicates(_Exact):
    """A record without a key match is a near-duplicate of an earlier record on its side with the
    same values in ``fields``, an amount within ``amount_tolerance`` and a time within ``within``."""

    fields: Annotated[list[FieldName], Field(min_length=1, max_length=MAX_KEY_FIELDS)] = ["customer_email"]
    within: Duration = timedelta(minutes=5)
    amount_tolerance: Amount = Decimal("0")


class Duplicates(_Exact):
    # A later record of a key repeated on one side, whose key the other side has, is a ``duplicate``
    # when it has the kept (earliest) record's currency and amount and is at most this long after it;
    # a later record that differs goes on to the fallback rules (docs/matching.md, repeated keys).
    copy_within: Duration = timedelta(minutes=5)
    near: NearDuplicates | None = NearDuplicates()


class Group(_Strict):
    """N:1 and 1:N: one side's records are summed per ``by`` value, and the sum is matched as one."""

    side: Literal["left", "right"]
    by: FieldName = "group_key"


class Stuck(_Exact):
    """A record of ``source`` in one of ``statuses`` and older than ``older_than`` is ``stuck``."""

    source: str
    statuses: Annotated[list[str], Field(min_length=1)]
    older_than: Duration


class PairSeverity(_Exact):
    """A pair's own severity settings, laid over the spec's ``reconcile.severity`` key by key."""

    critical_percent: Amount | None = None
    min_amount: Amount | None = None
    classes: dict[PairHintKey, ClassSeverity] = {}


class BalanceSeverity(PairSeverity):
    classes: dict[BalanceHintKey, ClassSeverity] = {}


class Pair(_Exact):
    """Two sources reconciled record by record (or group by group)."""

    left: str
    right: str
    name: Annotated[str | None, Field(pattern=NAME)] = None
    keys: Keys | list[FieldName] = ["record_key"]
    rules: list[FallbackRule] = []
    compare: Compare = Compare()
    timing: Timing = Timing()
    duplicates: Duplicates = Duplicates()
    group: Group | None = None
    # The team's own sentence per break class, added to the run's recommendation for it (docs/alerts.md).
    hints: dict[PairHintKey, Hint] = {}
    # How both sides' key fields are normalised before matching; replaces the sources' own key_form.
    key_form: KeyForm | None = None
    severity: PairSeverity = PairSeverity()

    @field_validator("keys", mode="before")
    @classmethod
    def _keys(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _distinct(self) -> Pair:
        if self.left == self.right:
            raise ValueError(f"a pair needs two different sources, got {self.left!r} twice")
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"rule names must be unique within a pair, got {names}")
        if self.group and len(self.key_fields.left) != 1:
            raise ValueError("a grouped pair matches on one field: give the other side one key field")
        return self

    @property
    def pair_name(self) -> str:
        return self.name or f"{self.left}_vs_{self.right}"

    @property
    def key_fields(self) -> Keys:
        if isinstance(self.keys, Keys):
            return self.keys
        if len(self.keys) > MAX_KEY_FIELDS:
            raise ValueError(f"at most {MAX_KEY_FIELDS} key fields")
        return Keys(left=list(self.keys), right=list(self.keys))


Side = Literal["left", "right"]


class Balance(_Exact):
    """Per-entity balances: each side's balance of an entity compared, to ``tolerance``.

    A side either sums its records per entity (a ledger's entries) or holds one row per entity (a
    balance table, a balance snapshot). On a one-row side an entity listed twice is a ``duplicate``
    (the later rows), never a sum: summing would turn a repeated row into a doubled balance.
    """

    left: str
    right: str
    name: Annotated[str | None, Field(pattern=NAME)] = None
    entity: Keys | list[FieldName] = ["record_key"]
    # The sides whose records are summed per entity. Left out: a side whose entity fields include
    # group_key sums (the entries of a group), any other side holds one row per entity.
    sums: Annotated[list[Side], Field(max_length=2)] | None = None
    tolerance: Amount = Decimal("0")
    hints: dict[BalanceHintKey, Hint] = {}
    # How both sides' entity fields are normalised before matching; replaces the sources' own key_form.
    key_form: KeyForm | None = None
    severity: BalanceSeverity = BalanceSeverity()

    @field_validator("entity", mode="before")
    @classmethod
    def _entity(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("sums")
    @classmethod
    def _sides_once(cls, sums: list[str] | None) -> list[str] | None:
        if sums is not None and len(set(sums)) != len(sums):
            raise ValueError(f"name each side once, got {sums}")
        return sums

    @property
    def summed_sides(self) -> tuple[str, ...]:
        """The sides summed per entity, as declared or by default (see ``sums``)."""
        if self.sums is not None:
            return tuple(side for side in ("left", "right") if side in self.sums)
        keys = self.key_fields
        return tuple(side for side in ("left", "right") if "group_key" in getattr(keys, side))

    @property
    def group_side(self) -> str | None:
        """``staging.pair_settings.group_side``: the summed sides (``both``, one, or none)."""
        sides = self.summed_sides
        return "both" if len(sides) == 2 else (sides[0] if sides else None)

    @property
    def pair_name(self) -> str:
        return self.name or f"{self.left}_vs_{self.right}_balances"

    @property
    def key_fields(self) -> Keys:
        if isinstance(self.entity, Keys):
            return self.entity
        return Keys(left=list(self.entity), right=list(self.entity))


class Severity(_Exact):
    # A break, or a run, whose discrepancy exceeds this percent of its base volume is critical.
    critical_percent: Amount = Decimal("5")
    # Per pair and currency, in that currency's units: a discrepancy below this is never critical.
    min_amount: Amount = Decimal("0")
    # Per class, for every pair: critical (always pages) or warning (never critical).
    classes: dict[SeverityClass, ClassSeverity] = {}


class Reconcile(_Exact):
    pairs: list[Pair] = []
    balances: list[Balance] = []
    stuck: list[Stuck] = []
    # A run whose discrepancy is at most this percent of the total is ``success`` (breaks still kept).
    tolerance_percent: Amount = Decimal("0")
    severity: Severity = Severity()


def pair_settings(reconcile: Reconcile) -> list[dict[str, Any]]:
    """One flat row per pair (and per balance), as ``staging.pair_settings`` stores it."""
    stuck = {rule.source: rule for rule in reconcile.stuck}
    rows = []
    for pair in reconcile.pairs:
        keys = pair.key_fields
        if pair.group:  # the grouped side is keyed by what it is grouped by
            side_keys = {"left": keys.left, "right": keys.right, pair.group.side: [pair.group.by]}
            keys = Keys.model_construct(**side_keys)
        near = pair.duplicates.near
        rules = [rule.model_dump(mode="python") for rule in pair.rules]
        rows.append(
            _row(
                pair.pair_name, "records", pair.left, pair.right, keys, stuck, reconcile,
                amount_tolerance=pair.compare.amount.tolerance,
                amount_tolerance_percent=pair.compare.amount.tolerance_percent,
                status_left=pair.compare.status.left if pair.compare.status else None,
                status_right=pair.compare.status.right if pair.compare.status else None,
                compare_attributes=list(pair.compare.attributes),
                late_after=pair.timing.late_after,
                settlement_window=pair.timing.settlement_window,
                **_pending(pair.timing),
                **_severity(reconcile.severity, pair.severity),
                copy_within=pair.duplicates.copy_within,
                near_fields=list(near.fields) if near else None,
                near_within=near.within if near else None,
                near_amount_tolerance=near.amount_tolerance if near else None,
                group_side=pair.group.side if pair.group else None,
                rules=rules,
            )
        )  # fmt: skip
    for balance in reconcile.balances:
        rows.append(
            _row(
                balance.pair_name, "balances", balance.left, balance.right, balance.key_fields, stuck,
                reconcile, amount_tolerance=balance.tolerance, group_side=balance.group_side,
                near_fields=None, **_severity(reconcile.severity, balance.severity),
            )
        )  # fmt: skip
    return rows


def _row(name, kind, left, right, keys: Keys, stuck, reconcile: Reconcile, **settings) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "amount_tolerance": Decimal(0), "amount_tolerance_percent": Decimal(0), "status_left": None,
        "status_right": None, "compare_attributes": [], "late_after": None,
        "settlement_window": timedelta(0), "copy_within": timedelta(0), "near_fields": None,
        "near_within": None, "near_amount_tolerance": None, "group_side": None, "rules": [],
        "left_pending_within": timedelta(0), "left_pending_statuses": None,
        "right_pending_within": timedelta(0), "right_pending_statuses": None,
        "critical_percent": reconcile.severity.critical_percent,
        "critical_min_amount": reconcile.severity.min_amount, "class_severity": None,
    }  # fmt: skip
    row = {
        "pair": name,
        "kind": kind,
        "left_source": left,
        "right_source": right,
        "left_keys": list(keys.left),
        "right_keys": list(keys.right),
        **defaults,
        **settings,
        "left_stuck_statuses": stuck[left].statuses if left in stuck else None,
        "left_stuck_after": stuck[left].older_than if left in stuck else None,
        "right_stuck_statuses": stuck[right].statuses if right in stuck else None,
        "right_stuck_after": stuck[right].older_than if right in stuck else None,
        "tolerance_percent": reconcile.tolerance_percent,
    }
    return row


def _pending(timing: Timing) -> dict[str, Any]:
    left_within, left_statuses = timing.pending_settings("left")
    right_within, right_statuses = timing.pending_settings("right")
    return {
        "left_pending_within": left_within, "left_pending_statuses": left_statuses,
        "right_pending_within": right_within, "right_pending_statuses": right_statuses,
    }  # fmt: skip


def _severity(spec_wide: Severity, own: PairSeverity) -> dict[str, Any]:
    """The pair's severity settings: its own where it sets them, else the spec's."""
    classes = {**spec_wide.classes, **own.classes}
    percent, floor = own.critical_percent, own.min_amount
    return {
        "critical_percent": spec_wide.critical_percent if percent is None else percent,
        "critical_min_amount": spec_wide.min_amount if floor is None else floor,
        "class_severity": classes or None,
    }
