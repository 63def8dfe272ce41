"""Build the right event class (agent or team form) for a run, with its identity filled in."""

from __future__ import annotations

from typing import Any

from kern.run.base import BaseRunEvent
from kern.run.events import EventKind, forms


class EventFactory:
    """Makes events of one run: `factory.make("content", content="...")`."""

    def __init__(self, is_team: bool, identity: dict[str, Any]) -> None:
        self._classes = forms(is_team)
        self._identity = identity

    def name(self, kind: EventKind) -> str:
        """The event name of this kind (`RunContent` or `TeamRunContent`...)."""
        return str(self._classes[kind].model_fields["event"].default)

    def make(self, kind: EventKind, **fields: Any) -> BaseRunEvent:
        """One event of this run."""
        return self._classes[kind](**self._identity, **fields)


def event_after(started: BaseRunEvent, kind: EventKind, **fields: Any) -> BaseRunEvent:
    """An event of the run that `started` began, with its identity: the stand-in terminal event of a run
    whose own can no longer come."""
    return EventFactory(hasattr(started, "team_id"), started.identity()).make(kind, **fields)
