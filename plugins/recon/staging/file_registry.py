"""The file registry: each remote file version is loaded once, and the warehouse says which run holds it.

``staging.source_files`` (DDL in ``file_registry.sql``) has one row per (spec, source, path, version,
run). A *version* is one content (sha256) of one path: 1 the first time a path is seen, +1 each time it
is re-delivered with a different checksum. ``load_files`` is what the extract step calls for a file
source instead of the bare loader; given the window's fetched files it decides, per file:

* **new / changed**: loaded into this run's slice. A changed file (same path, new checksum) becomes
  the next version; the version loaded before is marked ``superseded`` (when, and by which run), and
  the log and the result say so. The whole window is reloaded, so it holds the new version's rows only.
* **unchanged**: the same content this run already loaded. When *every* file of the window is
  unchanged, the source settings are the same and staging still holds exactly the rows each file put
  there (retention or a manual delete may have removed them), the load is skipped: the slice is kept
  as it is, nothing is copied again, only ``checked_at`` moves, and the result has ``unchanged=True``.
  Otherwise the window is reloaded with these files too (same version number).
* **duplicate**: the same content is already loaded by *another* run (overlapping globs or windows)
  and that run's rows are still in staging: not loaded again; registered as ``skipped_duplicate``
  with ``loaded_by_run_id`` naming the run that holds its rows.

A path this run loaded before that is no longer among its files is marked ``withdrawn`` when the
window is reloaded without it. Every registry write happens in the load's own transaction (the
loader's ``before_commit``), under a per-source advisory lock that re-checks the decisions, so a failed
load registers nothing and two concurrent runs cannot both load one file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import psycopg

from recon.sources import SourceUnavailable
from recon.sources.base import FetchedFile, FileSource
from recon.staging.loader import LoadResult
from recon.window import RunWindow

log = logging.getLogger(__name__)

Action = Literal["new", "changed", "unchanged", "duplicate"]


@dataclass(frozen=True)
class FileOutcome:
    """What one fetched file became in this load."""

    remote_path: str
    version: int
    action: Action
    loaded_by_run_id: str  # the run whose staging slice holds its rows
    superseded_version: int | None = None  # for "changed": the version it replaced, if one was loaded
    superseded_run_id: str | None = None


@dataclass(frozen=True)
class FileLoadResult(LoadResult):
    """A load result that also says what happened to each file."""

    outcomes: tuple[FileOutcome, ...] = ()
    unchanged: bool = False  # the load was skipped: every file was already loaded by this run
    withdrawn: tuple[str, ...] = ()  # paths this run had loaded before and no longer has

    def summary(self) -> dict[str, Any]:
        """The JSON-safe form for the task result (XCom)."""
        return {
            **super().summary(),
            "unchanged": self.unchanged,
            "files": [{k: v for k, v in vars(outcome).items() if v is not None} for outcome in self.outcomes],
            "withdrawn": list(self.withdrawn),
        }


@dataclass
class _Row:
    remote_path: str
    version: int
    run_id: str
    origin: str
    sha256: str
    status: str
    record_count: int | None
    quarantined_count: int | None
    config: str


@dataclass
class _Plan:
    outcomes: list[FileOutcome] = field(default_factory=list)
    retire: list[tuple[_Row, str]] = field(default_factory=list)  # (loaded row, new status)
    skip_load: bool = False
    kept: tuple[int, int] = (0, 0)  # records, quarantined of the kept slice, when skip_load

    def signature(self) -> list[tuple[str, int, str, str]]:
        return [(o.remote_path, o.version, o.action, o.loaded_by_run_id) for o in self.outcomes]


def load_files(
    conn: psycopg.Connection, window: RunWindow, source: FileSource, files: Iterable[FetchedFile]
) -> FileLoadResult:
    """Load the window's files of ``source`` through the registry (see the module docstring)."""
    fetched = sorted(files, key=lambda f: f.remote_path)  # metadata only: the files are on disk
    config = config_sha256(source)
    with conn.cursor() as cur:
        plan = _plan(cur, window, source.name, fetched, config)
    conn.commit()  # end the read transaction before the load's own
    if plan.skip_load:
        return _keep(conn, window, source.name, fetched, config, plan)
    to_load = [f for f, o in zip(fetched, plan.outcomes, strict=True) if o.action != "duplicate"]

    def before_commit(cur: psycopg.Cursor, result: LoadResult) -> None:
        _lock(cur, window, source.name)
        again = _plan(cur, window, source.name, fetched, config, after_load=True)
        if again.signature() != plan.signature():
            raise SourceUnavailable(
                f"source {source.name!r}: the file registry changed while loading {window.run_id}; retry"
            )
        _register(cur, window, source.name, fetched, config, again)

    result = _load(conn, window, source, to_load, before_commit)
    withdrawn = tuple(sorted(row.remote_path for row, status in plan.retire if status == "withdrawn"))
    _log(window, source.name, plan, withdrawn)
    return _with_files(result, outcomes=tuple(plan.outcomes), withdrawn=withdrawn)


