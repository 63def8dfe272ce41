"""Agno's plain stream: what `run(stream=True, stream_events=False)` yields.

Of the run itself, its content and, if it is cancelled or fails, its terminal event; of its members (a
team's stream), everything. kern's default stream (`stream_events` left unset, or True) yields every
event, its first and its terminal one included: see docs/agno-differences.md.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator

from kern.run.agent import RunEvent
from kern.run.base import BaseRunEvent
from kern.run.team import TeamRunEvent

_KEPT = {
    RunEvent.run_content,
    RunEvent.run_cancelled,
    RunEvent.run_error,
    TeamRunEvent.run_content,
    TeamRunEvent.run_cancelled,
    TeamRunEvent.run_error,
}


def _kept(event: BaseRunEvent, run_id: str) -> bool:
    """Whether Agno's plain stream shows this item (the `RunOutput` of `yield_run_output` too)."""
    return not isinstance(event, BaseRunEvent) or event.run_id != run_id or event.event in _KEPT


def plain(events: Iterator[BaseRunEvent], run_id: str) -> Iterator[BaseRunEvent]:
    """The events of run `run_id` that Agno's plain stream shows (leaving early still cancels the run)."""
    try:
        for event in events:
            if _kept(event, run_id):
                yield event
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


async def aplain(events: AsyncIterator[BaseRunEvent], run_id: str) -> AsyncGenerator[BaseRunEvent]:
    """The async twin of `plain`."""
    try:
        async for event in events:
            if _kept(event, run_id):
                yield event
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
