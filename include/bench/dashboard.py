"""Benchmark the recon dashboard's server time on a warehouse with a year of runs and a million breaks.

    python -m include.bench.dashboard [--runs 365] [--breaks 1000000] [--specs 3] [--repeat 15]

Issue 10 asks every dashboard page and API call to answer in under 300 ms of server time with a year
of daily runs and a million breaks in the tables. This measures it, in four steps:

1. **Warehouse.** A scratch database (``recon_bench_dashboard``, dropped at the end unless ``--keep``)
   on ``--warehouse-url``, else ``$RECON_WAREHOUSE_URL``, else an embedded Postgres in a temporary
   folder. recon's own tables come from ``ensure_schema``; dbt's (``run_breaks``, ``breaks``,
   ``run_summary``) from one real ``dbt run`` of a tiny run, so their columns are exactly dbt's; that
   run's rows are deleted.
2. **Seed**, set-based SQL (include/bench/_dashboard_seed.py): ``--runs`` daily runs of each of
   ``--specs`` specs and ``--breaks`` breaks with their sightings, summaries, integrity results,
   alerts, quarantined rows, reviews and corrections; then the dashboard's indexes
   (``recon.dashboard.indexes``) and ``VACUUM ANALYZE``, as a warehouse autovacuum keeps.
3. **Measure**, in a child process with an Airflow home of its own (include/bench/_dashboard_measure.py),
   started at the beginning so Airflow's start-up overlaps dbt and the seed: Airflow's API server app
   with this project's plugins (the dashboard mounted at ``/recon`` as in production), an admin's real
   JWT, Starlette's ``TestClient``. Every page and JSON endpoint, every breaks filter and sort, deep
   pages, the CSV exports (first byte and complete), the polling endpoint and bulk actions (ignore,
   resolve, plan corrections), as listed by include/bench/_dashboard_endpoints.py; each called once to
   warm up, then ``--repeat`` times, taking turns. Server time is taken at the outermost ASGI layer;
   the time in SQL is added up inside it.
4. **Floors**, in psql: the heaviest read's slowest statement alone (``\\timing``, the same literal
   SQL), and the biggest export as Postgres's own ``COPY ... TO STDOUT (FORMAT csv)``.

Every call must answer 200 with the number of rows the seeded tables say it shows, or the bench
fails. The table goes to stdout, every sample and the seed's shape to ``.demo/bench/dashboard.json``
(``--output``). See include/bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from include.bench._dashboard_endpoints import action_endpoints, read_endpoints
from include.bench._dashboard_measure import ENDPOINTS_FILE, RESULTS_FILE
from include.bench._dashboard_seed import TARGET_CONNECTION, TARGET_TABLE, seed
from include.bench.load import (
    BenchError,
    _child_environment,
    _load_average,
    create_database,
    describe_server,
    machine,
)
from include.bench.match import dbt_environment

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE = "recon_bench_dashboard"
DEFAULT_OUTPUT = PROJECT_ROOT / ".demo" / "bench" / "dashboard.json"
TARGET_MS = 300
SPEC_PREFIX = "bench_dash_"
MEASURE_CHILD = "_measure-child"


# --- the specs the dashboard shows ------------------------------------------------------------------------


def spec_names(count: int) -> list[str]:
    return [f"{SPEC_PREFIX}{number}" for number in range(1, count + 1)]


def spec_document(name: str, corrected: bool) -> dict[str, Any]:
    """processor (the truth) against ledger; the first spec declares corrections of the ledger."""
    fields = {"record_key": "id", "amount": "amount", "currency": "currency", "occurred_at": "at",
              "status": "status", "customer_email": "email"}  # fmt: skip
    document: dict[str, Any] = {
        "name": name, "description": f"bench-dashboard: payments processor vs ledger ({name})",
        "owner": "bench", "schedule": "@daily",
        "sources": [{"name": source, "type": "sftp_csv", "connection": "unused", "path": f"/{source}.csv",
                     "fields": fields} for source in ("processor", "ledger")],
    }  # fmt: skip
    if corrected:
        document["corrections"] = {
            "source": "ledger", "connection": TARGET_CONNECTION, "table": TARGET_TABLE,
            "key": "entry_key", "row_id": "entry_id", "order_by": "booked_at",
            "columns": {"amount": "amount", "currency": "currency", "status": "status",
                        "occurred_at": "booked_at"},
        }  # fmt: skip
    return document


def write_specs(folder: Path, names: list[str]) -> None:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        text = yaml.safe_dump(spec_document(name, corrected=index == 0), sort_keys=False)
        (folder / f"{name}.yml").write_text(text, encoding="utf-8")


# --- the dbt-owned tables, made by dbt ----------------------------------------------------------------


TINY_RECORDS = (("processor", "a", "1.00"), ("ledger", "a", "2.00"), ("processor", "b", "3.00"))
DBT_OWNED = (
    "reconciliation.breaks", "reconciliation.run_breaks", "reconciliation.run_summary",
    "recon_intermediate.int_records_matched", "staging.records", "staging.pair_settings",
)  # fmt: skip


def dbt_tables_command(db_url: str, spec_name: str, workdir: Path) -> tuple[list[str], str]:
    """A tiny real run (three records, two breaks) staged, and the ``dbt run --select +breaks`` that
    matches it: the result tables get exactly the columns and indexes dbt gives them."""
    from recon.matching import dbt_run_vars, write_pair_settings
    from recon.spec import Spec
    from recon.window import RunWindow

    spec = Spec.model_validate(spec_document(spec_name, corrected=True))
    window = RunWindow(spec_name, datetime(2000, 1, 1, tzinfo=UTC), datetime(2000, 1, 2, tzinfo=UTC))
    with psycopg.connect(db_url, autocommit=True) as conn:
        write_pair_settings(conn, spec, window)
        for source, key, amount in TINY_RECORDS:
            conn.execute(
                "insert into staging.records (spec, source, run_id, window_start, window_end, record_key,"
                " amount, currency, occurred_at, origin)"
                " values (%s, %s, %s, %s, %s, %s, %s, 'USD', %s, 'bench')",
                (spec_name, source, window.run_id, window.start, window.end, key, amount, window.start),
            )  # fmt: skip
    target = workdir / "dbt-target"
    command = [str(Path(sys.executable).with_name("dbt")), "run", "--select", "+breaks", "--project-dir",
               str(PROJECT_ROOT / "dbt_project"), "--profiles-dir", str(PROJECT_ROOT / "dbt_project"),
               "--target-path", str(target), "--log-path", str(target), "--vars",
               json.dumps(dbt_run_vars(window, timedelta(0))), "--quiet"]  # fmt: skip
    return command, window.run_id


def drop_tiny_run(db_url: str, run_id: str) -> None:
    """The tiny run's rows go: the seed is the warehouse's whole history."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        for table in DBT_OWNED:
            statement = sql.SQL("delete from {} where run_id = %s").format(sql.Identifier(*table.split(".")))
            conn.execute(statement, (run_id,))


