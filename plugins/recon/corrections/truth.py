"""Whether the truth behind a break can be trusted enough to write it into the corrected system.

A correction copies the source of truth's values into the target. When the truth itself is in doubt,
copying it spreads the error (a balance snapshot listing a wallet twice would set the app's balance to
the doubled sum). So before any change is planned or applied, each break's truth is checked in the run
that last saw the break (and in the runs its carried records came from), and the break is refused,
with the reason, when:

1. **repeated**: the truth side holds the break's key in more than one unit of the run (a key repeated
   on a side that is not summed: the kept record and its ``duplicate`` or lone repeats);
2. **quarantined**: a record of the truth source of that run was quarantined (by the extract or an
   ``on_fail: quarantine`` rule) whose record key is one of the break's truth records, or whose key
   fields, read from the quarantined row, give the break's key;
3. **failed rule**: a staging integrity rule that found rows on the truth source in that run (and did
   not quarantine them: ``mark`` or ``stop``) holds for one of the break's truth records. Results
   store only a sample of the offending rows, so the rule's predicate is evaluated again, the same SQL
   the check and the quarantine use (``Check.breaks_sql``), over the run's rows;
4. **gone**: the run's units of the key are no longer there (retention): nothing can be checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from recon.corrections.config import CorrectionTarget
from recon.integrity.rules import QUARANTINE_REASON
from recon.integrity.suites import build_batches
from recon.key_forms import KeyForm, normalize, source_side_form
from recon.reconcile import Balance
from recon.sources.mapping import lookup
from recon.spec import Spec

UNITS = sql.Identifier("recon_intermediate", "int_records_matched")


def doubts(
    conn: psycopg.Connection, spec: Spec, target: CorrectionTarget, breaks: Iterable[dict[str, Any]]
) -> dict[str, str]:
    """break_id -> why its truth is doubtful, for each break of ``breaks`` whose truth is."""
    checked = [_TruthOf(spec, target, item) for item in breaks]
    if not checked:
        return {}
    found: dict[str, str] = {}
    runs = _units(conn, checked, found)
    _quarantined(conn, spec, checked, runs, found)
    _failed_rules(conn, spec, checked, runs, found)
    return found


class _TruthOf:
    """One break seen from its truth side."""

    def __init__(self, spec: Spec, target: CorrectionTarget, item: dict[str, Any]) -> None:
        self.break_id: str = item["break_id"]
        self.side = "right" if item["left_source"] == target.source else "left"
        self.source: str = item[f"{self.side}_source"]
        self.pair: str = item["pair"]
        self.run_id: str = item["last_seen_run_id"]
        self.match_key: str | None = item["match_key"]
        self.record_keys: list[str] = list(item[f"{self.side}_record_keys"] or [])
        self.key_fields = _key_fields(spec, self.pair, self.side)

    def as_row(self) -> dict[str, Any]:
        return {"break_id": self.break_id, "run_id": self.run_id, "pair": self.pair, "side": self.side,
                "match_key": self.match_key, "record_keys": self.record_keys}  # fmt: skip


def _key_fields(spec: Spec, pair_name: str, side: str) -> list[str]:
    for pair in spec.pairs:
        if pair.pair_name == pair_name:
            if not isinstance(pair, Balance) and pair.group and pair.group.side == side:
                return [pair.group.by]  # a grouped side is keyed by what it is grouped by
            return list(getattr(pair.key_fields, side))
    return []


def _units(conn: psycopg.Connection, checked: list[_TruthOf], found: dict[str, str]) -> dict[str, set[str]]:
    """Repeated and gone keys; returns the runs whose records each break's units hold."""
    # Equal keys join by hash. A break without a key (a pair matched by fallback rules) finds its
    # units by their record keys, unnested on both sides so that join is by hash too.
    keyless = any(item.match_key is None for item in checked)
    query = sql.SQL(
        """
        with breaks as (
            select * from jsonb_to_recordset(%(breaks)s) as b (break_id text, run_id text, pair text,
                side text, match_key text, record_keys text[])
        ),
        hits as (
            select b.break_id, u.unit_id, u.carried_from_run_id,
                case b.side when 'left' then u.left_record_count else u.right_record_count end as truth_count
            from breaks as b
            inner join {units} as u
                on u.run_id = b.run_id and u.pair = b.pair and u.match_key = b.match_key
            union
            select b.break_id, held.unit_id, held.carried_from_run_id, held.truth_count
            from breaks as b
            cross join lateral unnest(b.record_keys) as wanted (record_key)
            inner join (
                select u.run_id, u.pair, sides.side, key.record_key, u.unit_id, u.carried_from_run_id,
                    sides.truth_count
                from {units} as u
                cross join lateral (
                    values ('left', u.left_record_keys, u.left_record_count),
                        ('right', u.right_record_keys, u.right_record_count)
                ) as sides (side, record_keys, truth_count)
                cross join lateral unnest(sides.record_keys) as key (record_key)
                where %(keyless)s and u.run_id = any(%(runs)s) and u.match_key is null
            ) as held
                on held.run_id = b.run_id and held.pair = b.pair and held.side = b.side
                and held.record_key = wanted.record_key
            where b.match_key is null
        )
        select b.break_id, count(hits.unit_id) as units,
            count(hits.unit_id) filter (where hits.truth_count > 0) as truth_units,
            coalesce(sum(hits.truth_count), 0) as truth_records,
            array_remove(array_agg(distinct hits.carried_from_run_id), null) as carried_from
        from breaks as b
        left join hits on hits.break_id = b.break_id
        group by b.break_id
        """
    ).format(units=UNITS)
    params = {
        "breaks": json.dumps([item.as_row() for item in checked]),
        "keyless": keyless,
        "runs": sorted({item.run_id for item in checked}),
    }
    if conn.execute("select to_regclass('recon_intermediate.int_records_matched')").fetchone()[0] is None:
        rows: list[dict[str, Any]] = []
    else:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(query, params)
            rows = cur.fetchall()
    by_id = {row["break_id"]: row for row in rows}
    runs: dict[str, set[str]] = {}
    for item in checked:
        row = by_id.get(item.break_id)
        runs[item.break_id] = {item.run_id, *(row["carried_from"] if row else [])}
        key = item.match_key or ",".join(item.record_keys)
        if row is None or row["units"] == 0:
            found[item.break_id] = (
                f"refused: the results of run {item.run_id} for {key!r} are gone (retention):"
                " the source of truth cannot be checked"
            )
        elif row["truth_units"] > 1:
            found[item.break_id] = (
                f"refused: the source of truth {item.source} lists {key!r} {row['truth_records']} times"
                f" in run {item.run_id}: which one is true is in doubt"
            )
    return runs


