"""Warehouse roles: who may read and write what (``recon warehouse bootstrap-roles``).

Two group roles (NOLOGIN); people and services log in as roles of their own that are members.

``recon_analyst`` reads the results schema ``reconciliation`` (result tables, run ledger, audit log)
and nothing else: USAGE on that schema and SELECT on its tables, now and created later; no write
privilege anywhere; nothing on ``staging`` or on dbt's ``recon_intermediate`` and ``recon_staging``::

    create role alice login password '...';
    grant recon_analyst to alice;

``recon_pipeline`` is what Airflow and dbt run as. It may create in recon's four schemas and it owns
their tables, views and functions: ``ensure_schema`` (``alter table ... add column if not exists``),
partition swaps, retention and dbt's incremental models alter and drop tables, which PostgreSQL
allows an owner only, never a grantee. Its logins should act as the group role, so that everything
they create belongs to ``recon_pipeline`` (any pipeline login can alter it; the default privileges
below apply)::

    create role airflow login password '...' in role recon_pipeline;
    alter role airflow set role recon_pipeline;

The audit log is the exception: ``reconciliation.audit_log`` and its trigger function belong to the
role that ran the bootstrap, and the pipeline may only SELECT and INSERT there. The trigger refuses
UPDATE, DELETE and TRUNCATE for everyone, its owner included (``staging/audit_log.sql``); only a
superuser can get around it (``session_replication_role = replica``, or by dropping the trigger).
The schemas belong to the bootstrapping role too: a schema's owner may drop anything in it.

Idempotent: run it again after upgrading recon (new tables are then handed to the pipeline) or after
adding a pipeline login that does not ``set role``. It needs a superuser (or, at least, CREATEROLE).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal, LiteralString

import psycopg
from psycopg import sql

from recon.staging.schema import ensure_schema

RESULTS_SCHEMA = "reconciliation"
# recon's own tables (schema.sql) and dbt's layers (dbt_project.yml: +schema).
RECON_SCHEMAS = ("staging", RESULTS_SCHEMA, "recon_intermediate", "recon_staging")
AUDIT_LOG = sql.Identifier(RESULTS_SCHEMA, "audit_log")
AUDIT_LOG_NAME = "audit_log"
AUDIT_FUNCTION = "refuse_audit_change"

# Lower case only, so the unquoted name in `grant recon_analyst to alice` is the same role.
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_RESERVED = frozenset({"public", "none", "all", "current_user", "current_role", "session_user", "user"})
# Relation kinds whose owner is changed with each command; indexes and TOAST follow their table.
_ALTER_OWNER = {
    "r": "alter table",
    "p": "alter table",
    "v": "alter view",
    "m": "alter materialized view",
    "f": "alter foreign table",
    "S": "alter sequence",
}


class AccessError(RuntimeError):
    """The bootstrap cannot run as asked (missing privilege, unsafe role); nothing was changed."""


def validate_role_name(name: str) -> str:
    """``name`` if it is a plain lower-case identifier fit for a new role; else ValueError."""
    if not _ROLE_NAME.fullmatch(name) or name in _RESERVED or name.startswith("pg_"):
        raise ValueError(
            f"role name {name!r}: expected 1-63 characters of a-z, 0-9 and _, not starting with a digit"
            " or pg_, and not a reserved name"
        )
    return name


def bootstrap_roles(
    conn: psycopg.Connection, *, analyst_role: str = "recon_analyst", pipeline_role: str = "recon_pipeline"
) -> list[str]:
    """Create recon's schemas and the two group roles, and grant them; return what it did, one line each.

    One transaction (a savepoint if ``conn`` is inside one already, which the caller then commits): on
    any error nothing is changed. Raises AccessError when the connected role lacks what the bootstrap
    needs or a role of that name would be unsafe, ValueError for a bad role name.
    """
    analyst = validate_role_name(analyst_role)
    pipeline = validate_role_name(pipeline_role)
    if analyst == pipeline:
        raise ValueError(f"analyst and pipeline roles must differ (both {analyst!r})")
    user = "the connected role"
    try:
        with conn.transaction():
            user = _require_role_admin(conn)
            ensure_schema(conn)  # the tables to grant on; takes the DDL lock until this transaction ends
            with conn.cursor() as cur:
                done = [_ensure_group_role(cur, analyst), _ensure_group_role(cur, pipeline)]
                if _scalar(cur, "select pg_has_role(%s, %s, 'MEMBER')", analyst, pipeline):
                    raise AccessError(f"role {analyst} is a member of {pipeline}: it could write everything")
                done += _grant_database(cur, analyst, pipeline)
                pipeline_side = _pipeline_side(cur, pipeline)
                done += _grant_schemas(cur, analyst, pipeline, pipeline_side, user)
                done += _hand_over_objects(cur, pipeline)
                done += _grant_tables(cur, analyst, pipeline)
                done += _lock_audit_log(cur, analyst, pipeline, user)
                done += _default_privileges(cur, analyst, pipeline, pipeline_side)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise AccessError(
            f"bootstrap-roles as {user}: {exc.diag.message_primary}; nothing was changed. Run it as a"
            " superuser (a CREATEROLE role must also own recon's schemas and tables)"
        ) from exc
    return done


def _require_role_admin(conn: psycopg.Connection) -> str:
    row = conn.execute(
        "select current_user, rolsuper, rolcreaterole from pg_roles where rolname = current_user"
    ).fetchone()
    assert row is not None
    user, is_superuser, can_create_roles = row
    if not (is_superuser or can_create_roles):
        raise AccessError(
            f"bootstrap-roles needs a superuser or a role with CREATEROLE; {user} is neither"
            " (connect as the warehouse's admin, e.g. postgres)"
        )
    return user


def _scalar(cur: psycopg.Cursor, query: LiteralString, *params: object) -> object:
    row = cur.execute(query, params).fetchone()
    return None if row is None else row[0]


def _ensure_group_role(cur: psycopg.Cursor, role: str) -> str:
    found = cur.execute("select rolsuper, rolcanlogin from pg_roles where rolname = %s", (role,)).fetchone()
    if found is None:
        cur.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
        return f"created role {role} (nologin)"
    is_superuser, can_login = found
    if is_superuser:
        raise AccessError(f"role {role} exists and is a superuser, which bypasses every grant; pick another")
    return f"role {role} exists" + (" (it can log in itself: a group role should not)" if can_login else "")


def _pipeline_side(cur: psycopg.Cursor, pipeline: str) -> list[str]:
    """The pipeline role and every role that is a member of it, directly or not (its logins)."""
    rows = cur.execute(
        """
        with recursive side(oid) as (
            select oid from pg_roles where rolname = %s
            union
            select m.member from pg_auth_members m join side on m.roleid = side.oid
        )
        select r.rolname from side join pg_roles r using (oid) order by r.rolname <> %s, r.rolname
        """,
        (pipeline, pipeline),
    ).fetchall()
    return [name for (name,) in rows]


def _grant_database(cur: psycopg.Cursor, analyst: str, pipeline: str) -> list[str]:
    database = sql.Identifier(str(_scalar(cur, "select current_database()")))
    analyst_id, pipeline_id = sql.Identifier(analyst), sql.Identifier(pipeline)
    cur.execute(sql.SQL("grant connect on database {} to {}, {}").format(database, analyst_id, pipeline_id))
    # `create schema if not exists` (ensure_schema, dbt) needs the database's CREATE even when the
    # schema exists; dbt's incremental models stage rows in temporary tables.
    cur.execute(sql.SQL("grant create, temporary on database {} to {}").format(database, pipeline_id))
    done = [f"{pipeline}: connect, create, temporary on the database; {analyst}: connect"]
    if _scalar(cur, "select to_regnamespace('public') is not null"):
        # PostgreSQL 15's default; older servers let every role create tables in `public`.
        cur.execute("revoke create on schema public from public")
        done.append("nobody creates in schema public by default (revoked from PUBLIC)")
    return done


def _grant_schemas(
    cur: psycopg.Cursor, analyst: str, pipeline: str, pipeline_side: list[str], admin: str
) -> list[str]:
    analyst_id, pipeline_id = sql.Identifier(analyst), sql.Identifier(pipeline)
    done = []
    for name in RECON_SCHEMAS:
        schema = sql.Identifier(name)
        cur.execute(sql.SQL("create schema if not exists {}").format(schema))  # dbt's, before its first run
        owner = _scalar(
            cur,
            "select r.rolname from pg_namespace n join pg_roles r on r.oid = n.nspowner where nspname = %s",
            name,
        )
        if owner in pipeline_side:
            # A schema's owner may drop anything in it, the audit log included.
            cur.execute(sql.SQL("alter schema {} owner to current_user").format(schema))
            done.append(f"schema {name}: owner {owner} -> {admin}")
        # New schemas grant PUBLIC nothing; a grant someone made to PUBLIC would reach the analyst.
        cur.execute(sql.SQL("revoke all on schema {} from public").format(schema))
        cur.execute(sql.SQL("grant usage, create on schema {} to {}").format(schema, pipeline_id))
        if name == RESULTS_SCHEMA:
            cur.execute(sql.SQL("revoke create on schema {} from {}").format(schema, analyst_id))
            cur.execute(sql.SQL("grant usage on schema {} to {}").format(schema, analyst_id))
            done.append(f"schema {name}: {pipeline} usage, create; {analyst} usage")
        else:
            cur.execute(sql.SQL("revoke all on schema {} from {}").format(schema, analyst_id))
            done.append(f"schema {name}: {pipeline} usage, create; {analyst} nothing")
    return done


def _hand_over_objects(cur: psycopg.Cursor, pipeline: str) -> list[str]:
    """Make the pipeline role own every table, view, sequence and function of recon's schemas
    (partitions included), but the audit log and its trigger function."""
    pipeline_id = sql.Identifier(pipeline)
    relations = cur.execute(
        """
        select n.nspname, c.relname, c.relkind::text
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
          and c.relowner <> %s::regrole
          and not (n.nspname = %s and c.relname = %s)
          -- identity and serial sequences follow their table
          and not (c.relkind = 'S' and exists (
              select from pg_depend d
              where d.classid = 'pg_class'::regclass and d.objid = c.oid
                and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
          ))
        order by 1, 2
        """,
        (list(RECON_SCHEMAS), pipeline, RESULTS_SCHEMA, AUDIT_LOG_NAME),
    ).fetchall()
    for schema, name, kind in relations:
        cur.execute(
            sql.SQL("{} {} owner to {}").format(
                sql.SQL(_ALTER_OWNER[kind]), sql.Identifier(schema, name), pipeline_id
            )
        )
    routines = cur.execute(
        """
        select n.nspname, p.proname,
            coalesce((
                select array_agg(array[tn.nspname::text, t.typname::text] order by a.i)
                from unnest(p.proargtypes::oid[]) with ordinality as a(type_oid, i)
                join pg_type t on t.oid = a.type_oid join pg_namespace tn on tn.oid = t.typnamespace
            ), '{}')
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = any(%s) and p.prokind in ('f', 'p') and p.proowner <> %s::regrole
          and not (n.nspname = %s and p.proname = %s)
        order by 1, 2
        """,
        (list(RECON_SCHEMAS), pipeline, RESULTS_SCHEMA, AUDIT_FUNCTION),
    ).fetchall()
    for schema, name, argument_types in routines:
        arguments = sql.SQL(", ").join(sql.Identifier(*type_name) for type_name in argument_types)
        cur.execute(
            sql.SQL("alter routine {}({}) owner to {}").format(
                sql.Identifier(schema, name), arguments, pipeline_id
            )
        )
    if not relations and not routines:
        return [f"every table and function of recon's schemas already belongs to {pipeline}"]
    return [f"{len(relations)} tables/views/sequences and {len(routines)} functions now belong to {pipeline}"]


def _grant_tables(cur: psycopg.Cursor, analyst: str, pipeline: str) -> list[str]:
    analyst_id, pipeline_id = sql.Identifier(analyst), sql.Identifier(pipeline)
    for name in RECON_SCHEMAS:
        schema = sql.Identifier(name)
        for kind in (sql.SQL("tables"), sql.SQL("sequences")):
            cur.execute(sql.SQL("revoke all on all {} in schema {} from public").format(kind, schema))
            cur.execute(sql.SQL("grant all on all {} in schema {} to {}").format(kind, schema, pipeline_id))
            cur.execute(sql.SQL("revoke all on all {} in schema {} from {}").format(kind, schema, analyst_id))
        if name == RESULTS_SCHEMA:
            cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(schema, analyst_id))
    return [
        f"{pipeline}: all privileges on the tables and sequences of {', '.join(RECON_SCHEMAS)}",
        f"{analyst}: select on the tables of {RESULTS_SCHEMA}, nothing else",
    ]


def _lock_audit_log(cur: psycopg.Cursor, analyst: str, pipeline: str, admin: str) -> list[str]:
    # Owned by the bootstrapping role, so no pipeline login can drop the table or its trigger,
    # replace the trigger function, or grant itself UPDATE.
    cur.execute(sql.SQL("alter table {} owner to current_user").format(AUDIT_LOG))
    cur.execute(
        sql.SQL("alter function {}() owner to current_user").format(
            sql.Identifier(RESULTS_SCHEMA, AUDIT_FUNCTION)
        )
    )
    cur.execute(
        sql.SQL("revoke all on {} from public, {}, {}").format(
            AUDIT_LOG, sql.Identifier(pipeline), sql.Identifier(analyst)
        )
    )
    # Its identity sequence: inserts draw from it without any privilege; setval would only muddle the order.
    sequences = cur.execute(
        """
        select n.nspname, c.relname from pg_depend d
        join pg_class c on c.oid = d.objid join pg_namespace n on n.oid = c.relnamespace
        where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_class'::regclass
          and d.refobjid = 'reconciliation.audit_log'::regclass and c.relkind = 'S'
        """
    ).fetchall()
    for schema, name in sequences:
        cur.execute(
            sql.SQL("revoke all on sequence {} from public, {}, {}").format(
                sql.Identifier(schema, name), sql.Identifier(pipeline), sql.Identifier(analyst)
            )
        )
    cur.execute(sql.SQL("grant select, insert on {} to {}").format(AUDIT_LOG, sql.Identifier(pipeline)))
    cur.execute(sql.SQL("grant select on {} to {}").format(AUDIT_LOG, sql.Identifier(analyst)))
    return [
        f"{RESULTS_SCHEMA}.{AUDIT_LOG_NAME}: owner {admin}; {pipeline} select, insert;"
        f" {analyst} select; its trigger refuses update, delete and truncate"
    ]


def _default_privileges(
    cur: psycopg.Cursor, analyst: str, pipeline: str, pipeline_side: Iterable[str]
) -> list[str]:
    """Privileges on the tables created later, e.g. by dbt.

    ALTER DEFAULT PRIVILEGES applies only to objects created by the role named in FOR ROLE (the
    role that is current_user at creation). The assumption: pipeline logins ``set role`` to the
    pipeline role (see the module docstring), so dbt creates as ``recon_pipeline`` and the entries
    FOR ROLE recon_pipeline cover it. A member that creates as itself is covered too if it existed
    when the bootstrap ran: each member gets entries of its own (rerun the bootstrap after adding
    one). Objects created by anyone else (an admin) are covered by the next bootstrap, which hands
    them to the pipeline role and grants on all tables again.
    """
    creators = list(pipeline_side)
    for creator in creators:
        if creator != pipeline:  # the pipeline role owns what it creates
            for name in RECON_SCHEMAS:
                _default_grant(cur, creator, name, "all", "tables", pipeline)
                _default_grant(cur, creator, name, "all", "sequences", pipeline)
        _default_grant(cur, creator, RESULTS_SCHEMA, "select", "tables", analyst)
    return [f"tables that {', '.join(creators)} create in {RESULTS_SCHEMA} later are readable by {analyst}"]


def _default_grant(
    cur: psycopg.Cursor,
    creator: str,
    schema: str,
    privilege: Literal["all", "select"],
    kind: Literal["tables", "sequences"],
    grantee: str,
) -> None:
    cur.execute(
        sql.SQL("alter default privileges for role {} in schema {} grant {} on {} to {}").format(
            sql.Identifier(creator),
            sql.Identifier(schema),
            sql.SQL(privilege),
            sql.SQL(kind),
            sql.Identifier(grantee),
        )
    )
