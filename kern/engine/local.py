"""Members run in this process, on the same `RunHost`: for tests and for use without Ray."""

from __future__ import annotations

from collections.abc import AsyncIterator

from kern.engine.host import RunHost
from kern.run.base import BaseRunEvent
from kern.specs import RunRequest, TeamSpec


class LocalMembers:
    """A `MemberRunner` that runs a team's members as tasks on a local `RunHost`."""

    def __init__(self, team: TeamSpec, host: RunHost) -> None:
        self.team = team
        self.host = host

    async def run(self, member_id: str, request: RunRequest) -> AsyncIterator[list[BaseRunEvent]]:
        """Run the member here and yield its batches."""
        member = self.team.member(member_id)
        members = LocalMembers(member, self.host) if isinstance(member, TeamSpec) else None
        async for batch in self.host.stream(member, request, members=members):
            yield batch

    async def cancel(self, member_id: str, run_id: str) -> None:
        """Cancel the member's run."""
        self.host.cancel(run_id)
