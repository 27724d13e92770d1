"""SFTP CSV files chosen by glob and window, through the file registry: real SFTP sandbox, real warehouse."""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError

from include.sandbox.sftp_server import SftpSandbox, TransferFault
from recon.sources import SourceUnavailable
from recon.sources.base import FetchedFile
from recon.sources.sftp_csv import SftpCsvSource, window_dates
from recon.staging.csv_loader import SourceFileError
from recon.staging.file_registry import FileLoadResult, load_files
from recon.window import RunWindow

pytestmark = pytest.mark.integration

PASSWORD = "sftp-source-test-password"
CONN = "payments_sftp"
HEADER = "stripe_charge_id,amount,currency,created_at,status,customer_email,payment_id\n"
NOV_19 = dt.datetime(2026, 11, 19, tzinfo=dt.UTC)
DAY_19 = RunWindow("billing", NOV_19, NOV_19 + dt.timedelta(days=1))
DAY_20 = RunWindow("billing", DAY_19.end, DAY_19.end + dt.timedelta(days=1))


def csv_text(keys: list[str]) -> str:
    rows = [f"{key},12.50,EUR,2026-11-19T10:00:00Z,succeeded,a@example.com,pay_{key}\n" for key in keys]
    return HEADER + "".join(rows)


def source(path: str, **settings: Any) -> SftpCsvSource:
    return SftpCsvSource.model_validate(
        {
            "name": "internal",
            "type": "sftp_csv",
            "connection": CONN,
            "path": path,
            "fields": {
                "record_key": "stripe_charge_id",
                "amount": "amount",
                "currency": "currency",
                "occurred_at": "created_at",
                "reference": "payment_id",
            },
            **settings,
        }
    )


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SftpSandbox]:
    with SftpSandbox(tmp_path / "sftp-root", password=PASSWORD) as running:
        conn = {
            "conn_type": "sftp",
            "host": "127.0.0.1",
            "port": running.port,
            "login": "recon",
            "password": PASSWORD,
            "extra": {"host_key": running.host_public_key, "look_for_keys": False},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps(conn))
        yield running


@pytest.fixture
def db(warehouse: psycopg.Connection) -> psycopg.Connection:
    return warehouse  # ensure_schema created the file registry with the rest of staging


def fetched(src: SftpCsvSource, window: RunWindow) -> list[FetchedFile]:
    with tempfile.TemporaryDirectory() as workdir, src.files(window, Path(workdir)) as files:
        return list(files)


def extract(conn: psycopg.Connection, src: SftpCsvSource, window: RunWindow) -> FileLoadResult:
    """What recon.extract does for a file source: spool the window's files, load them via the registry."""
    with tempfile.TemporaryDirectory() as workdir, src.files(window, Path(workdir)) as files:
        return load_files(conn, window, src, files)


def query(conn: psycopg.Connection, statement: str, *params: object) -> list[tuple]:
    rows = conn.execute(statement, params).fetchall()
    conn.rollback()  # end the read transaction so loads are never blocked
    return rows


def staged_keys(conn: psycopg.Connection, window: RunWindow) -> list[str]:
    rows = query(conn, "select record_key from staging.records where run_id = %s order by 1", window.run_id)
    return [key for (key,) in rows]


def registry(conn: psycopg.Connection) -> list[tuple]:
    return query(
        conn,
        "select remote_path, version, run_id, status, loaded_by_run_id, record_count, superseded_by_run_id"
        " from staging.source_files order by remote_path, version, run_id",
    )


# --- choosing files ------------------------------------------------------------------------------


def test_the_glob_picks_only_the_window_files(server: SftpSandbox) -> None:
    server.put_many(
        {
            "/exports/payments_20261118.csv": csv_text(["a"]),
            "/exports/payments_20261119.csv": csv_text(["b"]),
            "/exports/payments_20261119_late.csv": csv_text(["c"]),
            "/exports/payments_20261120.csv": csv_text(["d"]),
            "/exports/payments_20261119.txt": "not a csv",
        }
    )

    files = fetched(source("/exports/payments_{window_start:%Y%m%d}*.csv"), DAY_19)

    assert [f.remote_path for f in files] == [
        "/exports/payments_20261119.csv",
        "/exports/payments_20261119_late.csv",
    ]
    first = files[0]
    assert first.local_path.name.endswith("payments_20261119.csv")
    assert first.origin == f"sftp://{CONN}/exports/payments_20261119.csv"
    assert first.size == len(csv_text(["b"]))


