"""A run's `RunContext`, as Agno makes it: the session's state (stored, else the component's default,
then what the run was given), the run's dependencies (callables called), and `{name}` placeholders of
the prompts resolved from them."""

from __future__ import annotations

import copy
import inspect
import re
import string
from collections import ChainMap
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kern.db import reader
from kern.run.context import RunContext

if TYPE_CHECKING:
    from kern.engine.state import RunState

TRANSIENT_KEYS = ("current_user_id", "current_session_id", "current_run_id")
"""What the run's state carries for its tools and prompts, but is not saved (as in Agno)."""
STATE_WAIT_SECONDS = 2.0
"""How long a run waits for its session's stored state before it fails."""


async def open_context(state: RunState) -> RunContext:
    """The run's context. A top-level run starts from the session's stored state, or the component's
    `session_state` for a new session; a member's run from its own `session_state` with its team's
    state (as the team run had it) merged over it. The run's own `session_state` is merged last."""
    spec, request = state.spec, state.request
    stored = None
    if request.parent_run_id is None and spec.db is not None:
        session_id = request.session_id
        stored = await reader.read(spec.db, lambda d: d.get_session_state(session_id), STATE_WAIT_SECONDS)
    session_state = copy.deepcopy(stored or spec.session_state or {})
    merge(session_state, request.session_state or {})
    if request.user_id:
        session_state["current_user_id"] = request.user_id
    session_state["current_session_id"] = request.session_id
    session_state["current_run_id"] = request.run_id
    context = RunContext(
        run_id=request.run_id,
        session_id=request.session_id,
        user_id=request.user_id,
        session_state=session_state,
        dependencies={**(spec.dependencies or {}), **(request.dependencies or {})} or None,
        metadata={**(spec.metadata or {}), **(request.metadata or {})} or None,
        output_schema=spec.output_schema,
    )
    if context.dependencies:
        context.dependencies = {key: _resolved(value, context) for key, value in context.dependencies.items()}
    return context


def saved_state(context: RunContext | None) -> dict[str, Any] | None:
    """The session state to store: the run's, without its transient keys."""
    if context is None:
        return None
    return {key: value for key, value in context.session_state.items() if key not in TRANSIENT_KEYS}


def merge(into: dict[str, Any], updates: Mapping[str, Any]) -> None:
    """Agno's `merge_dictionaries`: nested dicts merged, anything else replaced."""
    for key, value in updates.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def merge_changes(into: dict[str, Any], given: Mapping[str, Any], returned: Mapping[str, Any]) -> None:
    """Merge into a team's state what a member's run changed (or added) in the state it was `given`,
    as `returned` on its terminal event: only those keys, so members running at once do not undo each
    other's changes to other keys (of one key, the last to finish wins)."""
    merge(into, {key: value for key, value in returned.items() if key not in given or given[key] != value})


def resolve(text: str, context: RunContext | None) -> str:
    """`{name}` placeholders replaced from the session state, dependencies, metadata and user id (the
    first that has the name); the rest left as written."""
    if context is None or "{" not in text:
        return text
    names: ChainMap[str, Any] = ChainMap(
        context.session_state, context.dependencies or {}, context.metadata or {},
        {"user_id": context.user_id} if context.user_id is not None else {},
    )  # fmt: skip
    for name in names:
        text = re.sub(r"\{" + re.escape(name) + r"\}", "${" + name + "}", text)
    return string.Template(text).safe_substitute(names)


def _resolved(value: Any, context: RunContext) -> Any:
    """A dependency's value: a callable is called (with `run_context` if it takes one), as in Agno."""
    if not callable(value) or inspect.iscoroutinefunction(value):
        return value
    if "run_context" in inspect.signature(value).parameters:
        return value(run_context=context)
    return value()
