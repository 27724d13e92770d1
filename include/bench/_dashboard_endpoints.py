"""What the dashboard benchmark (include/bench/dashboard.py) asks, and what each answer must hold.

Every endpoint is a dict: ``name``, ``method``, ``path``, ``group`` (``read``, ``export`` or
``action``), ``count`` (how to count the rows in the answer: ``json:<key>[.<key>]``, ``html:<marker>``
or ``csv``) and ``expected`` (that count, from the seeded tables). Actions carry one request body per
call (``bodies``), each naming breaks no other call names, so every call changes what it names.

The expected counts follow the dashboard's documented semantics (open breaks by default, largest
first, 50 a page, every filter an equality or a bound), computed here with SQL of their own.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql

from include.bench.load import BenchError

PAGE = 50  # recon.dashboard.paging.PAGE_SIZE
BATCH = 50  # breaks per bulk action
BREAK_ROW, RUN_ROW, RUN_BREAK_ROW = 'class="break-row"', 'class="run-row"', 'class="run-break-row"'

# (label, query parameters); {first_spec} / {last_spec} name the seeded specs.
BREAK_FILTERS: tuple[tuple[str, dict[str, str]], ...] = (
    ("default (open, amount desc)", {}),
    ("class", {"class": "amount_mismatch"}),
    ("severity", {"severity": "critical"}),
    ("status resolved", {"status": "resolved"}),
    ("status all", {"status": "all"}),
    ("spec", {"spec": "{last_spec}"}),
    ("age 30 d", {"age": "30"}),
    ("amount >= 1000", {"amount": "1000"}),
    ("sort age", {"sort": "age"}),
    ("sort age asc", {"sort": "age", "dir": "asc"}),
    ("sort last seen", {"sort": "last_seen"}),
    ("sort amount asc", {"sort": "amount", "dir": "asc"}),
    ("spec+class+severity, sort age",
     {"spec": "{first_spec}", "class": "missing", "severity": "critical", "sort": "age"}),
    ("rare: class stuck + critical", {"class": "stuck", "severity": "critical"}),
    ("status all, sort last seen", {"status": "all", "sort": "last_seen"}),
)  # fmt: skip


def _where(filters: dict[str, str], now: datetime) -> tuple[sql.Composable, dict[str, Any]]:
    """The rows a breaks list with these query parameters shows."""
    parts, params = [], {}
    status = filters.get("status", "open")
    if status != "all":
        parts.append(sql.SQL("status = %(status)s"))
        params["status"] = status
    for key, column in (("class", "break_class"), ("severity", "severity"), ("spec", "spec")):
        if key in filters:
            parts.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(key)))
            params[key] = filters[key]
    if "age" in filters:
        parts.append(sql.SQL("first_seen_at <= %(seen_before)s"))
        params["seen_before"] = now - timedelta(days=int(filters["age"]))
    if "amount" in filters:
        parts.append(sql.SQL("discrepancy_amount >= %(amount)s"))
        params["amount"] = filters["amount"]
    return sql.SQL(" and ").join(parts or [sql.SQL("true")]), params


def _cursor(value: Any, row_id: str) -> str:
    """The cursor a page links to for the row (value, id): the dashboard's own encoding."""
    from recon.dashboard.paging import encode_cursor

    return encode_cursor(value, row_id)


def _get(name: str, path: str, count: str, expected: int, group: str = "read") -> dict[str, Any]:
    return {"name": name, "method": "GET", "path": path, "count": count, "expected": expected, "group": group}


def _both(
    label: str, path: str, marker: str, api_count: str, expected: int, api_path: str = ""
) -> list[dict]:
    """The page (HTML) and its JSON twice: ``/recon<path>`` and ``/recon/api<path>``."""
    return [
        _get(f"page {label}", f"/recon{path}", f"html:{marker}", expected),
        _get(f"api {label}", f"/recon/api{api_path or path}", api_count, expected),
    ]


class _Reader:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn

    def one(self, query: sql.Composable | str, params: Any = ()) -> Any:
        return self.conn.execute(query, params).fetchone()  # type: ignore[arg-type]


