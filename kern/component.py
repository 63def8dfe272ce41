"""What `Agent` and `Team` share: starting runs on their actor, streaming, and cancelling."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal, overload

import ray
from ray.actor import ActorHandle

from actors import client
from actors.runtime import READY_TIMEOUT_SECONDS, component_actor
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent
from kern.specs import AgentSpec, RunRequest, TeamSpec, new_id


class Component:
    """A runnable agent or team. Subclasses build `self.spec`; runs execute on the spec's Ray actor."""

    spec: AgentSpec | TeamSpec

    def __init__(self, session_id: str | None = None, user_id: str | None = None) -> None:
        self.session_id = session_id
        self.user_id = user_id
        self._actor: ActorHandle | None = None
        self._actor_lock = threading.Lock()

    @property
    def id(self) -> str:
        """The agent's or team's id (a slug of its name unless given)."""
        return self.spec.id

    @property
    def name(self) -> str:
        """The agent's or team's name."""
        return self.spec.name

    def actor(self) -> ActorHandle:
        """The Ray actor that hosts this component's runs, created (or found by name) on first use."""
        with self._actor_lock:
            if self._actor is None:
                # Members' actors are started alongside the team's, and only the team's is waited
                # for: the members' processes start while the leader's first model call is under way
                # (a member's actor takes its first run when it is up).
                started = [component_actor(spec) for spec in _members_first(self.spec)]
                ray.get(started[-1].running.remote(), timeout=READY_TIMEOUT_SECONDS)
                self._actor = started[-1]
            return self._actor

    def _request(
        self, input: str, stream: bool, session_id: str | None, user_id: str | None, run_id: str | None
    ) -> RunRequest:
        if not isinstance(input, str):
            raise TypeError(f"input must be a str, got {type(input).__name__}")
        return RunRequest(
            input=input,
            run_id=run_id or new_id(),
            session_id=session_id or self.session_id or new_id(),
            user_id=user_id or self.user_id,
            stream=stream,
        )

    @overload
    def run(
        self,
        input: str,
        *,
        stream: Literal[False] = False,
        session_id: str | None = None,
        user_id: str | None = None,
        run_id: str | None = None,
    ) -> RunOutput: ...
    @overload
    def run(
        self,
        input: str,
        *,
        stream: Literal[True],
        session_id: str | None = None,
        user_id: str | None = None,
        run_id: str | None = None,
    ) -> Iterator[BaseRunEvent]: ...

    def run(
        self,
        input: str,
        *,
        stream: bool = False,
        session_id: str | None = None,
        user_id: str | None = None,
        run_id: str | None = None,
    ) -> RunOutput | Iterator[BaseRunEvent]:
        """Run and return the output, or with `stream=True` an iterator of events.

        Leaving the iterator early (break, close, garbage collection) cancels the run.
        """
        request = self._request(input, stream, session_id, user_id, run_id)
        if stream:
            return client.stream_run(self.actor(), self.spec, request, self._forget_actor)
        return client.run_to_completion(self.actor(), self.spec, request, self._forget_actor)

    async def arun(
        self,
        input: str,
        *,
        stream: bool = False,
        session_id: str | None = None,
        user_id: str | None = None,
        run_id: str | None = None,
    ) -> Any:
        """The async twin of `run`: awaitable output, or with `stream=True` an async iterator of events."""
        request = self._request(input, stream, session_id, user_id, run_id)
        if stream:
            return self._astream(request)
        return await client.arun_to_completion(await self._aactor(), self.spec, request, self._forget_actor)

    async def _astream(self, request: RunRequest) -> AsyncIterator[BaseRunEvent]:
        async for event in client.astream_run(await self._aactor(), self.spec, request, self._forget_actor):
            yield event

    def _forget_actor(self) -> None:
        """The actor died: the next run finds (or recreates) it by name."""
        with self._actor_lock:
            self._actor = None

    async def _aactor(self) -> ActorHandle:
        """`actor()` without blocking the event loop on first use (creating actors waits for them)."""
        return self._actor if self._actor is not None else await asyncio.to_thread(self.actor)

    def cancel_run(self, run_id: str) -> bool:
        """Cancel a run (and its member runs) from any thread or process. True if it was in flight."""
        return client.cancel_run(run_id)

    async def acancel_run(self, run_id: str) -> bool:
        """The async twin of `cancel_run`."""
        return await client.acancel_run(run_id)


def _members_first(spec: AgentSpec | TeamSpec) -> list[AgentSpec | TeamSpec]:
    """Every spec in a team's tree, members before their team, the root last."""
    nested = (
        [inner for member in spec.members for inner in _members_first(member)]
        if isinstance(spec, TeamSpec)
        else []
    )
    return [*nested, spec]
