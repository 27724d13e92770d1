"""Create the warehouse tables recon writes itself (staging, run ledger, outbox).

``schema.sql`` runs first; then every other ``*.sql`` file of this package, sorted by name, so a
feature adds its tables as one new file (e.g. ``file_registry.sql``) without editing this module.
"""

from __future__ import annotations

from importlib.resources import files

import psycopg

from recon.money import NON_DEFAULT_EXPONENTS

_MAIN = "schema.sql"


def schema_scripts() -> list[tuple[str, str]]:
    """(name, SQL) of every schema file, ``schema.sql`` first, the others sorted by name."""
    package = files("recon.staging")
    others = sorted(
        entry.name for entry in package.iterdir() if entry.name.endswith(".sql") and entry.name != _MAIN
    )
    return [(name, package.joinpath(name).read_text(encoding="utf-8")) for name in [_MAIN, *others]]


def ensure_schema(conn: psycopg.Connection) -> None:
    """Idempotent; an advisory lock keeps concurrent runs of different specs from racing on DDL."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('recon.ensure_schema'))")
        for _name, script in schema_scripts():
            cur.execute(script)
        cur.executemany(
            "insert into staging.currencies (currency, exponent) values (%s, %s)"
            " on conflict (currency) do update set exponent = excluded.exponent",
            sorted(NON_DEFAULT_EXPONENTS.items()),
        )
