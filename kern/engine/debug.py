"""`debug_mode`: a run that has it logs what it sends and gets (Agno prints the same to its console).

The lines go to the `kern.debug` logger where the run runs, on the component's actor; Ray forwards
actors' output to the driver's console."""

from __future__ import annotations

import logging

from kern.engine.state import RunState
from kern.messages import Message

logger = logging.getLogger("kern.debug")


def debug(state: RunState, what: str, *args: object) -> None:
    """One line about this run, if it has `debug_mode`."""
    if state.spec.debug_mode:
        logger.warning("%s %s: " + what, state.spec.name, state.run_id[:8], *args)


def debug_messages(state: RunState, messages: list[Message]) -> None:
    """The messages the run starts with."""
    for message in messages:
        debug(state, "%s: %s", message.role, message.content)
