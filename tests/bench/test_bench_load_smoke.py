"""The load benchmark runs end to end on a small file; no timing is asserted, only that it measured."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from include.bench import load

pytestmark = pytest.mark.integration


def test_the_psql_client_the_benchmark_compares_against_is_installed() -> None:
    assert shutil.which("psql"), "the psql client is missing: apt-get install postgresql-client"


def test_bench_measures_both_loaders_on_the_same_file(warehouse_server_url: str, tmp_path: Path) -> None:
    output = tmp_path / "load.json"
    database = f"recon_bench_smoke_{os.getpid()}"

    args = ["--rows", "2000", "--repeat", "1", "--growth-runs", "2", "--growth-rows", "500"]
    args += ["--database", database, "--output", str(output)]
    code = load.main([*args, "--warehouse-url", warehouse_server_url])

    assert code == 0
    (report,) = json.loads(output.read_text())["sizes"]
    assert report["rows"] == 2000
    assert 0 < report["bad_rows"] < 2000
    assert set(report["loaders"]) == {"recon", "psql_copy"}
    for result in report["loaders"].values():
        assert result["wall_s"] > 0
        assert result["rows_per_s"] > 0
        assert result["mb_per_s"] > 0
    recon = report["loaders"]["recon"]
    assert recon["loaded"] + recon["quarantined"] == 2000
    assert recon["quarantined"] == report["bad_rows"]
    assert report["loaders"]["psql_copy"]["loaded"] == 2000
    assert report["server"]["version"].startswith("PostgreSQL")
    growth = report["growth"]
    assert (growth["earlier_runs"], growth["earlier_rows_each"]) == (2, 500)
    assert [run["loaded"] for run in growth["runs"]] == [recon["loaded"]]
    assert growth["wall_s_with_history"] > 0


def test_generated_rows_are_deterministic_and_streamed(tmp_path: Path) -> None:
    first = load.write_bench_csv(tmp_path / "a.csv", 500, seed=3, bad_ratio=0.05)
    second = load.write_bench_csv(tmp_path / "b.csv", 500, seed=3, bad_ratio=0.05)

    assert first.path.read_bytes() == second.path.read_bytes()
    lines = first.path.read_text().splitlines()
    assert lines[0] == ",".join(load.CSV_COLUMNS)
    assert len(lines) == 501
    assert 0 < first.bad_rows < 500
