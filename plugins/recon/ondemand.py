"""Runs on demand: a spec's schedule windows over a date range, run one by one, in order.

The windows are the ones the scheduler itself makes (the DAG's ``CronDataIntervalTimetable`` in UTC),
so an on-demand run has the same run key as a scheduled one and replaces what that window wrote.

Range bounds (``--from``, ``--to``): a date means a whole UTC day and ``--to`` a date is inclusive, so
``--from 2026-11-01 --to 2026-11-03`` covers the three days 1, 2 and 3; a datetime is taken as it is
(UTC when it names no offset) and ``--to`` a datetime is exclusive. Only whole windows inside
``[from, to)`` run.

Each window runs through the Airflow REST API when ``RECON_AIRFLOW_URL`` is set (see
``recon.airflow_api``), else in this process with ``dag.test()`` against the local metadata DB
(migrated first when needed). The CLI (``recon.cli_run``) prints; nothing here does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from recon.airflow_api import AirflowApi, AirflowApiError
from recon.spec import Spec, SpecError, load_spec
from recon.window import RunWindow

DEFAULT_MAX_RUNS = 1000
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = "recon_specs.py"
# A run that got this far published its results; anything else (error, running, no row) failed.
PUBLISHED = ("success", "discrepancy_found")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class RangeError(ValueError):
    """Bad input for a range run: nothing was run."""


@dataclass
class RunOutcome:
    """One window's run: what Airflow says, and what the run ledger (reconciliation.runs) says."""

    window: RunWindow
    airflow_state: str  # success / failed / queued / running; "error" when Airflow could not be asked
    dag_run_id: str | None = None
    ledger: dict[str, Any] | None = None  # the reconciliation.runs row of this Airflow run
    note: str | None = None  # why there is no ledger row, or what else went wrong
    waited: bool = True

    @property
    def succeeded(self) -> bool:
        if not self.waited:
            return self.airflow_state not in ("error", "failed")
        return self.ledger is not None and self.ledger["status"] in PUBLISHED


@dataclass
class RangeRun:
    """What to run: one spec (and the file it came from) over its windows."""

    spec: Spec
    spec_path: Path
    windows: list[RunWindow] = field(default_factory=list)


