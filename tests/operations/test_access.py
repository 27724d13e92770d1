"""Warehouse roles: the analyst reads `reconciliation` and nothing else; the pipeline runs; the audit log is
append-only. Each test connects as real login roles (trust auth) made members of the group roles."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import LiteralString
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from recon.access import AccessError, bootstrap_roles
from recon.records import CanonicalRecord
from recon.staging.loader import replace_window
from recon.staging.partitions import drop_runs_before
from recon.staging.schema import ensure_schema
from recon.window import RunWindow
from tests.dbt.harness import day_window, make_spec, run_matching

pytestmark = pytest.mark.integration

WINDOW = RunWindow("billing", datetime(2026, 11, 19, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC))


@dataclass
class Roles:
    """Role names unique to one test (roles are cluster-wide); every one made is dropped after the test."""

    warehouse: psycopg.Connection
    url: str
    prefix: str
    made: list[str] = field(default_factory=list)

    @property
    def analyst(self) -> str:
        return f"{self.prefix}_analyst"

    @property
    def pipeline(self) -> str:
        return f"{self.prefix}_pipeline"

    def name(self, suffix: str) -> str:
        name = f"{self.prefix}_{suffix}"
        self.made.append(name)
        return name

    def bootstrap(self) -> list[str]:
        self.made.extend(role for role in (self.analyst, self.pipeline) if role not in self.made)
        done = bootstrap_roles(self.warehouse, analyst_role=self.analyst, pipeline_role=self.pipeline)
        self.warehouse.commit()
        return done

    def login(self, suffix: str, *groups: str, set_role: str | None = None) -> str:
        """A LOGIN role in ``groups``; sessions act as ``set_role`` when given (the documented setup)."""
        name = self.name(suffix)
        with self.warehouse.transaction():
            self.warehouse.execute(sql.SQL("create role {} login").format(sql.Identifier(name)))
            for group in groups:
                self.warehouse.execute(
                    sql.SQL("grant {} to {}").format(sql.Identifier(group), sql.Identifier(name))
                )
            if set_role is not None:
                self.warehouse.execute(
                    sql.SQL("alter role {} set role = {}").format(sql.Identifier(name), sql.Literal(set_role))
                )
        self.warehouse.commit()  # the login connects from another session
        return name

    def connect(self, user: str) -> psycopg.Connection:
        """A new session of ``user`` (autocommit: each refused statement stands alone)."""
        return psycopg.connect(as_user(self.url, user), autocommit=True)


def as_user(url: str, user: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


@pytest.fixture
def roles(warehouse: psycopg.Connection, warehouse_url: str) -> Iterator[Roles]:
    made = Roles(warehouse, warehouse_url, f"t{os.getpid()}_{secrets.token_hex(3)}")
    yield made
    warehouse.rollback()
    with warehouse.transaction():
        existing = [
            name
            for (name,) in warehouse.execute(
                "select rolname from pg_roles where rolname = any(%s)", (made.made,)
            ).fetchall()
        ]
        for name in existing:
            # Objects, grants and default privileges of the role, in this test database only. One role per
            # statement: `drop owned by a, b` fails on a default ACL entry that names both.
            warehouse.execute(sql.SQL("drop owned by {} cascade").format(sql.Identifier(name)))
        if existing:
            warehouse.execute(
                sql.SQL("drop role {}").format(sql.SQL(", ").join(map(sql.Identifier, existing)))
            )


def refused(conn: psycopg.Connection, statement: LiteralString) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
        conn.execute(statement)
    return str(caught.value)


def record(key: str) -> CanonicalRecord:
    return CanonicalRecord(key, Decimal("1.00"), "USD", WINDOW.start, "api://page/1")


def acl_snapshot(conn: psycopg.Connection) -> list[tuple]:
    """Owners and ACLs of recon's schemas, their tables and functions, the default privileges."""
    return conn.execute(
        """
        select 'schema', nspname, nspowner::regrole::text, nspacl::text from pg_namespace
        where nspname in ('staging', 'reconciliation', 'recon_intermediate', 'recon_staging', 'public')
        union all
        select 'relation', c.oid::regclass::text, relowner::regrole::text, relacl::text from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in ('staging', 'reconciliation', 'recon_intermediate', 'recon_staging')
        union all
        select 'routine', p.oid::regprocedure::text, proowner::regrole::text, proacl::text from pg_proc p
        join pg_namespace n on n.oid = p.pronamespace
        where n.nspname in ('staging', 'reconciliation', 'recon_intermediate', 'recon_staging')
        union all
        select 'default', defaclrole::regrole::text || ' ' || defaclnamespace::regnamespace::text,
            defaclobjtype::text, defaclacl::text from pg_default_acl
        union all
        select 'database', datname, datdba::regrole::text, datacl::text from pg_database
        where datname = current_database()
        order by 1, 2, 3
        """
    ).fetchall()