def test_each_fetched_file_carries_its_checksum_and_modified_time(server: SftpSandbox) -> None:
    import hashlib

    modified = dt.datetime(2026, 11, 19, 23, 30, tzinfo=dt.UTC)
    server.put("/exports/payments_20261119.csv", csv_text(["b"]), modified_at=modified)

    (file,) = fetched(source("/exports/payments_{window_start:%Y%m%d}.csv"), DAY_19)

    assert file.sha256 == hashlib.sha256(csv_text(["b"]).encode()).hexdigest()
    assert file.modified_at == modified


def test_the_date_placeholder_reads_every_day_of_a_weekly_window(server: SftpSandbox) -> None:
    days = [dt.date(2026, 11, 16) + dt.timedelta(days=n) for n in range(10)]
    server.put_many({f"/daily/{day:%Y-%m-%d}/payments.csv": csv_text([str(day)]) for day in days})
    week = RunWindow(
        "billing", dt.datetime(2026, 11, 17, tzinfo=dt.UTC), dt.datetime(2026, 11, 24, tzinfo=dt.UTC)
    )

    files = fetched(source("/daily/{date:%Y-%m-%d}/payments.csv"), week)

    assert [f.remote_path for f in files] == [f"/daily/2026-11-{d}/payments.csv" for d in range(17, 24)]
    assert len({f.local_path for f in files}) == 7  # same file names in different folders stay apart


def test_a_fifteen_minute_window_reads_its_day_file(server: SftpSandbox) -> None:
    server.put_many({f"/exports/p_2026111{d}.csv": csv_text([str(d)]) for d in (8, 9)})
    quarter = RunWindow("billing", NOV_19 + dt.timedelta(hours=23, minutes=45), DAY_19.end)

    files = fetched(source("/exports/p_{date:%Y%m%d}.csv"), quarter)

    assert [f.remote_path for f in files] == ["/exports/p_20261119.csv"]


def test_window_dates_cover_the_half_open_window() -> None:
    two_days = RunWindow("billing", NOV_19 + dt.timedelta(hours=12), NOV_19 + dt.timedelta(days=2))
    assert window_dates(two_days) == [dt.date(2026, 11, 19), dt.date(2026, 11, 20)]
    assert window_dates(DAY_19) == [dt.date(2026, 11, 19)]


def test_no_file_when_required_is_unavailable_naming_connection_and_pattern(
    server: SftpSandbox, db: psycopg.Connection
) -> None:
    server.put("/exports/payments_20261118.csv", csv_text(["a"]))
    src = source("/exports/payments_{window_start:%Y%m%d}*.csv")

    with pytest.raises(SourceUnavailable) as raised:
        extract(db, src, DAY_19)

    assert str(raised.value) == (
        "connection 'payments_sftp': no file matches '/exports/payments_20261119*.csv'"
        " (path '/exports/payments_{window_start:%Y%m%d}*.csv')"
    )
    assert registry(db) == []


def test_a_missing_folder_is_the_same_as_no_file(server: SftpSandbox) -> None:
    with pytest.raises(SourceUnavailable) as raised:
        fetched(source("/nowhere/p_{window_start:%Y%m%d}.csv"), DAY_19)

    assert str(raised.value) == "connection 'payments_sftp': file '/nowhere/p_20261119.csv' does not exist"


def test_no_file_when_not_required_loads_an_empty_window(server: SftpSandbox, db: psycopg.Connection) -> None:
    src = source("/exports/payments_{window_start:%Y%m%d}.csv", required=False)
    local = server.put("/exports/payments_20261119.csv", csv_text(["a", "b"]))
    extract(db, src, DAY_19)
    local.unlink()  # the export is taken back

    result = extract(db, src, DAY_19)

    assert (result.loaded, result.quarantined, result.outcomes, result.withdrawn) == (
        0,
        0,
        (),
        ("/exports/payments_20261119.csv",),
    )
    assert staged_keys(db, DAY_19) == []
    assert [row[3] for row in registry(db)] == ["withdrawn"]


