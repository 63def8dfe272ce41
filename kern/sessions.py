"""Reading an agent's or team's sessions back from its database, as Agno's `get_session`,
`get_chat_history`, `get_session_messages`, `get_last_run_output`, `get_run_output`, `delete_session`."""

from __future__ import annotations

from kern.db import BaseDb, SessionRecord
from kern.messages import Message
from kern.run.agent import RunOutput
from kern.run.base import RunStatus
from kern.specs import ComponentSpec

SKIPPED_IN_HISTORY = (RunStatus.cancelled, RunStatus.error)
"""Runs whose messages `session_messages` leaves out (Agno's HISTORY_SKIP_STATUSES, less the statuses
kern does not have)."""


def database(spec: ComponentSpec) -> BaseDb:
    """The component's database, or an error saying there is none to read from."""
    if spec.db is None:
        raise ValueError(f"{spec.name!r} has no db: give it db=... to keep and read back its sessions")
    return spec.db


def top_level_runs(spec: ComponentSpec, session: SessionRecord | None) -> list[RunOutput]:
    """The session's runs of this component (not its members'), in start order."""
    if session is None:
        return []
    return [run for run in session.runs if run.parent_run_id is None and owner_id(run) == spec.id]


def session_messages(
    runs: list[RunOutput],
    *,
    skip_roles: tuple[str, ...] = (),
    skip_statuses: tuple[RunStatus, ...] = SKIPPED_IN_HISTORY,
    last_n_runs: int | None = None,
) -> list[Message]:
    """The runs' messages without those of earlier turns each run was given again, the system message
    once (Agno's `session.get_messages`)."""
    chosen = [run for run in runs if run.status not in skip_statuses]
    if last_n_runs is not None:
        chosen = chosen[-last_n_runs:] if last_n_runs > 0 else []
    messages: list[Message] = []
    system_seen = False
    for run in chosen:
        for message in run.messages:
            if message.from_history or message.role in skip_roles:
                continue
            if message.role == "system":
                if system_seen:
                    continue
                system_seen = True
            messages.append(message)
    return messages


def owner_id(run: RunOutput) -> str | None:
    """The id of the agent or team whose run this is."""
    return getattr(run, "team_id", None) or run.agent_id
