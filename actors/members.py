"""A leader reaches its members on their own actors, over one link per member actor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from ray.actor import ActorHandle
from ray.exceptions import RayActorError

from actors.link import run_frames
from kern.engine.frames import Frame
from kern.specs import AgentSpec, RunRequest, TeamSpec

CANCEL_TIMEOUT_SECONDS = 5.0


class ActorMembers:
    """A `MemberRunner` over member actors, found (or created) by name."""

    def __init__(
        self,
        team: TeamSpec,
        actor_of: Callable[[AgentSpec | TeamSpec], ActorHandle],
        forget: Callable[[AgentSpec | TeamSpec], None],
    ) -> None:
        self.team = team
        self.actor_of = actor_of
        self.forget = forget

    async def run(self, member_id: str, request: RunRequest) -> AsyncIterator[list[Frame]]:
        """Start the member's run on its actor and yield its frames from the link to that actor."""
        member = self.team.member(member_id)
        try:
            async for frames in run_frames(self.actor_of(member), member, request):
                yield frames
        except RayActorError:
            self.forget(member)  # the next run recreates the member's actor by name
            raise

    async def cancel(self, member_id: str, run_id: str) -> None:
        """Send the member's actor a cancel message for this run."""
        handle = self.actor_of(self.team.member(member_id))
        await asyncio.wait_for(handle.cancel_local.remote(run_id), CANCEL_TIMEOUT_SECONDS)