@pytest.mark.parametrize(
    "path",
    [
        "/exports/*/payments_{window_start:%Y%m%d}.csv",
        "/exports/payments_{window_start:%Y%m%d}_{run}.csv",
        "/exports/payments_{window_start:%Q-}.csv/",
    ],
    ids=["wildcard_in_folder", "unknown_placeholder", "not_a_file"],
)
def test_a_bad_path_is_rejected_when_the_spec_loads(path: str) -> None:
    with pytest.raises(ValidationError) as raised:
        source(path)

    assert "path" in str(raised.value)


# --- transfers that fail ------------------------------------------------------------------------------


def test_a_dropped_transfer_loads_nothing_and_the_retry_loads_the_file_once(
    server: SftpSandbox, db: psycopg.Connection
) -> None:
    keys = [f"ch_{n:05d}" for n in range(3000)]  # ~200 kB: many SFTP read requests
    server.put("/exports/payments_20261119.csv", csv_text(keys))
    src = source("/exports/payments_{window_start:%Y%m%d}.csv")
    server.faults.inject(TransferFault(match="/exports/payments_*.csv", drop_after_bytes=100_000))

    with pytest.raises(SourceUnavailable) as raised:
        extract(db, src, DAY_19)

    message = str(raised.value)
    assert message.startswith("connection 'payments_sftp': file '/exports/payments_20261119.csv':")
    assert staged_keys(db, DAY_19) == []
    assert registry(db) == []

    retried = extract(db, src, DAY_19)

    assert (retried.loaded, retried.quarantined) == (3000, 0)
    assert staged_keys(db, DAY_19) == keys
    assert registry(db) == [
        ("/exports/payments_20261119.csv", 1, DAY_19.run_id, "loaded", DAY_19.run_id, 3000, None)
    ]
    assert len(server.faults.applied) == 1


def test_a_short_read_is_unavailable_naming_file_and_sizes(server: SftpSandbox) -> None:
    content = csv_text([f"ch_{n}" for n in range(500)])
    server.put("/exports/payments_20261119.csv", content)
    server.faults.inject(TransferFault(truncate_after_bytes=1000))

    with pytest.raises(SourceUnavailable) as raised:
        fetched(source("/exports/payments_{window_start:%Y%m%d}.csv"), DAY_19)

    assert str(raised.value) == (
        "connection 'payments_sftp': file '/exports/payments_20261119.csv': transfer ended after 1000 of"
        f" {len(content)} bytes"
    )


def test_a_file_that_cannot_be_loaded_registers_nothing(server: SftpSandbox, db: psycopg.Connection) -> None:
    server.put("/exports/payments_20261119.csv", "id,amount\n1,2\n")

    with pytest.raises(SourceFileError):
        extract(db, source("/exports/payments_{window_start:%Y%m%d}.csv"), DAY_19)

    assert registry(db) == []


# --- the file registry ------------------------------------------------------------------------------


