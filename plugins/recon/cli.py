"""`recon`: the package's command line, for checking specs outside Airflow.

recon validate include/specs/*.yml   # exit 1 with file/field/line messages if any is wrong
recon list [--specs-dir DIR]         # one line per spec: DAG id, schedule, sources
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recon.spec import SpecError, load_spec, load_specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="recon", description="Reconciliation specs: check and list.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="validate spec files")
    validate.add_argument("files", nargs="+", type=Path)
    listing = commands.add_parser("list", help="list the specs of a folder")
    listing.add_argument("--specs-dir", type=Path, default=Path("include/specs"))
    args = parser.parse_args(argv)
    if args.command == "validate":
        return _validate(args.files)
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
        print(f"{spec.dag_id:<32} {spec.schedule:<14} {sources}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
