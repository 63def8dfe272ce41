"""A leader reaches its members on their own actors: their event streams are Ray streaming generators."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from ray.actor import ActorHandle
from ray.exceptions import RayActorError

from kern.run.base import BaseRunEvent
from kern.specs import AgentSpec, RunRequest, TeamSpec


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

    async def run(self, member_id: str, request: RunRequest) -> AsyncIterator[list[BaseRunEvent]]:
        """Stream the member's run from its actor, one batch per Ray object."""
        member = self.team.member(member_id)
        stream: Any = self.actor_of(member).run.options(num_returns="streaming").remote(member, request)
        try:
            async for ref in stream:
                yield await ref
        except RayActorError:
            self.forget(member)  # the next run recreates the member's actor by name
            raise

    async def cancel(self, member_id: str, run_id: str) -> None:
        """Send the member's actor a cancel message for this run."""
        await self.actor_of(self.team.member(member_id)).cancel_local.remote(run_id)
