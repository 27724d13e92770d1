"""Benchmark recon's CSV staging load against raw ``psql \\copy``, side by side in one run.

    python -m include.bench.load --rows 1000000 [--repeat 3] [--bad-ratio 0.01] [--warehouse-url URL]

One CSV in the payments export shape is written to a temporary file (streamed; a few rows carry bad
amounts so quarantine runs), then loaded, alternately, by

* ``recon``: ``replace_window_from_csv`` in a child process, with the stripe_billing spec's layout
  (COPY into a landing table, set-wise mapping into ``staging.records``, quarantine, one transaction);
* ``psql_copy``: ``psql -c "\\copy bench_raw from 'file' csv header"`` into a plain all-text table,
  the floor any loader can reach.

Each load runs ``--repeat`` times on empty tables; the medians are printed as a Markdown table and
written as JSON (``.demo/bench/load.json`` by default). Everything runs in a scratch database
(``recon_bench``) on the configured warehouse server, or on the local server, and it is dropped at the
end. See include/bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from include.sandbox.generator import CSV_COLUMNS  # the payments export's columns, in file order

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE = "recon_bench"
DEFAULT_OUTPUT = PROJECT_ROOT / ".demo" / "bench" / "load.json"
SPEC_PATH = PROJECT_ROOT / "include" / "specs" / "stripe_billing.yml"
CSV_SOURCE = "internal"  # the stripe_billing source that is a CSV file
WINDOW_DAY = date(2026, 11, 19)
RAW_TABLE = "bench_raw"
CHILD_COMMAND = "_recon-child"

_CURRENCIES = (("usd", 2), ("usd", 2), ("eur", 2), ("gbp", 2), ("jpy", 0))
_STATUSES = ("succeeded",) * 18 + ("refunded", "failed")
_FIRST = ("ada", "alan", "grace", "edsger", "barbara", "donald", "margaret", "dennis", "radia", "ken")
_LAST = ("lovelace", "turing", "hopper", "dijkstra", "liskov", "knuth", "hamilton", "ritchie", "perlman")
# Amounts no parser should accept; each one must end up in staging.quarantine.
_BAD_AMOUNTS = ("n/a", "12.3.4", "", "1 200,00", "USD 5.00", "--1", "12..5", "4,50")


class BenchError(RuntimeError):
    """The benchmark could not run, or a loader did not load what it was given."""


@dataclasses.dataclass(frozen=True)
class CsvStats:
    path: Path
    rows: int
    bad_rows: int
    bytes: int


# --- the data ---------------------------------------------------------------------------------------


def bench_rows(count: int, seed: int, bad_ratio: float) -> Iterator[tuple[bool, tuple[str, ...]]]:
    """``count`` payment rows ``(is_bad, row)``, one at a time; the same seed gives the same rows."""
    rng = random.Random(f"recon-bench:{seed}")
    start = int(datetime(WINDOW_DAY.year, WINDOW_DAY.month, WINDOW_DAY.day, tzinfo=UTC).timestamp())
    for number in range(count):
        currency, exponent = rng.choice(_CURRENCIES)
        minor = rng.randrange(100, 500_000)
        amount = f"{minor // 100}.{minor % 100:02d}" if exponent == 2 else str(minor)
        bad = rng.random() < bad_ratio
        if bad:
            amount = rng.choice(_BAD_AMOUNTS)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + rng.randrange(86_400)))
        email = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randrange(1, 100)}@example.com"
        charge_id = f"ch_{rng.getrandbits(96):024x}"
        yield bad, (f"pay_{number:012d}", charge_id, amount, currency, created, rng.choice(_STATUSES), email)


def write_bench_csv(path: Path, count: int, seed: int, bad_ratio: float) -> CsvStats:
    """Stream ``count`` rows to ``path`` with a header; nothing but the current row is held."""
    bad_rows = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for bad, row in bench_rows(count, seed, bad_ratio):
            bad_rows += bad
            writer.writerow(row)
    return CsvStats(path=path, rows=count, bad_rows=bad_rows, bytes=path.stat().st_size)


def spec_layout() -> tuple[str, Any]:
    """The stripe_billing spec's name and its CSV source, as the DAG loads them from the spec file."""
    from recon.spec import load_spec

    spec = load_spec(SPEC_PATH)
    return spec.name, spec.source(CSV_SOURCE)


