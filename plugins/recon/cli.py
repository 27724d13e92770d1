"""`recon`: the package's command line, for checking specs outside Airflow.

recon validate include/specs/*.yml   # exit 1 with file/field/line messages if any is wrong
recon list [--specs-dir DIR]         # one line per spec: DAG id, schedule, sources
recon schema [--output FILE]         # the spec format as JSON Schema (docs/spec.schema.json)
recon suites SPEC... [--output DIR]  # the GX suites and checkpoints a spec's rules generate
recon breaks list|show|ignore|resolve|reopen ...   # review breaks, audited (recon/cli_operations.py)
recon stats SPEC [--since 7d]        # runs, success rate, run time, breaks found, resolved and open by age
recon warehouse bootstrap-roles      # analyst and pipeline roles and grants (as a superuser)
recon corrections plan|apply|revert|list SPEC ...  # fix the system that is not the source of truth
recon run SPEC --from DATE --to DATE  # one run per schedule window, through Airflow (recon/cli_run.py)
recon run SPEC --key KEY [--key ...]  # reconcile a few records now, scheduled results untouched
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recon.spec import Spec, SpecError, load_spec, load_specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="recon", description="Reconciliation specs and their results: check, list, review."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate spec files")
    validate.add_argument("files", nargs="+", type=Path)
    listing = commands.add_parser("list", help="list the specs of a folder")
    listing.add_argument("--specs-dir", type=Path, default=Path("include/specs"))
    schema = commands.add_parser("schema", help="print the spec format as JSON Schema")
    schema.add_argument("--output", type=Path, help="write it to this file instead")
    suites = commands.add_parser("suites", help="write the integrity suites a spec's rules generate")
    suites.add_argument("files", nargs="+", type=Path)
    suites.add_argument(
        "--output", type=Path, default=Path("expectations"), help="folder (default: expectations)"
    )
    from recon.cli_operations import add_commands, run_breaks

    add_commands(commands)
    from recon.cli_run import add_run_command, run_command

    add_run_command(commands)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run_command(args)
    if args.command == "breaks":
        return run_breaks(args)
    if args.command == "corrections":
        from recon.cli_operations import run_corrections

        return run_corrections(args)
    if args.command == "warehouse":
        from recon.cli_operations import bootstrap

        return bootstrap(args)
    if args.command == "stats":
        from recon.stats import stats_command

        return stats_command(args.spec, args.since, args.connection)
    if args.command == "suites":
        return _suites(args.files, args.output)
    if args.command == "validate":
        return _validate(args.files)
    if args.command == "schema":
        return _schema(args.output)
    return _list(args.specs_dir)


def _validate(files: list[Path]) -> int:
    failed = 0
    for path in files:
        try:
            spec = load_spec(path)
        except SpecError as exc:
            failed += 1
            print(exc, file=sys.stderr)
        else:
            print(f"{path}: ok ({spec.dag_id})")
    return 1 if failed else 0


def _list(directory: Path) -> int:
    try:
        specs = load_specs(directory)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 1
    for spec in specs:
        sources = " vs ".join(f"{s.name} ({s.type})" for s in spec.sources)
        references = "".join(f" + reference {s.name} ({s.type})" for s in spec.references)
        print(f"{spec.dag_id:<32} {spec.schedule:<14} {sources}{references}")
    return 0


def spec_json_schema() -> str:
    """The spec format as JSON Schema, exported from the pydantic models (never written by hand)."""
    document = {
        **Spec.model_json_schema(),
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "recon reconciliation spec",
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _schema(output: Path | None) -> int:
    text = spec_json_schema()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    return 0


def _suites(files: list[Path], output: Path) -> int:
    from recon.integrity.definitions import write_definitions

    try:
        specs = [load_spec(path) for path in files]
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 1
    for spec in specs:
        for path in write_definitions(spec, output):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
