"""The tools kern gives a model on Agno's options: `update_session_state` (`enable_agentic_state`) and
`get_chat_history` (`read_chat_history`), worded as Agno words them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kern import sessions
from kern.db import reader
from kern.run.context import RunContext
from kern.tools import Function

if TYPE_CHECKING:
    from kern.engine.state import RunState

HISTORY_WAIT_SECONDS = 2.0
"""How long `get_chat_history` waits for the database."""


def update_session_state_tool() -> Function:
    """The tool `enable_agentic_state` gives the model (Agno's `update_session_state`)."""

    def update_session_state(run_context: RunContext, session_state_updates: dict[str, Any]) -> str:
        """Update the shared session state. Provide any updates as a dictionary of key-value pairs.
        Example: "session_state_updates": {"shopping_list": ["milk", "eggs", "bread"]}

        Args:
            session_state_updates: The updates to apply to the shared session state.
        """
        run_context.session_state.update(session_state_updates)
        return f"Updated session state: {run_context.session_state}"

    return Function.from_callable(update_session_state)


def chat_history_tool(state: RunState) -> Function:
    """The tool `read_chat_history` gives the model: the messages of the session's earlier runs (not the
    run asking), as JSON."""
    spec, session_id = state.spec, state.request.session_id

    async def get_chat_history(num_chats: int | None = None) -> str:
        """Use this function to get the chat history between the user and agent.

        Args:
            num_chats: The number of chats to return (each a user and an agent message). Default: None
        """
        db = sessions.database(spec)
        runs = await reader.read(db, lambda d: d.get_session_runs(session_id), HISTORY_WAIT_SECONDS)
        own = [
            run
            for run in runs
            if run.parent_run_id is None and sessions.owner_id(run) == spec.id and run.run_id != state.run_id
        ]
        history: list[dict[str, Any]] = [
            message.model_dump(mode="json", exclude_defaults=True)
            for message in sessions.session_messages(own)
        ]
        if num_chats is not None:
            history = history[-num_chats:] if num_chats > 0 else []
        return json.dumps(history, ensure_ascii=False)

    return Function.from_callable(get_chat_history)
