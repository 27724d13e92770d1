"""The spec format's JSON Schema: exported from the models, committed in docs/, and true to real specs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from recon.cli import main, spec_json_schema

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = PROJECT_ROOT / "docs" / "spec.schema.json"
SPECS = sorted(
    [*(PROJECT_ROOT / "include" / "specs").glob("*.yml"), *(PROJECT_ROOT / "docs" / "examples").glob("*.yml")]
)


def test_the_published_schema_is_the_one_the_models_export() -> None:
    assert PUBLISHED.read_text(encoding="utf-8") == spec_json_schema(), (
        "docs/spec.schema.json is stale: run `.venv/bin/recon schema --output docs/spec.schema.json`"
    )


@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.name)
def test_every_shipped_and_example_spec_satisfies_the_schema(path: Path) -> None:
    jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), json.loads(spec_json_schema()))


def test_the_schema_rejects_an_unknown_source_type() -> None:
    document = yaml.safe_load((PROJECT_ROOT / "include" / "specs" / "stripe_billing.yml").read_text())
    document["sources"][0]["type"] = "ftp_csv"

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, json.loads(spec_json_schema()))


def test_recon_schema_writes_the_schema_to_a_file(tmp_path: Path) -> None:
    output = tmp_path / "schema.json"

    assert main(["schema", "--output", str(output)]) == 0

    assert json.loads(output.read_text())["title"] == "recon reconciliation spec"