def test_an_unchanged_rerun_loads_nothing_new_and_keeps_the_rows(
    server: SftpSandbox, db: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    server.put("/exports/payments_20261119.csv", csv_text(["a", "b", "c"]))
    src = source("/exports/payments_{window_start:%Y%m%d}.csv")
    first = extract(db, src, DAY_19)
    loaded_at = query(db, "select min(loaded_at), max(loaded_at) from staging.records")
    checked_at = query(db, "select checked_at from staging.source_files")

    with caplog.at_level(logging.INFO, logger="recon.staging.file_registry"):
        again = extract(db, src, DAY_19)

    assert (first.unchanged, again.unchanged) == (False, True)
    assert (again.loaded, again.quarantined) == (3, 0)
    assert [(o.action, o.version) for o in again.outcomes] == [("unchanged", 1)]
    assert staged_keys(db, DAY_19) == ["a", "b", "c"]
    assert query(db, "select min(loaded_at), max(loaded_at) from staging.records") == loaded_at
    assert query(db, "select checked_at from staging.source_files") > checked_at
    assert "unchanged" in caplog.text


def test_changed_source_settings_reload_an_unchanged_file(
    server: SftpSandbox, db: psycopg.Connection
) -> None:
    server.put("/exports/payments_20261119.csv", csv_text(["a"]))
    extract(db, source("/exports/payments_{window_start:%Y%m%d}.csv"), DAY_19)

    result = extract(
        db, source("/exports/payments_{window_start:%Y%m%d}.csv", max_rejected_share="0.5"), DAY_19
    )

    assert (result.unchanged, result.loaded) == (False, 1)
    assert [row[1:4] for row in registry(db)] == [(1, DAY_19.run_id, "loaded")]


def test_a_redelivered_changed_file_becomes_version_2_and_replaces_the_rows(
    server: SftpSandbox, db: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    path = "/exports/payments_20261119.csv"
    src = source("/exports/payments_{window_start:%Y%m%d}.csv")
    server.put(path, csv_text(["a", "b"]))
    extract(db, src, DAY_19)
    server.put(path, csv_text(["a", "c", "d"]))

    with caplog.at_level(logging.INFO, logger="recon.staging.file_registry"):
        result = extract(db, src, DAY_19)

    (outcome,) = result.outcomes
    assert (outcome.action, outcome.version, outcome.superseded_version) == ("changed", 2, 1)
    assert result.summary()["files"] == [
        {
            "remote_path": path,
            "version": 2,
            "action": "changed",
            "loaded_by_run_id": DAY_19.run_id,
            "superseded_version": 1,
            "superseded_run_id": DAY_19.run_id,
        }
    ]
    assert staged_keys(db, DAY_19) == ["a", "c", "d"]
    assert registry(db) == [
        (path, 1, DAY_19.run_id, "superseded", DAY_19.run_id, 2, DAY_19.run_id),
        (path, 2, DAY_19.run_id, "loaded", DAY_19.run_id, 3, None),
    ]
    assert f"{path} was re-delivered changed: version 2 supersedes version 1" in caplog.text


def test_a_file_loaded_by_another_run_is_skipped(server: SftpSandbox, db: psycopg.Connection) -> None:
    src = source("/drop/*.csv")  # every window sees every file in the drop folder
    server.put("/drop/first.csv", csv_text(["a", "b"]))
    extract(db, src, DAY_19)
    server.put("/drop/second.csv", csv_text(["c"]))

    result = extract(db, src, DAY_20)

    assert [(o.remote_path, o.action, o.loaded_by_run_id) for o in result.outcomes] == [
        ("/drop/first.csv", "duplicate", DAY_19.run_id),
        ("/drop/second.csv", "new", DAY_20.run_id),
    ]
    assert (staged_keys(db, DAY_19), staged_keys(db, DAY_20)) == (["a", "b"], ["c"])
    assert registry(db) == [
        ("/drop/first.csv", 1, DAY_19.run_id, "loaded", DAY_19.run_id, 2, None),
        ("/drop/first.csv", 1, DAY_20.run_id, "skipped_duplicate", DAY_19.run_id, None, None),
        ("/drop/second.csv", 1, DAY_20.run_id, "loaded", DAY_20.run_id, 1, None),
    ]


def test_a_file_whose_rows_are_gone_is_loaded_again(server: SftpSandbox, db: psycopg.Connection) -> None:
    server.put("/exports/payments_20261119.csv", csv_text(["a", "b"]))
    src = source("/exports/payments_{window_start:%Y%m%d}.csv")
    extract(db, src, DAY_19)
    with db.transaction():
        db.execute("delete from staging.records")  # as retention drops an old run's slice

    result = extract(db, src, DAY_19)

    assert (result.unchanged, result.loaded) == (False, 2)
    assert staged_keys(db, DAY_19) == ["a", "b"]


# --- a window of many files ------------------------------------------------------------------------


WEEK = RunWindow(
    "billing", dt.datetime(2026, 11, 16, tzinfo=dt.UTC), dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
)
WEEK_DAYS = [dt.date(2026, 11, 16) + dt.timedelta(days=n) for n in range(7)]


def lay_out_week(server: SftpSandbox, rows_per_day: int = 3) -> dict[str, list[str]]:
    files = {
        f"/daily/payments_{day:%Y%m%d}.csv": [f"{day:%m%d}_{n}" for n in range(rows_per_day)]
        for day in [*WEEK_DAYS, dt.date(2026, 11, 23)]  # the day after the week is not read
    }
    server.put_many({path: csv_text(keys) for path, keys in files.items()})
    return files


def test_a_weekly_window_loads_its_seven_daily_files_as_one_unit(
    server: SftpSandbox, db: psycopg.Connection
) -> None:
    files = lay_out_week(server)
    src = source("/daily/payments_{date:%Y%m%d}.csv")

    result = extract(db, src, WEEK)

    week_paths = sorted(files)[:7]
    assert [o.remote_path for o in result.outcomes] == week_paths
    assert result.loaded == 21
    assert staged_keys(db, WEEK) == sorted(key for path in week_paths for key in files[path])
    assert [(row[0], row[3], row[5]) for row in registry(db)] == [(path, "loaded", 3) for path in week_paths]


def test_a_transfer_dropped_in_the_middle_of_a_window_loads_none_of_its_files(
    server: SftpSandbox, db: psycopg.Connection
) -> None:
    lay_out_week(server, rows_per_day=2000)
    src = source("/daily/payments_{date:%Y%m%d}.csv")
    server.faults.inject(TransferFault(match="*/payments_20261119.csv", drop_after_bytes=50_000))

    with pytest.raises(SourceUnavailable) as raised:
        extract(db, src, WEEK)

    assert "file '/daily/payments_20261119.csv'" in str(raised.value)
    assert staged_keys(db, WEEK) == []
    assert registry(db) == []
    assert extract(db, src, WEEK).loaded == 14_000
    assert len(staged_keys(db, WEEK)) == 14_000


def test_one_changed_file_of_a_week_reloads_the_window_with_its_new_version(
    server: SftpSandbox, db: psycopg.Connection
) -> None:
    files = lay_out_week(server)
    src = source("/daily/payments_{date:%Y%m%d}.csv")
    extract(db, src, WEEK)
    server.put("/daily/payments_20261118.csv", csv_text(["late_fix"]))

    result = extract(db, src, WEEK)

    changed = [(o.remote_path, o.version) for o in result.outcomes if o.action == "changed"]
    assert changed == [("/daily/payments_20261118.csv", 2)]
    assert {o.action for o in result.outcomes if o.action != "changed"} == {"unchanged"}
    expected = {key for path in sorted(files)[:7] for key in files[path] if "18" not in path} | {"late_fix"}
    assert set(staged_keys(db, WEEK)) == expected
    assert len(staged_keys(db, WEEK)) == 19
    statuses = [(row[0], row[1], row[3]) for row in registry(db) if row[0].endswith("18.csv")]
    assert statuses == [
        ("/daily/payments_20261118.csv", 1, "superseded"),
        ("/daily/payments_20261118.csv", 2, "loaded"),
    ]


def test_a_run_whose_file_another_run_superseded_drops_the_old_rows_on_rerun(
    server: SftpSandbox, db: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    src = source("/drop/*.csv")
    server.put("/drop/first.csv", csv_text(["a", "b"]))
    extract(db, src, DAY_19)
    server.put("/drop/first.csv", csv_text(["a", "c"]))
    with caplog.at_level(logging.WARNING, logger="recon.staging.file_registry"):
        extract(db, src, DAY_20)
    assert f"run {DAY_19.run_id} still holds rows of the superseded version" in caplog.text

    rerun = extract(db, src, DAY_19)

    assert [(o.action, o.version, o.loaded_by_run_id) for o in rerun.outcomes] == [
        ("duplicate", 2, DAY_20.run_id)
    ]
    assert (rerun.unchanged, staged_keys(db, DAY_19), staged_keys(db, DAY_20)) == (False, [], ["a", "c"])
