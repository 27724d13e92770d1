"""Benchmark recon's matching pipeline against datacompy and a bare-SQL floor, on the same two files.

    python -m include.bench.match --rows 1000000 [--break-rate 0.001] [--warehouse-url URL]

Two CSV files of payments (left ``processor``, right ``ledger``; payment_id, amount in major units as
exact text, currency, created_at) are generated with known injected breaks: records only on one side,
amounts off by more than the tolerance, and amounts off by exactly the tolerance (not breaks: the
boundary is inclusive). Then, in one run, on the same files:

* ``recon``: each file loaded by the project's CSV loader (one child process per file, as one Airflow
  task per source would), the pair settings written, the run's partition analyzed (as the DAG's
  validate_staging task does), and ``dbt build --select +run_breaks`` in a child process; the breaks
  are counted in ``reconciliation.run_breaks``;
* ``datacompy``: a child process reads both CSVs with pandas and compares them with
  ``datacompy.PandasCompare`` on the same key and tolerance;
* ``floor``: one ``psql`` process copies both files into unlogged tables and counts the breaks with one
  full outer join.

Wall time and peak RSS of every process are printed as a Markdown table and written as JSON
(``.demo/bench/match.json``). Everything runs in a scratch database (``recon_bench_match``), dropped at
the end. See include/bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from include.bench import _match_data as data
from include.bench.load import (
    BenchError,
    _child_environment,
    _load_average,
    _vm_hwm_kb,
    create_database,
    describe_server,
    machine,
    run_sizes,
)

if TYPE_CHECKING:
    from recon.spec import Spec
    from recon.window import RunWindow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_DATABASE = "recon_bench_match"
DEFAULT_OUTPUT = PROJECT_ROOT / ".demo" / "bench" / "match.json"
SPEC_NAME = "bench_match"
TOLERANCE = "0.01"
WINDOW_START = datetime(data.WINDOW_DAY.year, data.WINDOW_DAY.month, data.WINDOW_DAY.day, tzinfo=UTC)
DBT_SELECT = ("build", "--select", "+run_breaks", "--exclude", "test_type:unit")
LOAD_CHILD, DBT_CHILD, DATACOMPY_CHILD = "_load-child", "_dbt-child", "_datacompy-child"
INTEGRITY_CHILD = "_integrity-child"
RSS_TARGET_MB = 300


# --- the spec the pipeline runs -----------------------------------------------------------------------


def bench_spec() -> Spec:
    """Two CSV sources keyed by payment_id, amounts compared with ``TOLERANCE``, nothing else.

    Near-duplicate detection is off: datacompy and the floor have no such notion, and with it on the
    pipeline would also look for same-side records close in amount and time, which is not compared here.
    """
    from recon.spec import Spec

    fields = {
        "record_key": "payment_id",
        "amount": "amount",
        "currency": "currency",
        "occurred_at": "created_at",
    }
    sources = [
        {"name": name, "type": "sftp_csv", "connection": "unused", "path": f"/{name}.csv",
         "amount_unit": "major", "fields": fields}
        for name in (data.LEFT, data.RIGHT)
    ]  # fmt: skip
    return Spec.model_validate(
        {
            "name": SPEC_NAME,
            "description": "bench-match: processor vs ledger",
            "owner": "bench",
            "schedule": "@daily",
            "sources": sources,
            "reconcile": {
                "pairs": [
                    {
                        "left": data.LEFT,
                        "right": data.RIGHT,
                        "keys": ["record_key"],
                        "compare": {"amount": {"tolerance": TOLERANCE}},
                        "duplicates": {"near": None},
                    }
                ]
            },
        }
    )


def bench_window() -> RunWindow:
    from recon.window import RunWindow

    return RunWindow(SPEC_NAME, WINDOW_START, WINDOW_START + timedelta(days=1))


# --- child processes --------------------------------------------------------------------------------


def load_child(config: dict[str, Any]) -> dict[str, Any]:
    """One source's file through the real loader, as one Airflow task would load it."""
    from recon.sources.base import FetchedFile
    from recon.staging.csv_loader import replace_window_from_files

    started = time.perf_counter()
    source = bench_spec().source(config["source"])
    path = Path(config["csv"])
    fetched = FetchedFile(path, f"file://{path}", str(path), path.stat().st_size, "")
    with psycopg.connect(config["url"]) as conn:
        result = replace_window_from_files(conn, bench_window(), source, [fetched])
    return {
        "wall_s": time.perf_counter() - started,
        "loaded": result.loaded,
        "quarantined": result.quarantined,
        "peak_rss_kb": _vm_hwm_kb(),
    }


