"""What an alert says about a published run, read from the result tables, and how it is worded.

Slack and PagerDuty render the same ``RunFacts``, so the two never disagree about a run. Personal data
is masked here, before anything leaves the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg.rows import dict_row

from recon.integrity.rules import QUARANTINE_REASON
from recon.masking import mask_email, mask_text
from recon.recommendations import PairWords, Words
from recon.record_keys import both_sides
from recon.window import RunWindow

# Each break class in words a reader of the channel knows; ``missing`` is told per side.
CLASS_LABELS = {
    "amount_mismatch": "amount mismatches",
    "currency_mismatch": "currency mismatches",
    "status_mismatch": "status mismatches",
    "attribute_mismatch": "field mismatches",
    "late": "late records",
    "duplicate": "duplicates",
    "near_duplicate": "likely double submissions",
    "group_mismatch": "group total mismatches",
    "balance_mismatch": "balance mismatches",
    "stuck": "stuck records",
}

_ONE = {
    "amount_mismatch": "amount mismatch",
    "group_mismatch": "group total mismatch",
    "balance_mismatch": "balance mismatch",
    "duplicate": "duplicate",
    "near_duplicate": "likely double submission",
}


@dataclass(frozen=True)
class Links:
    airflow_run: str | None = None
    dashboard_run: str | None = None


@dataclass(frozen=True)
class ClassCount:
    break_class: str
    missing_in: str | None
    count: int
    repeated_in: str | None = None  # duplicates and near duplicates: the side that repeated

    @property
    def label(self) -> str:
        if self.break_class == "missing":
            return f"missing in {self.missing_in}"
        if self.break_class == "unreadable":  # the counterpart was quarantined in missing_in
            return f"unreadable in {self.missing_in} (quarantined)"
        label = CLASS_LABELS.get(self.break_class, self.break_class.replace("_", " "))
        return f"{label} in {self.repeated_in}" if self.repeated_in else label


@dataclass(frozen=True)
class RunFacts:
    run: dict[str, Any]  # the reconciliation.runs row
    summary: list[dict[str, Any]]  # reconciliation.run_summary rows, per pair and currency
    counts: list[ClassCount]  # the run's new breaks per class, largest first
    still_open: int  # the spec's breaks first found by earlier runs and open now (see read_run_facts)
    breaks: list[dict[str, Any]]  # the largest breaks by amount at risk
    quarantined: int
    links: Links
    seen_again: int = 0  # of still_open, the records earlier runs found missing that this run still misses
    words: Words = Words()  # what the spec calls its statuses and entities (recommendations.spec_words)

    @property
    def spec(self) -> str:
        return self.run["spec"]

    @property
    def break_count(self) -> int:
        return sum(item.count for item in self.counts)

    @property
    def critical(self) -> bool:
        return self.run["severity"] == "critical"

    @property
    def discrepancy_percent(self) -> Decimal:
        return self.run["discrepancy_percent"] or Decimal(0)

    @property
    def critical_percent(self) -> Decimal | None:
        return self.summary[0]["critical_percent"] if self.summary else None

    @property
    def window(self) -> str:
        return window_text(self.run["window_start"], self.run["window_end"])

    def describe(self, item: dict[str, Any]) -> str:
        """One break in the words of its pair (``describe_break``)."""
        return describe_break(item, self.words.pairs.get(item["pair"]))


# The breaks still open from earlier runs: the spec's open breaks (not resolved by a run or a review,
# not ignored) first found by an earlier window, in a pair the spec still reconciles (a pair taken out
# of the spec has no run left to resolve its breaks), and not found anew by this run (those are this
# run's own breaks). Of them, those this run saw again: records still missing as an earlier run found them.
_STILL_OPEN = """
    select count(*) as still_open,
           count(*) filter (where exists (
               select from reconciliation.run_breaks as again
               where again.run_id = %(run_id)s and again.is_carried_break and again.break_id = b.break_id
           )) as seen_again
    from reconciliation.breaks as b
    where b.spec = %(spec)s and b.status = 'open' and b.first_seen_at < %(window_end)s
        and b.pair in (select pair from staging.pair_settings where run_id = %(run_id)s)
        and not exists (
            select from reconciliation.run_breaks as new
            where new.run_id = %(run_id)s and not new.is_carried_break and new.break_id = b.break_id
        )
