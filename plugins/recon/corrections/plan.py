"""``recon corrections plan``: the dry run. Turn a spec's open breaks into proposed changes to its
corrected system, with the target row's values before and after, and change nothing there.

Per break class, with the corrected system the ``target`` side and the other side of its pair the
truth:
- ``missing`` in the target: insert the truth's record (key, mapped fields, ``insert_values``);
- ``amount_mismatch``, ``currency_mismatch``, ``status_mismatch``: update that column of the one
  target row of the key to the truth's value (a status through ``status_values``);
- ``balance_mismatch`` (a ``balances`` pair): set the entity's balance to the truth's;
- ``duplicate`` in the target: delete every row of the key but the earliest (``order_by``).

Refused, with the reason, and stored as ``refused`` (never applied; an earlier plan's unapplied rows
for the break are withdrawn the same way): a change whose truth is in doubt (``recon.corrections.
truth``: the key repeated in the truth source, a quarantined record of it, a failed integrity rule on
its records), and an insert or update that would write a negative amount from the truth.

"Before" is what the target holds now, read through the correction connection in a read-only
transaction, not what the run saw: a break the target no longer shows is skipped, with the reason.

Keys: target rows are looked up by their key column in the target side's key form (recon.key_forms),
against the break's key as matching saw it, so a row spelt ``0xABC`` answers for a break on ``0xabc``
and is updated through its own row, never shadowed by an insert. An insert writes the truth's key in
the target's form (``corrections.insert_key``).
Planning again replaces the earlier plan's unapplied rows for the same change, never adds to them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from recon.corrections import truth
from recon.corrections.config import CorrectionTarget
from recon.key_forms import KeyForm, normalize, source_side_form, sql_expression
from recon.spec import Spec

# A negative amount is refused for every kind of change: no balance or payment is written below zero
# from the truth (apply refuses it again, should a stored plan hold one).
_NEGATIVE = "refused: the source of truth gives a negative amount ({amount})"
_FIELD_OF_CLASS = {
    "amount_mismatch": "amount",
    "currency_mismatch": "currency",
    "status_mismatch": "status",
    "balance_mismatch": "amount",  # a balance pair: the target's balance set to the truth's sum
}


# A target row's key in the target side's key form, read alongside the row (and taken off it).
_LOOKUP_COLUMN = "recon_lookup_key"
# (the target side's key form, a key in the form both sides' key forms make it: the match key)
Lookup = tuple[KeyForm | None, str]


class CorrectionError(ValueError):
    """Bad input or an unusable target: nothing was planned or changed."""


@dataclass(frozen=True)
class Change:
    correction_id: str
    break_id: str
    break_class: str
    kind: str  # insert | update | delete
    record_key: str
    row_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    auto_apply: bool = False


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    # (break_id, why): every break not planned, the refused ones with a reason that begins "refused:".
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # Changes refused for the truth's sake (stored as ``refused``, with the reason), by break.
    refused: list[tuple[Change, str]] = field(default_factory=list)

    def refuse(self, item: dict, why: str, changes: list[Change]) -> None:
        self.skipped.append((item["break_id"], why))
        self.refused += [(change, why) for change in changes]


def plan_corrections(
    conn: psycopg.Connection,
    spec: Spec,
    actor: str,
    *,
    break_ids: list[str] | None = None,
    target_conn: psycopg.Connection | None = None,
) -> Plan:
    """Plan the corrections of ``spec``'s open breaks (or of ``break_ids``) and store them."""
    target = spec.corrections
    if target is None:
        raise CorrectionError(f"spec {spec.name!r} declares no corrections section")
    if not actor.strip():
        raise CorrectionError("who: a plan needs the person's name (--by)")
    breaks = _open_breaks(conn, spec, target, break_ids)
    lookups = {item["break_id"]: _lookup(spec, target, item) for item in breaks}
    owned = target_conn is None
    target_conn = target_conn or _connect(target.connection)
    try:
        current = _target_rows(target_conn, target, set(lookups.values()))
    finally:
        if owned:
            target_conn.close()
    doubtful = truth.doubts(conn, spec, target, breaks)
    plan = Plan()
    for item in breaks:
        proposed = Plan()
        lookup = lookups[item["break_id"]]
        _plan_break(spec, target, item, current.get(lookup, []), proposed, lookup)
        why = doubtful.get(item["break_id"])
        if why is None:  # planned, skipped or refused on its own merits
            plan.changes += proposed.changes
            plan.skipped += proposed.skipped
            plan.refused += proposed.refused
        else:  # whatever it would have been, the truth behind it is in doubt
            plan.refuse(item, why, [*proposed.changes, *(change for change, _ in proposed.refused)])
    _store(conn, spec, target, plan, actor.strip())
    return plan


