"""The measurements themselves, written once for kern and for Agno (stdlib only: both interpreters run it).

A scenario gets `start(input, run_id) -> iterator of events` and `cancel(run_id)`; events are kern's or
Agno's, both with an `event` name ("RunContent", "TeamRunCancelled", ...). The consumer runs in its own
thread so every wait has a timeout even when an iterator blocks; cancels come from another thread.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from common import CancelAt, ServerAdmin, ms, rate

Start = Callable[[str, str], Iterator[Any]]
Cancel = Callable[[str], Any]


def name(event: Any) -> str:
    """The event's name; a content event without text (Agno sends one when the model's response
    is created, before any token) is named "<name>:empty" so it is not counted as content."""
    kind = getattr(event, "event", None)
    text = str(getattr(kind, "value", kind))
    if text.endswith("RunContent") and not getattr(event, "content", None):
        return text + ":empty"
    return text


@dataclass
class Consumed:
    """What a consumer thread saw: (perf_counter, event name) of every event, and how it ended."""

    t_call: float = 0.0
    seen: list[tuple[float, str]] = field(default_factory=list)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def first(self, event_name: str) -> float | None:
        return next((t for t, n in self.seen if n == event_name), None)

    def stamps(self, event_name: str) -> list[float]:
        return [t for t, n in self.seen if n == event_name]


def consume(
    start: Start, prompt: str, run_id: str, timeout: float, on_event: Callable[[str, int], None] | None = None
) -> Consumed:
    """Iterate a run's events in a thread; `on_event(name, index)` sees each one as it arrives."""
    out = Consumed()

    def work() -> None:
        try:
            out.t_call = time.perf_counter()
            for index, event in enumerate(start(prompt, run_id)):
                now = time.perf_counter()
                event_name = name(event)
                out.seen.append((now, event_name))
                if on_event is not None:
                    on_event(event_name, index)
        except BaseException as exc:
            out.error = exc
        finally:
            out.done.set()

    threading.Thread(target=work, daemon=True).start()
    out.done.wait(timeout)
    return out


def new_run_id() -> str:
    return str(uuid.uuid4())


def throughput(start: Start, content: str, timeout: float = 120.0) -> tuple[float | None, int]:
    """Content events/s between the first and the last content event, and how many there were."""
    run = consume(start, "Tell me a long story", new_run_id(), timeout)
    stamps = run.stamps(content)
    return (rate(stamps) if run.done.is_set() and run.error is None else None), len(stamps)


def first_events(
    start: Start, first: str, content: str, timeout: float = 30.0
) -> tuple[float | None, float | None]:
    """ms from the run call to the first event, and to the first content event."""
    run = consume(start, "Tell me a short story", new_run_id(), timeout)
    t_first, t_content = run.first(first), run.first(content)
    if not run.done.is_set():
        return None, None
    return (ms(t_first - run.t_call) if t_first else None, ms(t_content - run.t_call) if t_content else None)


@dataclass
class CancelResult:
    latencies: dict[str, float | None]
    """ms from right before the cancel call to the consumer receiving each target event."""
    finished: bool
    """The stream ended within the timeout."""
    disconnected: bool | None = None
    """The model server logged the model request as "disconnected" (None: not checked)."""
    disconnect_ms: float | None = None
    """Cancel call -> the server finished the request (its wall clock, same machine)."""
    tail: list[str] = field(default_factory=list)
    server_statuses: list[str] = field(default_factory=list)
    """The model requests' statuses in the server's log when no disconnect was seen."""


def cancel_latency(
    start: Start,
    cancel: Cancel,
    *,
    trigger: str,
    trigger_count: int = 1,
    delay: float = 0.0,
    targets: tuple[str, ...],
    prompt: str = "Tell me a long story",
    admin: ServerAdmin | None = None,
    timeout: float = 20.0,
) -> CancelResult:
    """Start a run; when the `trigger_count`-th `trigger` event arrives, cancel it from a second thread
    (after `delay` s); time each target event's arrival from the instant before the cancel call."""
    run_id = new_run_id()
    marker = f"bench-{run_id[:8]}"
    holder: dict[str, CancelAt] = {}
    count = 0

    def on_event(event_name: str, _: int) -> None:
        nonlocal count
        if event_name == trigger:
            count += 1
            if count == trigger_count and "c" not in holder:
                holder["c"] = CancelAt(lambda: cancel(run_id), delay=delay).start()

    if admin is not None:
        admin.clear_requests()
    run = consume(start, f"{prompt} ({marker})", run_id, timeout, on_event)
    canceller = holder.get("c")
    if canceller is not None:
        canceller.join(timeout=15)
    latencies: dict[str, float | None] = {}
    for target in targets:
        seen = run.first(target)
        ok = canceller is not None and canceller.t0 is not None and seen is not None and seen >= canceller.t0
        latencies[target] = ms(seen - canceller.t0) if ok else None
    result = CancelResult(latencies, run.done.is_set(), tail=[n for _, n in run.seen[-3:]])
    if admin is not None and canceller is not None and canceller.wall0 is not None:
        record = admin.wait_disconnected(marker, timeout=3.0)
        result.disconnected = record is not None
        if record is None:
            result.server_statuses = admin.statuses(marker)
        if record is not None and record.get("finished_at"):
            result.disconnect_ms = (record["finished_at"] - canceller.wall0) * 1000.0
    return result
