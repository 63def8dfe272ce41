"""`AgentActor` and `TeamActor`: long-lived async actors, each run an asyncio task streaming batches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import ray
from ray.actor import ActorHandle

from actors.members import ActorMembers
from actors.runtime import component_actor, supervisor
from kern.engine.channel import EventChannel
from kern.engine.host import RunHost
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent
from kern.specs import AgentSpec, ComponentSpec, RunRequest, TeamSpec


class _ComponentActor:
    """Hosts the runs of one agent or team. Many runs at once share the actor's event loop."""

    def __init__(self) -> None:
        self._spec: ComponentSpec | None = None
        self._members: ActorMembers | None = None
        self._host = RunHost()
        self._supervisor = supervisor()
        self._self: ActorHandle = ray.get_runtime_context().current_actor

    async def configure(self, spec: AgentSpec | TeamSpec) -> None:
        """Take (or replace) the spec used by new runs; a team also readies its members' actors."""
        if isinstance(spec, TeamSpec):
            started = [component_actor(member) for member in spec.members]
            await asyncio.gather(*(configured for _, configured in started))
            self._members = ActorMembers({m.id: h for m, (h, _) in zip(spec.members, started, strict=True)})
        self._spec = spec

    async def run(self, request: RunRequest) -> AsyncIterator[list[BaseRunEvent]]:
        """Execute one run, yielding batches of its events. Leaving early cancels the run."""

        channel, _ = self._start(request)
        try:
            async for batch in channel.batches():
                yield batch
        finally:
            self._host.cancel(request.run_id)
            self._supervisor.finish.remote(request.run_id)

    async def run_to_completion(self, request: RunRequest) -> RunOutput:
        """Execute one run and return its record (for non-streaming callers)."""
        _, task = self._start(request)
        try:
            return await asyncio.shield(task)
        finally:
            self._host.cancel(request.run_id)
            self._supervisor.finish.remote(request.run_id)

    def _start(self, request: RunRequest) -> tuple[EventChannel, asyncio.Task[RunOutput]]:
        if self._spec is None:
            raise RuntimeError("This actor has not been configured with an agent or team spec")

        async def registered() -> bool:
            return await self._supervisor.register.remote(request.run_id, self._self, request.parent_run_id)

        return self._host.start(self._spec, request, members=self._members, gate=registered)

    def cancel_local(self, run_id: str) -> bool:
        """The supervisor's cancel message: cancel this actor's run. True if it was in flight."""
        return self._host.cancel(run_id)

    def running(self) -> list[str]:
        """Ids of the runs in flight here."""
        return self._host.run_ids()


@ray.remote
class AgentActor(_ComponentActor):
    """One per agent: serves all runs of that agent."""


@ray.remote
class TeamActor(_ComponentActor):
    """One per team: hosts the leader's runs; members run on their own actors."""