def _plan_break(
    spec: Spec, target: CorrectionTarget, item: dict, rows: list[dict], plan: Plan, lookup: Lookup
) -> None:
    truth = _truth_side(target, item)
    key = _key(spec, target, item)
    kind = item["break_class"]
    if kind == "missing" and item["missing_in"] == target.source:
        if rows:
            stored = ", ".join(sorted({repr(_text(row[target.key])) for row in rows}))
            held = "" if stored == repr(key) else f" (stored as {stored})"
            plan.skipped.append((item["break_id"], f"{target.table} already has a row for {key!r}{held}"))
            return
        form, match_key = lookup
        key = target.insert_key.format(key=normalize(form, match_key))
        if normalize(form, key) != match_key:  # the next run would not match it: it would be inserted again
            plan.skipped.append(
                (item["break_id"], f"refused: the inserted key {key!r} would not match {match_key!r}"
                 " in the target's key form (corrections.insert_key, key_form)")
            )  # fmt: skip
            return
        after = {target.key: key, **target.insert_values}
        for name, column in target.columns.items():
            after[column] = _truth_value(target, item, truth, name)
        if target.insert_row_id and target.row_id and target.row_id != target.key:
            after[target.row_id] = target.insert_row_id.format(record_key=key)
        change = _change(spec, item, "insert", key, after.get(target.row_column), None, after)
        amount = after.get(target.columns.get("amount", ""))
        if _negative(amount):
            plan.refuse(item, _NEGATIVE.format(amount=amount), [change])
            return
        plan.changes.append(change)
    elif kind in _FIELD_OF_CLASS:
        name = _FIELD_OF_CLASS[kind]
        column = target.columns.get(name)  # type: ignore[call-overload]
        if column is None:
            plan.skipped.append((item["break_id"], f"corrections.columns maps no column for {name}"))
            return
        if len(rows) != 1:
            plan.skipped.append((item["break_id"], f"{target.table} has {len(rows)} rows for {key!r}, not 1"))
            return
        before, after = rows[0].get(column), _truth_value(target, item, truth, name)
        row_id = _text(rows[0].get(target.row_column))
        own_key = _text(rows[0].get(target.key)) or key  # the row's own spelling, not the truth's
        if name == "amount" and _negative(after):
            change = _change(spec, item, "update", own_key, row_id, {column: before}, {column: after})
            plan.refuse(item, _NEGATIVE.format(amount=after), [change])
            return
        if _same(before, after):
            plan.skipped.append((item["break_id"], f"{target.table}.{column} already holds {after!r}"))
            return
        limit = target.auto_apply_up_to
        difference = item.get("amount_difference")
        auto = (
            kind in ("amount_mismatch", "balance_mismatch") and limit is not None and difference is not None
        )
        auto = auto and abs(difference) <= limit
        change = _change(spec, item, "update", own_key, row_id, {column: before}, {column: after}, auto)
        plan.changes.append(change)
    elif kind == "duplicate" and item["missing_in"] != target.source and len(rows) > 1:
        ordered = sorted(
            rows, key=lambda row: (row.get(target.order_column), _text(row.get(target.row_column)))
        )
        for row in ordered[1:]:  # the earliest stays
            row_id = _text(row.get(target.row_column))
            own_key = _text(row.get(target.key)) or key
            plan.changes.append(_change(spec, item, "delete", own_key, row_id, row, None))
    else:
        plan.skipped.append((item["break_id"], f"no correction for a {kind} break on this side"))


def _open_breaks(
    conn: psycopg.Connection, spec: Spec, target: CorrectionTarget, break_ids: list[str] | None
) -> list[dict]:
    pairs = [pair.pair_name for pair in spec.pairs if target.source in (pair.left, pair.right)]
    if conn.execute("select to_regclass('reconciliation.breaks')").fetchone()[0] is None:
        raise CorrectionError("reconciliation.breaks does not exist yet: no run has published breaks")
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            """
            select * from reconciliation.breaks
            where spec = %(spec)s and pair = any(%(pairs)s) and break_class = any(%(classes)s)
              and status = 'open' and (%(ids)s::text[] is null or break_id = any(%(ids)s))
            order by break_id
            """,
            {"spec": spec.name, "pairs": pairs, "classes": list(target.classes), "ids": break_ids},
        )
        found = cur.fetchall()
    if break_ids:
        unknown = sorted(set(break_ids) - {item["break_id"] for item in found})
        if unknown:
            raise CorrectionError(
                f"no open, correctable break of {spec.name!r}: {', '.join(unknown)}; nothing was planned"
            )
    return found


def _target_rows(
    conn: psycopg.Connection, target: CorrectionTarget, lookups: set[Lookup]
) -> dict[Lookup, list[dict]]:
    """The target's rows of each looked-up key, compared in the target side's key form."""
    by_form: dict[KeyForm | None, list[str]] = {}
    for form, key in lookups:
        by_form.setdefault(form, []).append(key)
    rows: dict[Lookup, list[dict]] = {}
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute("set transaction read only")  # planning never writes to the target
        for form, keys in by_form.items():
            stored = sql_expression(form, sql.SQL("{}::text").format(sql.Identifier(target.key)))
            query = sql.SQL("select *, {stored} as {lookup} from {table} where {stored} = any(%s)").format(
                stored=stored, lookup=sql.Identifier(_LOOKUP_COLUMN),
                table=sql.Identifier(*target.table.split(".")),
            )  # fmt: skip
            try:
                cur.execute(query, (sorted(keys),))
            except psycopg.Error as exc:
                raise CorrectionError(f"corrections.table {target.table!r}: {exc}".strip()) from exc
            for row in cur.fetchall():
                rows.setdefault((form, row.pop(_LOOKUP_COLUMN)), []).append(row)
    return rows