# --- the recon load, in a child process ---------------------------------------------------------------


def _phase(query: object, cur: psycopg.Cursor) -> str:
    text = query.as_string(cur) if isinstance(query, sql.Composable) else str(query)
    text = " ".join(text.split()).lower()
    for prefix, label in (
        ("create table", "create_load_table"),
        ('copy "staging"."load_', "parse_check_copy"),
        ("delete from staging.quarantine", "clear_quarantine"),
        ("copy staging.quarantine", "copy_quarantine"),
        ("alter table", "swap"),
        ("drop table", "swap"),
        ("select pg_advisory", "swap"),
        ("select 1 from staging.record_partitions", "swap"),
        ("insert into staging.record_partitions", "swap"),
    ):
        if text.startswith(prefix):
            return label
    return text[:40]


class _TimedConnection(psycopg.Connection):
    """Collects how long each statement recon runs takes, without touching recon's code."""

    phases: dict[str, float]


class _TimingCursor(psycopg.Cursor):
    def _record(self, query: object, seconds: float) -> None:
        phases = self.connection.phases  # type: ignore[attr-defined]
        label = _phase(query, self)
        phases[label] = phases.get(label, 0.0) + seconds

    def execute(self, query, params=None, **kwargs):  # type: ignore[no-untyped-def, override]
        started = time.perf_counter()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            self._record(query, time.perf_counter() - started)

    def copy(self, statement, params=None, **kwargs):  # type: ignore[no-untyped-def, override]
        return _TimedCopy(self, statement, super().copy(statement, params, **kwargs))


class _TimedCopy:
    """Wraps ``cursor.copy()`` so the whole COPY (streaming the file included) is one phase."""

    def __init__(self, cursor: _TimingCursor, statement: object, inner: Any) -> None:
        self._cursor, self._statement, self._inner = cursor, statement, inner

    def __enter__(self) -> Any:
        self._started = time.perf_counter()
        return self._inner.__enter__()

    def __exit__(self, *exc: object) -> Any:
        try:
            return self._inner.__exit__(*exc)
        finally:
            self._cursor._record(self._statement, time.perf_counter() - self._started)


def _vm_hwm_kb(pid: int | str = "self") -> int | None:
    """Peak resident set of a process since its exec, from /proc (None where there is no /proc).

    ``ru_maxrss`` of a child is no use here: exec keeps the spawning process's high-water mark, so a
    child started from this (bigger) Python process would report this process's peak, not its own.
    """
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def recon_child(config: dict[str, Any]) -> dict[str, Any]:
    """Run one recon load and report its timings; this is what the child process executes."""
    import recon.staging.csv_batches  # noqa: F401  (imports are left out of the timing, as before)
    from recon.sources.base import FetchedFile
    from recon.staging.csv_loader import replace_window_from_files
    from recon.window import RunWindow

    spec_name, source = spec_layout()
    # The bench quarantines ~--bad-ratio of the rows on purpose; the spec's 1 % limit would fail it.
    source = source.model_copy(update={"max_rejected_share": Decimal("0.5")})
    start = datetime.fromisoformat(config["window_start"])
    window = RunWindow(spec_name, start, start + timedelta(days=1))
    baseline_kb = _vm_hwm_kb()
    started = time.perf_counter()
    conn = _TimedConnection.connect(config["url"], cursor_factory=_TimingCursor)
    try:
        conn.phases = {}
        connected = time.perf_counter()
        path = Path(config["csv"])
        fetched = FetchedFile(path, f"file://{path}", str(path), path.stat().st_size, "")
        result = replace_window_from_files(conn, window, source, [fetched])
        finished = time.perf_counter()
    finally:
        conn.close()
    phases = dict(conn.phases)
    phases["connect"] = connected - started
    # Reading the header, committing (temp tables dropped, WAL flushed) and client overhead.
    phases["commit_and_other"] = finished - connected - sum(conn.phases.values())
    return {
        "wall_s": finished - started,
        "loaded": result.loaded,
        "quarantined": result.quarantined,
        "phases_s": phases,
        "rss_baseline_kb": baseline_kb,
        "peak_rss_kb": _vm_hwm_kb(),
    }


