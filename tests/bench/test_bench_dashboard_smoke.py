"""The dashboard benchmark runs end to end on a tiny seed, so it cannot rot: every page and API call must
answer 200 with the rows the seeded tables say it shows (the bench fails otherwise). No timing is
asserted beyond "it was measured"."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from include.bench import dashboard

pytestmark = pytest.mark.integration

RUNS, BREAKS, SPECS = 10, 2000, 3


def test_every_page_and_api_call_answers_with_the_seeded_rows(
    warehouse_server_url: str, tmp_path: Path
) -> None:
    output = tmp_path / "dashboard.json"
    database = f"recon_bench_dashboard_smoke_{os.getpid()}"
    args = ["--runs", str(RUNS), "--breaks", str(BREAKS), "--specs", str(SPECS), "--repeat", "1",
            "--database", database, "--output", str(output)]  # fmt: skip

    code = dashboard.main([*args, "--warehouse-url", warehouse_server_url])

    assert code == 0
    report = json.loads(output.read_text())
    seeded = report["seed"]["rows"]
    assert seeded["reconciliation.breaks"] == BREAKS
    assert seeded["reconciliation.runs"] == RUNS * SPECS
    assert report["seed"]["runs"]["running"] == 1
    assert seeded["reconciliation.run_breaks"] > BREAKS  # some breaks were seen by several runs
    assert all(seeded[table] > 0 for table in seeded), seeded
    # Every call of every endpoint (the warm-up and the timed one) answered 200, and was timed.
    assert all(call["status"] == 200 for calls in report["samples"].values() for call in calls)
    assert all(len(calls) == 2 and calls[1]["server_ms"] > 0 for calls in report["samples"].values())
    rows = {row["endpoint"]: row for row in report["endpoints"]}
    assert all(row["rows"] == row["expected_rows"] for row in rows.values())
    # What the rows must be, from the seed's own counts.
    assert rows["page overview"]["rows"] == rows["api overview"]["rows"] == SPECS
    assert rows["api status (polling)"]["rows"] == 1
    assert rows["api breaks default (open, amount desc)"]["rows"] == 50
    assert rows["api breaks status all"]["rows"] == rows["page breaks status all"]["rows"] == 50
    assert rows["api history all"]["rows"] == min(50, RUNS * SPECS)
    assert rows["history.csv (every run) complete"]["rows"] == RUNS * SPECS
    (run_export,) = [name for name in rows if name.startswith("run breaks.csv") and name.endswith("complete")]
    assert rows[run_export]["rows"] > 50  # the incident day's breaks, every one of them
    # Every filter and sort of the breaks list, both deep pages, a break, a run and the actions ran.
    assert sum(name.startswith("api breaks ") for name in rows) >= 17
    assert {"api break (longest history, reviewed)", "page break (with corrections)"} <= rows.keys()
    actions = [row for row in rows.values() if row["group"] == "action"]
    assert sorted(row["endpoint"].split()[1] for row in actions) == ["ignore", "plan", "resolve"]
    assert all(row["rows"] > 0 for row in actions)
    # The floors were measured on the same warehouse: the heaviest read's statement, and the export.
    floor, copy = report["floor"], report["copy_floor"]
    assert floor["median_ms"] > 0 and floor["sql"].lstrip().lower().startswith(("select", "with"))
    assert copy["rows"] == rows[run_export]["rows"] and copy["median_ms"] > 0


def test_bad_arguments_are_refused_before_anything_is_created(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as refused:
        dashboard.main(["--runs", "2", "--database", "never_created"])

    assert refused.value.code == 2
    assert "--runs must be at least 3" in capsys.readouterr().err