def test_bootstrap_twice_creates_nologin_group_roles_once_and_changes_nothing_more(roles: Roles) -> None:
    first = roles.bootstrap()
    after_first = acl_snapshot(roles.warehouse)
    second = roles.bootstrap()

    assert f"created role {roles.analyst} (nologin)" in first
    assert f"created role {roles.pipeline} (nologin)" in first
    assert f"role {roles.analyst} exists" in second
    assert f"role {roles.pipeline} exists" in second
    assert acl_snapshot(roles.warehouse) == after_first
    found = roles.warehouse.execute(
        "select rolname, rolcanlogin, rolsuper from pg_roles where rolname = any(%s) order by 1",
        ([roles.analyst, roles.pipeline],),
    ).fetchall()
    assert found == [(roles.analyst, False, False), (roles.pipeline, False, False)]


def test_analyst_login_reads_the_run_ledger_and_the_audit_log(roles: Roles) -> None:
    roles.warehouse.execute(
        "insert into reconciliation.runs (run_id, spec, window_start, window_end, status)"
        " values ('billing/1', 'billing', now() - interval '1 day', now(), 'success')"
    )
    roles.warehouse.execute("insert into reconciliation.audit_log (actor, action) values ('ops', 'review')")
    roles.bootstrap()
    alice = roles.login("alice", roles.analyst)

    with roles.connect(alice) as conn:
        runs = conn.execute("select run_id, status from reconciliation.runs").fetchall()
        audit = conn.execute("select actor, action from reconciliation.audit_log").fetchall()

    assert runs == [("billing/1", "success")]
    assert audit == [("ops", "review")]


@pytest.mark.parametrize(
    "statement",
    [
        "insert into reconciliation.runs (run_id, spec, window_start, window_end, status)"
        " values ('x', 'x', now(), now(), 'success')",
        "update reconciliation.runs set status = 'error'",
        "delete from reconciliation.runs",
        "truncate reconciliation.runs",
        "insert into reconciliation.audit_log (actor, action) values ('alice', 'forged')",
        "select count(*) from staging.records",
        "select count(*) from staging.quarantine",
        "select count(*) from recon_intermediate.int_probe",
        "create table reconciliation.mine (x int)",
        "create table staging.mine (x int)",
        "create table public.mine (x int)",
        "create schema mine",
    ],
    ids=lambda statement: statement.split(" (")[0][:48],
)
def test_analyst_login_may_not(roles: Roles, statement: str) -> None:
    roles.warehouse.execute("create schema if not exists recon_intermediate")
    roles.warehouse.execute("create table recon_intermediate.int_probe (run_id text)")
    roles.warehouse.execute(
        "insert into reconciliation.runs (run_id, spec, window_start, window_end, status)"
        " values ('billing/1', 'billing', now() - interval '1 day', now(), 'success')"
    )
    roles.bootstrap()
    alice = roles.login("alice", roles.analyst)

    with roles.connect(alice) as conn:
        refused(conn, statement)
        left = conn.execute("select run_id, status from reconciliation.runs").fetchall()

    assert left == [("billing/1", "success")]


