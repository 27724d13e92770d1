"""The suites committed in expectations/ are the ones the shipped specs' rules generate."""

from __future__ import annotations

from pathlib import Path

import pytest

from recon.integrity.definitions import write_definitions
from recon.spec import load_spec

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STALE = "is stale: run `.venv/bin/recon suites include/specs/*.yml`"
SPECS = sorted((PROJECT_ROOT / "include" / "specs").glob("*.yml"))


@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.stem)
def test_the_committed_suites_are_current(path: Path, tmp_path: Path) -> None:
    spec = load_spec(path)
    written = write_definitions(spec, tmp_path)
    committed = PROJECT_ROOT / "expectations" / spec.name

    assert sorted(p.name for p in committed.iterdir()) == sorted(p.name for p in written), (
        f"expectations/{spec.name} {STALE}"
    )
    for fresh in written:
        assert (committed / fresh.name).read_text() == fresh.read_text(), (
            f"expectations/{spec.name}/{fresh.name} {STALE}"
        )
