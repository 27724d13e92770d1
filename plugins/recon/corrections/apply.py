"""``recon corrections apply`` and ``revert``: carry out planned changes on the corrected system, one
transaction per change, and undo them from their backups.

For each change, while its ``reconciliation.corrections`` row is locked:
1. the target row is locked (``SELECT ... FOR UPDATE``) and must still hold the planned "before";
   otherwise the change is ``stale`` and skipped. A target that already holds the "after" (a crash
   after the target committed, or someone fixed it by hand) counts as applied, so applying is safe to
   repeat;
2. the row is backed up in ``reconciliation.correction_backups``, then changed, and the target commits;
3. the correction is marked ``applied`` and ``reconciliation.audit_log`` gets one entry (who, when,
   break, before, after), and the warehouse commits.
One failed change never stops the others; each outcome is returned. Revert runs the same steps back
from the backup, and is audited the same way.

An insert first locks the rows whose key, in the target side's key form, is the inserted key's: a row
spelt differently for the same account (``0xABC`` for ``0xabc``) makes the insert stale, never a twin.

Before any change is applied, its break's truth is checked again (``recon.corrections.truth``): a run
since the plan may have found the truth in doubt. Such a change is not applied but ``refused``, with
the reason, as the plan would refuse it now.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from recon.corrections import truth
from recon.corrections.plan import CorrectionError, _connect
from recon.key_forms import KeyForm, normalize, source_side_form, sql_expression
from recon.masking import mask_text
from recon.spec import Spec


@dataclass(frozen=True)
class Outcome:
    correction_id: str
    kind: str
    record_key: str
    status: str  # applied | reverted | stale | failed | refused | unchanged
    detail: str


def apply_corrections(
    conn: psycopg.Connection, spec: Spec, actor: str, *, correction_ids: list[str] | None = None,
    auto_only: bool = False, target_conn: psycopg.Connection | None = None,
) -> list[Outcome]:  # fmt: skip
    """Apply the planned corrections of ``spec`` (or those named); returns each one's outcome."""
    rows = _select(conn, spec, correction_ids, ("planned",), "apply")
    if auto_only:
        rows = [row for row in rows if row["auto_apply"]]
    refused = _refuse_doubtful(conn, spec, rows)
    rows = [row for row in rows if row["correction_id"] not in {o.correction_id for o in refused}]
    return refused + _each(conn, spec, actor, rows, target_conn, _apply_one, "applied", "correction.apply")


def _refuse_doubtful(conn: psycopg.Connection, spec: Spec, rows: list[dict]) -> list[Outcome]:
    """Mark ``refused`` the planned changes whose break's truth is in doubt now; return their outcomes."""
    if not rows:
        return []
    target = spec.corrections
    assert target is not None
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select * from reconciliation.breaks where spec = %s and break_id = any(%s)",
            (spec.name, sorted({row["break_id"] for row in rows})),
        )
        breaks = cur.fetchall()
    doubtful = truth.doubts(conn, spec, target, breaks)
    conn.commit()  # each change below is its own transaction, as in _one
    outcomes = []
    with conn.transaction():
        for row in rows:
            why = doubtful.get(row["break_id"])
            if why is None:
                continue
            refused = conn.execute(
                "update reconciliation.corrections set status = 'refused', outcome = %s"
                " where correction_id = %s and status = 'planned'",
                (why, row["correction_id"]),
            ).rowcount
            status = "refused" if refused else "unchanged"
            outcomes.append(Outcome(row["correction_id"], row["kind"], row["record_key"], status, why))
    return outcomes


def revert_corrections(
    conn: psycopg.Connection, spec: Spec, actor: str, correction_ids: list[str],
    target_conn: psycopg.Connection | None = None,
) -> list[Outcome]:  # fmt: skip
    """Undo applied corrections from their backups; returns each one's outcome."""
    if not correction_ids:
        raise CorrectionError("revert: name the corrections to undo (--id)")
    rows = _select(conn, spec, correction_ids, ("applied",), "revert")
    return _each(conn, spec, actor, rows, target_conn, _revert_one, "reverted", "correction.revert")


def _each(
    conn: psycopg.Connection, spec: Spec, actor: str, rows: list[dict],
    target_conn: psycopg.Connection | None, step: Callable[..., tuple[str, str, Any]], done: str, action: str,
) -> list[Outcome]:  # fmt: skip
    if not actor.strip():
        raise CorrectionError("who: applying or reverting needs the person's name (--by)")
    target = spec.corrections
    assert target is not None
    owned = target_conn is None
    target_conn = target_conn or _connect(target.connection)
    outcomes = []
    try:
        for row in rows:
            outcomes.append(_one(conn, target_conn, spec, actor.strip(), row, step, done, action))
    finally:
        if owned:
            target_conn.close()
    return outcomes


