"""Many concurrent runs in one event loop, each one asyncio task, cancellable by run id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from kern.engine.channel import EventChannel
from kern.engine.context import RunContext
from kern.engine.loop import model_loop
from kern.engine.run import Gate, execute_run
from kern.engine.team import MemberRunner, team_body
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent
from kern.specs import ComponentSpec, RunRequest, TeamSpec


class RunHost:
    """Starts runs as tasks and cancels them: push, not poll. Used by the actors and in-process."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[asyncio.Task[RunOutput], RunContext]] = {}

    def start(
        self,
        spec: ComponentSpec,
        request: RunRequest,
        *,
        members: MemberRunner | None = None,
        gate: Gate | None = None,
    ) -> tuple[EventChannel, asyncio.Task[RunOutput]]:
        """Start a run: its events arrive on the channel (closed after the terminal event); the task
        returns the run's record."""
        if request.run_id in self._runs:
            raise ValueError(f"Run {request.run_id!r} is already running")
        channel = EventChannel()
        ctx = RunContext(spec=spec, request=request, channel=channel, tools=list(spec.tools))
        if isinstance(spec, TeamSpec):
            if members is None:
                raise ValueError(f"Team {spec.id!r} needs a member runner")
            body = team_body(members)
        else:
            body = model_loop
        task = asyncio.create_task(execute_run(ctx, body, gate), name=f"kern-run-{request.run_id}")
        self._runs[request.run_id] = (task, ctx)
        task.add_done_callback(lambda _: self._runs.pop(request.run_id, None))
        return channel, task

    def cancel(self, run_id: str) -> bool:
        """Cancel a run of this host. True if it was in flight (idempotent), False if unknown or ending."""
        entry = self._runs.get(run_id)
        if entry is None:
            return False
        task, ctx = entry
        if ctx.finishing:
            return False
        if not ctx.cancel_requested:
            ctx.cancel_requested = True
            if ctx.begun:
                task.cancel()
        return True

    def run_ids(self) -> list[str]:
        """Ids of the runs in flight."""
        return list(self._runs)

    async def stream(
        self, spec: ComponentSpec, request: RunRequest, *, members: MemberRunner | None = None
    ) -> AsyncIterator[list[BaseRunEvent]]:
        """Start a run and yield its event batches; leaving early cancels the run."""
        channel, _ = self.start(spec, request, members=members)
        try:
            async for batch in channel.batches():
                yield batch
        finally:
            self.cancel(request.run_id)