def dbt_environment(url: str) -> dict[str, str]:
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    return {
        "RECON_WAREHOUSE_HOST": parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0],
        "RECON_WAREHOUSE_PORT": str(parts.port or 5432),
        "RECON_WAREHOUSE_USER": parts.username or "postgres",
        "RECON_WAREHOUSE_PASSWORD": parts.password or "",
        "RECON_WAREHOUSE_DBNAME": parts.path.lstrip("/"),
    }


def dbt_child(config: dict[str, Any]) -> dict[str, Any]:
    """``dbt build`` through dbt's own programmatic entry point, so this process *is* the dbt process.

    Run this way (rather than the ``dbt`` script in a subprocess) the process can read its own peak
    RSS when dbt is done; the work is the same as the CLI's.
    """
    from dbt.cli.main import dbtRunner

    started = time.perf_counter()
    os.environ.update(dbt_environment(config["url"]))
    args = [*DBT_SELECT, "--project-dir", str(PROJECT_ROOT / "dbt_project"), "--profiles-dir",
            str(PROJECT_ROOT / "dbt_project"), "--target-path", config["target_path"], "--log-path",
            config["target_path"], "--vars", json.dumps(config["vars"]), "--quiet"]  # fmt: skip
    outcome = dbtRunner().invoke(args)
    wall = time.perf_counter() - started
    results = getattr(outcome.result, "results", None) or []
    nodes = {r.node.name: round(r.execution_time, 3) for r in results}
    failures = [f"{r.node.name}: {r.message}" for r in results if str(r.status) in ("error", "fail")]
    if outcome.exception is not None:
        failures.append(str(outcome.exception))
    return {
        "success": bool(outcome.success),
        "error": "; ".join(failures) or None,
        "wall_s": wall,
        "nodes_s": nodes,
        "peak_rss_kb": _vm_hwm_kb(),
    }


def integrity_child(config: dict[str, Any]) -> dict[str, Any]:
    """One integrity checkpoint of the run, as the DAG's validate_staging / validate_results task runs it:
    the spec's default rules generated into GX suites, checked in the warehouse, stored."""
    started = time.perf_counter()
    import great_expectations  # noqa: F401  (timed apart: every checkpoint task pays it once)

    from recon.integrity import validate
    from recon.warehouse import sqlalchemy_url_of

    imported = time.perf_counter()
    window = bench_window()
    url = sqlalchemy_url_of(config["url"])
    # As the DAG's task runs it: the checks, Data Docs rendered, the outcome stored.
    results = validate.run_checkpoint(
        bench_spec(), window, config["checkpoint"], url, Path(config["docs_dir"])
    )
    with psycopg.connect(config["url"]) as conn:
        validate.store_results(conn, window, config["checkpoint"], results)
    done = time.perf_counter()
    # The same checks again without Data Docs, so the two costs show apart (not part of the task).
    validate.run_checkpoint(bench_spec(), window, config["checkpoint"], url, None)
    rerun = time.perf_counter() - done
    return {
        "wall_s": done - started,
        "import_s": imported - started,
        "check_s": rerun,
        "docs_s": done - imported - rerun,
        "rerun_s": rerun,
        "failed": [f"{r.check.rule.rule_name} on {r.check.source}" for r in results if not r.success],
        "checked": len(results),
        "peak_rss_kb": _vm_hwm_kb(),
    }