def test_analyst_cannot_read_staging_even_when_someone_granted_it_to_public(roles: Roles) -> None:
    roles.warehouse.execute("grant usage on schema staging to public")
    roles.warehouse.execute("grant select on all tables in schema staging to public")
    roles.bootstrap()
    alice = roles.login("alice", roles.analyst)

    with roles.connect(alice) as conn:
        message = refused(conn, "select count(*) from staging.records")

    assert "schema staging" in message


def test_audit_log_refuses_update_and_delete_for_the_pipeline_and_the_superuser(roles: Roles) -> None:
    roles.bootstrap()
    airflow = roles.login("airflow", roles.pipeline, set_role=roles.pipeline)

    with roles.connect(airflow) as conn:
        conn.execute("insert into reconciliation.audit_log (actor, action) values ('pipeline', 'correct')")
        by_pipeline = [
            refused(conn, "update reconciliation.audit_log set note = 'rewritten'"),
            refused(conn, "delete from reconciliation.audit_log"),
            refused(conn, "truncate reconciliation.audit_log"),
            refused(conn, "alter table reconciliation.audit_log disable trigger audit_log_append_only"),
            refused(conn, "drop table reconciliation.audit_log"),
            refused(conn, "select setval(pg_get_serial_sequence('reconciliation.audit_log', 'audit_id'), 1)"),
        ]
    admin = roles.warehouse
    admin.autocommit = True
    by_superuser = [
        refused(admin, "update reconciliation.audit_log set note = 'rewritten'"),
        refused(admin, "delete from reconciliation.audit_log"),
        refused(admin, "truncate reconciliation.audit_log"),
    ]
    left = admin.execute("select actor, action, note from reconciliation.audit_log").fetchall()
    admin.autocommit = False

    assert all("permission denied" in message or "must be owner" in message for message in by_pipeline)
    assert [message.split(":")[0] for message in by_superuser] == [
        "reconciliation.audit_log is append-only"
    ] * 3
    assert left == [("pipeline", "correct", None)]


def test_a_warehouse_the_pipeline_login_created_is_taken_back_from_it(roles: Roles) -> None:
    """Before roles existed, the pipeline's login made the schemas and the audit log; it owned them."""
    admin = roles.warehouse
    for schema in ("staging", "reconciliation"):
        admin.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(schema)))
    roles.made.append(roles.pipeline)
    admin.execute(sql.SQL("create role {} nologin").format(sql.Identifier(roles.pipeline)))
    airflow = roles.login("airflow", roles.pipeline)
    admin.execute(
        sql.SQL("grant create on database {} to {}").format(
            sql.Identifier(admin.info.dbname), sql.Identifier(airflow)
        )
    )
    admin.commit()
    with roles.connect(airflow) as conn:
        ensure_schema(conn)
    roles.bootstrap()

    owners = admin.execute(
        "select nspname, nspowner::regrole::text from pg_namespace"
        " where nspname in ('staging', 'reconciliation') order by 1"
    ).fetchall()
    audit_owner = admin.execute(
        "select relowner::regrole::text from pg_class where oid = %s::regclass", ("reconciliation.audit_log",)
    ).fetchone()
    runs_owner = admin.execute(
        "select relowner::regrole::text from pg_class where oid = %s::regclass", ("reconciliation.runs",)
    ).fetchone()
    with roles.connect(airflow) as conn:
        refusals = [
            refused(conn, "alter table reconciliation.audit_log disable trigger audit_log_append_only"),
            refused(conn, "drop table reconciliation.audit_log"),
            refused(conn, "drop function reconciliation.refuse_audit_change() cascade"),
            refused(conn, "update reconciliation.audit_log set note = 'rewritten'"),
        ]
        conn.execute(
            "alter table reconciliation.runs add column if not exists probe text"
        )  # owns it, as a member

    me = admin.execute("select current_user").fetchone()
    assert me is not None
    assert owners == [("reconciliation", me[0]), ("staging", me[0])]
    assert audit_owner == me
    assert runs_owner == (roles.pipeline,)
    assert [message.split(" ")[0] for message in refusals] == ["must", "must", "must", "permission"]


