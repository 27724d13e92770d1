"""`recon corrections plan | apply | list | revert` from the command line, against a real app database."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml

from recon.cli import main
from tests.operations.conftest import SPEC, TILL, till

pytestmark = pytest.mark.integration


@pytest.fixture
def specs_dir(tmp_path: Path, warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    document = SPEC.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    (folder / "tickets.yml").write_text(yaml.safe_dump(document), encoding="utf-8")
    monkeypatch.setenv("RECON_WAREHOUSE_URL", warehouse_url)
    return folder


def test_plan_then_apply_then_apply_again_then_revert(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str], specs_dir: Path, capsys
) -> None:
    original = till(app_db)
    common = ["tickets", "--specs-dir", str(specs_dir), "--by", "ada"]

    assert main(["corrections", "plan", *common]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("4 change(s) planned; nothing in the target was changed")
    assert 'update o2: {"amount": "20.01"} -> {"amount": "20.00"} (auto)' in out
    assert till(app_db) == original

    assert main(["corrections", "apply", *common]) == 0
    applied = capsys.readouterr().out.splitlines()
    assert sorted(line.split(" ", 1)[1] for line in applied) == [
        "delete o4: applied (deleted)", "insert o5: applied (inserted)",
        "update o2: applied (updated)", "update o3: applied (updated)",
    ]  # fmt: skip
    assert main(["corrections", "apply", *common]) == 0
    assert capsys.readouterr().out.strip() == (
        "nothing to apply: every change named or planned is done already"
    )

    assert main(["corrections", "list", *common, "--status", "applied"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 4 and all(" applied " in line for line in listed)
    ids = [line.split()[0] for line in applied]
    assert main(["corrections", "revert", *common, *(f"--id={cid}" for cid in ids)]) == 0
    assert till(app_db) == original


def test_bad_input_exits_2_naming_it(
    warehouse: psycopg.Connection, app_db: str, ticket_breaks: dict[str, str], specs_dir: Path, capsys
) -> None:
    common = ["--specs-dir", str(specs_dir), "--by", "ada"]

    assert main(["corrections", "plan", "nope", *common]) == 2
    assert "no spec 'nope' in" in capsys.readouterr().err
    assert main(["corrections", "plan", "tickets", *common, "--break", "nope"]) == 2
    assert "no open, correctable break of 'tickets': nope" in capsys.readouterr().err
    assert main(["corrections", "revert", "tickets", *common, "--id", "nope"]) == 2
    assert "no correction of 'tickets': nope" in capsys.readouterr().err
    assert len(till(app_db)) == len(TILL)