def parse_bound(text: str, *, end: bool) -> datetime:
    """A range bound in UTC: a date is its day's midnight (the next day's for ``end``: inclusive)."""
    value = text.strip()
    try:
        if _DATE_ONLY.match(value):
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        which = "--to" if end else "--from"
        raise RangeError(
            f"{which} {text!r} is not a date (2026-11-01) or an ISO datetime (2026-11-01T06:00)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def find_spec(name_or_path: str, specs_dir: Path) -> tuple[Spec, Path]:
    """A spec by name in ``specs_dir``, or by the path of its .yml file."""
    path = Path(name_or_path)
    if path.suffix not in (".yml", ".yaml"):
        path = specs_dir / f"{name_or_path}.yml"
    if not path.is_file():
        known = sorted(p.stem for p in specs_dir.glob("*.yml"))
        raise RangeError(f"no spec {name_or_path!r} in {specs_dir} (specs: {', '.join(known) or 'none'})")
    try:
        return load_spec(path), path.resolve()
    except SpecError as exc:
        raise RangeError(str(exc)) from exc


def windows(spec: Spec, start: datetime, end: datetime, limit: int | None = None) -> list[RunWindow]:
    """The spec's schedule windows that lie wholly inside ``[start, end)``, in order (``limit`` at most)."""
    import pendulum
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    timetable = CronDataIntervalTimetable(spec.schedule, timezone="UTC")
    restriction = TimeRestriction(earliest=pendulum.instance(start), latest=None, catchup=True)
    found: list[RunWindow] = []
    last = None
    while True:
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        if info is None or info.data_interval.end > end or len(found) == limit:
            return found
        found.append(RunWindow(spec.name, info.data_interval.start, info.data_interval.end))
        last = info.data_interval


def plan(spec: Spec, start: datetime, end: datetime, max_runs: int = DEFAULT_MAX_RUNS) -> list[RunWindow]:
    """The windows to run, or a ``RangeError`` saying why the range is unusable."""
    if end <= start:
        raise RangeError(f"--to ({end.isoformat()}) is not after --from ({start.isoformat()})")
    found = windows(spec, start, end, limit=max_runs + 1)  # one more tells "too many"
    if not found:
        raise RangeError(
            f"[{start.isoformat()}, {end.isoformat()}) holds no whole window of {spec.name}'s schedule"
            f" {spec.schedule!r} (UTC)"
        )
    if len(found) > max_runs:
        raise RangeError(
            f"[{start.isoformat()}, {end.isoformat()}) holds more than --max-runs {max_runs} windows of"
            f" {spec.name}'s schedule {spec.schedule!r}: narrow the range or raise --max-runs"
        )
    return found


def run_remote(
    api: AirflowApi,
    job: RangeRun,
    *,
    wait: bool,
    timeout_seconds: float,
    poll_seconds: float = 5,
    report: Callable[[RunOutcome], None] = lambda outcome: None,
) -> list[RunOutcome]:
    """Trigger one Airflow run per window, in order; unless ``wait`` is False, each to its end first.

    Airflow keeps one run per logical date: a window whose run has finished is cleared, so the
    scheduler runs it again under the same id; one still queued or running is taken as it is.
    Before the first trigger, a DAG that Airflow does not know raises ``AirflowApiError`` and a
    paused one (when waiting) ``RangeError``, with nothing run. After it, an API error ends the
    range at the window it hit: the later windows would fare no better.
    """
    dag_id = job.spec.dag_id
    if api.dag(dag_id).get("is_paused") and wait:  # the DAG must exist either way (HTTP 404)
        raise RangeError(
            f"{dag_id} is paused in Airflow at {api.base_url}, so its runs would stay queued:"
            " unpause it, or trigger with --no-wait"
        )
    outcomes = []
    for window in job.windows:
        try:
            dag_run_id, how = _trigger_or_rerun(api, dag_id, window, f"recon run {window.run_id}")
            outcome = RunOutcome(window, "queued", dag_run_id, note=how, waited=wait)
            if wait:
                outcome.airflow_state = api.wait(dag_id, dag_run_id, timeout_seconds, poll_seconds)
        except AirflowApiError as exc:
            outcome = RunOutcome(window, getattr(exc, "state", "error"), note=str(exc), waited=wait)
            outcomes.append(outcome)
            report(outcome)
            break
        if wait:
            outcome.ledger, why = ledger_row(job.spec, window, dag_run_id)
            outcome.note = "; ".join(text for text in (outcome.note, why) if text) or None
        outcomes.append(outcome)
        report(outcome)
    return outcomes


def _trigger_or_rerun(api: AirflowApi, dag_id: str, window: RunWindow, note: str) -> tuple[str, str | None]:
    """The DAG run id of the window's run, and what was done when one existed already."""
    try:
        return api.trigger(dag_id, window.start, window.end, note=note), None
    except AirflowApiError as exc:
        if exc.status != 409:  # 409: this logical date has a run
            raise
    existing = api.find_run(dag_id, window.start)
    if existing is None:
        raise AirflowApiError(api.base_url, 409, f"{dag_id} has a run at {window.start} that cannot be found")
    dag_run_id, state = str(existing["dag_run_id"]), existing.get("state")
    if state in ("success", "failed"):
        api.clear(dag_id, dag_run_id, note=note)
        return dag_run_id, f"the window's earlier run ({state}) was cleared to run again"
    return dag_run_id, f"the window's run was {state} already"


def run_local(job: RangeRun, report: Callable[[RunOutcome], None] = lambda outcome: None) -> list[RunOutcome]:
    """Run each window in this process with ``dag.test()``, as ``airflow dags test`` would."""
    ensure_airflow_db()
    outcomes = []
    with _specs_dir(job.spec_path.parent):
        dag = _load_dag(job.spec)
        for window in job.windows:
            # dag.test() infers the data interval that ends at the logical date it is given.
            dag_run = dag.test(logical_date=window.end)
            outcome = RunOutcome(window, str(getattr(dag_run.state, "value", dag_run.state)), dag_run.run_id)
            got = (dag_run.data_interval_start, dag_run.data_interval_end)
            if got != (window.start, window.end):
                outcome.note = f"Airflow ran the data interval {got[0]} to {got[1]} instead"
            else:
                outcome.ledger, outcome.note = ledger_row(job.spec, window, dag_run.run_id)
            outcomes.append(outcome)
            report(outcome)
    return outcomes


def ledger_row(spec: Spec, window: RunWindow, dag_run_id: str) -> tuple[dict[str, Any] | None, str | None]:
    """The window's reconciliation.runs row if this Airflow run wrote it; else None and why."""
    from psycopg.rows import dict_row

    try:
        with _warehouse(spec) as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "select status, severity, break_count, discrepancy_percent, error_message, airflow_run_id"
                " from reconciliation.runs where run_id = %s",
                (window.run_id,),
            )
            row = cur.fetchone()
    except Exception as exc:  # an unknown connection, an unreachable server, no ledger table yet
        return None, f"run ledger unavailable ({type(exc).__name__}: {exc})"
    if row is None:
        return None, "no row in reconciliation.runs: the run stopped before start_run"
    if row["airflow_run_id"] != dag_run_id:
        return None, f"reconciliation.runs holds an older run of this window ({row['airflow_run_id']})"
    return row, None


def _warehouse(spec: Spec):
    """The spec's warehouse connection; ``RECON_WAREHOUSE_URL`` when that connection is not defined."""
    from recon import warehouse

    try:
        return warehouse.connect(spec.warehouse_connection)
    except Exception:
        url = warehouse.configured_url()
        if not url:
            raise
        import psycopg

        return psycopg.connect(url)


def ensure_airflow_db() -> None:
    """Migrate Airflow's metadata DB unless it is current already (``airflow db migrate`` otherwise)."""
    from airflow.utils.db import check_migrations

    try:
        check_migrations(timeout=1)
        return
    except Exception:  # not current, or no tables at all
        pass
    airflow = str(Path(sys.executable).with_name("airflow"))
    done = subprocess.run([airflow, "db", "migrate"], capture_output=True, text=True, env=os.environ.copy())
    if done.returncode:
        raise RuntimeError(f"airflow db migrate failed (exit {done.returncode}): {done.stderr[-2000:]}")


@contextmanager
def _specs_dir(folder: Path) -> Iterator[None]:
    """RECON_SPECS_DIR for the DAG file while the runs last: dag.test() parses the file again."""
    previous = os.environ.get("RECON_SPECS_DIR")
    os.environ["RECON_SPECS_DIR"] = str(folder)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("RECON_SPECS_DIR", None)
        else:
            os.environ["RECON_SPECS_DIR"] = previous


def _load_dag(spec: Spec):
    from airflow.configuration import conf
    from airflow.dag_processing.dagbag import DagBag

    configured = Path(conf.get("core", "dags_folder")) / DAG_FILE
    dag_file = configured if configured.is_file() else PROJECT_ROOT / "dags" / DAG_FILE
    bag = DagBag(dag_folder=str(dag_file))
    if bag.import_errors:
        raise RuntimeError(f"{dag_file} does not load: {bag.import_errors}")
    return bag.dags[spec.dag_id]
