"""Helpers shared by the tests."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from kern.db.sqlite import SqliteDb
from kern.model_server import ModelServer
from kern.models.openai import OpenAIChat, OpenAIResponses
from kern.models.openai.client import OpenAIModel
from kern.run.agent import RunEvent, RunOutput
from kern.run.base import BaseRunEvent
from kern.run.events import STARTED_EVENTS, is_terminal


def model(
    server: ModelServer,
    api: str = "responses",
    *,
    tokens_per_second: float | None = None,
    first_token_delay: float | None = None,
    reply_words: int | None = None,
    **fields: Any,
) -> OpenAIModel:
    """A model on the local server; speed and stalls are set per model through request headers."""
    headers = {
        "x-kern-tokens-per-second": tokens_per_second,
        "x-kern-first-token-delay": first_token_delay,
        "x-kern-reply-words": reply_words,
    }
    cls = OpenAIResponses if api == "responses" else OpenAIChat
    return cls(
        id=fields.pop("id", "gpt-test"),
        base_url=fields.pop("base_url", server.base_url),
        default_headers={k: str(v) for k, v in headers.items() if v is not None},
        **fields,
    )


def names(events: list[Any], *, model_requests: bool = False) -> list[str]:
    """Event names, content deltas folded: the sequence a test can assert on. `ModelRequestStarted` /
    `ModelRequestCompleted` (and `Team*`) are left out unless asked for: a test of something else
    should not restate them around every model call."""
    out: list[str] = []
    for event in events:
        name = event.event.value
        if name.endswith("Content") and out and out[-1] == name:
            continue
        if not model_requests and "ModelRequest" in name:
            continue
        out.append(name)
    return out


def until_member_content(stream: Iterator[Any], events: list[Any], count: int = 3) -> None:
    """Read the stream into `events` until the member has streamed `count` pieces of its answer."""
    for event in stream:
        events.append(event)
        if sum(e.event == RunEvent.run_content for e in events) >= count:
            return
    raise AssertionError(f"the stream ended early: {names(events)}")


def assert_one_terminal_last(events: list[BaseRunEvent], run_id: str) -> BaseRunEvent:
    """Every run in the stream ends with exactly one terminal event, and the given run's is last."""
    runs = {event.run_id for event in events}
    for rid in runs:
        terminals = [e for e in events if e.run_id == rid and is_terminal(e)]
        assert len(terminals) == 1, f"run {rid} has {len(terminals)} terminal events: {names(events)}"
        own = [e for e in events if e.run_id == rid]
        assert own[-1] is terminals[0], f"run {rid} has events after its terminal event"
        assert own[0].event in STARTED_EVENTS, f"run {rid} does not start with RunStarted (or RunContinued)"
    assert events[-1].run_id == run_id and is_terminal(events[-1]), (
        "the stream must end with the run's terminal event"
    )
    return events[-1]


class SlowFinalDb(SqliteDb):
    """SQLite that takes a second to save a run's final record: a window in which the run is ending."""

    def save_runs(self, runs: Sequence[RunOutput]) -> None:
        if any(run.status.is_terminal for run in runs):
            time.sleep(1.0)
        super().save_runs(runs)

    def save_run(self, run: RunOutput) -> None:
        if run.status.is_terminal:
            time.sleep(1.0)
        super().save_run(run)
