"""Actionable sentences derived from a run's breaks: what was found, and what to check or do about it.

A pure function of counted findings, so the wording is tested exactly and the runs table, Slack and
the dashboard all say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """The breaks of one class in one pair (and, for ``missing``, one side)."""

    pair: str
    left_source: str
    right_source: str
    break_class: str
    count: int
    missing_in: str | None = None
    statuses: tuple[str, ...] = ()  # for stuck records: the statuses they are stuck in


def _records(count: int) -> str:
    return f"{count} record{'s' if count != 1 else ''}"


def _are(count: int) -> str:
    return "is" if count == 1 else "are"


def recommend(finding: Finding) -> str:
    n, left, right = finding.count, finding.left_source, finding.right_source
    cls = finding.break_class
    if cls == "missing":
        absent = finding.missing_in or right
        present = left if absent == right else right
        return (
            f"{_records(n)} {_are(n)} in {present} but not in {absent}: check that {absent} receives"
            f" {'it' if n == 1 else 'them'} (webhook delivery, exports, sync jobs), or sync"
            f" {'it' if n == 1 else 'them'}."
        )

    def verb(singular: str, plural: str) -> str:
        return singular if n == 1 else plural

    them = verb("it", "them")
    sentences = {
        "amount_mismatch": f"{_records(n)} {verb('differs', 'differ')} in amount between {left} and"
        f" {right} beyond the tolerance: check fees, partial captures and refunds, and rounding.",
        "currency_mismatch": f"{_records(n)} {verb('carries', 'carry')} a different currency in {left} and"
        f" {right}: check the currency each side records (presentment vs settlement, export mapping).",
        "status_mismatch": f"{_records(n)} {verb('has', 'have')} a different status in {left} and {right}"
        " (for example refunded on one side, paid on the other): update the side that missed the change.",
        "attribute_mismatch": f"{_records(n)} {verb('differs', 'differ')} between {left} and {right} in a"
        " compared field: correct the side that is wrong.",
        "late": f"{_records(n)} {verb('was', 'were')} recorded in {left} and {right} further apart than"
        " allowed: check for delayed processing or clock problems.",
        "duplicate": f"{_records(n)} {verb('repeats', 'repeat')} a key already seen on the same side:"
        " remove the repeats or fix the double write.",
        "near_duplicate": f"{_records(n)} {verb('looks', 'look')} like a repeat (same customer and amount"
        " within minutes): check for double submissions and refund the extra payment if it was charged.",
        "group_mismatch": f"{n} {verb('group total', 'group totals')} (for example a payout against the"
        f" transactions it settles) {verb('differs', 'differ')} between {left} and {right}: check fees,"
        " refunds and adjustments in the group.",
        "balance_mismatch": f"{n} {verb('balance differs', 'balances differ')} between {left} and {right}:"
        " replay the ledger entries of the entity and correct the balance.",
        "stuck": f"{_records(n)} {_are(n)} stuck"
        + (f" in {', '.join(finding.statuses)}" if finding.statuses else "")
        + f" for longer than allowed: retry or cancel {them} with the provider.",
    }
    return sentences.get(cls, f"{_records(n)} came out as {cls} between {left} and {right}.")


def recommendations(findings: list[Finding], pending: int = 0, still_open: int = 0) -> list[str]:
    """The run's sentences, largest finding first; pending and carried breaks last."""
    ordered = sorted(findings, key=lambda f: (-f.count, f.pair, f.break_class, f.missing_in or ""))
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