def _child_environment() -> dict[str, str]:
    paths = [str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins")]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}):\n{done.stderr.strip()}")
    return wall, done.stdout


def measure_recon(db_url: str, csv_path: Path, days_before: int = 0) -> dict[str, Any]:
    day = datetime(WINDOW_DAY.year, WINDOW_DAY.month, WINDOW_DAY.day, tzinfo=UTC) - timedelta(
        days=days_before
    )
    config = {"url": db_url, "csv": str(csv_path), "window_start": day.isoformat()}
    command = [sys.executable, "-m", "include.bench.load", CHILD_COMMAND, json.dumps(config)]
    process_wall, stdout = _run(command, "recon load (child process)", env=_child_environment())
    result = json.loads(stdout.strip().splitlines()[-1])
    result["process_wall_s"] = process_wall
    return result


# --- the peer: psql \copy -----------------------------------------------------------------------------


def measure_psql(db_url: str, csv_path: Path) -> dict[str, Any]:
    path = str(csv_path).replace("'", "''")
    command = [
        "psql",
        "--no-psqlrc",
        "--set=ON_ERROR_STOP=1",
        f"--dbname={db_url}",
        f"--command=\\copy {RAW_TABLE} from '{path}' csv header",
        # psql's own peak memory: the shell \! starts is psql's child, so $PPID is psql itself.
        "--command=\\! grep VmHWM /proc/$PPID/status || true",
    ]
    wall, stdout = _run(command, "psql \\copy")
    copied = re.search(r"^COPY (\d+)", stdout, re.MULTILINE)
    hwm = re.search(r"VmHWM:\s+(\d+) kB", stdout)
    return {
        "wall_s": wall,
        "loaded": int(copied.group(1)) if copied else None,
        "peak_rss_kb": int(hwm.group(1)) if hwm else None,
    }