def datacompy_child(config: dict[str, Any]) -> dict[str, Any]:
    """Read both CSVs with pandas and compare them with datacompy on payment_id and the tolerance.

    Amounts are read as text and turned into integer minor units (the files always carry two
    decimals), compared with ``abs_tol`` = the tolerance in minor units. As floats, 12.35 - 12.34 is
    0.009999999999999787 or 0.010000000000000675 depending on the values, so the inclusive boundary
    (a difference of exactly the tolerance is no break) would be decided by rounding error.
    """
    started = time.perf_counter()
    import datacompy
    import pandas as pd

    imported = time.perf_counter()

    def read(path: str) -> pd.DataFrame:
        frame = pd.read_csv(
            path, dtype={"payment_id": str, "amount": str, "currency": str, "created_at": str}
        )
        frame["amount"] = frame["amount"].str.replace(".", "", regex=False).astype("int64")
        return frame

    left, right = read(config["left"]), read(config["right"])
    compare = datacompy.PandasCompare(
        left, right, join_columns="payment_id", abs_tol=config["abs_tol_minor"], df1_name=data.LEFT,
        df2_name=data.RIGHT,
    )  # fmt: skip
    only_left, only_right = len(compare.df1_unq_rows), len(compare.df2_unq_rows)
    mismatched = len(compare.intersect_rows) - int(compare.count_matching_rows())
    return {
        "wall_s": time.perf_counter() - started,
        "import_s": imported - started,
        "breaks": {
            "missing_in_ledger": only_left,
            "missing_in_processor": only_right,
            "amount_mismatch": mismatched,
        },
        "peak_rss_kb": _vm_hwm_kb(),
    }