# --- the Airflow API server, in a child process ---------------------------------------------------------


def airflow_env(home: Path, db_url: str, specs_dir: Path, passwords: Path) -> dict[str, str]:
    """A self-contained Airflow (SQLite metadata in ``home``) serving this project's plugins, with
    SimpleAuthManager's user ``admin`` and the warehouse and the corrected system as connections."""
    from include.local_stack import airflow_environment
    from recon.warehouse import airflow_connection

    return {
        **_child_environment(),
        **airflow_environment(home),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API__BASE_URL": "http://localhost:8080/",
        "AIRFLOW_CONN_RECON_WAREHOUSE": airflow_connection(db_url),
        f"AIRFLOW_CONN_{TARGET_CONNECTION.upper()}": airflow_connection(db_url),
        "RECON_SPECS_DIR": str(specs_dir),
        "RECON_DASHBOARD_CONNECTION": "recon_warehouse",
    }


# --- the floor: the heaviest statement alone, in psql -----------------------------------------------------


def _psql_times(db_url: str, statement: str, repeat: int) -> list[float]:
    """``statement`` run ``repeat`` + 1 times by one psql process with ``\\timing``, output discarded;
    the times of all but the first (which warms up), in ms."""
    if shutil.which("psql") is None:
        raise BenchError("psql is not on PATH; the floor needs it (apt-get install postgresql-client)")
    script = "\\timing on\n\\o /dev/null\n" + f"{statement.rstrip().rstrip(';')};\n" * (repeat + 1)
    command = ["psql", "--no-psqlrc", "--set=ON_ERROR_STOP=1", "--quiet", f"--dbname={db_url}"]
    done = subprocess.run(command, input=script, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"the floor (psql) failed (exit {done.returncode}):\n{done.stderr.strip()[-2000:]}")
    times = [float(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("Time: ")]
    return times[1:]


def measure_floor(db_url: str, heaviest: dict[str, Any], repeat: int) -> dict[str, Any]:
    """The heaviest read's slowest statement alone in psql, and its plan (``EXPLAIN (ANALYZE,
    BUFFERS)``, for the JSON)."""
    times = _psql_times(db_url, heaviest["sql"], repeat)
    with psycopg.connect(db_url) as conn:
        explain = sql.SQL("explain (analyze, buffers) " + heaviest["sql"])  # type: ignore[arg-type]
        plan = "\n".join(row[0] for row in conn.execute(explain).fetchall())
    return {**heaviest, "samples_ms": times, "median_ms": statistics.median(times), "plan": plan}


def measure_copy_floor(db_url: str, export: dict[str, Any], repeat: int) -> dict[str, Any]:
    """The run's breaks export done by Postgres itself: ``COPY (the same rows and columns, same order)
    TO STDOUT (FORMAT csv)`` in psql, output discarded. No masking, no formula guard: a floor."""
    from recon.dashboard.export import BREAK_COLUMNS

    with psycopg.connect(db_url) as conn:
        statement = sql.SQL(
            "copy (select {} from reconciliation.run_breaks where run_id = {}"
            " order by discrepancy_amount desc, break_id desc) to stdout with (format csv, header)"
        ).format(sql.SQL(", ").join(map(sql.Identifier, BREAK_COLUMNS)), sql.Literal(export["run_id"]))
        text = statement.as_string(conn)
    times = _psql_times(db_url, text, repeat)
    return {"endpoint": export["name"], "rows": export["expected"], "samples_ms": times,
            "median_ms": statistics.median(times)}  # fmt: skip


# --- the report -----------------------------------------------------------------------------------------


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def summarize(endpoint: dict[str, Any], samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per endpoint (two for a CSV export: first byte, and complete) from the timed calls."""
    timed = samples[1:] or samples
    figure = "first_byte_ms" if endpoint["group"] == "export" else "server_ms"
    rows = [(endpoint["name"] + (" first byte" if endpoint["group"] == "export" else ""), figure, True)]
    if endpoint["group"] == "export":
        rows.append((endpoint["name"] + " complete", "server_ms", False))
    out = []
    for name, key, judged in rows:
        values = [sample[key] for sample in timed]
        median, p95 = statistics.median(values), _p95(values)
        out.append({
            "endpoint": name, "path": endpoint["path"], "median_ms": round(median, 1),
            "p95_ms": round(p95, 1),
            "connect_ms": round(statistics.median(s["connect_ms"] for s in timed), 1),
            "sql_ms": round(statistics.median(s["sql_ms"] for s in timed), 1),
            "rows": timed[-1]["rows"], "expected_rows": endpoint["expected"],
            "under_target": (p95 < TARGET_MS) if judged else None, "group": endpoint["group"],
        })  # fmt: skip
    return out


def check(endpoints: list[dict[str, Any]], results: dict[str, list[dict[str, Any]]]) -> None:
    """Every call answered 200 with the rows the seeded tables say it must show, or the bench fails."""
    problems = []
    for endpoint in endpoints:
        for number, sample in enumerate(results[endpoint["name"]]):
            if sample["status"] != 200 or sample["rows"] != endpoint["expected"]:
                problems.append(
                    f"{endpoint['name']} (call {number}): {sample['status']}, {sample['rows']} rows,"
                    f" expected 200 and {endpoint['expected']} rows {sample['body'] or ''}".strip()
                )
    if problems:
        raise BenchError("wrong answers:\n  " + "\n  ".join(problems[:20]))


def markdown(report: dict[str, Any]) -> str:
    rows, breaks, runs = report["seed"]["rows"], report["seed"]["breaks"], report["seed"]["runs"]
    machine_note, server = report["machine"], report["server"]
    lines = [
        f"Seed: {report['runs']} daily runs x {report['specs']} specs ({rows['reconciliation.runs']:,} runs:"
        f" {', '.join(f'{k} {v:,}' for k, v in sorted(runs.items()))}); {rows['reconciliation.breaks']:,}"
        f" breaks (open {breaks.get('status=open', 0):,}, resolved {breaks.get('status=resolved', 0):,},"
        f" ignored {breaks.get('status=ignored', 0):,}); {rows['reconciliation.run_breaks']:,} rows in"
        " run_breaks;"
        f" seeded in {sum(report['seed']['steps_s'].values()):.0f} s.",
        f"Server: {server['url']} ({server['version'].split(' on ')[0]}); {machine_note['cpus']} CPUs;"
        f" load average {machine_note['load_average_before']} before, {machine_note['load_average_after']}"
        f" after. Each endpoint: 1 warm-up + {report['repeat']} timed call(s), taking turns.",
        "",
        f"| endpoint | median ms | p95 ms | SQL ms | rows | under {TARGET_MS} ms (p95) |",
        "|---|---:|---:|---:|---:|---|",
    ]  # fmt: skip
    for row in report["endpoints"]:
        verdict = {None: "n/a (streamed)", True: "yes", False: "**no**"}[row["under_target"]]
        lines.append(
            f"| {row['endpoint']} | {row['median_ms']:.1f} | {row['p95_ms']:.1f} | {row['sql_ms']:.1f}"
            f" | {row['rows']:,} | {verdict} |"
        )
    floor, copy = report["floor"], report["copy_floor"]
    missed = [row["endpoint"] for row in report["endpoints"] if row["under_target"] is False]
    lines += [
        "",
        f"Floor: the heaviest read, {floor['endpoint']} (median {floor['endpoint_median_ms']:.1f} ms), spends"
        f" {floor['statement_ms']:.1f} ms (median) in its slowest statement; that statement alone in psql:"
        f" {floor['median_ms']:.1f} ms (median of {len(floor['samples_ms'])}).",
        f"Export floor: {copy['rows']:,} rows of {copy['endpoint']} as CSV by Postgres's own COPY in psql:"
        f" {copy['median_ms']:.1f} ms (median).",
        f"Opening a warehouse connection: median {report['connect_ms']:.1f} ms per request (the dashboard"
        f" keeps idle ones). Not timed: Airflow's metadata DB ({report['airflow_migrate_s']:.1f} s) and app"
        f" ({report['app_start_s']:.1f} s) starting.",
        f"Over {TARGET_MS} ms (p95): " + (", ".join(missed) if missed else "none"),
    ]  # fmt: skip
    return "\n".join(lines)


# --- entry points ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m include.bench.dashboard", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--runs", type=int, default=365, help="daily runs per spec (at least 3)")
    parser.add_argument("--breaks", type=int, default=1_000_000, help="distinct breaks in all")
    parser.add_argument("--specs", type=int, default=3, help="reconciliations (specs)")
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per endpoint, after one warm-up")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated warehouse")
    parser.add_argument(
        "--warehouse-url", help="Postgres server (default: $RECON_WAREHOUSE_URL, else an embedded one)"
    )
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="scratch database, dropped at the end")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the JSON goes")
    parser.add_argument("--keep", "--keep-database", dest="keep", action="store_true",
                        help="leave the scratch database (for EXPLAIN); an embedded server's goes"
                             " anyway")  # fmt: skip
    args = parser.parse_args(argv)
    if args.runs < 3 or args.breaks < 100 or args.specs < 1 or args.repeat < 1:
        parser.error("--runs must be at least 3, --breaks at least 100, --specs and --repeat at least 1")
    return args


def server_url(args: argparse.Namespace, workdir: Path) -> str:
    from recon.warehouse import configured_url, start_embedded

    return args.warehouse_url or configured_url() or start_embedded(workdir / "pgdata", cleanup="delete")


def _background(command: list[str], env: dict[str, str], log: Path, stack: ExitStack) -> subprocess.Popen:
    """A child process writing to ``log``, stopped (by its own id) if the bench ends before it does."""
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    stack.callback(lambda: process.poll() is None and process.kill())
    return process


def _wait(process: subprocess.Popen, log: Path, what: str, timeout: float | None = None) -> None:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise BenchError(f"{what} did not finish within {timeout:.0f} s") from None
    if process.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]
        raise BenchError(f"{what} failed (exit {process.returncode}):\n{tail}")


def prepare(args: argparse.Namespace, db_url: str, workdir: Path, stack: ExitStack) -> dict[str, Any]:
    """The specs, the measuring child (starting Airflow meanwhile), dbt's tiny run, the seed and
    what to ask. Returns the seed's figures and the endpoints."""
    from recon.staging.schema import ensure_schema

    names = spec_names(args.specs)
    with psycopg.connect(db_url, autocommit=True) as conn:
        ensure_schema(conn)
    password = secrets.token_urlsafe(18)
    (workdir / "passwords.json").write_text(json.dumps({"admin": password}), encoding="utf-8")
    write_specs(workdir / "specs", names)
    (workdir / "airflow").mkdir()
    env = airflow_env(workdir / "airflow", db_url, workdir / "specs", workdir / "passwords.json")
    command = [sys.executable, "-m", "include.bench.dashboard", MEASURE_CHILD, str(workdir)]
    child = _background(command, env, workdir / "measure.log", stack)
    command, tiny_run = dbt_tables_command(db_url, names[0], workdir)
    started = time.perf_counter()
    dbt_env = {**_child_environment(), **dbt_environment(db_url)}
    _wait(_background(command, dbt_env, workdir / "dbt.log", stack), workdir / "dbt.log", "dbt run")
    print(f"  dbt run (the result tables): {time.perf_counter() - started:.1f} s", file=sys.stderr)
    drop_tiny_run(db_url, tiny_run)
    base = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=args.runs)
    started = time.perf_counter()
    seeded = seed(db_url, spec_names(args.specs), args.runs, args.breaks, base, args.seed)
    print(f"Seeded in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    with psycopg.connect(db_url) as conn:
        endpoints = read_endpoints(conn, names, datetime.now(UTC))
        endpoints += action_endpoints(conn, names, args.repeat)
    return {"child": child, "log": workdir / "measure.log", "password": password, "seed": seeded,
            "endpoints": endpoints}  # fmt: skip


def measure(prepared: dict[str, Any], db_url: str, repeat: int, workdir: Path) -> dict[str, Any]:
    """Hand the endpoints to the measuring child (include/bench/_dashboard_measure.py) and wait."""
    endpoints = prepared["endpoints"]
    config = {"url": db_url, "password": prepared["password"], "endpoints": endpoints, "repeat": repeat}
    pending = workdir / f"{ENDPOINTS_FILE}.part"
    pending.write_text(json.dumps(config, default=str), encoding="utf-8")
    pending.rename(workdir / ENDPOINTS_FILE)
    print(f"Measuring {len(endpoints)} endpoints x {repeat + 1} calls", file=sys.stderr)
    _wait(prepared["child"], prepared["log"], "the measuring process")
    measured = json.loads((workdir / RESULTS_FILE).read_text(encoding="utf-8"))
    check(endpoints, measured["results"])
    return measured


def run(args: argparse.Namespace) -> dict[str, Any]:
    from include.bench.match import drop_database_now

    load_before = _load_average()
    with tempfile.TemporaryDirectory(prefix="recon-bench-dashboard-") as folder, ExitStack() as stack:
        workdir = Path(folder)
        server = server_url(args, workdir)
        described = describe_server(server)
        print(f"Server: {described['url']} ({described['version']})", file=sys.stderr)
        db_url = create_database(server, args.database)
        try:
            prepared = prepare(args, db_url, workdir, stack)
            measured = measure(prepared, db_url, args.repeat, workdir)
            endpoints, results = prepared["endpoints"], measured["results"]
            rows = [row for endpoint in endpoints for row in summarize(endpoint, results[endpoint["name"]])]
            floor = measure_floor(db_url, heaviest(endpoints, results, rows), args.repeat)
            export = next(e for e in endpoints if e["group"] == "export" and "run_id" in e)
            copy_floor = measure_copy_floor(db_url, export, args.repeat)
        finally:
            if not args.keep:
                drop_database_now(server, args.database)
    timed = [sample for calls in results.values() for sample in calls[1:]]
    return {
        "benchmark": "dashboard server time (Airflow's API server app in process, Starlette TestClient)",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "runs": args.runs, "specs": args.specs, "breaks": args.breaks, "repeat": args.repeat,
        "seed": prepared["seed"], "server": described, "airflow_migrate_s": measured["migrate_s"],
        "app_start_s": measured["app_start_s"],
        "machine": {**machine(), "load_average_before": load_before, "load_average_after": _load_average()},
        "connect_ms": statistics.median(sample["connect_ms"] for sample in timed),
        "endpoints": rows, "floor": floor, "copy_floor": copy_floor,
        "samples": {name: [{k: v for k, v in s.items() if k != "body"} for s in calls]
                    for name, calls in results.items()},
    }  # fmt: skip


def heaviest(endpoints: list[dict[str, Any]], results: dict[str, Any], rows: list[dict[str, Any]]) -> dict:
    """The read (page or JSON, not an export) with the highest median, and its slowest statement."""
    reads = [row for row in rows if row["group"] == "read"]
    worst = max(reads, key=lambda row: row["median_ms"])
    statement = results[worst["endpoint"]][-1]["slowest_statement"]
    return {
        "endpoint": worst["endpoint"], "endpoint_median_ms": worst["median_ms"],
        "statement_ms": statement["ms"], "sql": statement["sql"],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [MEASURE_CHILD]:
        from include.bench._dashboard_measure import measure_child

        measure_child(Path(argv[1]))
        return 0
    args = parse_args(argv)
    try:
        report = run(args)
    except BenchError as exc:
        print(f"bench-dashboard: {exc}", file=sys.stderr)
        return 1
    print(markdown(report))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nWrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