def test_pipeline_login_loads_staging_swaps_partitions_and_drops_old_runs(roles: Roles) -> None:
    replace_window(roles.warehouse, WINDOW, "api", [record("before_bootstrap")])  # made by the superuser
    roles.bootstrap()
    airflow = roles.login("airflow", roles.pipeline, set_role=roles.pipeline)

    with roles.connect(airflow) as conn:
        conn.autocommit = False
        replace_window(conn, WINDOW, "api", [record("a"), record("b")])
        keys = conn.execute(
            "select record_key from staging.records where run_id = %s order by 1", (WINDOW.run_id,)
        ).fetchall()
        conn.execute(
            "insert into reconciliation.runs (run_id, spec, window_start, window_end, status)"
            " values (%s, %s, %s, %s, 'running')",
            (WINDOW.run_id, WINDOW.spec, WINDOW.start, WINDOW.end),
        )
        conn.execute("update reconciliation.runs set status = 'success'")
        conn.execute("insert into reconciliation.audit_log (actor, action) values ('pipeline', 'load')")
        conn.commit()
        dropped = drop_runs_before(conn, WINDOW.spec, WINDOW.end + timedelta(days=1))
        remaining = conn.execute("select count(*) from staging.records").fetchone()

    assert keys == [("a",), ("b",)]
    assert dropped == 1
    assert remaining == (0,)


def test_pipeline_login_can_rerun_ensure_schema_after_bootstrap(roles: Roles) -> None:
    roles.bootstrap()
    airflow = roles.login("airflow", roles.pipeline, set_role=roles.pipeline)

    with roles.connect(airflow) as conn:
        ensure_schema(conn)
        currencies = conn.execute("select count(*) from staging.currencies").fetchone()

    assert currencies is not None and currencies[0] > 0


@pytest.mark.parametrize("setup", ["login_sets_role_to_the_pipeline", "login_existed_at_bootstrap"])
def test_table_the_pipeline_creates_after_bootstrap_is_readable_by_the_analyst(
    roles: Roles, setup: str
) -> None:
    if setup == "login_sets_role_to_the_pipeline":
        roles.bootstrap()
        airflow = roles.login("airflow", roles.pipeline, set_role=roles.pipeline)
    else:
        roles.made.append(roles.pipeline)
        roles.warehouse.execute(sql.SQL("create role {} nologin").format(sql.Identifier(roles.pipeline)))
        airflow = roles.login("airflow", roles.pipeline)
        roles.bootstrap()
    alice = roles.login("alice", roles.analyst)

    with roles.connect(airflow) as conn:
        conn.execute("create table reconciliation.fct_new (run_id text)")
        conn.execute("insert into reconciliation.fct_new values ('billing/1')")
        conn.execute("create view reconciliation.rpt_new as select run_id from reconciliation.fct_new")
        conn.execute("create table recon_intermediate.int_new (run_id text)")
    with roles.connect(alice) as conn:
        table = conn.execute("select run_id from reconciliation.fct_new").fetchall()
        view = conn.execute("select run_id from reconciliation.rpt_new").fetchall()
        refused(conn, "select count(*) from recon_intermediate.int_new")
        refused(conn, "insert into reconciliation.fct_new values ('forged')")

    assert table == [("billing/1",)]
    assert view == [("billing/1",)]


