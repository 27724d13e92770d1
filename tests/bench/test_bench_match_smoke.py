"""The matching benchmark runs end to end on small files; no timing is asserted, only the break counts."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from include.bench import _match_data as data
from include.bench import match

pytestmark = pytest.mark.integration


def test_all_three_methods_find_exactly_the_injected_breaks(
    warehouse_server_url: str, tmp_path: Path
) -> None:
    output = tmp_path / "match.json"
    database = f"recon_bench_match_smoke_{os.getpid()}"

    args = ["--rows", "2000", "--break-rate", "0.02", "--database", database, "--output", str(output)]
    code = match.main([*args, "--warehouse-url", warehouse_server_url])

    assert code == 0
    (report,) = json.loads(output.read_text())["sizes"]
    expected = report["expected_breaks"]
    assert set(expected) == {"missing_in_ledger", "missing_in_processor", "amount_mismatch"}
    assert all(count > 10 for count in expected.values()), expected
    assert report["within_tolerance"] > 10
    methods = report["methods"]
    assert {name: methods[name]["breaks"] for name in methods} == {
        "recon": expected,
        "datacompy": expected,
        "floor": expected,
    }
    # Both integrity checkpoints ran the default rules on the run, and every rule held on clean data.
    processes = methods["recon"]["processes"]
    assert processes["integrity_staging"]["checked"] > 0 and processes["integrity_results"]["checked"] > 0
    assert processes["integrity_staging"]["failed"] == processes["integrity_results"]["failed"] == []
    # The boundary cases matched within tolerance, and nothing else was a break or a match by accident.
    outcomes = methods["recon"]["outcomes"]
    assert outcomes["matched_within_tolerance"] == report["within_tolerance"]
    assert sum(outcomes.values()) == 2000
    recon = methods["recon"]["processes"]
    assert recon["load_processor"]["loaded"] == 2000 - expected["missing_in_processor"]
    assert recon["load_ledger"]["loaded"] == 2000 - expected["missing_in_ledger"]
    assert recon["dbt"]["nodes_s"]["int_records_matched"] > 0
    for name in ("recon", "datacompy", "floor"):
        assert methods[name]["wall_s"] > 0
        assert methods[name]["peak_rss_kb"] > 0


def test_the_two_files_hold_the_same_payments_in_different_orders(tmp_path: Path) -> None:
    files = data.write_pair(tmp_path, 500, seed=3, break_rate=0.05)

    def parse(path: Path) -> list[tuple[str, Decimal]]:
        lines = path.read_text().splitlines()
        assert lines[0] + "\n" == data.HEADER
        return [(row.split(",")[0], Decimal(row.split(",")[1])) for row in lines[1:]]

    left, right = parse(files.left), parse(files.right)
    left_amounts, right_amounts = dict(left), dict(right)
    assert [key for key, _ in left] == sorted(left_amounts)
    assert [key for key, _ in right] != sorted(right_amounts)
    shared = left_amounts.keys() & right_amounts.keys()
    gaps = [abs(left_amounts[key] - right_amounts[key]) for key in shared]
    assert len(left_amounts.keys() - shared) == files.expected["missing_in_ledger"]
    assert len(right_amounts.keys() - shared) == files.expected["missing_in_processor"]
    assert sum(gap > Decimal("0.01") for gap in gaps) == files.expected["amount_mismatch"]
    assert sum(gap == Decimal("0.01") for gap in gaps) == files.within_tolerance
    (tmp_path / "again").mkdir()
    again = data.write_pair(tmp_path / "again", 500, seed=3, break_rate=0.05)
    assert again.right.read_bytes() == files.right.read_bytes()
