"""`recon stats SPEC`: how a spec's reconciliation has been going, read from the result tables.

Two kinds of figure, kept apart in ``SpecStats`` and in the report:

- Over a period (every run, or those started since ``since``): runs by status, success rate, durations,
  discrepancies found and resolved.
- Now (``since`` does not apply): the last run, and the breaks still open, ignored, and the amounts in
  question.

Runs come from ``reconciliation.runs`` (recon.runs); breaks from ``reconciliation.breaks``, one row per
break across runs, built by dbt and changed by reviews (recon.review). ``first_seen_at`` is the window end
of the first run that found the break; ``resolved_at`` is the window end of the run that resolved it, or
when a review resolved it (``resolved_by_run_id`` null). Before dbt has built ``reconciliation.breaks``
(a spec whose runs all failed), every break figure is zero.

Every figure is one aggregate query's answer (no loop over records), and exact: counts, ``Fraction`` for
the success rate, ``Decimal`` for durations and amounts. ``format_stats`` rounds for display only.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import psycopg
from psycopg.rows import dict_row

# Open breaks by age, measured from first_seen_at to now. Each range includes its lower bound and
# excludes its upper one: a break exactly 7 days old is in "7-30 days". A negative age (a window end
# after now) counts as "< 1 day".
AGE_BUCKETS: tuple[tuple[str, int | None, int | None], ...] = (
    ("< 1 day", None, 1),
    ("1-7 days", 1, 7),
    ("7-30 days", 7, 30),
    ("30+ days", 30, None),
)
SEVERITIES = ("critical", "warning")
STATUSES = ("success", "discrepancy_found", "error", "running")


@dataclass(frozen=True)
class LastRun:
    run_id: str
    status: str
    started_at: datetime
    finished_at: datetime | None  # None while it runs


@dataclass(frozen=True)
class SpecStats:
    """What ``spec_stats`` reads: period figures (``since`` on), then figures as of ``as_of``.

    Period figures:
    - ``success`` .. ``running``: runs started in the period, by status.
    - ``success_rate``: runs of status ``success`` over finished runs (success + discrepancy_found +
      error), exact; None when no run of the period has finished. ``running`` runs are left out.
    - ``average_duration_seconds`` / ``p95_duration_seconds``: over the published runs (success and
      discrepancy_found) of the period; p95 is nearest-rank (the smallest duration that at least 95 % of
      them do not exceed, always one of the durations). None when there is none.
    - ``found`` / ``found_by_class``: breaks first seen in the period, whatever their status now.
    - ``resolved``: breaks of status ``resolved`` whose resolution is in the period, split into those a
      run resolved (``resolved_by_run_id`` set) and those a review resolved (no run).

    Now: ``last_run`` (the spec's latest started run, in or out of the period), ``open`` breaks by age and
    by severity, ``ignored`` breaks, and the open ``discrepancy_amount`` per currency (never added across
    currencies; a currency whose open breaks put nothing in question shows 0).
    """

    spec: str
    since: datetime | None
    as_of: datetime
    last_run: LastRun
    success: int
    discrepancy_found: int
    error: int
    running: int
    success_rate: Fraction | None
    average_duration_seconds: Decimal | None
    p95_duration_seconds: Decimal | None
    found: int
    found_by_class: dict[str, int]
    resolved_by_run: int
    resolved_by_review: int
    open: int
    open_by_age: dict[str, int]
    open_by_severity: dict[str, int]
    ignored: int
    open_amounts: dict[str, Decimal]

    @property
    def runs(self) -> int:
        return self.success + self.discrepancy_found + self.error + self.running

    @property
    def finished(self) -> int:
        return self.success + self.discrepancy_found + self.error

    @property
    def published(self) -> int:
        return self.success + self.discrepancy_found

    @property
    def resolved(self) -> int:
        return self.resolved_by_run + self.resolved_by_review


def spec_stats(
    conn: psycopg.Connection, spec: str, since: datetime | None = None, *, now: datetime | None = None
) -> SpecStats:
    """Read ``spec``'s figures (see ``SpecStats``): runs started at or after ``since`` (all when None),
    open breaks aged as of ``now`` (the current time when None). Both must be timezone-aware.

    Raises ``LookupError`` when the spec has no run at all, naming the specs that have some.
    """
    for name, value in (("since", since), ("now", now)):
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got {value.isoformat()}")
    as_of = now or datetime.now(UTC)
    with conn.cursor(row_factory=dict_row) as cur:
        last = _last_run(cur, spec)
        cur.execute(
            """
            select
                count(*) filter (where status = 'success') as success,
                count(*) filter (where status = 'discrepancy_found') as discrepancy_found,
                count(*) filter (where status = 'error') as error,
                count(*) filter (where status = 'running') as running,
                avg(duration_seconds) filter (where status in ('success', 'discrepancy_found'))
                    as average_duration,
                percentile_disc(0.95) within group (order by duration_seconds)
                    filter (where status in ('success', 'discrepancy_found')) as p95_duration
            from reconciliation.runs
            where spec = %(spec)s and (%(since)s::timestamptz is null or started_at >= %(since)s)
            """,
            {"spec": spec, "since": since},
        )
        runs = cur.fetchone()
        assert runs is not None  # an aggregate without group by answers one row
        breaks = _break_figures(cur, spec, since, as_of)
    finished = runs["success"] + runs["discrepancy_found"] + runs["error"]
    return SpecStats(
        spec=spec,
        since=since,
        as_of=as_of,
        last_run=last,
        success=runs["success"],
        discrepancy_found=runs["discrepancy_found"],
        error=runs["error"],
        running=runs["running"],
        success_rate=Fraction(runs["success"], finished) if finished else None,
        average_duration_seconds=runs["average_duration"],
        p95_duration_seconds=runs["p95_duration"],
        **breaks,
    )


def _last_run(cur: psycopg.Cursor[dict[str, Any]], spec: str) -> LastRun:
    cur.execute("select to_regclass('reconciliation.runs') is not null as present")
    row = cur.fetchone()
    if row is None or not row["present"]:
        raise LookupError(f"no runs for spec {spec!r}: this warehouse has no run ledger yet")
    cur.execute(
        """
        select run_id, status, started_at, finished_at from reconciliation.runs
        where spec = %s order by started_at desc, run_id desc limit 1
        """,
        (spec,),
    )
    row = cur.fetchone()
    if row is None:
        cur.execute("select distinct spec from reconciliation.runs order by spec")
        others = [r["spec"] for r in cur.fetchall()]
        known = f"specs with runs: {', '.join(others)}" if others else "no spec has runs yet"
        raise LookupError(f"no runs for spec {spec!r} ({known})")
    return LastRun(**row)


def _break_figures(
    cur: psycopg.Cursor[dict[str, Any]], spec: str, since: datetime | None, as_of: datetime
) -> dict[str, Any]:
    """The break fields of ``SpecStats``: four aggregate queries on ``reconciliation.breaks``."""
    empty_ages = {label: 0 for label, _, _ in AGE_BUCKETS}
    cur.execute("select to_regclass('reconciliation.breaks') is not null as present")
    row = cur.fetchone()
    if row is None or not row["present"]:
        return {
            "found": 0, "found_by_class": {}, "resolved_by_run": 0, "resolved_by_review": 0, "open": 0,
            "open_by_age": empty_ages, "open_by_severity": {}, "ignored": 0, "open_amounts": {},
        }  # fmt: skip
    params = {"spec": spec, "since": since, "now": as_of}
    in_period = "(%(since)s::timestamptz is null or {column} >= %(since)s)"
    cur.execute(
        f"""
        select break_class, count(*) as count from reconciliation.breaks
        where spec = %(spec)s and {in_period.format(column="first_seen_at")}
        group by break_class order by count(*) desc, break_class
        """,
        params,
    )
    found_by_class = {r["break_class"]: r["count"] for r in cur.fetchall()}
    buckets = ",\n            ".join(
        f"count(*) filter (where status = 'open' and {_age_between(lower, upper)}) as age_{i}"
        for i, (_, lower, upper) in enumerate(AGE_BUCKETS)
    )
    cur.execute(
        f"""
        select
            count(*) filter (where status = 'resolved' and resolved_by_run_id is not null
                             and {in_period.format(column="resolved_at")}) as resolved_by_run,
            count(*) filter (where status = 'resolved' and resolved_by_run_id is null
                             and {in_period.format(column="resolved_at")}) as resolved_by_review,
            count(*) filter (where status = 'open') as open,
            count(*) filter (where status = 'ignored') as ignored,
            {buckets}
        from reconciliation.breaks
        where spec = %(spec)s
        """,
        params,
    )
    totals = cur.fetchone()
    assert totals is not None  # an aggregate without group by answers one row
    cur.execute(
        """
        select severity, count(*) as count from reconciliation.breaks
        where spec = %(spec)s and status = 'open'
        group by severity
        order by array_position(array['critical', 'warning'], severity), severity
        """,
        params,
    )
    by_severity = {r["severity"]: r["count"] for r in cur.fetchall()}
    cur.execute(
        """
        select currency, coalesce(sum(discrepancy_amount), 0) as amount from reconciliation.breaks
        where spec = %(spec)s and status = 'open'
        group by currency order by currency
        """,
        params,
    )
    amounts = {r["currency"]: r["amount"] for r in cur.fetchall()}
    return {
        "found": sum(found_by_class.values()),
        "found_by_class": found_by_class,
        "resolved_by_run": totals["resolved_by_run"],
        "resolved_by_review": totals["resolved_by_review"],
        "open": totals["open"],
        "open_by_age": {label: totals[f"age_{i}"] for i, (label, _, _) in enumerate(AGE_BUCKETS)},
        "open_by_severity": by_severity,
        "ignored": totals["ignored"],
        "open_amounts": amounts,
    }


def _age_between(lower: int | None, upper: int | None) -> str:
    """SQL: the break's age (now - first_seen_at) is in [lower, upper) days; None is unbounded."""
    age = "%(now)s::timestamptz - first_seen_at"
    bounds = [f"{age} >= interval '{lower} days'"] if lower is not None else []
    bounds += [f"{age} < interval '{upper} days'"] if upper is not None else []
    return " and ".join(bounds)


# The report

LABEL_WIDTH = 24
VALUE_WIDTH = 20


def format_stats(stats: SpecStats) -> str:
    """A plain-text report of ``stats``: labels left, figures right-aligned in one column, amounts with
    thousands separators and their currency. Rounding (percent, seconds) happens here only."""
    period = f"since {_when(stats.since)}" if stats.since else "all time"
    last = stats.last_run
    ended = f"finished {_when(last.finished_at)}" if last.finished_at else f"started {_when(last.started_at)}"
    rate = _percent(stats.success_rate) if stats.success_rate is not None else "n/a"
    lines = [
        f"recon stats: {stats.spec}",
        f"period: {period}; open breaks as of {_when(stats.as_of)}",
        f"last run: {last.run_id}",
        f"          {last.status}, {ended}",
        "",
        f"Runs ({period})",
        _row("runs", stats.runs),
        *(_row(status, getattr(stats, status), indent=4) for status in STATUSES),
        _row("success rate", rate, note=f"{stats.success} of {stats.finished} finished"),
        _row("average duration", _seconds(stats.average_duration_seconds)),
        _row("p95 duration", _seconds(stats.p95_duration_seconds)),
        "",
        f"Discrepancies ({period})",
        _row("found", stats.found),
        *(_row(name, count, indent=4) for name, count in stats.found_by_class.items()),
        _row("resolved", stats.resolved),
        _row("by a run", stats.resolved_by_run, indent=4),
        _row("by a review", stats.resolved_by_review, indent=4),
        "",
        "Open breaks (now)",
        _row("open", stats.open),
        *(_row(label, count, indent=4) for label, count in stats.open_by_age.items()),
        _row("by severity", ""),
        *(_row(name, count, indent=4) for name, count in stats.open_by_severity.items()),
        _row("ignored", stats.ignored),
        _row("open amount", "" if stats.open_amounts else "none"),
        *(_row(str(currency), f"{amount:,}", indent=4) for currency, amount in stats.open_amounts.items()),
    ]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _row(label: str, value: object, *, indent: int = 2, note: str = "") -> str:
    text = f"{value:,}" if isinstance(value, int) else str(value)
    line = f"{' ' * indent}{label:<{LABEL_WIDTH - indent}}{text:>{VALUE_WIDTH}}"
    return f"{line}  ({note})" if note else line


def _when(moment: datetime | None) -> str:
    return "n/a" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _percent(rate: Fraction) -> str:
    value = Decimal(rate.numerator) * 100 / Decimal(rate.denominator)
    return f"{value.quantize(Decimal('0.1'), ROUND_HALF_UP)} %"


def _seconds(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value.quantize(Decimal('0.1'), ROUND_HALF_UP):,} s"


# The command

RELATIVE = re.compile(r"(\d+)d")
BAD_INPUT = 2  # as ``recon breaks`` (recon.cli_operations): bad input exits 2, naming it


def parse_since(text: str) -> datetime:
    """``--since`` (an argparse ``type``): ``7d`` (7 days before now), a date (``2026-11-01``, midnight
    UTC) or an ISO 8601 timestamp (UTC when it names no offset)."""
    if match := RELATIVE.fullmatch(text.strip()):
        return datetime.now(UTC) - timedelta(days=int(match.group(1)))
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a number of days (7d), a date (2026-11-01) or an ISO timestamp"
        ) from None
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def stats_command(spec: str, since: datetime | None = None, connection: str = "recon_warehouse") -> int:
    """``recon stats``: print ``spec``'s report and answer 0; or the reason on stderr and ``BAD_INPUT``
    when the spec has no runs or the warehouse cannot be reached.

    The warehouse is ``$RECON_WAREHOUSE_URL`` when set, else the Airflow connection ``connection``.
    """
    url = os.environ.get("RECON_WAREHOUSE_URL")
    try:
        if url:
            conn = psycopg.connect(url)
        else:
            from recon.warehouse import connect

            conn = connect(connection)
    except Exception as exc:  # an unknown connection id or an unreachable server
        print(f"connection {connection!r}: cannot reach the warehouse: {exc}", file=sys.stderr)
        return BAD_INPUT
    with conn:
        try:
            stats = spec_stats(conn, spec, since)
        except LookupError as exc:
            print(exc.args[0], file=sys.stderr)
            return BAD_INPUT
    sys.stdout.write(format_stats(stats))
    return 0