def test_dbt_builds_twice_as_the_pipeline_login_and_the_analyst_reads_only_the_marts(
    roles: Roles, tmp_path: Path
) -> None:
    roles.bootstrap()
    airflow = roles.login("airflow", roles.pipeline, set_role=roles.pipeline)
    alice = roles.login("alice", roles.analyst)
    spec = make_spec("access", {"pairs": [{"left": "left", "right": "right"}]})
    records = [
        {"source": "left", "record_key": "ch_gone", "amount": "30.00"},
        {"source": "left", "record_key": "ch_off", "amount": "10.00"},
        {"source": "right", "record_key": "ch_off", "amount": "10.50"},
    ]
    command = ("build", "--exclude", "test_type:unit", "--target-path", str(tmp_path / "target"))

    # The second day runs dbt's incremental path (temporary tables, delete+insert, merge, view swaps).
    with roles.connect(airflow) as conn:
        for day in ("2026-11-19", "2026-11-20"):
            run_matching(
                conn, as_user(roles.url, airflow), spec, day_window(spec, day), records, command=command
            )
    with roles.connect(alice) as conn:
        breaks = conn.execute("select count(*) from reconciliation.breaks").fetchone()
        matches = conn.execute("select count(*) from reconciliation.matches").fetchone()
        refusals = [
            refused(conn, "select count(*) from recon_intermediate.int_records_matched"),
            refused(conn, "select count(*) from recon_staging.stg_staging__records"),
        ]

    roles.warehouse.rollback()  # a fresh snapshot, after dbt's commits
    assert breaks == roles.warehouse.execute("select count(*) from reconciliation.breaks").fetchone() != (0,)
    assert (
        matches == roles.warehouse.execute("select count(*) from reconciliation.matches").fetchone() != (0,)
    )
    assert all("permission denied for schema" in message for message in refusals)


def test_bootstrap_refuses_a_role_without_createrole_and_changes_nothing(roles: Roles) -> None:
    plain = roles.login("plain")

    with roles.connect(plain) as conn, pytest.raises(AccessError) as caught:
        bootstrap_roles(conn, analyst_role=roles.analyst, pipeline_role=roles.pipeline)
    created = roles.warehouse.execute(
        "select count(*) from pg_roles where rolname = any(%s)", ([roles.analyst, roles.pipeline],)
    ).fetchone()

    assert "superuser or a role with CREATEROLE" in str(caught.value)
    assert plain in str(caught.value)
    assert created == (0,)


def test_bootstrap_refuses_an_existing_superuser_as_the_analyst_role(roles: Roles) -> None:
    roles.made.append(roles.analyst)
    roles.warehouse.execute(sql.SQL("create role {} nologin superuser").format(sql.Identifier(roles.analyst)))
    roles.warehouse.commit()

    with pytest.raises(AccessError) as caught:
        bootstrap_roles(roles.warehouse, analyst_role=roles.analyst, pipeline_role=roles.pipeline)
    created = roles.warehouse.execute(
        "select count(*) from pg_roles where rolname = %s", (roles.pipeline,)
    ).fetchone()

    assert "is a superuser" in str(caught.value)
    assert created == (0,)


@pytest.mark.parametrize(
    "name",
    ["", "Analyst", "recon-analyst", 'x"; drop table staging.records; --', "pg_reader", "public", "a" * 64],
)
def test_role_names_must_be_plain_lower_case_identifiers(warehouse: psycopg.Connection, name: str) -> None:
    with pytest.raises(ValueError) as caught:
        bootstrap_roles(warehouse, analyst_role=name)
    tables = warehouse.execute("select count(*) from pg_tables where tablename = 'records'").fetchone()

    assert "role name" in str(caught.value)
    assert tables == (1,)


def test_analyst_and_pipeline_roles_must_differ(warehouse: psycopg.Connection) -> None:
    with pytest.raises(ValueError) as caught:
        bootstrap_roles(warehouse, analyst_role="recon_both", pipeline_role="recon_both")

    assert "must differ" in str(caught.value)


def test_the_cli_bootstraps_the_roles_and_refuses_a_bad_name_with_exit_2(
    roles: Roles, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from recon.cli import main

    monkeypatch.setenv("RECON_WAREHOUSE_URL", roles.url)
    roles.made.extend([roles.analyst, roles.pipeline])
    argv = [
        "warehouse",
        "bootstrap-roles",
        "--analyst-role",
        roles.analyst,
        "--pipeline-role",
        roles.pipeline,
    ]

    assert main(argv) == 0
    assert roles.analyst in capsys.readouterr().out
    assert main([*argv[:3], "Bad-Name"]) == 2
    assert "Bad-Name" in capsys.readouterr().err
    created = roles.warehouse.execute(
        "select rolname, rolcanlogin from pg_roles where rolname = any(%s) order by rolname",
        ([roles.analyst, roles.pipeline],),
    ).fetchall()
    assert created == [(roles.analyst, False), (roles.pipeline, False)]