def config_sha256(source: FileSource) -> str:
    """A fingerprint of the source's settings: files loaded under other settings are reloaded."""
    settings = source.model_dump_json()
    declared = dict(getattr(getattr(source, "currencies", None), "declared", {}))
    if declared:  # the spec's own currency codes read the file too (left out: fingerprints as before)
        settings += json.dumps(declared, sort_keys=True)
    return hashlib.sha256(settings.encode()).hexdigest()


def _load(
    conn: psycopg.Connection,
    window: RunWindow,
    source: FileSource,
    files: list[FetchedFile],
    before_commit: Callable[[psycopg.Cursor, LoadResult], None],
) -> LoadResult:
    from recon.staging import csv_loader
    from recon.staging.loader import replace_window

    if files:
        return csv_loader.replace_window_from_files(conn, window, source, files, before_commit=before_commit)
    # An empty window, or every file loaded by another run: the slice is replaced by nothing.
    return replace_window(conn, window, source.name, iter(()), before_commit=before_commit)


def _plan(
    cur: psycopg.Cursor,
    window: RunWindow,
    source: str,
    fetched: list[FetchedFile],
    config: str,
    after_load: bool = False,
) -> _Plan:
    paths = [f.remote_path for f in fetched]
    cur.execute(
        "select remote_path, version, run_id, origin, sha256, status, record_count, quarantined_count,"
        " source_config_sha256 from staging.source_files where spec = %s and source = %s"
        " and (remote_path = any(%s) or (run_id = %s and status = 'loaded'))"
        " order by remote_path, version, run_id",
        (window.spec, source, paths, window.run_id),
    )
    rows = [_Row(*values) for values in cur.fetchall()]
    loaded = {row.remote_path: row for row in rows if row.status == "loaded"}
    counts = _origin_counts(
        cur, window.spec, source, sorted({r.run_id for r in loaded.values()} | {window.run_id})
    )

    def live(row: _Row) -> bool:
        """Whether staging still holds exactly the rows this file put there (retention drops slices)."""
        return counts.get((row.run_id, row.origin), (0, 0)) == (row.record_count, row.quarantined_count)

    plan = _Plan()
    for file in fetched:
        versions = [row for row in rows if row.remote_path == file.remote_path]
        latest = max(versions, key=lambda row: row.version, default=None)
        current = loaded.get(file.remote_path)
        if current and current.sha256 == file.sha256 and current.run_id != window.run_id and live(current):
            plan.outcomes.append(FileOutcome(file.remote_path, current.version, "duplicate", current.run_id))
            continue
        if latest is None:
            outcome = FileOutcome(file.remote_path, 1, "new", window.run_id)
        elif latest.sha256 == file.sha256:
            outcome = FileOutcome(file.remote_path, latest.version, "unchanged", window.run_id)
        else:
            replaced = current if current and current.sha256 != file.sha256 else None
            outcome = FileOutcome(
                file.remote_path,
                latest.version + 1,
                "changed",
                window.run_id,
                replaced.version if replaced else None,
                replaced.run_id if replaced else None,
            )
        plan.outcomes.append(outcome)
        if current and (current.version, current.run_id) != (outcome.version, window.run_id):
            plan.retire.append((current, "superseded" if current.sha256 != file.sha256 else "withdrawn"))
    fetched_paths = set(paths)
    plan.retire += [
        (row, "withdrawn")
        for row in loaded.values()
        if row.run_id == window.run_id and row.remote_path not in fetched_paths
    ]
    own = [
        loaded[o.remote_path] for o in plan.outcomes if o.action == "unchanged" and o.remote_path in loaded
    ]
    plan.kept = (sum(row.record_count or 0 for row in own), sum(row.quarantined_count or 0 for row in own))
    in_slice = [pair for (run_id, _), pair in counts.items() if run_id == window.run_id]
    plan.skip_load = (
        not after_load
        and not plan.retire
        and all(o.action in ("unchanged", "duplicate") for o in plan.outcomes)
        and len(own) == sum(o.action == "unchanged" for o in plan.outcomes)
        and all(row.run_id == window.run_id and row.config == config and live(row) for row in own)
        # ... and the slice holds nothing else (say, rows of a version another run superseded since).
        and (sum(p[0] for p in in_slice), sum(p[1] for p in in_slice)) == plan.kept
    )
    return plan


def _origin_counts(
    cur: psycopg.Cursor, spec: str, source: str, run_ids: list[str]
) -> dict[tuple[str, str], tuple[int, int]]:
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    if not run_ids:
        return counts
    for position, table in enumerate(("staging.records", "staging.quarantine")):
        cur.execute(
            f"select run_id, origin, count(*) from {table}"  # noqa: S608 - fixed table names
            " where spec = %s and source = %s and run_id = any(%s) group by run_id, origin",
            (spec, source, run_ids),
        )
        for run_id, origin, count in cur.fetchall():
            pair = list(counts.get((run_id, origin), (0, 0)))
            pair[position] = count
            counts[(run_id, origin)] = (pair[0], pair[1])
    return counts


def _lock(cur: psycopg.Cursor, window: RunWindow, source: str) -> None:
    cur.execute(
        "select pg_advisory_xact_lock(hashtext('recon.source_files'), hashtext(%s))",
        (f"{window.spec}/{source}",),
    )


