"""A leader reaches its members on their own actors: their event streams are Ray streaming generators."""

from __future__ import annotations

from collections.abc import AsyncIterator

from ray.actor import ActorHandle

from kern.run.base import BaseRunEvent
from kern.specs import RunRequest


class ActorMembers:
    """A `MemberRunner` over member actors."""

    def __init__(self, handles: dict[str, ActorHandle]) -> None:
        self.handles = handles

    async def run(self, member_id: str, request: RunRequest) -> AsyncIterator[list[BaseRunEvent]]:
        """Stream the member's run from its actor, one batch per Ray object."""
        stream = self.handles[member_id].run.options(num_returns="streaming").remote(request)
        async for ref in stream:
            yield await ref

    async def cancel(self, member_id: str, run_id: str) -> None:
        """Send the member's actor a cancel message for this run."""
        await self.handles[member_id].cancel_local.remote(run_id)
