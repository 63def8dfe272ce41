"""Pre- and post-hooks, as Agno runs them: in order, each given the arguments it names (`run_input` or
`run_output`, `run_context`, `agent` / `team`, `user_id`, `metadata`, `session`, `debug_mode`). A hook
that raises `InputCheckError` / `OutputCheckError` ends the run with `RunError`; any other exception is
logged and the run goes on (Agno's rule). They run where the run runs, on the component's actor."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from kern.engine.state import RunState
from kern.exceptions import CheckError
from kern.run.base import RunInput, RunStatus
from kern.tools.threads import tool_threads

logger = logging.getLogger(__name__)

Hook = Callable[..., Any]


async def run_pre_hooks(state: RunState) -> None:
    """The pre-hooks; the input they leave (`run_input.input_content`) is the run's input."""
    if not state.spec.pre_hooks:
        return
    run_input = RunInput(input_content=state.request.input)
    for hook in state.spec.pre_hooks:
        name = hook_name(hook)
        state.emit("pre_hook_started", pre_hook_name=name, run_input=run_input.model_copy())
        if await _call(hook, _arguments(state, run_input=run_input)):
            state.emit("pre_hook_completed", pre_hook_name=name, run_input=run_input.model_copy())
    state.request.input = run_input.input_content_string()


async def run_post_hooks(state: RunState) -> None:
    """The post-hooks, on the output as it stands; the content they leave is the run's answer."""
    if not state.spec.post_hooks:
        return
    run_output = state.output(RunStatus.running)
    for hook in state.spec.post_hooks:
        name = hook_name(hook)
        state.emit("post_hook_started", post_hook_name=name)
        if await _call(hook, _arguments(state, run_output=run_output)):
            state.emit("post_hook_completed", post_hook_name=name)
    state.content = run_output.content


def hook_name(hook: Hook) -> str:
    """How a hook is named in its events (its function's name)."""
    return getattr(hook, "__name__", type(hook).__name__)


def _arguments(state: RunState, **given: Any) -> dict[str, Any]:
    context = state.run_context
    return {
        **given,
        "run_context": context,
        state.spec.kind: state.spec,  # the agent's or team's description (its spec), as `agent` / `team`
        "session": None,
        "user_id": state.request.user_id,
        "metadata": context.metadata if context is not None else None,
        "debug_mode": False,
    }


async def _call(hook: Hook, available: dict[str, Any]) -> bool:
    """Call a hook with the arguments it names; whether it returned (a check's refusal propagates)."""
    parameters = inspect.signature(hook).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        arguments = available
    else:
        arguments = {name: value for name, value in available.items() if name in parameters}
    try:
        if inspect.iscoroutinefunction(hook):
            await hook(**arguments)
        else:
            await tool_threads().run(hook_name(hook), functools.partial(hook, **arguments))
    except CheckError:
        raise
    except Exception:
        logger.exception("Hook %s failed; the run goes on", hook_name(hook))
        return False
    return True