def _register(
    cur: psycopg.Cursor, window: RunWindow, source: str, fetched: list[FetchedFile], config: str, plan: _Plan
) -> None:
    for row, status in plan.retire:
        cur.execute(
            "update staging.source_files set status = %s, superseded_at = now(), superseded_by_run_id = %s"
            " where spec = %s and source = %s and remote_path = %s and version = %s and run_id = %s",
            (status, window.run_id, window.spec, source, row.remote_path, row.version, row.run_id),
        )
    counts = _origin_counts(cur, window.spec, source, [window.run_id])
    for file, outcome in zip(fetched, plan.outcomes, strict=True):
        duplicate = outcome.action == "duplicate"
        records, quarantined = (None, None) if duplicate else counts.get((window.run_id, file.origin), (0, 0))
        cur.execute(
            _UPSERT_SQL,
            {
                "spec": window.spec,
                "source": source,
                "remote_path": file.remote_path,
                "version": outcome.version,
                "run_id": window.run_id,
                "origin": file.origin,
                "size_bytes": file.size,
                "sha256": file.sha256,
                "modified_at": file.modified_at,
                "status": "skipped_duplicate" if duplicate else "loaded",
                "loaded_by_run_id": outcome.loaded_by_run_id,
                "record_count": records,
                "quarantined_count": quarantined,
                "config": config,
            },
        )


_UPSERT_SQL = """
insert into staging.source_files (
    spec, source, remote_path, version, run_id, origin, size_bytes, sha256, modified_at, status,
    loaded_by_run_id, record_count, quarantined_count, source_config_sha256
) values (
    %(spec)s, %(source)s, %(remote_path)s, %(version)s, %(run_id)s, %(origin)s, %(size_bytes)s, %(sha256)s,
    %(modified_at)s, %(status)s, %(loaded_by_run_id)s, %(record_count)s, %(quarantined_count)s, %(config)s
)
on conflict (spec, source, remote_path, version, run_id) do update set
    origin = excluded.origin, size_bytes = excluded.size_bytes, modified_at = excluded.modified_at,
    status = excluded.status, loaded_by_run_id = excluded.loaded_by_run_id,
    record_count = excluded.record_count, quarantined_count = excluded.quarantined_count,
    source_config_sha256 = excluded.source_config_sha256, checked_at = now(),
    loaded_at = case when excluded.status = 'loaded' then now() else source_files.loaded_at end,
    superseded_at = null, superseded_by_run_id = null
"""


def _keep(
    conn: psycopg.Connection,
    window: RunWindow,
    source: str,
    fetched: list[FetchedFile],
    config: str,
    plan: _Plan,
) -> FileLoadResult:
    """Every file is unchanged: keep the slice, note that the run met the files again."""
    with conn.transaction(), conn.cursor() as cur:
        _lock(cur, window, source)
        if _plan(cur, window, source, fetched, config).signature() != plan.signature():
            raise SourceUnavailable(
                f"source {source!r}: the file registry changed while checking {window.run_id}; retry"
            )
        for outcome in plan.outcomes:
            cur.execute(
                "update staging.source_files set checked_at = now() where spec = %s and source = %s"
                " and remote_path = %s and version = %s and run_id = %s",
                (window.spec, source, outcome.remote_path, outcome.version, window.run_id),
            )
    log.info(
        "%s: %d file(s) unchanged since %s loaded them; kept its %d records and %d quarantined",
        source,
        len(fetched),
        window.run_id,
        *plan.kept,
    )
    kept = LoadResult(source=source, loaded=plan.kept[0], quarantined=plan.kept[1])
    return _with_files(kept, outcomes=tuple(plan.outcomes), unchanged=True)


def _with_files(result: LoadResult, **extra: Any) -> FileLoadResult:
    # Field by field, so fields the loader's result gains later travel along.
    return FileLoadResult(**{f.name: getattr(result, f.name) for f in fields(LoadResult)}, **extra)


def _log(window: RunWindow, source: str, plan: _Plan, withdrawn: tuple[str, ...]) -> None:
    for outcome in plan.outcomes:
        if outcome.action == "changed" and outcome.superseded_version is not None:
            log.warning(
                "%s: %s was re-delivered changed: version %d supersedes version %d (loaded by %s)",
                source,
                outcome.remote_path,
                outcome.version,
                outcome.superseded_version,
                outcome.superseded_run_id,
            )
            if outcome.superseded_run_id != window.run_id:
                log.warning(
                    "%s: run %s still holds rows of the superseded version; rerun it to drop them",
                    source,
                    outcome.superseded_run_id,
                )
        elif outcome.action == "duplicate":
            log.info(
                "%s: %s version %d is already loaded by %s; skipped",
                source,
                outcome.remote_path,
                outcome.version,
                outcome.loaded_by_run_id,
            )
        else:
            log.info("%s: %s version %d: %s", source, outcome.remote_path, outcome.version, outcome.action)
    for path in withdrawn:
        log.warning(
            "%s: %s is no longer among the files of %s; its rows are gone", source, path, window.run_id
        )