"""


def read_run_facts(
    conn: psycopg.Connection, window: RunWindow, max_breaks: int, links: Links, words: Words | None = None
) -> RunFacts:
    """The published run's facts. ``words`` (``recommendations.spec_words(spec)``) lets the break lines
    show each status code with its mapped word and a balance pair's entity by its name; without it
    they show the values as stored."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("select * from reconciliation.runs where run_id = %s", (window.run_id,))
        run = cur.fetchone()
        if run is None or run["status"] not in ("success", "discrepancy_found"):
            raise RuntimeError(f"run {window.run_id!r} is not published; no alert is built from it")
        # Windows are UTC whatever the session's time zone: dates in messages and dedup keys too.
        run = {**run, "window_start": window.start.astimezone(UTC), "window_end": window.end.astimezone(UTC)}
        cur.execute(
            "select * from reconciliation.run_summary where run_id = %s order by pair, currency",
            (window.run_id,),
        )
        summary = cur.fetchall()
        # Missing is told per side it is missing in, repeats per side that repeated (the side whose
        # amount the lone record has).
        cur.execute(
            """
            select break_class, missing_in, count(*) as count, repeated_in
            from (
                select break_class,
                       case when break_class = 'missing' then missing_in end as missing_in,
                       case when break_class in ('duplicate', 'near_duplicate') then
                           case when left_amount is null then right_source else left_source end
                       end as repeated_in
                from reconciliation.run_breaks
                where run_id = %s and not is_carried_break
            ) as breaks
            group by break_class, missing_in, repeated_in
            order by count(*) desc, break_class, missing_in, repeated_in
            """,
            (window.run_id,),
        )
        counts = [ClassCount(**row) for row in cur.fetchall()]
        cur.execute(
            "select * from reconciliation.run_breaks where run_id = %s and not is_carried_break"
            " order by discrepancy_amount desc, break_class, break_id limit %s",
            (window.run_id, max_breaks),
        )
        breaks = cur.fetchall()
        # Rows the extractors could not map; those integrity rules moved are on their rule's line.
        cur.execute(
            "select count(*) as n from staging.quarantine where run_id = %s"
            " and not (reason like %s and raw_line is null)",
            (window.run_id, QUARANTINE_REASON + "%"),
        )
        quarantined = cur.fetchone()["n"]
        cur.execute(_STILL_OPEN, {"run_id": window.run_id, "spec": run["spec"], "window_end": window.end})
        open_now = cur.fetchone()
    return RunFacts(
        run, summary, counts, open_now["still_open"], breaks, quarantined, links,
        seen_again=open_now["seen_again"], words=words or Words(),
    )  # fmt: skip


def window_text(start: datetime, end: datetime) -> str:
    """``2026-11-19`` for a whole UTC day, else ``2026-11-19 00:00–00:15 UTC``."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end - start == timedelta(days=1) and start.hour == start.minute == 0:
        return f"{start:%Y-%m-%d}"
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M} UTC"


def money(amount: Decimal | None, currency: str | None = None) -> str:
    text = "n/a" if amount is None else f"{amount:,}"
    return f"{text} {currency}" if currency else text


def percent(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    if 0 < value < Decimal("0.01"):
        return "<0.01 %"
    return f"{value:.2f} %"


def totals_line(row: dict[str, Any]) -> str:
    """One pair and currency: both sides' totals, the discrepancy and its share."""
    currency = row["currency"]
    return (
        f"{row['pair']} {currency}: {row['left_source']} {money(row['left_total_amount'])}"
        f" ({row['left_record_count']:,}) vs {row['right_source']} {money(row['right_total_amount'])}"
        f" ({row['right_record_count']:,}); discrepancy {money(row['discrepancy_amount'], currency)}"
        f" ({percent(row['discrepancy_percent'])})"
    )


