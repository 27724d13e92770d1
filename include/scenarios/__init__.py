"""Sandbox scenarios: for each example spec in include/specs, the peers it reads and what they hold.

A scenario generates one day of data for its spec (seeded, so the same seed gives the same data),
serves it from real sandbox peers on loopback (Stripe, REST, GraphQL, SFTP, a Postgres app DB),
and knows the breaks it injected. `make demo SPEC=<name>` and the end-to-end tests use the same
scenario, so what the demo shows is what the tests prove.

A scenario module is ``include/scenarios/<spec name>.py`` with a class named ``Scenario``:

    class Scenario:
        spec = "<spec name>"                       # the file include/specs/<spec name>.yml
        def __init__(self, seed: int, day: datetime.date) -> None: ...
        def logical_dates(self) -> list[datetime.datetime]:
            '''The Airflow logical dates to run, in order (one for a daily spec, several for a
            spec scheduled every 15 minutes, two for a life-across-runs story).'''
        def serve(self, workdir: Path) -> ContextManager[dict[str, str]]:
            '''Start the peers; yield {connection id: Airflow connection JSON} for every connection
            the spec names except the warehouse and the alert channels.'''
        def expected_breaks(self) -> collections.Counter[tuple[str, str | None]]:
            '''What the last run must find: (break_class, missing_in) -> count, exactly.'''
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def scenario_module(spec: str) -> ModuleType:
    """The scenario of an example spec; a clear error naming the ones that exist."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))
    if spec not in names:
        raise SystemExit(f"no sandbox scenario for spec {spec!r}; scenarios exist for: {', '.join(names)}")
    return importlib.import_module(f"{__name__}.{spec}")
