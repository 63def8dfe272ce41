"""`print_response`: a run in the terminal as Agno shows it, rich panels that update while it streams.

Panels, top to bottom: the message; with `show_members_responses`, each member's tool calls and
response; the run's tool calls ("Team Tool Calls" for a team); the response, titled with its time. Agno's
panel style (heavy box, title on the left, its colours), so output reads the same on either.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from rich.box import HEAVY
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markdown import Markdown
from rich.panel import Panel
from rich.status import Status
from rich.text import Text

from kern.run.agent import RunEvent
from kern.run.base import BaseRunEvent, ToolExecution
from kern.run.events import is_terminal
from kern.run.team import TeamRunEvent

REFRESHES_PER_SECOND = 10
_CONTENT = {RunEvent.run_content, TeamRunEvent.run_content}
_TOOL_STARTED = {RunEvent.tool_call_started, TeamRunEvent.tool_call_started}
_CANCELLED = {RunEvent.run_cancelled, TeamRunEvent.run_cancelled}
_ERROR = {RunEvent.run_error, TeamRunEvent.run_error}


def as_text(content: object) -> str:
    """Content as shown: text as it is, a structured answer as indented JSON (as Agno shows it)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, BaseModel):
        return content.model_dump_json(indent=2, exclude_none=True)
    return json.dumps(content, indent=2, ensure_ascii=False)


def panel(content: RenderableType, title: str, border_style: str) -> Panel:
    """One of Agno's panels."""
    return Panel(
        content, title=title, title_align="left", border_style=border_style, box=HEAVY, expand=True,
        padding=(1, 1),
    )  # fmt: skip


def tool_calls_text(calls: Iterable[ToolExecution]) -> str:
    """`• name(arg=value, ...)`, one line per call."""
    return "\n".join(
        f"• {call.tool_name}({', '.join(f'{k}={v}' for k, v in call.tool_args.items())})" for call in calls
    )


@dataclass
class _Part:
    """What one run of the stream has said so far: its text, its tool calls, how it ended."""

    name: str
    content: str = ""
    tool_calls: list[ToolExecution] = field(default_factory=list)
    ended: str | None = None
    """"cancelled" or the error's text, once the run ended that way."""


class ResponseView:
    """Turns a run's events into Agno's panels."""

    def __init__(
        self, message: str, *, is_team: bool, markdown: bool, show_message: bool, show_members: bool
    ) -> None:
        self.message = message
        self.is_team = is_team
        self.markdown = markdown
        self.show_message = show_message
        self.show_members = show_members
        self.started = time.monotonic()
        self.elapsed = 0.0
        self.root: _Part | None = None
        self.root_run_id: str | None = None
        self.members: dict[str, _Part] = {}
        self.done = False

    def see(self, event: BaseRunEvent) -> None:
        """Take in one event of the stream."""
        if self.root_run_id is None:
            self.root_run_id = event.run_id
        part = self._part(event)
        kind = getattr(event, "event", None)
        if kind in _CONTENT:
            part.content += as_text(getattr(event, "content", ""))
        elif kind in _TOOL_STARTED and getattr(event, "tool", None) is not None:
            part.tool_calls.append(event.tool)  # type: ignore[attr-defined]
        elif kind in _CANCELLED:
            part.ended = "cancelled"
        elif kind in _ERROR:
            part.ended = getattr(event, "content", "") or "error"
        if is_terminal(event) and part is self.root:
            final = as_text(getattr(event, "content", None))
            if kind not in _ERROR and final:
                part.content = final
            self.done = True
        if not self.done:
            self.elapsed = time.monotonic() - self.started

    def _part(self, event: BaseRunEvent) -> _Part:
        name = getattr(event, "team_name", "") or getattr(event, "agent_name", "") or ""
        if event.run_id == self.root_run_id:
            if self.root is None:
                self.root = _Part(name)
            return self.root
        return self.members.setdefault(event.run_id, _Part(name))

    def panels(self, status: Status | None = None) -> Group:
        """The panels so far (with `status`, a spinner while nothing is shown yet)."""
        shown: list[RenderableType] = []
        if self.show_message:
            shown.append(panel(Text(self.message, style="green"), "Message", "cyan"))
        if self.show_members:
            for member in self.members.values():
                if member.tool_calls:
                    calls = tool_calls_text(member.tool_calls)
                    shown.append(panel(calls, f"{member.name} Tool Calls", "yellow"))
                if member.content or member.ended:
                    shown.append(panel(self._body(member), f"{member.name} Response", "magenta"))
        root = self.root or _Part("")
        if root.tool_calls:
            title = "Team Tool Calls" if self.is_team else "Tool Calls"
            shown.append(panel(tool_calls_text(root.tool_calls), title, "yellow"))
        if root.content or root.ended:
            ending = "" if root.ended is None else ", cancelled" if root.ended == "cancelled" else ", error"
            style = "red" if root.ended not in (None, "cancelled") else "blue"
            shown.append(panel(self._body(root), f"Response ({self.elapsed:.1f}s{ending})", style))
        elif status is not None and not self.done:
            shown.append(status)
        return Group(*shown)

    def _body(self, part: _Part) -> RenderableType:
        if part.ended not in (None, "cancelled") and not part.content:
            return Text(part.ended or "", style="red")
        return Markdown(part.content) if self.markdown else Text(part.content)


def show(events: Iterable[BaseRunEvent], view: ResponseView, console: Console | None, stream: bool) -> None:
    """Render `events` live (a spinner until the first content; all of it at once if not `stream`)."""
    status = Status("Working...", spinner="aesthetic", speed=0.4)
    with Live(view.panels(status), console=console, refresh_per_second=REFRESHES_PER_SECOND) as live:
        for event in events:
            view.see(event)
            if stream:
                live.update(view.panels(status))
        live.update(view.panels())


async def ashow(
    events: AsyncIterator[BaseRunEvent], view: ResponseView, console: Console | None, stream: bool
) -> None:
    """The async twin of `show`."""
    status = Status("Working...", spinner="aesthetic", speed=0.4)
    with Live(view.panels(status), console=console, refresh_per_second=REFRESHES_PER_SECOND) as live:
        async for event in events:
            view.see(event)
            if stream:
                live.update(view.panels(status))
        live.update(view.panels())


def view_for(component: Any, message: str, markdown: bool | None, show_message: bool,
             show_members_responses: bool | None) -> ResponseView:  # fmt: skip
    """The view of one `print_response` call; `show_members_responses` defaults to the team's own."""
    if show_members_responses is None:
        show_members_responses = getattr(component, "show_members_responses", False)
    return ResponseView(
        message,
        is_team=component.spec.kind == "team",
        markdown=bool(component.spec.markdown if markdown is None else markdown),
        show_message=show_message,
        show_members=bool(show_members_responses),
    )