def _quarantined(
    conn: psycopg.Connection, spec: Spec, checked: list[_TruthOf], runs: dict[str, set[str]],
    found: dict[str, str],
) -> None:  # fmt: skip
    sources = sorted({item.source for item in checked})
    all_runs = sorted(set().union(*runs.values()))
    if conn.execute("select to_regclass('staging.quarantine')").fetchone()[0] is None:
        return
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "select source, run_id, record_key, reason, raw from staging.quarantine"
            " where spec = %s and source = any(%s) and run_id = any(%s) order by quarantined_at, origin_line",
            (spec.name, sources, all_runs),
        )
        rows = cur.fetchall()
    if not rows:
        return
    configs = {source.name: source for source in spec.loaded_sources}
    for item in checked:
        if item.break_id in found:
            continue
        for row in rows:
            if row["source"] != item.source or row["run_id"] not in runs[item.break_id]:
                continue
            key = _quarantined_key(
                row, item.key_fields, configs.get(item.source), source_side_form(spec, item.pair, item.source)
            )
            if row["record_key"] in item.record_keys or (key is not None and key == item.match_key):
                found[item.break_id] = (
                    f"refused: a record of {item.match_key or row['record_key']!r} in the source of truth"
                    f" {item.source} was quarantined in run {row['run_id']} ({row['reason']}): its truth is"
                    " incomplete"
                )
                break


def _quarantined_key(
    row: dict[str, Any], fields: list[str], source: Any, form: KeyForm | None = None
) -> str | None:
    """The key a quarantined row would have had: from the canonical record an integrity rule moved, or
    from the source's item through the spec's field mapping (as ``recon_key`` builds it), in the side's
    key form (as the match key holds it)."""
    raw = row["raw"] or {}
    canonical = str(row["reason"]).startswith(QUARANTINE_REASON)
    values = []
    for field in fields:
        if canonical:
            value = (
                raw.get("attributes", {}).get(field[11:])
                if field.startswith("attributes.")
                else raw.get(field)
            )
        else:
            path = _path(source, field)
            value = None if path is None else lookup(raw, path)
        if value is None or not isinstance(value, str | int) or str(value) == "":
            return None
        values.append(normalize(form, str(value)))
    return "\x1f".join(values) if values else None


