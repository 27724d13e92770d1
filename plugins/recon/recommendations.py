"""Actionable sentences derived from a run's breaks: what was found, and what to check or do about it.

A pure function of counted findings, so the wording is tested exactly and the runs table, Slack and
the page all say the same thing. What to check depends on the class and on the kind of each
source (a Stripe API, another API, a file drop, an application database): a bank statement is never
told to check webhook delivery, a ticketing platform never told to check partial captures. A spec
can add its own sentence per class (``reconcile.pairs[].hints``); it is appended to the generic one.
The rules are written out in docs/alerts.md ("What the recommendations say").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import StringConstraints

from recon.masking import mask_text
from recon.sources.base import FileSource

if TYPE_CHECKING:
    from recon.spec import Spec

# The kinds of source the wording tells apart. Stripe types keep their own name (a payout is not a
# charge); the other types fall into what a reader checks on them.
GENERIC = "generic"
_KIND_OF_TYPE = {"rest": "api", "graphql": "api", "sftp_csv": "file", "postgres": "database"}

# What ``reconcile.pairs[].hints`` (and ``balances[].hints``) may be keyed by: a break class the pair
# can report, or ``missing`` for one side only.
PairHintKey = Literal[
    "missing", "missing_in_left", "missing_in_right", "amount_mismatch", "currency_mismatch",
    "status_mismatch", "attribute_mismatch", "late", "duplicate", "near_duplicate", "group_mismatch",
    "stuck", "unreadable",
]  # fmt: skip
BalanceHintKey = Literal["missing", "missing_in_left", "missing_in_right", "balance_mismatch",
                         "currency_mismatch", "unreadable"]  # fmt: skip
Hint = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


def source_kind(source: Any) -> str:
    """``stripe_charges`` (any ``stripe_*`` type as it is), ``api``, ``file``, ``database`` or ``generic``."""
    kind = source.type if source.type.startswith("stripe_") else _KIND_OF_TYPE.get(source.type)
    return kind or ("file" if isinstance(source, FileSource) else GENERIC)


@dataclass(frozen=True)
class BalanceWords:
    """How a balance pair is told: what it calls its entity, what each side holds and which side the
    spec's corrections take as the truth.

    A side whose entity is its ``record_key`` holds one row per entity: a stored **balance**. A side
    whose entity is another field (``group_key``, an attribute) holds **entries**, summed per entity.
    """

    entity: str = "entity"  # the entity field's own name in the source (``user_id``), else "entity"
    left_holds: Literal["balance", "entries"] = "balance"
    right_holds: Literal["balance", "entries"] = "balance"
    truth: str | None = None  # the source of truth, when the spec's corrections name the other side
    correctable: bool = False  # the corrections may fix balance mismatches (``classes``)


@dataclass(frozen=True)
class PairWords:
    """What the spec says about one pair that the sentences (and the alerts' break lines) use."""

    hints: Mapping[str, str] = field(default_factory=dict)
    status_left: Mapping[str, str] = field(default_factory=dict)
    status_right: Mapping[str, str] = field(default_factory=dict)
    near_fields: tuple[str, ...] = ()
    near_within: timedelta | None = None
    near_amount_tolerance: Decimal = Decimal(0)
    balance: BalanceWords | None = None  # a balance pair's words; None for a pair of records


@dataclass(frozen=True)
class Words:
    """The spec's side of the wording: each source's kind, and each pair's words by pair name."""

    kinds: Mapping[str, str] = field(default_factory=dict)
    pairs: Mapping[str, PairWords] = field(default_factory=dict)


def spec_words(spec: Spec) -> Words:
    pairs = {}
    for pair in spec.reconcile.pairs:
        status, near = pair.compare.status, pair.duplicates.near
        pairs[pair.pair_name] = PairWords(
            hints=dict(pair.hints),
            status_left=dict(status.left) if status else {},
            status_right=dict(status.right) if status else {},
            near_fields=tuple(near.fields) if near else (),
            near_within=near.within if near else None,
            near_amount_tolerance=near.amount_tolerance if near else Decimal(0),
        )
    for balance in spec.reconcile.balances:
        pairs[balance.pair_name] = PairWords(hints=dict(balance.hints), balance=balance_words(spec, balance))
    return Words({source.name: source_kind(source) for source in spec.sources}, pairs)


def balance_words(spec: Spec, balance: Any) -> BalanceWords:
    """A balance pair's words from the spec: its entity named as the balance side's source names it
    (the column or path its entity field is mapped from, ``user_id``), each side's holding, and the
    truth when the spec's corrections target one of its two sources."""
    keys = balance.key_fields
    holds = {side: "balance" if fields == ["record_key"] else "entries"
             for side, fields in (("left", keys.left), ("right", keys.right))}  # fmt: skip
    named = "left" if holds["left"] == "balance" or holds["right"] != "balance" else "right"
    source = next((s for s in spec.sources if s.name == getattr(balance, named)), None)
    entity = " / ".join(_field_name(source, name) for name in getattr(keys, named))
    target = spec.corrections
    truth = None
    if target is not None and target.source in (balance.left, balance.right):
        truth = balance.right if target.source == balance.left else balance.left
    return BalanceWords(
        entity=entity or "entity",
        left_holds=holds["left"],
        right_holds=holds["right"],
        truth=truth,
        correctable=truth is not None and "balance_mismatch" in target.classes,
    )


def _field_name(source: Any, name: str) -> str:
    """What a source calls a canonical field: ``attributes.wallet`` is ``wallet``; ``record_key``
    mapped from ``user_id`` (or ``data.user.id``) is ``user_id`` (``id``); unmapped, empty."""
    if name.startswith("attributes."):
        return name.removeprefix("attributes.")
    mapped = getattr(getattr(source, "fields", None), name, None)
    return mapped.rsplit(".", 1)[-1] if isinstance(mapped, str) and mapped else ""


@dataclass(frozen=True)
class Finding:
    """The breaks of one class in one pair (for lone records, on one side)."""

    pair: str
    left_source: str
    right_source: str
    break_class: str
    count: int
    missing_in: str | None = None
    statuses: tuple[str, ...] = ()  # for stuck records: the statuses they are stuck in
    left_kind: str = GENERIC
    right_kind: str = GENERIC
    side: str | None = None  # lone records (duplicates, stuck): the source they are in
    fields: tuple[tuple[str, int], ...] = ()  # attribute mismatches: (field, records), most first
    status_pairs: tuple[tuple[str, str, int], ...] = ()  # (left word, right word, records), most first
    near: PairWords | None = None  # near duplicates: what made them look alike
    balance: BalanceWords | None = None  # a balance pair's: the entity, each side's holding, the truth
    reasons: tuple[str, ...] = ()  # unreadable: why the other side's records were quarantined
    hint: str | None = None  # the spec's own sentence for this class

    def kind(self, source: str | None) -> str:
        if source == self.left_source:
            return self.left_kind
        return self.right_kind if source == self.right_source else GENERIC


def _records(count: int) -> str:
    return f"{count} record{'s' if count != 1 else ''}"


def _counted(finding: Finding, count: int) -> str:
    """``3 records``; a balance pair counts entities, named as its spec does: ``3 entities (user_id)``."""
    if finding.balance is None:
        return _records(count)
    named = f" ({finding.balance.entity})" if finding.balance.entity != "entity" else ""
    return f"{count} {'entity' if count == 1 else 'entities'}{named}"


def _are(count: int) -> str:
    return "is" if count == 1 else "are"


def _stripe(kind: str) -> bool:
    return kind.startswith("stripe_")


# Per class, what to check on a source of each kind; ``{name}`` is the source (or both, when both
# sides are of one kind). A kind without a phrase says nothing of its own.
_CHECKS = {
    "amount_mismatch": {
        "stripe_charges": "fees, partial captures and refunds in {name}",
        "stripe_refunds": "partial refunds and refund fees in {name}",
        "stripe_payouts": "fees, refunds and adjustments netted into the payouts in {name}",
        "stripe_balance_transactions": "fees and net against gross amounts in {name}",
        "file": "charges deducted and the amount format of {name}'s file (separators, major or minor units)",
        "database": "rounding, discounts and later edits of the rows in {name}",
        "api": "discounts, fees and partial refunds in {name}",
    },
    "currency_mismatch": {
        "stripe_": "presentment against settlement currency in {name}",
        "file": "the currency {name}'s file states (or the currency the spec sets for it)",
        "database": "the currency column {name} writes",
        "api": "the currency field {name} returns",
    },
    "late": {
        "stripe_charges": "webhook delays from {name} (Stripe's webhook log)",
        "stripe_refunds": "webhook delays from {name} (Stripe's webhook log)",
        "stripe_payouts": "the payouts' arrival date against their creation in {name}",
        "stripe_balance_transactions": "when each transaction became available against its creation ({name})",
        "file": "the booking date in {name}'s file (booking against value date, weekends, its time zone)",
        "database": "delayed writes or sync jobs into {name}",
        "api": "which time {name} returns (created, paid or updated) and its time zone",
    },
}
_GENERIC_CHECKS = {
    "amount_mismatch": "fees, discounts, refunds and rounding",
    "currency_mismatch": "the currency each side records (presentment against settlement, export mapping)",
    "late": "delayed processing or clock problems",
}


def _checks(finding: Finding) -> str:
    """Each side's phrase for the class; one phrase naming both sides when they share it."""
    phrases = _CHECKS[finding.break_class]
    named: dict[str, list[str]] = {}
    for kind, name in ((finding.left_kind, finding.left_source), (finding.right_kind, finding.right_source)):
        text = phrases.get(kind) or (phrases.get("stripe_") if _stripe(kind) else None)
        if text:
            named.setdefault(text, []).append(name)
    said = [text.format(name=" and ".join(names)) for text, names in named.items()]
    return "; ".join(said) if said else _GENERIC_CHECKS[finding.break_class]


def _missing(finding: Finding, n: int) -> str:
    absent = finding.missing_in or finding.right_source
    present = finding.left_source if absent == finding.right_source else finding.right_source
    them, kind = ("it" if n == 1 else "them"), finding.kind(absent)
    checks = {
        "file": f"that {absent}'s file for the window arrived complete (every line, none quarantined) and the"
        " date each line is booked on (a line booked a day later is in the next file)",
        "database": f"that the application wrote {them} to {absent} (failed writes, a stopped sync or"
        f" replication job), and write the missing {'row' if n == 1 else 'rows'}",
        "api": f"that {absent}'s API returns {them} for the window (its date filter, paging and time zone)"
        f" and that {'it was' if n == 1 else 'they were'} recorded there at all",
        "stripe_payouts": f"whether {'it is a' if n == 1 else 'each is a'} Stripe payout at all (another"
        " payer's credit, another Stripe account's payout) or was paid out before the window",
        "stripe_": f"whether Stripe ({absent}) has {them} under another account or in test mode, or {present}"
        " recorded a payment that never went through Stripe",
    }
    check = checks.get(kind) or (checks["stripe_"] if _stripe(kind) else None)
    check = check or f"that {absent} receives {them} (exports, sync jobs), or sync {them}"
    # Charges and refunds reach an application through webhooks; payouts and their transactions do not.
    if finding.kind(present) in ("stripe_charges", "stripe_refunds") and not _stripe(kind):
        check += (
            f"; if {absent} is written from Stripe's webhooks, check their delivery (Stripe's webhook log)"
        )
    return f"{_counted(finding, n)} {_are(n)} in {present} but not in {absent}: check {check}."


def _duplicate(finding: Finding, n: int) -> str:
    side = finding.side
    if side is None:
        repeat = "repeats" if n == 1 else "repeat"
        return (
            f"{_records(n)} {repeat} a key already seen on the same side: remove the repeats or fix the"
            " double write."
        )
    kind = finding.kind(side)
    actions = {
        "file": f"check whether {side}'s file was delivered twice or overlaps the one before, and remove the"
        " repeated lines",
        "database": "remove the repeated rows or fix the double write in the application",
        "api": f"check whether {side} returns the same record twice (paging) or recorded it twice",
        "stripe_": "check for a request sent twice (a retry without an idempotency key) and reverse the extra"
        " one",
    }
    action = actions.get("stripe_" if _stripe(kind) else kind, "remove the repeats or fix the double write")
    return f"{_records(n)} {_are(n)} repeated in {side} (a key already seen there): {action}."


def _near_duplicate(finding: Finding, n: int) -> str:
    near = finding.near
    if near and near.near_fields:
        tolerance = near.near_amount_tolerance
        amount = f"amount within {tolerance}" if tolerance else "amount"
        within = f", at most {_span(near.near_within)} apart" if near.near_within is not None else ""
        alike = f"same {', '.join(near.near_fields)} and {amount}{within}"
    else:
        alike = "same customer and amount within minutes"
    where = f" in {finding.side}" if finding.side else ""
    look = "looks like a repeat" if n == 1 else "look like repeats"
    paid = _stripe(finding.left_kind) or _stripe(finding.right_kind)
    action = "refund the extra payment if it was charged" if paid else "cancel or remove the extra one"
    return f"{_records(n)}{where} {look} ({alike}): check for double submissions and {action}."


def _unreadable(finding: Finding, n: int) -> str:
    absent = finding.missing_in or finding.right_source
    present = finding.left_source if absent == finding.right_source else finding.right_source
    shown = "; ".join(finding.reasons[:2]) + ("; ..." if len(finding.reasons) > 2 else "")
    why = f" ({shown})" if shown else ""
    them = "its counterpart was" if n == 1 else "their counterparts were"
    return (
        f"{_records(n)} {_are(n)} in {present} but {them} quarantined in {absent}{why}: correct the"
        f" {'row' if n == 1 else 'rows'} in {absent} or the spec's mapping (staging.quarantine holds"
        f" {'it' if n == 1 else 'them'}), then rerun the window."
    )


def _status(finding: Finding, n: int) -> str:
    left, right = finding.left_source, finding.right_source
    which = "for example refunded on one side, paid on the other"
    if finding.status_pairs:
        shown = [f"{a} vs {b} on {count}" for a, b, count in finding.status_pairs[:3]]
        if rest := sum(count for _, _, count in finding.status_pairs[3:]):
            shown.append(f"other statuses on {rest}")
        which = f"{left} vs {right}: {', '.join(shown)}"
    has = "has" if n == 1 else "have"
    return (
        f"{_records(n)} {has} a different status in {left} and {right} ({which}): update the side that"
        " missed the change."
    )


def _attributes(finding: Finding, n: int) -> str:
    where = f"{'differs' if n == 1 else 'differ'} between {finding.left_source} and {finding.right_source}"
    if not finding.fields:
        return f"{_records(n)} {where} in a compared field: correct the side that is wrong."
    (first, first_count), *others = finding.fields
    named = [f"{first} differs on {_records(first_count)}", *(f"{name} on {c}" for name, c in others)]
    return f"{_records(n)} {where}: {', '.join(named)}; correct the side that is wrong."


def _balance(finding: Finding, n: int) -> str:
    """An entity's balance against the sum of its entries (or two balances, or two sums), in the
    spec's own name for the entity, and what to correct: toward the truth when the spec names one."""
    left, right, words = finding.left_source, finding.right_source, finding.balance

    def said(singular: str, plural: str) -> str:
        return singular if n == 1 else plural

    words = words or BalanceWords()
    per = f" (per {words.entity})" if words.entity != "entity" else ""
    holds = {left: words.left_holds, right: words.right_holds}
    differ = said("differs", "differ")
    if holds[left] != holds[right]:
        stored, summed = (left, right) if holds[left] == "balance" else (right, left)
        what = f"{n} {said('balance', 'balances')} in {stored} {differ} from the sum of"
        what += f" {said('its', 'their')} entries in {summed}{per}"
    else:
        kind = (
            said("balance", "balances") if holds[left] == "balance" else f"{said('sum', 'sums')} of entries"
        )
        what = f"{n} {kind} {differ} between {left} and {right}{per}"
    what += " beyond the tolerance"
    if words.truth is None:
        return (
            f"{what}: find the side that is wrong (an entry missing, posted twice or after the balance was"
            " read, a balance updated without its entry) and correct it."
        )
    truth = words.truth
    target = right if truth == left else left
    if holds[target] == "entries":  # corrections set balances; a wrong entry is fixed in its ledger
        fix = f"correct the entries in {target} (an entry missing, posted twice or wrong)"
    else:
        source = (
            f"{said('its sum', 'their sums')} in {truth}"
            if holds[truth] == "entries"
            else f"{said('the one', 'those')} in {truth}"
        )
        fix = f"set the {said('balance', 'balances')} in {target} to {source}"
        fix += " (recon corrections plan, then apply)" if words.correctable else ""
    return f"{what}: {truth} is the source of truth (the spec's corrections), so {fix}."


def recommend(finding: Finding) -> str:
    """The finding's sentence, with the spec's hint for its class after it."""
    sentence = _sentence(finding)
    return f"{sentence} {finding.hint}" if finding.hint else sentence


def _sentence(finding: Finding) -> str:
    n, left, right, cls = finding.count, finding.left_source, finding.right_source, finding.break_class
    tellers = {"missing": _missing, "duplicate": _duplicate, "near_duplicate": _near_duplicate,
               "status_mismatch": _status, "attribute_mismatch": _attributes,
               "unreadable": _unreadable}  # fmt: skip
    if cls in tellers:
        return tellers[cls](finding, n)

    def verb(singular: str, plural: str) -> str:
        return singular if n == 1 else plural

    if cls == "amount_mismatch":
        return (
            f"{_records(n)} {verb('differs', 'differ')} in amount between {left} and {right} beyond the"
            f" tolerance: check {_checks(finding)}."
        )
    if cls == "currency_mismatch":
        return (
            f"{_counted(finding, n)} {verb('carries', 'carry')} a different currency in {left} and {right}:"
            f" check {_checks(finding)}."
        )
    if cls == "late":
        return (
            f"{_records(n)} {verb('was', 'were')} recorded in {left} and {right} further apart than allowed:"
            f" check {_checks(finding)}."
        )
    if cls == "group_mismatch":
        payouts = "stripe_payouts" in (finding.left_kind, finding.right_kind)
        example = " (a payout against the transactions it settles)" if payouts else ""
        check = "fees, refunds and adjustments" if payouts else "missing, extra and refunded records"
        return (
            f"{n} {verb('group total', 'group totals')}{example} {verb('differs', 'differ')} between {left}"
            f" and {right}: check {check} in the group."
        )
    if cls == "balance_mismatch":
        return _balance(finding, n)
    if cls == "stuck":
        statuses = f" in {', '.join(finding.statuses)}" if finding.statuses else ""
        where = f"in {finding.side}" if finding.side else "with the provider"
        where = "with Stripe" if _stripe(finding.kind(finding.side)) else where
        return (
            f"{_records(n)} {_are(n)} stuck{statuses} for longer than allowed: retry or cancel"
            f" {verb('it', 'them')} {where}."
        )
    return f"{_records(n)} came out as {cls} between {left} and {right}."


def hint_for(hints: Mapping[str, str], finding: Finding) -> str | None:
    """The spec's hint for a finding: ``missing_in_left`` / ``missing_in_right`` before ``missing``."""
    if finding.break_class == "missing":
        side = "left" if finding.missing_in == finding.left_source else "right"
        return hints.get(f"missing_in_{side}") or hints.get("missing")
    return hints.get(finding.break_class)


def build_findings(
    rows: Iterable[Mapping[str, Any]],
    fields: Iterable[Mapping[str, Any]] = (),
    statuses: Iterable[Mapping[str, Any]] = (),
    words: Words = Words(),
) -> list[Finding]:
    """Findings from the run's counted breaks (one row per pair, class and lone side), the counted
    differing fields of its attribute mismatches and the status pairs of its status mismatches."""
    fields_of: dict[str, list[tuple[str, int]]] = {}
    for row in fields:
        fields_of.setdefault(row["pair"], []).append((row["field"], row["count"]))
    status_of: dict[str, dict[tuple[str, str], int]] = {}
    for row in statuses:
        pair = words.pairs.get(row["pair"], PairWords())
        # Told in the pair's shared vocabulary: the words the spec maps both sides' statuses to.
        said = (_said(row["left_status"], pair.status_left), _said(row["right_status"], pair.status_right))
        counted = status_of.setdefault(row["pair"], {})
        counted[said] = counted.get(said, 0) + row["count"]
    found = []
    for row in rows:
        pair = words.pairs.get(row["pair"], PairWords())
        cls = row["break_class"]
        told = _most_first(status_of.get(row["pair"], {}).items()) if cls == "status_mismatch" else ()
        finding = Finding(
            row["pair"], row["left_source"], row["right_source"], cls, row["count"], row.get("missing_in"),
            statuses=tuple(sorted(s for s in row.get("statuses") or () if s)),
            left_kind=words.kinds.get(row["left_source"], GENERIC),
            right_kind=words.kinds.get(row["right_source"], GENERIC),
            side=row.get("side"),
            fields=_most_first(fields_of.get(row["pair"], [])) if cls == "attribute_mismatch" else (),
            status_pairs=tuple((left, right, count) for (left, right), count in told),
            near=pair if cls == "near_duplicate" else None,
            balance=pair.balance,
            reasons=tuple(sorted(mask_text(r)[:160] for r in row.get("reasons") or () if r)),
        )  # fmt: skip
        found.append(replace(finding, hint=hint_for(pair.hints, finding)))
    return found


def _said(value: str | None, mapping: Mapping[str, str]) -> str:
    return "no status" if value is None else mapping.get(value, value)


def _most_first(counted: Iterable[tuple[Any, int]]) -> tuple:
    return tuple(sorted(counted, key=lambda item: (-item[1], item[0])))


def _span(value: timedelta) -> str:
    """``5m``, ``2h``, ``1d 6h``, ``90s`` -> ``1m 30s``: the spec's own way of writing durations."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else "",
             f"{seconds}s" if seconds else ""]  # fmt: skip
    return " ".join(part for part in parts if part) or "0s"


def recommendations(findings: list[Finding], pending: int = 0, still_open: int = 0) -> list[str]:
    """The run's sentences, largest finding first; pending and carried breaks last."""
    ordered = sorted(
        findings, key=lambda f: (-f.count, f.pair, f.break_class, f.missing_in or "", f.side or "")
    )
    sentences = [recommend(finding) for finding in ordered if finding.count > 0]
    if pending:
        sentences.append(
            f"{_records(pending)} {_are(pending)} pending inside the settlement window: no action yet;"
            " a later run matches them or reports them missing."
        )
    if still_open:
        sentences.append(
            f"{_records(still_open)} found missing by earlier runs {_are(still_open)} still missing: see"
            " reconciliation.breaks where status = 'open'."
        )
    return sentences