def describe_break(item: dict[str, Any], words: PairWords | None = None) -> str:
    """One break with the values that differ: ``ch_1 amount mismatch: 50.00 vs 10.00 USD (40.00 apart)``.

    With its pair's words: a status code shows its mapped word (``0 (completed) vs pending``), and a
    balance pair's break names its entity once (``user_id 42: balance 10.00 vs entries 9.50 ETH``)."""
    words = words or PairWords()
    left, right = item["left_amount"], item["right_amount"]
    currency = item["currency"]
    sides = f"{item['left_source']} vs {item['right_source']}"
    kind = item["break_class"]
    if kind == "missing":
        present = item["right_source"] if item["missing_in"] == item["left_source"] else item["left_source"]
        what = f"missing in {item['missing_in']}: {money(left if left is not None else right, currency)}"
        what += f" in {present}"
    elif kind == "currency_mismatch":
        what = "currency mismatch: "
        what += f"{money(left, item['left_currency'])} vs {money(right, item['right_currency'])}"
    elif kind == "status_mismatch":
        statuses = f"{_status(item['left_status'], words.status_left)} vs"
        statuses += f" {_status(item['right_status'], words.status_right)}"
        what = f"status mismatch: {statuses} ({money(left, currency)})"
    elif kind == "late":
        seconds = abs(item["time_difference_seconds"] or 0)
        what = f"late: {_duration(seconds)} apart ({money(left, currency)})"
    elif kind == "attribute_mismatch":
        fields = ", ".join(item.get("different_fields") or []) or "compared fields"
        what = f"field mismatch: {fields} differ ({money(left, currency)})"
    elif kind == "stuck":  # a lone record: its status is on its own side, told in that side's words
        on_left = item["left_status"] is not None
        status = _status(*((item["left_status"], words.status_left) if on_left
                           else (item["right_status"], words.status_right)))  # fmt: skip
        what = f"stuck in {status}: {money(left if left is not None else right, currency)}"
    elif kind == "balance_mismatch" and left is not None and right is not None and words.balance:
        holds = (words.balance.left_holds, words.balance.right_holds)
        right_word = "" if holds[0] == holds[1] else f"{holds[1]} "
        what = f"{holds[0]} {money(left)} vs {right_word}{money(right, currency)}"
        if item.get("amount_difference") is not None:
            what += f" ({money(abs(item['amount_difference']))} apart)"
    elif left is not None and right is not None:  # amount and group mismatches
        what = f"{_ONE.get(kind, kind)}: {money(left)} vs {money(right, currency)}"
        if item.get("amount_difference") is not None:
            what += f" ({money(abs(item['amount_difference']))} apart)"
    elif kind == "unreadable":  # the counterpart's only record was quarantined: say why, not "missing"
        present = item["right_source"] if item["missing_in"] == item["left_source"] else item["left_source"]
        what = f"unreadable in {item['missing_in']}: {money(left if left is not None else right, currency)}"
        what += f" in {present}"
        if item.get("quarantine_reason"):
            what += f"; quarantined: {str(item['quarantine_reason'])[:120]}"
    elif kind in ("duplicate", "near_duplicate"):  # named after the side that repeated
        side = item["left_source"] if left is not None else item["right_source"]
        what = f"{_ONE[kind]} in {side}: {money(left if left is not None else right, currency)}"
    else:  # any other lone record
        what = f"{_ONE.get(kind, kind)}: {money(left if left is not None else right, currency)}"
    if (words.balance or kind == "balance_mismatch") and item.get("match_key"):
        # A balance pair's keys are the entity on one side and its entries on the other: the entity once,
        # by the name the spec's source gives it (``user_id 42: balance 10.00 vs entries 9.50 ETH``).
        keys = item["match_key"].replace(chr(31), " / ")
        if words.balance:
            keys = f"{words.balance.entity} {keys}" + (":" if kind == "balance_mismatch" else "")
    else:
        keys = both_sides(item["left_record_keys"], item["right_record_keys"])
    email = mask_email(item.get("customer_email"))
    return mask_text(f"{keys} {what} [{sides}]" + (f" · {email}" if email else ""))


def _status(value: str | None, mapping: Mapping[str, str]) -> str:
    """A status as stored, with the word the pair's ``compare.status`` maps it to when that differs:
    ``0 (completed)``; ``no status`` for none."""
    if value is None:
        return "no status"
    word = mapping.get(value)
    return f"{value} ({word})" if word is not None and word != value else value


def integrity_lines(run: dict[str, Any]) -> list[str]:
    """Every integrity rule the published run failed, loudest first, with its count and share:
    ``critical amount_not_negative on sales: 3 rows (0.42 %), moved to quarantine``."""
    lines = []
    for failure in run.get("integrity_failures") or []:
        where = f" on {failure['source']}" if failure.get("source") else ""
        count = failure.get("unexpected_count")
        if count is None:
            outcome = "could not be checked"
        else:
            outcome = f"{count:,} row{'' if count == 1 else 's'}"
            if failure.get("unexpected_percent") is not None:
                outcome += f" ({percent(Decimal(str(failure['unexpected_percent'])))})"
        if failure.get("on_fail") == "quarantine" and count:
            outcome += ", moved to quarantine"
        lines.append(f"{failure['severity']} {failure['rule_name']}{where}: {outcome}")
    return lines


def _duration(seconds: Decimal | float | int) -> str:
    """``3h 20m``; under a minute, ``42s``."""
    if seconds < 60:
        return f"{int(seconds)}s"
    hours, minutes = divmod(int(seconds) // 60, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return " ".join(part for part in parts if part)
