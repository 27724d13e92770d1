"""What the dashboard changes, through the same functions as the CLI (one implementation per action):

- ignore / resolve / reopen: ``recon.review.review`` (row locks, one audit_log entry per change);
- plan a correction: ``recon.corrections.plan.plan_corrections`` (the dry run; nothing in the target
  changes), per spec of the breaks chosen;
- run now: Airflow's own ``airflow.api.common.trigger_dag.trigger_dag``.

The actor is always the Airflow login's name. A bulk action is one transaction: every break named
changes, or (an unknown break, a missing note, a spec without corrections) none does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from recon.corrections.plan import CorrectionError, plan_corrections
from recon.dashboard.paging import BadInput
from recon.review import ACTIONS, ReviewError, review
from recon.spec import Spec

BREAK_ACTIONS = (*ACTIONS, "plan")


@dataclass
class ActionResult:
    action: str
    changed: list[dict[str, str]] = field(default_factory=list)  # break_id, before, after
    unchanged: list[dict[str, str]] = field(default_factory=list)
    planned: list[dict[str, Any]] = field(default_factory=list)  # corrections proposed
    skipped: list[dict[str, str]] = field(default_factory=list)  # break_id, why

    def message(self) -> str:
        if self.action == "plan":
            text = f"{len(self.planned)} correction(s) planned (nothing in the target was changed)"
            if self.skipped:
                reasons = "; ".join(f"{item['break_id'][:8]}: {item['why']}" for item in self.skipped[:3])
                text += f"; {len(self.skipped)} skipped: {reasons}"
            return text
        text = f"{self.action}: {len(self.changed)} break(s) changed"
        return text + (f", {len(self.unchanged)} already so" if self.unchanged else "")


def apply_break_action(
    conn: psycopg.Connection,
    specs: dict[str, Spec],
    break_specs: dict[str, str],
    action: str,
    actor: str,
    note: str | None,
) -> ActionResult:
    """Run ``action`` on the breaks of ``break_specs`` (break_id -> spec, permissions checked)."""
    if action not in BREAK_ACTIONS:
        raise BadInput(f"action {action!r}: expected one of {', '.join(BREAK_ACTIONS)}")
    result = ActionResult(action)
    ids = list(break_specs)
    try:
        if action != "plan":
            for outcome in review(conn, ids, action, actor, note):
                item = {"break_id": outcome.break_id, "before": outcome.before, "after": outcome.after}
                (result.changed if outcome.changed else result.unchanged).append(item)
            return result
        by_spec: dict[str, list[str]] = {}
        for break_id, spec in break_specs.items():
            by_spec.setdefault(spec, []).append(break_id)
        unknown = sorted(spec for spec in by_spec if spec not in specs)
        if unknown:
            raise BadInput(f"no spec file for {', '.join(unknown)}: cannot plan its corrections")
        with conn.transaction():  # all specs' plans, or none
            for spec, spec_ids in sorted(by_spec.items()):
                plan = plan_corrections(conn, specs[spec], actor, break_ids=spec_ids)
                result.planned += [
                    {"correction_id": c.correction_id, "break_id": c.break_id, "kind": c.kind,
                     "record_key": c.record_key, "auto_apply": c.auto_apply}
                    for c in plan.changes
                ]  # fmt: skip
                result.skipped += [{"break_id": break_id, "why": why} for break_id, why in plan.skipped]
    except (ReviewError, CorrectionError) as exc:
        conn.rollback()
        raise BadInput(str(exc)) from exc
    return result


@dataclass(frozen=True)
class Triggered:
    dag_id: str
    dag_run_id: str
    window_start: datetime | None
    window_end: datetime | None
    paused: bool

    def message(self) -> str:
        window = (
            f" for the window {self.window_start:%Y-%m-%d %H:%M} to {self.window_end:%Y-%m-%d %H:%M} UTC"
            if self.window_start and self.window_end
            else ""
        )
        paused = " The DAG is paused: the run waits until it is unpaused." if self.paused else ""
        return f"{self.dag_id}: run {self.dag_run_id} queued{window}.{paused}"


class TriggerError(ValueError):
    """The DAG cannot be triggered now (unknown to Airflow, or a run of this instant exists)."""


def run_now(spec: Spec, actor: str) -> Triggered:
    """Queue a manual run of ``recon_<spec>`` for its latest complete schedule interval.

    In-process through Airflow's own trigger code rather than the REST API: the dashboard already
    runs inside the API server with the user checked by the same auth manager, so there is no token
    to forward, no HTTP hop back to ourselves, and no base URL to configure. The logical date is
    now, and the timetable's ``infer_manual_data_interval`` gives the interval that ended last, the
    one the scheduler ran (or would have); the run's ``start_run`` reconciles that window, so a rerun
    replaces its results.
    """
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagNotFound, DagRunAlreadyExists
    from airflow.models.dag import DagModel
    from airflow.utils.types import DagRunTriggeredByType

    now = datetime.now(UTC)
    try:
        dag_run = trigger_dag(
            spec.dag_id,
            triggered_by=DagRunTriggeredByType.UI,
            triggering_user_name=actor,
            run_after=now,
            logical_date=now,
            # Two clicks in one second are two runs, not a clash on the logical date.
            replace_microseconds=False,
            note=f"recon dashboard: run now by {actor}",
        )
    except DagNotFound as exc:
        raise TriggerError(f"{spec.dag_id}: Airflow does not know this DAG (not parsed yet?)") from exc
    except DagRunAlreadyExists as exc:
        raise TriggerError(f"{spec.dag_id}: a run was triggered at this very moment; try again") from exc
    if dag_run is None:
        raise TriggerError(f"{spec.dag_id}: Airflow created no run")
    model = DagModel.get_current(spec.dag_id)
    return Triggered(
        spec.dag_id,
        dag_run.run_id,
        dag_run.data_interval_start,
        dag_run.data_interval_end,
        bool(model and model.is_paused),
    )