def _child(command: str, config: dict[str, Any], what: str, timeout: float | None = None) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "include.bench.match", command, json.dumps(config)],
            capture_output=True, text=True, cwd=PROJECT_ROOT, env=_child_environment(), check=False,
            timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what} did not finish within {timeout:.0f} s") from None
    process_wall = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}):\n{done.stderr.strip()[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = process_wall
    return result


# --- the three methods --------------------------------------------------------------------------------


def analyze_run(db_url: str) -> dict[str, Any]:
    """Statistics for the run's fresh partition, as the DAG's validate_staging task collects them."""
    from recon.staging.partitions import analyze_run as analyze

    started = time.perf_counter()
    with psycopg.connect(db_url) as conn:
        analyze(conn, bench_window())
    return {"process_wall_s": time.perf_counter() - started, "peak_rss_kb": None}


def measure_recon(
    db_url: str, files: data.PairFiles, target_path: Path, args: argparse.Namespace
) -> dict[str, Any]:
    from recon.matching import write_pair_settings

    window = bench_window()
    started = time.perf_counter()
    with psycopg.connect(db_url) as conn:
        write_pair_settings(conn, bench_spec(), window)
    processes = {"settings": {"process_wall_s": time.perf_counter() - started, "peak_rss_kb": None}}
    for source, path in ((data.LEFT, files.left), (data.RIGHT, files.right)):
        config = {"url": db_url, "source": source, "csv": str(path)}
        processes[f"load_{source}"] = _child(LOAD_CHILD, config, f"recon load of {source}")
        print(
            f"  recon load {source}: {processes[f'load_{source}']['process_wall_s']:.2f} s", file=sys.stderr
        )
    processes["analyze"] = analyze_run(db_url)
    docs_dir = str(target_path.parent / "data_docs")
    processes["integrity_staging"] = _integrity(db_url, "staging", docs_dir)
    config = {"url": db_url, "vars": window.as_dict(), "target_path": str(target_path)}
    processes["dbt"] = _child(DBT_CHILD, config, "dbt build", timeout=args.dbt_timeout)
    if not processes["dbt"]["success"]:
        raise BenchError(f"dbt build failed: {processes['dbt']['error']} (logs in {target_path})")
    print(f"  recon dbt build: {processes['dbt']['process_wall_s']:.2f} s", file=sys.stderr)
    processes["integrity_results"] = _integrity(db_url, "results", docs_dir)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "select break_class, missing_in, count(*) from reconciliation.run_breaks where run_id = %s"
            " group by 1, 2",
            (window.run_id,),
        ).fetchall()
        outcomes = dict(
            conn.execute(
                "select outcome, count(*) from recon_intermediate.int_records_matched where run_id = %s"
                " group by 1",
                (window.run_id,),
            ).fetchall()
        )
    breaks: dict[str, int] = {}
    for break_class, missing_in, count in rows:
        label = f"missing_in_{missing_in}" if break_class == "missing" else break_class
        breaks[label] = breaks.get(label, 0) + count
    return {
        "wall_s": sum(p["process_wall_s"] for p in processes.values()),
        "peak_rss_kb": max(p["peak_rss_kb"] or 0 for p in processes.values()),
        "breaks": breaks,
        "outcomes": outcomes,
        "processes": processes,
    }


def _integrity(db_url: str, checkpoint: str, docs_dir: str) -> dict[str, Any]:
    config = {"url": db_url, "checkpoint": checkpoint, "docs_dir": docs_dir}
    result = _child(INTEGRITY_CHILD, config, f"integrity checkpoint {checkpoint}")
    result["process_wall_s"] -= result["rerun_s"]  # the comparison run is not the task's work
    if result["failed"]:
        raise BenchError(f"integrity checkpoint {checkpoint}: rules failed on clean data: {result['failed']}")
    print(f"  recon integrity {checkpoint}: {result['process_wall_s']:.2f} s", file=sys.stderr)
    return result


def measure_datacompy(files: data.PairFiles) -> dict[str, Any]:
    minor = int(data.MINOR_PER_MAJOR * float(TOLERANCE) + 0.5)
    config = {"left": str(files.left), "right": str(files.right), "abs_tol_minor": minor}
    result = _child(DATACOMPY_CHILD, config, "datacompy")
    result["wall_s"] = result["process_wall_s"]  # end to end: interpreter, imports, reads, compare
    return result


FLOOR_SQL = """
create unlogged table floor_left (payment_id text, amount numeric, currency text, created_at text);
create unlogged table floor_right (payment_id text, amount numeric, currency text, created_at text);
\\copy floor_left from '{left}' csv header
\\copy floor_right from '{right}' csv header
select
    count(*) filter (where r.payment_id is null) as missing_in_ledger,
    count(*) filter (where l.payment_id is null) as missing_in_processor,
    count(*) filter (where abs(l.amount - r.amount) > {tolerance}) as amount_mismatch
from floor_left as l full outer join floor_right as r on l.payment_id = r.payment_id;
\\! grep VmHWM /proc/$PPID/status || true
"""


def measure_floor(db_url: str, files: data.PairFiles) -> dict[str, Any]:
    """One psql process: create, two \\copy, one full outer join; the least any method must do."""
    script = FLOOR_SQL.format(
        left=str(files.left).replace("'", "''"),
        right=str(files.right).replace("'", "''"),
        tolerance=TOLERANCE,
    )
    command = ["psql", "--no-psqlrc", "--set=ON_ERROR_STOP=1", "--tuples-only", "--no-align",
               "--field-separator=,", "--quiet", f"--dbname={db_url}"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, input=script, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"the floor (psql) failed (exit {done.returncode}):\n{done.stderr.strip()}")
    counts = hwm = None
    for line in done.stdout.splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
        elif line.count(",") == 2:
            counts = [int(value) for value in line.split(",")]
    if counts is None:
        raise BenchError(f"the floor printed no counts:\n{done.stdout}")
    breaks = dict(zip(("missing_in_ledger", "missing_in_processor", "amount_mismatch"), counts, strict=True))
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("drop table floor_left, floor_right")
    return {"wall_s": wall, "peak_rss_kb": hwm, "breaks": breaks}


def drop_database_now(server_url: str, database: str) -> None:
    """Drop the scratch database even if a timed-out dbt left a backend working in it."""
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(database)))


