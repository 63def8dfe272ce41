"""A leader reaches its members on their own actors, over one link per member actor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from ray.actor import ActorHandle
from ray.exceptions import RayActorError

from actors import link
from kern.engine.frames import Frame
from kern.engine.inbox import AsyncInbox
from kern.specs import AgentSpec, RunRequest, TeamSpec

START_TIMEOUT_SECONDS = 60.0
"""Longest wait for a member's actor to take a run (it may be starting: a process start)."""
IDLE_TIMEOUT_SECONDS = 900.0
"""Longest wait for the next frames of a member's run; its model's own timeout normally comes first."""
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
        handle = self.actor_of(member)
        reader = link.reader(handle)
        inbox = AsyncInbox(request.run_id)
        reader.open(request.run_id, inbox)
        try:
            await asyncio.wait_for(reader.start(member, request), START_TIMEOUT_SECONDS)
            async for frames in inbox.batches(IDLE_TIMEOUT_SECONDS):
                yield frames
        except RayActorError:
            self.forget(member)  # the next run recreates the member's actor by name
            raise
        finally:
            reader.close(request.run_id)

    async def cancel(self, member_id: str, run_id: str) -> None:
        """Send the member's actor a cancel message for this run."""
        handle = self.actor_of(self.team.member(member_id))
        await asyncio.wait_for(_future(handle.cancel_local.remote(run_id)), CANCEL_TIMEOUT_SECONDS)


def _future(ref: Any) -> asyncio.Future[Any]:
    """An ObjectRef as a future, for `asyncio.wait_for`."""
    return asyncio.ensure_future(ref)