def _one(
    conn: psycopg.Connection, target_conn: psycopg.Connection, spec: Spec, actor: str, planned: dict,
    step: Callable[..., tuple[str, str, Any]], done: str, action: str,
) -> Outcome:  # fmt: skip
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select * from reconciliation.corrections where correction_id = %s and status = %s"
            " for update skip locked",
            (planned["correction_id"], planned["status"]),
        )
        row = cur.fetchone()
        if row is None:  # another apply took it meanwhile
            return Outcome(
                planned["correction_id"], planned["kind"], planned["record_key"], "unchanged", "busy"
            )
        try:
            with target_conn.transaction():
                status, detail, backup = step(target_conn, spec, row, cur)
        except psycopg.Error as exc:
            status, detail, backup = "failed", mask_text(f"{type(exc).__name__}: {exc}".strip())[:500], None
        if backup is not None:
            cur.execute(
                "insert into reconciliation.correction_backups (correction_id, target_table, row_data)"
                " values (%s, %s, %s) on conflict (correction_id) do nothing",
                (row["correction_id"], row["target_table"], _json(backup)),
            )
        final = done if status == "done" else status
        cur.execute(
            "update reconciliation.corrections set status = %s, outcome = %s,"
            " applied_at = case when %s = 'applied' then now() else applied_at end,"
            " applied_by = case when %s = 'applied' then %s else applied_by end where correction_id = %s",
            (final, detail, final, final, actor, row["correction_id"]),
        )
        if status == "done":
            before, after = (
                (row["before"], row["after"]) if done == "applied" else (row["after"], row["before"])
            )
            cur.execute(
                "insert into reconciliation.audit_log (actor, action, spec, break_id, correction_id, note,"
                " before, after) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                (actor, action, spec.name, row["break_id"], row["correction_id"],
                 f"{row['kind']} {row['target_table']} {row['record_key']}: {detail}", _json(before),
                 _json(after)),
            )  # fmt: skip
    return Outcome(row["correction_id"], row["kind"], row["record_key"], final, detail)


def _apply_one(target_conn: psycopg.Connection, spec: Spec, row: dict, cur: Any) -> tuple[str, str, Any]:
    target = spec.corrections
    assert target is not None
    table = sql.Identifier(*target.table.split("."))
    before, after = row["before"] or {}, row["after"] or {}
    if _negative(after, target.columns.get("amount")):  # type: ignore[call-overload]
        return "failed", "refused: the source of truth gives a negative amount", None
    if row["kind"] == "insert":
        form = _target_form(spec, cur, row["break_id"])
        present = _locked_in_form(target_conn, table, target.key, form, row["record_key"])
        if present:
            same = _holds(present[0], after)
            return (
                ("done", "already present", None) if same else ("stale", "a row for the key appeared", None)
            )
        _insert(target_conn, table, after)
        return "done", "inserted", None
    current = _locked(target_conn, table, target.row_column, row["row_id"])
    if row["kind"] == "delete":
        if not current:
            return "done", "already gone", None
        if not _holds(current[0], before):
            return "stale", "the row changed since the plan", None
        target_conn.execute(
            sql.SQL("delete from {} where {}::text = %s").format(table, sql.Identifier(target.row_column)),
            (row["row_id"],),
        )
        return "done", "deleted", current[0]
    if not current:
        return "stale", "the row is gone", None
    if _holds(current[0], after):
        return "done", "already holds the new value", None
    if not _holds(current[0], before):
        return (
            "stale",
            f"the row now holds {_plain({k: current[0].get(k) for k in before})}, not the planned before",
            None,
        )
    _update(target_conn, table, target.row_column, row["row_id"], after)
    return "done", "updated", current[0]


