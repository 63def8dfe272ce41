"""`AgentActor` and `TeamActor`: long-lived async actors, each run an asyncio task streaming batches.

Each run brings its own spec (model, tools, members), so two callers with different settings for the
same agent id never overwrite each other, and any process can use an actor it finds by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import ray
from ray.actor import ActorHandle

from actors.members import ActorMembers
from actors.runtime import actor_name, component_actor, supervisor, use_namespace
from kern.engine.channel import EventChannel
from kern.engine.host import RunHost
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent
from kern.specs import AgentSpec, RunRequest, TeamSpec

BATCH_INTERVAL_SECONDS = 0.02
"""At most one Ray object per run every 20 ms: a fast stream is coalesced (an object costs about as much
as a few hundred events), an event that comes more than 20 ms after the previous object is not held,
and neither the first nor the terminal event ever waits. Measured on the team path (2 cores): 9.2k
member events/s at 5 ms, 11.0k at 20 ms (benchmarks/run.py --only team)."""


class _ComponentActor:
    """Hosts the runs of one agent or team. Many runs at once share the actor's event loop."""

    def __init__(self, namespace: str) -> None:
        use_namespace(namespace)
        self._host = RunHost()
        self._supervisor = supervisor()
        self._self: ActorHandle = ray.get_runtime_context().current_actor
        self._member_handles: dict[str, ActorHandle] = {}

    async def run(self, spec: AgentSpec | TeamSpec, request: RunRequest) -> AsyncIterator[list[BaseRunEvent]]:
        """Execute one run, yielding batches of its events. Leaving early cancels the run."""
        channel, _ = self._start(spec, request)
        try:
            async for batch in channel.batches(min_interval=BATCH_INTERVAL_SECONDS):
                yield batch
        finally:
            self._host.cancel(request.run_id)
            self._supervisor.finish.remote(request.run_id)

    async def run_to_completion(self, spec: AgentSpec | TeamSpec, request: RunRequest) -> RunOutput:
        """Execute one run and return its record (for non-streaming callers)."""
        _, task = self._start(spec, request)
        try:
            return await asyncio.shield(task)
        finally:
            self._host.cancel(request.run_id)
            self._supervisor.finish.remote(request.run_id)

    def cancel_local(self, run_id: str) -> bool:
        """The supervisor's cancel message: cancel this actor's run. True if it was in flight."""
        return self._host.cancel(run_id)

    def running(self) -> list[str]:
        """Ids of the runs in flight here."""
        return self._host.run_ids()

    def _start(
        self, spec: AgentSpec | TeamSpec, request: RunRequest
    ) -> tuple[EventChannel, asyncio.Task[RunOutput]]:
        async def registered() -> bool:
            return await self._supervisor.register.remote(request.run_id, self._self, request.parent_run_id)

        members = (
            ActorMembers(spec, self._member_actor, self._forget_member)
            if isinstance(spec, TeamSpec)
            else None
        )
        return self._host.start(spec, request, members=members, gate=registered)

    def _member_actor(self, member: AgentSpec | TeamSpec) -> ActorHandle:
        key = actor_name(member)
        if key not in self._member_handles:
            self._member_handles[key] = component_actor(member)
        return self._member_handles[key]

    def _forget_member(self, member: AgentSpec | TeamSpec) -> None:
        self._member_handles.pop(actor_name(member), None)


@ray.remote
class AgentActor(_ComponentActor):
    """One per agent: serves all runs of that agent."""


@ray.remote
class TeamActor(_ComponentActor):
    """One per team: hosts the leader's runs; members run on their own actors."""