def _path(source: Any, field: str) -> str | None:
    if field.startswith("attributes."):
        return (getattr(source, "attributes", None) or {}).get(field[11:])
    return getattr(getattr(source, "fields", None), field, None)


def _failed_rules(
    conn: psycopg.Connection, spec: Spec, checked: list[_TruthOf], runs: dict[str, set[str]],
    found: dict[str, str],
) -> None:  # fmt: skip
    open_items = [item for item in checked if item.break_id not in found and item.record_keys]
    if not open_items:
        return
    all_runs = sorted(set().union(*(runs[item.break_id] for item in open_items)))
    failed = conn.execute(
        "select distinct run_id, source, rule_name from reconciliation.integrity_results"
        " where spec = %s and run_id = any(%s) and checkpoint = 'staging' and source = any(%s)"
        " and unexpected_count > 0 and coalesce(on_fail, 'mark') <> 'quarantine' order by 1, 2, 3",
        (spec.name, all_runs, sorted({item.source for item in open_items})),
    ).fetchall()
    if not failed:
        return
    batches = {batch.name: batch for batch in build_batches(spec) if batch.checkpoint == "staging"}
    broken: dict[tuple[str, str, str], str] = {}  # (run, source, record key) -> rule
    unknown: dict[tuple[str, str], str] = {}  # (run, source) -> a rule that cannot be checked again
    for run_id, source in sorted({(run_id, source) for run_id, source, _ in failed}):
        names = [name for r, s, name in failed if (r, s) == (run_id, source)]
        batch = batches.get(source)
        checks = [check for check in (batch.checks if batch else []) if check.rule.rule_name in names]
        if len(checks) < len(names) or not _predicates(checks):
            missing = sorted(set(names) - {check.rule.rule_name for check in checks}) or names
            unknown[(run_id, source)] = missing[0]
            continue
        keys = sorted({key for item in open_items if item.source == source for key in item.record_keys})
        assert batch is not None
        for record_key, rules in _offending(conn, batch, checks, run_id, keys):
            broken.setdefault((run_id, source, record_key), rules[0])
    for item in open_items:
        for run_id in sorted(runs[item.break_id]):
            if (run_id, item.source) in unknown:
                rule = unknown[(run_id, item.source)]
                found[item.break_id] = (
                    f"refused: integrity rule {rule} failed on the source of truth {item.source} in run"
                    f" {run_id} and can no longer be checked against its records"
                )
                break
            hit = next((key for key in item.record_keys if (run_id, item.source, key) in broken), None)
            if hit is not None:
                found[item.break_id] = (
                    f"refused: the source of truth's record {hit!r} on {item.source} breaks integrity rule"
                    f" {broken[(run_id, item.source, hit)]} (run {run_id})"
                )
                break


def _predicates(checks: list) -> bool:
    try:
        for check in checks:
            check.breaks_sql(check.column_sql)
    except ValueError:
        return False
    return True


def _offending(
    conn: psycopg.Connection, batch: Any, checks: list, run_id: str, keys: list[str]
) -> list[tuple[str, list[str]]]:
    """(record key, the rules it breaks) of the batch's rows with one of ``keys`` that break a check.
    The predicates run over the whole batch first (``unique`` compares a row with all the others)."""
    broken = ", ".join(
        f"case when {check.breaks_sql(check.column_sql)} then {_text(check.rule.rule_name)} end"
        for check in checks
    )
    rows = batch.select(run_id, f"r.record_key, array_remove(array[{broken}], null) as rules")
    # No parameters: a rule's SQL may hold a literal % (a pattern), as the quarantine's statement does.
    wanted = sql.Literal(keys).as_string(conn)
    query = (
        f"select record_key, rules from ({rows}) as checked"
        f" where cardinality(rules) > 0 and record_key = any({wanted}::text[])"
    )
    return [(key, rules) for key, rules in conn.execute(query).fetchall()]  # type: ignore[call-overload]


def _text(value: str) -> str:
    return sql.Literal(value).as_string(None)