def _revert_one(target_conn: psycopg.Connection, spec: Spec, row: dict, cur: Any) -> tuple[str, str, Any]:
    target = spec.corrections
    assert target is not None
    table = sql.Identifier(*target.table.split("."))
    cur.execute(
        "select row_data from reconciliation.correction_backups where correction_id = %s",
        (row["correction_id"],),
    )
    backup = cur.fetchone()
    before, after = row["before"] or {}, row["after"] or {}
    if row["kind"] == "insert":
        current = _locked(target_conn, table, target.key, row["record_key"])
        if len(current) != 1 or not _holds(current[0], after):
            return "stale", "the inserted row changed or is gone since", None
        target_conn.execute(
            sql.SQL("delete from {} where {}::text = %s").format(table, sql.Identifier(target.key)),
            (row["record_key"],),
        )
        return "done", "inserted row removed", None
    if backup is None:
        return "stale", "no backup of the row: it cannot be restored", None
    if row["kind"] == "delete":
        if _locked(target_conn, table, target.row_column, row["row_id"]):
            return "stale", "a row with that id exists again", None
        _insert(target_conn, table, backup["row_data"])
        return "done", "deleted row restored", None
    current = _locked(target_conn, table, target.row_column, row["row_id"])
    if not current or not _holds(current[0], after):
        return "stale", "the row changed since the correction", None
    _update(target_conn, table, target.row_column, row["row_id"], before)
    return "done", "previous value restored", None


def _select(
    conn: psycopg.Connection, spec: Spec, ids: list[str] | None, statuses: tuple[str, ...], verb: str
) -> list[dict]:
    if spec.corrections is None:
        raise CorrectionError(f"spec {spec.name!r} declares no corrections section")
    if conn.execute("select to_regclass('reconciliation.corrections')").fetchone()[0] is None:
        raise CorrectionError("no corrections planned yet (recon corrections plan)")
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select * from reconciliation.corrections where spec = %s"
            " and (%s::text[] is null or correction_id = any(%s)) order by planned_at, correction_id",
            (spec.name, ids, ids),
        )
        found = cur.fetchall()
    conn.commit()
    if ids:
        unknown = sorted(set(ids) - {row["correction_id"] for row in found})
        if unknown:
            raise CorrectionError(
                f"no correction of {spec.name!r}: {', '.join(unknown)}; nothing was changed"
            )
    return [row for row in found if row["status"] in statuses]


def _locked(conn: psycopg.Connection, table: sql.Composable, column: str, value: str) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("select * from {} where {}::text = %s for update").format(table, sql.Identifier(column)),
            (value,),
        )
        return cur.fetchall()


def _locked_in_form(
    conn: psycopg.Connection, table: sql.Composable, column: str, form: KeyForm | None, key: str
) -> list[dict]:
    """The rows whose ``column``, in ``form``, is ``key`` in ``form``; locked."""
    stored = sql_expression(form, sql.SQL("{}::text").format(sql.Identifier(column)))
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("select * from {} where {} = %s for update").format(table, stored),
            (normalize(form, key),),
        )
        return cur.fetchall()


def _target_form(spec: Spec, cur: Any, break_id: str) -> KeyForm | None:
    """The key form of the target's side of the pair the break was found in."""
    assert spec.corrections is not None
    cur.execute("select pair from reconciliation.breaks where break_id = %s", (break_id,))
    found = cur.fetchone()
    return source_side_form(spec, found["pair"], spec.corrections.source) if found else None


def _insert(conn: psycopg.Connection, table: sql.Composable, values: dict) -> None:
    conn.execute(
        sql.SQL("insert into {} ({}) values ({})").format(
            table,
            sql.SQL(", ").join(map(sql.Identifier, values)),
            sql.SQL(", ").join(sql.Placeholder() * len(values)),
        ),
        list(values.values()),
    )


def _update(conn: psycopg.Connection, table: sql.Composable, column: str, row_id: str, values: dict) -> None:
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(name)) for name in values)
    conn.execute(
        sql.SQL("update {} set {} where {}::text = %s").format(table, assignments, sql.Identifier(column)),
        [*values.values(), row_id],
    )


def _holds(row: dict, expected: dict) -> bool:
    """Whether ``row`` holds every value of ``expected`` (as the plan stored it: JSON text)."""
    return all(_plain(row.get(column)) == _plain(value) for column, value in expected.items())


def _plain(value: Any) -> Any:
    """One comparable form for a value read from the target and one stored as JSON."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, Decimal | int | float) and not isinstance(value, bool):
        return str(Decimal(str(value)).normalize())
    if isinstance(value, str):
        try:
            return str(Decimal(value).normalize())
        except ArithmeticError:
            return value
    return json.loads(json.dumps(value, default=str))


def _negative(values: dict, amount_column: str | None) -> bool:
    value = values.get(amount_column) if amount_column else None
    return value is not None and Decimal(str(value)) < 0


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(json.loads(json.dumps(value, default=str)))
