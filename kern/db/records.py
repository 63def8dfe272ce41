"""Converting runs to table rows and back: a team run's members become rows of their own."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from kern.run.agent import RunOutput
from kern.run.base import RunStatus
from kern.run.team import TeamRunOutput

AnyRun = RunOutput | TeamRunOutput
"""A run record as storage returns it."""

ComponentType = Literal["agent", "team"]

TERMINAL_STATUSES: tuple[str, ...] = tuple(
    s.value for s in (RunStatus.completed, RunStatus.cancelled, RunStatus.error)
)


def component_of(run: RunOutput) -> tuple[ComponentType, str]:
    """("team", team_id) for a team run, else ("agent", agent_id)."""
    if isinstance(run, TeamRunOutput):
        return "team", run.team_id
    return "agent", run.agent_id


def run_rows(run: RunOutput, now: float) -> list[dict[str, Any]]:
    """The run's row followed by its members' rows (recursively), one per run_id.

    A member row gets `parent_run_id` = its team run's id, and inherits the team's session and user
    when it has none. The team's own JSON leaves `member_responses` out.
    """
    rows: dict[str, dict[str, Any]] = {}

    def add(r: RunOutput, parent_run_id: str | None, session_id: str | None, user_id: str | None) -> None:
        component_type, component_id = component_of(r)
        is_team = isinstance(r, TeamRunOutput)
        data = r.model_dump(mode="json", exclude={"member_responses"} if is_team else None)
        data.update(parent_run_id=parent_run_id, session_id=session_id, user_id=user_id)
        rows[r.run_id] = {
            "run_id": r.run_id,
            "session_id": session_id,
            "parent_run_id": parent_run_id,
            "component_type": component_type,
            "component_id": component_id,
            "user_id": user_id,
            "status": RunStatus(r.status).value,
            "created_at": r.created_at,
            "updated_at": now,
            "data": data,
        }
        if isinstance(r, TeamRunOutput):
            for member in r.member_responses:
                add(member, r.run_id, member.session_id or session_id, member.user_id or user_id)

    add(run, run.parent_run_id, run.session_id, run.user_id)
    return list(rows.values())


def batch_rows(
    runs: Sequence[RunOutput], now: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows that save `runs` (distinct run ids), for three statements, each sorted by key (one lock
    order for all writers): the runs' own rows; their members' rows as their teams copied them (one per
    member run, a finished copy winning); and the session rows their top-level runs create or touch (one
    per session, typed by its earliest run, with the state of the last run in `runs` that has one)."""
    own: dict[str, dict[str, Any]] = {}
    copies: dict[str, dict[str, Any]] = {}
    sessions: dict[str, dict[str, Any]] = {}
    for run in runs:
        for row in run_rows(run, now):
            if row["run_id"] == run.run_id:
                own[row["run_id"]] = row
            elif row["run_id"] not in copies or row["status"] in TERMINAL_STATUSES:
                copies[row["run_id"]] = row
        if run.parent_run_id is None and run.session_id is not None:
            session_type, component_id = component_of(run)
            row = {
                "session_id": run.session_id,
                "session_type": session_type,
                "component_id": component_id,
                "user_id": run.user_id,
                "created_at": min(run.created_at, now),
                "updated_at": now,
            }
            earlier = sessions.get(run.session_id)
            state = run.session_state
            if state is None and earlier is not None:
                state = earlier["session_state"]
            if earlier is not None and earlier["created_at"] <= row["created_at"]:
                row, earlier = earlier, row
            if earlier is not None:
                row["user_id"] = row["user_id"] or earlier["user_id"]
            row["session_state"] = state
            sessions[run.session_id] = row
    return _by_key(own), _by_key(copies), _by_key(sessions)


def _by_key(rows: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [rows[key] for key in sorted(rows)]


def build_runs(
    top: Sequence[Mapping[Any, Any]], children: Mapping[str, Iterable[Mapping[Any, Any]]]
) -> list[AnyRun]:
    """Rebuild run models from rows (keyed by column name); a team's `member_responses` come from
    `children[run_id]`."""

    def build(row: Mapping[Any, Any]) -> AnyRun:
        data = dict(row["data"])
        data.update(session_id=row["session_id"], parent_run_id=row["parent_run_id"], user_id=row["user_id"])
        if row["component_type"] == "team":
            data["member_responses"] = [build(c) for c in children.get(row["run_id"], ())]
            return TeamRunOutput.model_validate(data)
        data.pop("member_responses", None)
        return RunOutput.model_validate(data)

    return [build(r) for r in top]
