"""Many concurrent runs in one event loop, each one asyncio task, cancellable by run id."""

from __future__ import annotations

import asyncio

from kern.engine.loop import model_loop
from kern.engine.outbox import Outbox
from kern.engine.run import Gate, Turn, execute_run
from kern.engine.state import RunState
from kern.engine.team import MemberRunner, team_body
from kern.run.agent import RunOutput
from kern.run.base import RunStatus
from kern.specs import ComponentSpec, RunRequest, TeamSpec, for_run


class RunHost:
    """Starts runs as tasks and cancels them: push, not poll. Used by the actors and in-process."""

    def __init__(self) -> None:
        self._runs: dict[str, tuple[asyncio.Task[RunOutput], RunState]] = {}

    def start(
        self,
        spec: ComponentSpec,
        request: RunRequest,
        outbox: Outbox,
        *,
        members: MemberRunner | None = None,
        gate: Gate | None = None,
        turn: Turn | None = None,
    ) -> asyncio.Task[RunOutput]:
        """Start a run: its frames go to `outbox` under its own run id, ending with its terminal frame;
        the task returns the run's record."""
        if request.run_id in self._runs:
            raise ValueError(f"Run {request.run_id!r} is already running")
        spec = for_run(spec, request)
        ctx = RunState(
            spec=spec, request=request, outbox=outbox, route=request.run_id, tools=list(spec.tools)
        )
        if isinstance(spec, TeamSpec):
            if members is None:
                raise ValueError(f"Team {spec.id!r} needs a member runner")
            body = team_body(members)
        else:
            body = model_loop
        task = asyncio.create_task(execute_run(ctx, body, gate, turn), name=f"kern-run-{request.run_id}")
        self._runs[request.run_id] = (task, ctx)
        task.add_done_callback(lambda _: self._runs.pop(request.run_id, None))
        return task

    def cancel(self, run_id: str) -> bool:
        """Cancel a run of this host. True if the run will end cancelled (idempotent); False if it is
        unknown, or its outcome is already decided (`execute_run` makes a cancel answered True win)."""
        entry = self._runs.get(run_id)
        if entry is None:
            return False
        task, ctx = entry
        if ctx.finishing or task.done():
            return False
        if not ctx.cancel_requested:
            ctx.cancel_requested = True
            if ctx.begun:
                task.cancel()
        return True

    def snapshot(self, run_id: str) -> RunOutput | None:
        """A run in flight as it stands (RUNNING, its partial answer so far); None if it is not here."""
        entry = self._runs.get(run_id)
        if entry is None:
            return None
        _, ctx = entry
        return ctx.output(RunStatus.running)

    def run_ids(self) -> list[str]:
        """Ids of the runs in flight."""
        return list(self._runs)

    def in_flight(self) -> list[tuple[ComponentSpec, RunRequest]]:
        """The spec and request of each run in flight."""
        return [(ctx.spec, ctx.request) for _, ctx in self._runs.values()]
