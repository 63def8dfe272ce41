"""A leader reaches its members on their replicas, over one link per member replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ray.exceptions import RayActorError

from actors import routing
from actors.link import IDLE_TIMEOUT_SECONDS
from actors.runtime import aask_supervisor
from kern.engine.frames import Frame
from kern.engine.inbox import AsyncInbox, LinkBroken
from kern.specs import RunRequest, TeamSpec

CANCEL_TIMEOUT_SECONDS = 5.0


class ActorMembers:
    """A `MemberRunner` over member replicas: each member run goes to one of its member's replicas."""

    def __init__(self, team: TeamSpec) -> None:
        self.team = team
        self._placed: dict[str, routing.PlacedRun] = {}

    async def run(self, member_id: str, request: RunRequest) -> AsyncIterator[list[Frame]]:
        """Start the member's run on a replica and yield its frames from the link to that replica."""
        member = self.team.member(member_id)
        router = routing.router(member)
        placed = await routing.place(router, member, request, lambda _: AsyncInbox(request.run_id))
        assert isinstance(placed.inbox, AsyncInbox)
        self._placed[request.run_id] = placed
        try:
            async for frames in placed.inbox.batches(IDLE_TIMEOUT_SECONDS):
                yield frames
        except (RayActorError, LinkBroken):
            router.lost(placed.lease.name)
            raise
        finally:
            del self._placed[request.run_id]
            placed.close()

    async def cancel(self, member_id: str, run_id: str) -> None:
        """Tell the replica that runs the member's run to cancel it (the supervisor, if not placed yet)."""
        placed = self._placed.get(run_id)
        if placed is None:
            await aask_supervisor("cancel", run_id, wait_seconds=CANCEL_TIMEOUT_SECONDS)
            return
        await asyncio.wait_for(placed.handle.cancel_local.remote(run_id), CANCEL_TIMEOUT_SECONDS)