def _store(conn: psycopg.Connection, spec: Spec, target: CorrectionTarget, plan: Plan, actor: str) -> None:
    """Planned changes as ``planned``, refused ones as ``refused`` with the reason; a refused break's
    earlier unapplied rows are refused too, so nothing planned before the doubt can be applied."""
    withdrawn = {break_id: why for break_id, why in plan.skipped if why.startswith("refused:")}
    entries = [(change, "planned", None) for change in plan.changes]
    entries += [(change, "refused", why) for change, why in plan.refused]
    with conn.transaction():
        for change, status, outcome in entries:
            conn.execute(
                """
                insert into reconciliation.corrections (correction_id, spec, break_id, break_class,
                    kind, target_connection, target_table, record_key, row_id, before, after, auto_apply,
                    planned_by, status, outcome)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                on conflict (correction_id) do update set
                    before = excluded.before, after = excluded.after, auto_apply = excluded.auto_apply,
                    planned_at = now(), planned_by = excluded.planned_by, status = excluded.status,
                    outcome = excluded.outcome
                where corrections.status in ('planned', 'stale', 'failed', 'refused')
                """,
                (change.correction_id, spec.name, change.break_id, change.break_class, change.kind,
                 target.connection, target.table, change.record_key, change.row_id, _json(change.before),
                 _json(change.after), change.auto_apply, actor, status, outcome),
            )  # fmt: skip
        for break_id, why in withdrawn.items():
            conn.execute(
                "update reconciliation.corrections set status = 'refused', outcome = %s"
                " where spec = %s and break_id = %s and status in ('planned', 'stale', 'failed')",
                (why, spec.name, break_id),
            )


def _change(
    spec: Spec,
    item: dict,
    kind: str,
    key: str,
    row_id: str | None,
    before: Any,
    after: Any,
    auto: bool = False,
) -> Change:
    identity = "|".join([spec.name, item["break_id"], kind, row_id or key])
    correction_id = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return Change(
        correction_id, item["break_id"], item["break_class"], kind, key, row_id, before, after, auto
    )


def _truth_side(target: CorrectionTarget, item: dict) -> str:
    return "right" if item["left_source"] == target.source else "left"


def _key(spec: Spec, target: CorrectionTarget, item: dict) -> str:
    """The break's key as a side spells it: the truth's record key, else the target's."""
    if _is_balance(spec, item):
        return item["match_key"]  # the entity (a grouped side's record keys are its entries)
    truth = _truth_side(target, item)
    own = "left" if truth == "right" else "right"
    keys = item[f"{truth}_record_keys"] or item[f"{own}_record_keys"]
    # A record's one key. A group's keys, comma-joined as they were stored before they became text[]:
    # correction ids hash this, and no one target row has that key (the break is skipped, named).
    return ",".join(keys)


def _lookup(spec: Spec, target: CorrectionTarget, item: dict) -> Lookup:
    """The target side's key form, and the break's key in the form matching compared it in."""
    form = source_side_form(spec, item["pair"], target.source)
    if _is_balance(spec, item):
        return form, item["match_key"]  # already in both sides' form
    truth = _truth_side(target, item)
    side = truth if item[f"{truth}_record_keys"] else ("left" if truth == "right" else "right")
    side_form = source_side_form(spec, item["pair"], item[f"{side}_source"])
    return form, normalize(side_form, _key(spec, target, item))


def _is_balance(spec: Spec, item: dict) -> bool:
    return item["pair"] in {balance.pair_name for balance in spec.reconcile.balances}


def _truth_value(target: CorrectionTarget, item: dict, truth: str, name: str) -> Any:
    if name in ("amount", "currency", "status"):
        value = item[f"{truth}_{name}"]
        return target.status_values.get(value, value) if name == "status" else value
    return item.get(name)  # occurred_at, customer_email, reference: the break keeps the truth's


def _negative(value: Any) -> bool:
    return value is not None and Decimal(str(value)) < 0


def _same(before: Any, after: Any) -> bool:
    if isinstance(after, Decimal) and before is not None:
        return Decimal(str(before)) == after
    return before == after


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(json.loads(json.dumps(value, default=str)))


def _connect(conn_id: str) -> psycopg.Connection:
    from recon.warehouse import connect

    try:
        return connect(conn_id)
    except Exception as exc:  # an unknown connection id or an unreachable server: nothing planned
        raise CorrectionError(f"corrections.connection {conn_id!r}: cannot reach the target: {exc}") from exc