def break_lists(read: _Reader, names: list[str], now: datetime) -> list[dict[str, Any]]:
    """The breaks list with every filter and sort, and a deep page each way (keyset cursors made from
    the row half way down the default list, as a page's links would carry them)."""
    found = []
    for label, raw in BREAK_FILTERS:
        filters = {key: value.format(first_spec=names[0], last_spec=names[-1]) for key, value in raw.items()}
        where, params = _where(filters, now)
        total = read.one(
            sql.SQL("select count(*) from reconciliation.breaks where {}").format(where), params
        )[0]
        found += _both(f"breaks {label}", f"/breaks?{urlencode(filters)}", BREAK_ROW, "json:items",
                       min(PAGE, total))  # fmt: skip
    open_count = read.one("select count(*) from reconciliation.breaks where status = 'open'")[0]
    middle = open_count // 2
    row = read.one(
        "select discrepancy_amount, break_id from reconciliation.breaks where status = 'open'"
        " order by discrepancy_amount desc, break_id desc offset %s limit 1",
        (middle,),
    )
    if row:
        label = f"breaks deep page (row {middle:,} of {open_count:,})"
        found += _both(label, f"/breaks?{urlencode({'after': _cursor(*row)})}", BREAK_ROW, "json:items",
                       min(PAGE, open_count - middle - 1))  # fmt: skip
        found += _both("breaks deep page, previous", f"/breaks?{urlencode({'before': _cursor(*row)})}",
                       BREAK_ROW, "json:items", min(PAGE, middle))  # fmt: skip
    return found


def one_break(read: _Reader) -> list[dict[str, Any]]:
    """A break's page: the reviewed break seen most often (longest history, an audit entry), and one
    with corrections."""
    found = []
    for label, where in (
        ("break (longest history, reviewed)", "status = 'ignored'"),
        ("break (with corrections)", "break_id in (select break_id from reconciliation.corrections)"),
    ):
        row = read.one(
            sql.SQL(
                "select break_id, (select count(*) from reconciliation.run_breaks r"
                " where r.break_id = b.break_id) from reconciliation.breaks b where {}"
                " order by times_seen desc, break_id limit 1"
            ).format(sql.SQL(where))
        )
        if row:
            found += _both(label, f"/breaks/{row[0]}", 'class="history-row"', "json:history", row[1])
    return found