# --- the scratch database ---------------------------------------------------------------------------


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def display_url(url: str) -> str:
    """The server's URL without password or database, for the report."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=user + netloc[-1], path=""))


def describe_server(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        settings = {
            name: conn.execute(sql.SQL("show {}").format(sql.Identifier(name))).fetchone()[0]
            for name in ("server_version", "shared_buffers", "synchronous_commit", "max_wal_size")
        }
        version = conn.execute("select version()").fetchone()[0]
    return {"url": display_url(url), "version": version, "settings": settings}


def create_database(server_url: str, database: str) -> str:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(database)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(database)))
    return with_database(server_url, database)


def drop_database(server_url: str, database: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {}").format(sql.Identifier(database)))


def prepare_database(db_url: str) -> None:
    from recon.staging.schema import ensure_schema

    with psycopg.connect(db_url, autocommit=True) as conn:
        ensure_schema(conn)
        columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in CSV_COLUMNS)
        conn.execute(sql.SQL("create table {} ({})").format(sql.Identifier(RAW_TABLE), columns))
        # Background vacuum/analyze of the previous load must not land inside the next measure.
        for table in ("staging.quarantine", RAW_TABLE):
            conn.execute(f"alter table {table} set (autovacuum_enabled = off)")


def reset_tables(db_url: str) -> bool:
    """Empty the target tables and checkpoint, so every load starts alike; False if no checkpoint."""
    from recon.staging.partitions import drop_runs_before

    with psycopg.connect(db_url, autocommit=True) as conn:
        spec_name, _ = spec_layout()
        drop_runs_before(conn, spec_name, datetime(9999, 1, 1, tzinfo=UTC))
        conn.execute(f"truncate staging.records, staging.quarantine, {RAW_TABLE}")
        try:
            conn.execute("checkpoint")
        except psycopg.errors.InsufficientPrivilege:
            return False
    return True


def measure_growth(
    args: argparse.Namespace,
    server_url: str,
    workdir: Path,
    csv_stats: CsvStats,
) -> dict[str, Any] | None:
    """The same load into an empty staging and into one holding ``--growth-runs`` earlier runs.

    Side by side, taking turns, in two scratch databases, so drift of the machine over the run falls on
    both alike: before each load a checkpoint, and after it the measured slice is dropped again, so the
    empty database stays empty and the other keeps exactly its earlier runs.
    """
    if not args.growth_runs:
        return None
    rows = min(args.rows, args.growth_rows)
    earlier = write_bench_csv(workdir / "earlier.csv", rows, args.seed + 1, args.bad_ratio)
    empty_url = create_database(server_url, f"{args.database}_empty")
    history_url = create_database(server_url, f"{args.database}_history")
    spec_name, _ = spec_layout()
    measured_from = datetime(WINDOW_DAY.year, WINDOW_DAY.month, WINDOW_DAY.day, tzinfo=UTC) + timedelta(
        days=1
    )
    runs: dict[str, list[dict[str, Any]]] = {"empty": [], "history": []}
    try:
        for url in (empty_url, history_url):
            prepare_database(url)
        for days_before in range(1, args.growth_runs + 1):
            measure_recon(history_url, earlier.path, days_before=days_before)
        with psycopg.connect(history_url, autocommit=True) as conn:
            conn.execute("vacuum (analyze) staging.records")  # settled, as a day-old history would be
        for attempt in range(args.repeat):
            order = ("empty", "history") if attempt % 2 == 0 else ("history", "empty")
            for which in order:
                url = empty_url if which == "empty" else history_url
                with (
                    psycopg.connect(url, autocommit=True) as conn,
                    contextlib.suppress(psycopg.errors.InsufficientPrivilege),
                ):
                    conn.execute("checkpoint")
                runs[which].append(measure_recon(url, csv_stats.path, days_before=-1))
                with psycopg.connect(url, autocommit=True) as conn:
                    # Only the measured window (the day after the bench day) goes, never the history.
                    conn.execute(
                        "delete from staging.quarantine where run_id in (select run_id from"
                        " staging.record_partitions where window_start >= %s)",
                        (measured_from,),
                    )
                    _drop_windows_from(conn, spec_name, measured_from, measured_from + timedelta(days=1))
                print(f"  growth {which}: {runs[which][-1]['wall_s']:.2f} s", file=sys.stderr)
    finally:
        drop_database(server_url, f"{args.database}_empty")
        drop_database(server_url, f"{args.database}_history")
    empty = statistics.median(run["wall_s"] for run in runs["empty"])
    with_history = statistics.median(run["wall_s"] for run in runs["history"])
    return {
        "earlier_runs": args.growth_runs,
        "earlier_rows_each": rows,
        "wall_s_empty": round(empty, 3),
        "wall_s_with_history": round(with_history, 3),
        "ratio": round(with_history / empty, 2),
        "runs": runs["history"],
        "empty_runs": runs["empty"],
    }


def _drop_windows_from(conn: psycopg.Connection, spec: str, start: datetime, end: datetime) -> None:
    """Drop the run partitions of ``spec`` whose window starts in ``[start, end)``."""
    rows = conn.execute(
        "delete from staging.record_partitions where spec = %s and window_start >= %s and window_start < %s"
        " returning partition_name",
        (spec, start, end),
    ).fetchall()
    for (name,) in rows:
        conn.execute(sql.SQL("drop table {}").format(sql.Identifier("staging", name)))


# --- the report -------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": os.cpu_count(), "platform": platform.platform()}
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
        info["cpu_model"] = model.group(1).strip() if model else None
        meminfo = Path("/proc/meminfo").read_text()
        total = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE)
        info["memory_gb"] = round(int(total.group(1)) / 1024**2, 1) if total else None
    except OSError:
        pass
    return info


def _load_average() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def summarize(runs: list[dict[str, Any]], csv_stats: CsvStats) -> dict[str, Any]:
    wall = statistics.median(run["wall_s"] for run in runs)
    rss = [run["peak_rss_kb"] for run in runs if run.get("peak_rss_kb")]
    summary: dict[str, Any] = {
        "wall_s": round(wall, 3),
        "rows_per_s": round(csv_stats.rows / wall),
        "mb_per_s": round(csv_stats.bytes / wall / 1e6, 1),
        "peak_rss_mb": round(statistics.median(rss) / 1024, 1) if rss else None,
        "loaded": runs[-1]["loaded"],
    }
    if "quarantined" in runs[-1]:
        summary["quarantined"] = runs[-1]["quarantined"]
        baseline = [run["rss_baseline_kb"] for run in runs if run.get("rss_baseline_kb")]
        summary["rss_before_load_mb"] = round(statistics.median(baseline) / 1024, 1) if baseline else None
        labels = runs[-1]["phases_s"]
        summary["phases_s"] = {
            label: round(statistics.median(run["phases_s"].get(label, 0.0) for run in runs), 3)
            for label in labels
        }
    summary["runs"] = runs
    return summary


def check_counts(report: dict[str, Any]) -> None:
    rows, bad = report["rows"], report["bad_rows"]
    recon, raw = report["loaders"]["recon"], report["loaders"]["psql_copy"]
    problems = []
    for run in recon["runs"]:
        if (run["loaded"], run["quarantined"]) != (rows - bad, bad):
            problems.append(
                f"recon loaded {run['loaded']} and quarantined {run['quarantined']};"
                f" expected {rows - bad} and {bad}"
            )
    for run in raw["runs"]:
        if run["loaded"] != rows:
            problems.append(f"psql \\copy loaded {run['loaded']} rows; expected {rows}")
    if problems:
        raise BenchError("a loader did not load the whole file:\n  " + "\n  ".join(problems))


def markdown(report: dict[str, Any]) -> str:
    def cell(value: Any, fmt: str = "{}") -> str:
        return "n/a" if value is None else fmt.format(value)

    server = report["server"]
    lines = [
        f"CSV: {report['rows']:,} rows, {report['csv_bytes'] / 1e6:.1f} MB,"
        f" {report['bad_rows']:,} with bad amounts; median of {report['repeat']} run(s) each.",
        f"Server: {server['url']} ({server['version']})",
        f"Machine: {report['machine']['cpus']} CPUs, {report['machine'].get('cpu_model') or '?'}",
        "",
        "| loader | wall s | rows/s | MB/s | peak RSS MB | loaded | quarantined |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, result in report["loaders"].items():
        lines.append(
            f"| {name} | {result['wall_s']:.2f} | {result['rows_per_s']:,} | {result['mb_per_s']:.1f}"
            f" | {cell(result['peak_rss_mb'], '{:.1f}')} | {cell(result['loaded'], '{:,}')}"
            f" | {cell(result.get('quarantined'), '{:,}')} |"
        )
    recon = report["loaders"]["recon"]
    ratio = recon["wall_s"] / report["loaders"]["psql_copy"]["wall_s"]
    lines += ["", f"recon takes {ratio:.2f}x the time of a raw \\copy ({1 / ratio:.0%} of its rows/s).", ""]
    growth = report.get("growth")
    if growth:
        lines += [
            f"With {growth['earlier_runs']} earlier runs of {growth['earlier_rows_each']:,} rows in staging:"
            f" {growth['wall_s_with_history']:.2f} s vs {growth['wall_s_empty']:.2f} s on empty tables"
            f" ({growth['ratio']:.2f}x).",
            "",
        ]
    lines += ["| recon phase | median s | share |", "|---|---:|---:|"]
    for label, seconds in recon["phases_s"].items():
        lines.append(f"| {label} | {seconds:.3f} | {seconds / recon['wall_s']:.0%} |")
    return "\n".join(lines)


# --- entry points -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m include.bench.load", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[1_000_000],
        help="data rows in the CSV; several sizes run in turn",
    )
    parser.add_argument(
        "--growth-runs", type=int, default=30, help="earlier runs loaded for the growth check"
    )
    parser.add_argument(
        "--growth-rows", type=int, default=200_000, help="rows of each earlier run (capped at --rows)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="loads per loader; the median is reported")
    parser.add_argument("--bad-ratio", type=float, default=0.01, help="share of rows with a bad amount")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated rows")
    parser.add_argument(
        "--warehouse-url",
        help="Postgres server to use (default: $RECON_WAREHOUSE_URL, else the local server)",
    )
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="scratch database, dropped at the end")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the JSON goes")
    args = parser.parse_args(argv)
    if min(args.rows) < 1 or args.repeat < 1 or args.growth_runs < 0:
        parser.error("--rows and --repeat must be at least 1")
    if not 0 <= args.bad_ratio < 1:
        parser.error("--bad-ratio must be in [0, 1)")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recon.warehouse import configured_url

    if shutil.which("psql") is None:
        raise BenchError("psql is not on PATH; the peer load needs it (apt-get install postgresql-client)")
    server_url = args.warehouse_url or configured_url() or DEFAULT_SERVER_URL
    spec_layout()  # fail before any work if the spec cannot give a layout
    load_before = _load_average()
    server = describe_server(server_url)
    print(f"Server: {server['url']} ({server['version']})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="recon-bench-") as workdir:
        started = time.perf_counter()
        csv_stats = write_bench_csv(Path(workdir) / "payments.csv", args.rows, args.seed, args.bad_ratio)
        print(
            f"Wrote {csv_stats.rows:,} rows ({csv_stats.bytes / 1e6:.1f} MB) in"
            f" {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        db_url = create_database(server_url, args.database)
        recon_runs: list[dict[str, Any]] = []
        psql_runs: list[dict[str, Any]] = []
        checkpointed = True
        try:
            prepare_database(db_url)
            for attempt in range(args.repeat):
                # Alternate who goes first, so neither always meets the other's leftovers.
                order = ("recon", "psql") if attempt % 2 == 0 else ("psql", "recon")
                for loader in order:
                    checkpointed &= reset_tables(db_url)
                    if loader == "recon":
                        recon_runs.append(measure_recon(db_url, csv_stats.path))
                        result = recon_runs[-1]
                    else:
                        psql_runs.append(measure_psql(db_url, csv_stats.path))
                        result = psql_runs[-1]
                    print(f"  run {attempt + 1} {loader}: {result['wall_s']:.2f} s", file=sys.stderr)
            growth = measure_growth(args, server_url, Path(workdir), csv_stats)
        finally:
            drop_database(server_url, args.database)
    report = {
        "benchmark": "csv staging load: recon vs psql \\copy",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": csv_stats.rows,
        "bad_rows": csv_stats.bad_rows,
        "bad_ratio": args.bad_ratio,
        "seed": args.seed,
        "csv_bytes": csv_stats.bytes,
        "repeat": args.repeat,
        "checkpoint_before_each_load": checkpointed,
        "server": server,
        "psql": subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip(),
        # Other work on the machine skews the figures; a load average well above 1 says so.
        "machine": {**machine(), "load_average_before": load_before, "load_average_after": _load_average()},
        "loaders": {
            "recon": summarize(recon_runs, csv_stats),
            "psql_copy": summarize(psql_runs, csv_stats),
        },
        "growth": growth,
    }
    check_counts(report)
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD_COMMAND]:
        print(json.dumps(recon_child(json.loads(argv[1]))))
        return 0
    return run_sizes("bench-load", parse_args(argv), run, markdown)


def run_sizes(
    name: str,
    args: argparse.Namespace,
    run_one: Callable[[argparse.Namespace], dict[str, Any]],
    render: Callable[[dict[str, Any]], str],
) -> int:
    """Run a benchmark once per ``args.rows`` size, print each table, write every report as JSON."""
    reports = []
    try:
        for rows in args.rows:
            reports.append(run_one(argparse.Namespace(**{**vars(args), "rows": rows})))
            print(render(reports[-1]) + "\n")
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"sizes": reports}, indent=2) + "\n", encoding="utf-8")
    print(f"\nWrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
