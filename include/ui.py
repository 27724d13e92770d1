"""`make ui`: the Airflow UI and REST API on the demo's warehouse and Airflow home, until Ctrl-C.

Starts the warehouse the demo uses (RECON_WAREHOUSE_URL, else the embedded Postgres under
.demo/warehouse), then ``airflow api-server`` on the demo's Airflow home (.airflow/) through
``include.airflow_server``: the metadata DB migrated, the example specs' DAGs serialized, and two users,
``admin`` and ``viewer``, whose passwords are new on each start and printed here. The recon dashboard
(an Airflow plugin in plugins/) is at <url>/recon. No scheduler runs: a run triggered here (or with
``recon run`` and RECON_AIRFLOW_URL) stays queued; ``make demo`` is what runs a reconciliation.
"""

from __future__ import annotations

import argparse
import signal
import time

from include.airflow_server import ApiServer, ApiServerError, airflow_api_server
from include.demo import AIRFLOW_HOME, DEMO_DIR
from include.local_stack import airflow_environment, connection_environment
from recon.warehouse import configured_url, start_embedded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make ui", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="the port to serve on (default 8080)")
    args = parser.parse_args(argv)
    # Ctrl-C, and also a plain kill or a closed terminal, stop the server on the way out; SIGINT is
    # restored because a shell ignores it in background jobs, which a child then inherits.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    warehouse_url = configured_url() or start_embedded(DEMO_DIR / "warehouse" / "pgdata")
    env = {
        **airflow_environment(AIRFLOW_HOME),
        **connection_environment({}, warehouse_url),
        "RECON_DATA_DOCS_DIR": str(DEMO_DIR / "data_docs"),
    }
    print(f"starting the Airflow API server on port {args.port} (30 s to a few minutes) ...", flush=True)
    try:
        with airflow_api_server(
            env, args.port, public_host="localhost", log_path=DEMO_DIR / "api-server.log"
        ) as server:
            print(banner(server), flush=True)
            while server.running():
                time.sleep(1)
            print(f"the API server stopped by itself; see {server.log_path}", flush=True)
            return 1
    except KeyboardInterrupt:
        print("\nstopped", flush=True)
        return 0
    except ApiServerError as exc:
        print(f"make ui: {exc}", flush=True)
        return 1


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def banner(server: ApiServer) -> str:
    users = "".join(f"  user {name:<7} password {password}\n" for name, password in server.users.items())
    return (
        f"\nAirflow UI and REST API: {server.base_url}\n{users}"
        f"recon dashboard: {server.base_url}/recon\n"
        f"recon run through it: RECON_AIRFLOW_URL={server.base_url} RECON_AIRFLOW_USER=admin"
        " RECON_AIRFLOW_PASSWORD=<admin's password> recon run SPEC --from DATE --to DATE --no-wait\n"
        f"server log: {server.log_path}\nCtrl-C stops it."
    )


if __name__ == "__main__":
    raise SystemExit(main())