def history(read: _Reader, names: list[str]) -> list[dict[str, Any]]:
    """The run history: every run, one spec, the failed runs, and a deep page."""
    found = []
    for label, filters in (("all", {}), ("spec", {"spec": names[-1]}), ("status error", {"status": "error"})):
        where = sql.SQL(" and ").join(
            [sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in filters]
            or [sql.SQL("true")]
        )
        total = read.one(sql.SQL("select count(*) from reconciliation.runs where {}").format(where), filters)[
            0
        ]
        found += _both(f"history {label}", f"/history?{urlencode(filters)}", RUN_ROW, "json:items",
                       min(PAGE, total))  # fmt: skip
    total = read.one("select count(*) from reconciliation.runs")[0]
    row = read.one(
        "select window_start, run_id from reconciliation.runs order by window_start desc, run_id desc"
        " offset %s limit 1",
        (total // 2,),
    )
    found += _both("history deep page", f"/history?{urlencode({'after': _cursor(*row)})}", RUN_ROW,
                   "json:items", min(PAGE, total - total // 2 - 1))  # fmt: skip
    return found


def runs_and_exports(read: _Reader, names: list[str]) -> list[dict[str, Any]]:
    """A run's page: the incident day (most breaks) and the latest published run; a deep page of the
    incident's breaks; and the CSV exports: every run, and every break of the incident run."""
    run_id, breaks = read.one(
        "select run_id, count(*) from reconciliation.run_breaks group by run_id order by 2 desc, 1 limit 1"
    )
    latest = read.one(
        "select r.run_id, (select count(*) from reconciliation.run_breaks b where b.run_id = r.run_id)"
        " from reconciliation.runs r where r.spec = %s and r.status in ('success', 'discrepancy_found')"
        " order by r.window_start desc limit 1",
        (names[-1],),
    )
    found = []
    for label, (run, count) in (("run (incident day)", (run_id, breaks)), ("run (latest)", latest)):
        found += _both(f"{label}, {count:,} breaks", f"/runs/{quote(run, safe='')}", RUN_BREAK_ROW,
                       "json:breaks.items", min(PAGE, count))  # fmt: skip
    row = read.one(
        "select discrepancy_amount, break_id from reconciliation.run_breaks where run_id = %s"
        " order by discrepancy_amount desc, break_id desc offset %s limit 1",
        (run_id, breaks // 2),
    )
    path, after = quote(run_id, safe=""), urlencode({"after": _cursor(*row)})
    found += _both("run (incident) breaks deep page", f"/runs/{path}?{after}", RUN_BREAK_ROW, "json:items",
                   min(PAGE, breaks - breaks // 2 - 1), api_path=f"/runs/{path}/breaks?{after}")  # fmt: skip
    runs_total = read.one("select count(*) from reconciliation.runs")[0]
    found.append(_get("history.csv (every run)", "/recon/history.csv", "csv", runs_total, "export"))
    export = _get(f"run breaks.csv (incident, {breaks:,} rows)", f"/recon/runs/{path}/breaks.csv", "csv",
                  breaks, "export")  # fmt: skip
    found.append({**export, "run_id": run_id})
    return found


def read_endpoints(conn: psycopg.Connection, names: list[str], now: datetime) -> list[dict[str, Any]]:
    """Every page and JSON read, with the rows the seeded tables say it must show."""
    read = _Reader(conn)
    running = read.one("select count(*) from reconciliation.runs where status = 'running'")[0]
    return [
        _get("api status (polling)", "/recon/api/status", "json:running", running),
        _get("page overview", "/recon/", 'html:class="card spec-card"', len(names)),
        _get("api overview", "/recon/api/overview", "json:specs", len(names)),
        *break_lists(read, names, now),
        *one_break(read),
        *history(read, names),
        *runs_and_exports(read, names),
    ]


def action_endpoints(conn: psycopg.Connection, names: list[str], repeat: int) -> list[dict[str, Any]]:
    """Bulk actions through the JSON API, a fresh batch for every call (the warm-up too): ignore and
    resolve open breaks, and plan corrections of the first spec's open amount mismatches that the
    corrected system holds a row for and no correction names yet."""
    calls = repeat + 1
    open_ids = [row[0] for row in conn.execute(
        "select break_id from reconciliation.breaks where status = 'open'"
        " and not (spec = %s and break_class = 'amount_mismatch') order by md5(break_id) limit %s",
        (names[0], 2 * calls * BATCH),
    ).fetchall()]  # fmt: skip
    correctable = [row[0] for row in conn.execute(
        "select b.break_id from reconciliation.breaks b"
        " join bench_target.ledger_entries t on t.entry_key = b.right_record_keys[1]"
        " where b.spec = %s and b.break_class = 'amount_mismatch' and b.status = 'open'"
        " and b.break_id not in (select break_id from reconciliation.corrections)"
        # A run whose staging rules failed on the truth side: its truth is in doubt and the plan refuses
        # it (recon.corrections.truth), so it is no batch of planned changes.
        " and not exists (select from reconciliation.integrity_results i where i.run_id = b.last_seen_run_id"
        " and i.checkpoint = 'staging' and i.source = b.left_source and not i.is_success)"
        " order by md5(b.break_id) limit %s",
        (names[0], calls * BATCH),
    ).fetchall()]  # fmt: skip
    found = []
    for action, pool, count in (
        ("ignore", open_ids[0::2], "json:changed"),
        ("resolve", open_ids[1::2], "json:changed"),
        ("plan", correctable, "json:planned"),
    ):
        size = min(BATCH, len(pool) // calls)
        if size == 0:
            raise BenchError(f"too few open breaks to {action} {calls} batches: seed more breaks")
        bodies = [
            {"action": action, "break_ids": pool[i * size : (i + 1) * size], "note": "bench: checked"}
            for i in range(calls)
        ]
        found.append({"name": f"api {action} {size} breaks", "method": "POST", "group": "action",
                      "path": "/recon/api/breaks/action", "bodies": bodies, "count": count,
                      "expected": size})  # fmt: skip
    return found
