"""The compact wire form of events between processes, and its decoder.

A frame is `(run_id, event_name, created_at, payload)`. A content delta, by far the commonest event,
carries its text as the payload and nothing else: no pydantic object is built, pickled or rebuilt for it
until the final consumer turns it into a `RunContentEvent`. Every other event carries its event object.
A run's identity (ids, names, session) travels once, in its `RunStarted` frame, and the decoder fills it
into that run's content events. A team actor forwards its members' frames as they are.
"""

from __future__ import annotations

import time
from typing import Any

from kern.run.base import BaseRunEvent
from kern.run.events import CONTENT_EVENTS, EVENT_CLASSES, STARTED_EVENTS, TERMINAL_EVENTS

Frame = tuple[str, str, float, "str | BaseRunEvent"]
"""`(run_id, event name, created_at, text of a content delta | the event)`."""

Batch = dict[str, list[Frame]]
"""Frames bound for one consumer, grouped by route: the run the consumer started on that link."""

_CONTENT_CLASSES: dict[str, Any] = {str(name): EVENT_CLASSES[f"{name}Event"] for name in CONTENT_EVENTS}


def content_frame(run_id: str, event_name: str, text: str) -> Frame:
    """A content delta of a run."""
    return (run_id, event_name, time.time(), text)


def event_frame(event: BaseRunEvent) -> Frame:
    """Any other event of a run."""
    return (event.run_id, event.event, event.created_at, event)


def is_terminal_frame(frame: Frame) -> bool:
    """Whether this frame ends its run."""
    return frame[1] in TERMINAL_EVENTS


class FrameDecoder:
    """Turns the frames of one route (a run and its members' runs) back into events, in order."""

    def __init__(self) -> None:
        self._identities: dict[str, dict[str, Any]] = {}

    def decode(self, frame: Frame) -> BaseRunEvent:
        """The event this frame stands for."""
        run_id, name, created_at, payload = frame
        if isinstance(payload, str):
            identity = self._identities.get(run_id)
            if identity is None:
                raise ValueError(f"Content of run {run_id!r} arrived before its {name[:-7]}Started event")
            return _CONTENT_CLASSES[name](created_at=created_at, content=payload, **identity)
        if name in STARTED_EVENTS:
            self._identities[run_id] = payload.identity()
        elif name in TERMINAL_EVENTS:
            self._identities.pop(run_id, None)
        return payload