# --- the report -------------------------------------------------------------------------------------


def _mb(kb: int | None) -> float | None:
    return None if not kb else round(kb / 1024, 1)


def check(report: dict[str, Any]) -> list[str]:
    """What missed a target; the break counts of recon and the floor must be exact, or the bench fails."""
    expected = report["expected_breaks"]
    problems, misses = [], []
    for name in ("recon", "floor"):
        if report["methods"][name]["breaks"] != expected:
            problems.append(f"{name} found {report['methods'][name]['breaks']}; injected {expected}")
    if report["methods"]["datacompy"]["breaks"] != expected:
        misses.append(f"datacompy found {report['methods']['datacompy']['breaks']}; injected {expected}")
    if problems:
        raise BenchError("wrong break counts:\n  " + "\n  ".join(problems + misses))
    recon = report["methods"]["recon"]
    if recon["wall_s"] >= report["methods"]["datacompy"]["wall_s"]:
        misses.append("recon is not faster than datacompy end to end")
    for name, process in recon["processes"].items():
        if (_mb(process["peak_rss_kb"]) or 0) >= RSS_TARGET_MB:
            misses.append(f"recon process {name} peaked at {_mb(process['peak_rss_kb'])} MB")
    return misses


def markdown(report: dict[str, Any]) -> str:
    expected = report["expected_breaks"]
    total = sum(expected.values())
    lines = [
        f"Files: {report['rows']:,} payments per side ({report['csv_bytes'] / 1e6:.1f} MB in all); injected"
        f" breaks: {', '.join(f'{k} {v:,}' for k, v in expected.items())}; {report['within_tolerance']:,}"
        f" amounts differ by exactly the tolerance ({TOLERANCE}, not breaks).",
        f"Server: {report['server']['url']} ({report['server']['version'].split(' on ')[0]});"
        f" {report['machine']['cpus']} CPUs.",
        "",
        "| method | wall s | peak RSS MB | breaks found | expected breaks |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, result in report["methods"].items():
        found = sum(result["breaks"].values())
        lines.append(
            f"| {name} | {result['wall_s']:.2f} | {_mb(result['peak_rss_kb']) or 'n/a'}"
            f" | {found:,} | {total:,} |"
        )
    recon = report["methods"]["recon"]
    lines += ["", "| recon process | wall s | peak RSS MB |", "|---|---:|---:|"]
    for name, process in recon["processes"].items():
        lines.append(f"| {name} | {process['process_wall_s']:.2f} | {_mb(process['peak_rss_kb']) or 'n/a'} |")
    floor = report["methods"]["floor"]["wall_s"]
    datacompy = report["methods"]["datacompy"]["wall_s"]
    lines += [
        "",
        f"recon / floor: {recon['wall_s'] / floor:.1f}x;"
        f" recon / datacompy: {recon['wall_s'] / datacompy:.2f}x.",
    ]
    checkpoints = [recon["processes"][f"integrity_{c}"] for c in ("staging", "results")]
    integrity = sum(p["process_wall_s"] for p in checkpoints)
    lines.append(
        f"Integrity (GX, both checkpoints, default rules): {integrity:.2f} s of processes,"
        f" {integrity / recon['wall_s'] * 100:.0f} % of recon's wall time: importing GX"
        f" {sum(p['import_s'] for p in checkpoints):.2f} s, checking"
        f" {sum(p['check_s'] for p in checkpoints):.2f} s, Data Docs"
        f" {sum(p['docs_s'] for p in checkpoints):.2f} s (a run with them less one without)."
    )
    slowest = sorted(recon["processes"]["dbt"]["nodes_s"].items(), key=lambda item: -item[1])[:5]
    # Test names spell out their arguments (accepted values: every outcome); the start names them.
    lines.append(
        "Slowest dbt nodes: " + ", ".join(f"{name[:60]} {seconds:.2f} s" for name, seconds in slowest)
    )
    for miss in report["targets_missed"]:
        lines.append(f"Target missed: {miss}")
    return "\n".join(lines)


# --- entry points -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m include.bench.match", description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000], help="payments per side")
    parser.add_argument(
        "--break-rate", type=float, default=0.001, help="share of payments given each kind of break"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated payments")
    parser.add_argument(
        "--warehouse-url",
        help="Postgres server to use (default: $RECON_WAREHOUSE_URL, else the local server)",
    )
    parser.add_argument("--database", default=DEFAULT_DATABASE, help="scratch database, dropped at the end")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where the JSON goes")
    parser.add_argument("--keep-database", action="store_true", help="leave the scratch database for EXPLAIN")
    parser.add_argument(
        "--dbt-timeout", type=float, default=3600, help="seconds before the dbt build is given up"
    )
    args = parser.parse_args(argv)
    if min(args.rows) < 1 or not 0 <= args.break_rate <= 0.2:
        parser.error("--rows must be at least 1 and --break-rate in [0, 0.2]")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    from recon.staging.schema import ensure_schema
    from recon.warehouse import configured_url

    if shutil.which("psql") is None:
        raise BenchError("psql is not on PATH; the floor needs it (apt-get install postgresql-client)")
    server_url = args.warehouse_url or configured_url() or DEFAULT_SERVER_URL
    load_before = _load_average()
    server = describe_server(server_url)
    print(f"Server: {server['url']} ({server['version']})", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="recon-bench-match-") as workdir:
        started = time.perf_counter()
        files = data.write_pair(Path(workdir), args.rows, args.seed, args.break_rate)
        print(f"Wrote 2 x {args.rows:,} payments in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        db_url = create_database(server_url, args.database)
        try:
            with psycopg.connect(db_url, autocommit=True) as conn:
                ensure_schema(conn)
            target = Path(workdir) / "dbt-target"
            methods = {"recon": measure_recon(db_url, files, target, args)}
            methods["datacompy"] = measure_datacompy(files)
            print(f"  datacompy: {methods['datacompy']['wall_s']:.2f} s", file=sys.stderr)
            methods["floor"] = measure_floor(db_url, files)
            print(f"  floor: {methods['floor']['wall_s']:.2f} s", file=sys.stderr)
        finally:
            if not args.keep_database:
                drop_database_now(server_url, args.database)
    report = {
        "benchmark": "matching: recon (load + dbt) vs datacompy vs COPY + full outer join",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "seed": args.seed,
        "break_rate": args.break_rate,
        "csv_bytes": files.bytes,
        "tolerance": TOLERANCE,
        "expected_breaks": files.expected,
        "within_tolerance": files.within_tolerance,
        "server": server,
        "machine": {**machine(), "load_average_before": load_before, "load_average_after": _load_average()},
        "methods": methods,
    }
    report["targets_missed"] = check(report)
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    children = {
        LOAD_CHILD: load_child, DBT_CHILD: dbt_child, DATACOMPY_CHILD: datacompy_child,
        INTEGRITY_CHILD: integrity_child,
    }  # fmt: skip
    if argv[:1] and argv[0] in children:
        print(json.dumps(children[argv[0]](json.loads(argv[1]))))
        return 0
    return run_sizes("bench-match", parse_args(argv), run, markdown)


if __name__ == "__main__":
    sys.exit(main())
