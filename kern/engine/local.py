"""Runs in this process through the same outbox, demux and frames as a link to an actor, without Ray.

For the in-process engine tests and for use without Ray.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from kern.engine.frames import Frame, FrameDecoder
from kern.engine.host import RunHost
from kern.engine.inbox import AsyncInbox, Demux
from kern.engine.outbox import Outbox
from kern.engine.team import MemberRunner
from kern.run.base import BaseRunEvent
from kern.specs import ComponentSpec, RunRequest, TeamSpec

IDLE_TIMEOUT_SECONDS = 900.0


class LocalLink:
    """A `RunHost` and the link to its consumers, all on the current event loop."""

    def __init__(self, host: RunHost | None = None, interval: float = 0.0) -> None:
        self.host = host or RunHost()
        self.outbox = Outbox(interval)
        self.demux = Demux()
        self._reader: asyncio.Task[None] | None = None

    async def stream(self, spec: ComponentSpec, request: RunRequest) -> AsyncIterator[list[Frame]]:
        """Start a run and yield its frames (its members' too) until its terminal frame.

        Leaving early cancels the run.
        """
        inbox = AsyncInbox(request.run_id)
        self.demux.open(request.run_id, inbox)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())
        members = self.members(spec) if isinstance(spec, TeamSpec) else None
        try:
            self.host.start(spec, request, self.outbox, members=members)
            async for frames in inbox.batches(IDLE_TIMEOUT_SECONDS):
                yield frames
        finally:
            self.demux.close(request.run_id)
            self.host.cancel(request.run_id)

    def cancel(self, run_id: str) -> bool:
        """Cancel a run of this link (`RunHost.cancel`): True if it will end cancelled."""
        return self.host.cancel(run_id)

    def members(self, team: TeamSpec) -> MemberRunner:
        """How the team's runs here reach its members: on this same link."""
        return LocalMembers(team, self)

    async def events(self, spec: ComponentSpec, request: RunRequest) -> AsyncIterator[BaseRunEvent]:
        """`stream`, decoded into events."""
        decoder = FrameDecoder()
        async for frames in self.stream(spec, request):
            for frame in frames:
                yield decoder.decode(frame)

    async def _read(self) -> None:
        async for batch in self.outbox.batches():
            self.demux.dispatch(batch)


class LocalMembers:
    """A `MemberRunner` that runs a team's members as tasks on the same local link."""

    def __init__(self, team: TeamSpec, link: LocalLink) -> None:
        self.team = team
        self.link = link

    def run(self, member_id: str, request: RunRequest) -> AsyncIterator[list[Frame]]:
        """Run the member here and yield its frames."""
        return self.link.stream(self.team.member(member_id), request)

    async def cancel(self, member_id: str, run_id: str) -> None:
        """Cancel the member's run."""
        self.link.host.cancel(run_id)
