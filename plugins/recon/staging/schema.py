"""Create the warehouse tables recon writes itself (staging, run ledger, outbox)."""

from __future__ import annotations

from importlib.resources import files

import psycopg

from recon.money import NON_DEFAULT_EXPONENTS

_SCHEMA_SQL = files("recon.staging").joinpath("schema.sql").read_text(encoding="utf-8")


def ensure_schema(conn: psycopg.Connection) -> None:
    """Idempotent; an advisory lock keeps concurrent runs of different specs from racing on DDL."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('recon.ensure_schema'))")
        cur.execute(_SCHEMA_SQL)
        cur.executemany(
            "insert into staging.currencies (currency, exponent) values (%s, %s)"
            " on conflict (currency) do update set exponent = excluded.exponent",
            sorted(NON_DEFAULT_EXPONENTS.items()),
        )
