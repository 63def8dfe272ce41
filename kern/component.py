"""What `Agent` and `Team` share: starting runs on their actor, streaming, and cancelling."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Generator, Iterator
from typing import Any, Literal, TypedDict, Unpack, cast, overload

from pydantic import BaseModel
from ray.actor import ActorHandle
from rich.console import Console

from actors import client, routing
from actors.routing import Router
from actors.runtime import READY_TIMEOUT_SECONDS
from kern import sessions
from kern.agno_options import refuse
from kern.continuation import answered, cancel_paused, continue_request, paused_record
from kern.db import SessionRecord
from kern.engine.run_context import merge
from kern.engine.structured import input_text
from kern.messages import Message
from kern.printing import ashow, show, view_for
from kern.run.agent import RunOutput
from kern.run.base import BaseRunEvent, RunStatus, ToolExecution
from kern.run.plain import aplain, plain
from kern.run.requirement import RunRequirement
from kern.specs import AgentSpec, RunRequest, TeamSpec, busy_policy, new_id, run_record

RunInput = str | BaseModel | dict[str, Any]
"""A run's input: text, or with an `input_schema` a dict, JSON text or an instance of it."""


class RunOptions(TypedDict, total=False):
    """What `run`, `arun` and `print_response` take besides the input and how to stream (Agno's names)."""

    session_id: str | None
    """The session (else the object's, made on its first run and kept)."""
    user_id: str | None
    run_id: str | None
    """The run's id (else a new one): known before the run starts, so it can be cancelled at once."""
    session_state: dict[str, Any] | None
    """Merged over the session's state for this run."""
    dependencies: dict[str, Any] | None
    metadata: dict[str, Any] | None
    add_history_to_context: bool | None
    add_dependencies_to_context: bool | None
    add_session_state_to_context: bool | None
    """For this run, instead of the object's setting (a team passes its own to its members)."""
    yield_run_output: bool
    """Streams end with the run's `RunOutput` after its terminal event."""
    busy_session: str | None
    """What this run does if its session has one in flight (`kern.specs.BusySession`), over the
    object's `busy_session`."""


def run_options(call: str, options: dict[str, Any]) -> RunOptions:
    """`options` as `RunOptions`; an Agno option kern does not take yet, or an unknown one, refused."""
    refuse(call, {name: value for name, value in options.items() if name not in RunOptions.__annotations__})
    return cast(RunOptions, options)


class Component:
    """A runnable agent or team. Subclasses build `self.spec`; runs execute on its replicas (Ray actors)."""

    spec: AgentSpec | TeamSpec

    def __init__(
        self,
        session_id: str | None = None,
        user_id: str | None = None,
        stream: bool | None = None,
        stream_events: bool | None = None,
    ) -> None:
        self.session_id = session_id
        self.user_id = user_id
        self.stream = stream
        """The default of `run(stream=...)` (Agno's): False unless set."""
        self.stream_events = stream_events
        """The default of `run(stream_events=...)`: unset (or True) streams every event; False, only
        what Agno's plain stream shows (`kern.run.plain`)."""
        self._router: Router | None = None
        self._router_lock = threading.Lock()
        self._session_lock = threading.Lock()

    @property
    def id(self) -> str:
        """The agent's or team's id (a slug of its name unless given)."""
        return self.spec.id

    @property
    def name(self) -> str:
        """The agent's or team's name."""
        return self.spec.name

    def actor(self) -> ActorHandle:
        """The component's first replica (Ray actor `kern:<agent|team>:<id>`), waited for on first use."""
        return self._replicas().anchor()

    def _replicas(self) -> Router:
        """This process's router over the component's replicas, set up on first use.

        The first replica of every component in the tree is started at once, and the supervisor told
        about each (it starts their other replicas), but only the root's is waited for: the members'
        processes start while the leader's first model call is under way.
        """
        with self._router_lock:
            if self._router is None:
                specs = _members_first(self.spec)
                for spec in specs:
                    if spec.db is not None:
                        spec.db.attach()  # an InMemoryDb's actor, owned by this process
                root = routing.router(self.spec)
                root.anchor()
                root.announce()
                near = root.anchor_node() if len(specs) > 1 else None  # members go near their team
                for spec in specs[:-1]:
                    member = routing.router(spec, near)
                    member.anchor()
                    member.announce()
                root.ready_anchor(READY_TIMEOUT_SECONDS)
                self._router = root
            return self._router

    def _request(self, input: RunInput, stream: bool, options: RunOptions) -> RunRequest:
        given: dict[str, Any] = {**options}
        given["run_id"] = given.get("run_id") or new_id()
        given["session_id"] = given.get("session_id") or self._sticky_session_id()
        given["user_id"] = given.get("user_id") or self.user_id
        if given.get("busy_session") is not None:
            given["busy_session"] = busy_policy(given["busy_session"])
        return RunRequest(input=input_text(input, self.spec.input_schema), stream=stream, **given)

    def _sticky_session_id(self) -> str:
        """`session_id`, made on the first run that names none and kept, as Agno does: the runs of one
        object share a session (and its history) unless they say otherwise."""
        with self._session_lock:
            if self.session_id is None:
                self.session_id = new_id()
            return self.session_id

    @overload
    def run(
        self,
        input: RunInput,
        *,
        stream: Literal[False],
        stream_events: bool | None = None,
        **options: Unpack[RunOptions],
    ) -> RunOutput: ...
    @overload
    def run(
        self,
        input: RunInput,
        *,
        stream: Literal[True],
        stream_events: bool | None = None,
        **options: Unpack[RunOptions],
    ) -> Iterator[BaseRunEvent]: ...
    @overload
    def run(
        self,
        input: RunInput,
        *,
        stream: bool | None = None,
        stream_events: bool | None = None,
        **options: Unpack[RunOptions],
    ) -> RunOutput | Iterator[BaseRunEvent]: ...

    def run(
        self,
        input: RunInput,
        *,
        stream: bool | None = None,
        stream_events: bool | None = None,
        **options: Any,
    ) -> RunOutput | Iterator[BaseRunEvent]:
        """Run and return the output, or with `stream=True` an iterator of events (every event, or with
        `stream_events=False` Agno's plain stream). Defaults: the object's `stream` and `stream_events`.

        Leaving the iterator early (break, close, garbage collection) cancels the run.
        """
        streaming = self._streaming(stream)
        request = self._request(input, streaming, run_options(f"{type(self).__name__}.run", options))
        if not streaming:
            return client.run_to_completion(self._replicas(), self.spec, request)
        events = client.stream_run(self._replicas(), self.spec, request)
        if request.yield_run_output:
            events = with_output(events, request.run_id)
        return plain(events, request.run_id) if self._plain(stream_events) else events

    def _streaming(self, stream: bool | None) -> bool:
        return bool(self.stream if stream is None else stream)

    def _plain(self, stream_events: bool | None) -> bool:
        return (self.stream_events if stream_events is None else stream_events) is False

    @overload
    def arun(
        self,
        input: RunInput,
        *,
        stream: Literal[False],
        stream_events: bool | None = None,
        background: bool = False,
        **options: Unpack[RunOptions],
    ) -> Coroutine[Any, Any, RunOutput]: ...
    @overload
    def arun(
        self,
        input: RunInput,
        *,
        stream: Literal[True],
        stream_events: bool | None = None,
        background: bool = False,
        **options: Unpack[RunOptions],
    ) -> EventStream: ...
    @overload
    def arun(
        self,
        input: RunInput,
        *,
        stream: bool | None = None,
        stream_events: bool | None = None,
        background: bool = False,
        **options: Unpack[RunOptions],
    ) -> Coroutine[Any, Any, RunOutput] | EventStream: ...

    def arun(
        self,
        input: RunInput,
        *,
        stream: bool | None = None,
        stream_events: bool | None = None,
        background: bool = False,
        **options: Any,
    ) -> Coroutine[Any, Any, RunOutput] | EventStream:
        """The async twin of `run`: `await agent.arun(...)` is the output; with `stream=True`,
        `async for event in agent.arun(..., stream=True)` (as in Agno; awaiting it first works too).
        With `background=True` (Agno's; not streamed, and the object needs a db) the run goes on in its
        actor without this caller: the answer is its record as it starts (RUNNING); `get_run_output`
        shows its progress, then its outcome."""
        streaming = self._streaming(stream)
        request = self._request(input, streaming, run_options(f"{type(self).__name__}.arun", options))
        if background:
            if stream:
                raise ValueError("A background run is not streamed: leave stream out, then get_run_output")
            return self._arun_background(request)
        if not streaming:
            return self._arun_to_completion(request)
        events = self._astream(request)
        return EventStream(aplain(events, request.run_id) if self._plain(stream_events) else events)

    async def _arun_background(self, request: RunRequest) -> RunOutput:
        if self.spec.db is None:
            raise ValueError(
                f"A background run needs a db to keep its outcome: give {self.spec.name!r} db=... (as Agno)"
            )
        streamed = request.model_copy(update={"stream": True})  # (its partial answer grows as it goes)
        await client.start_background(await self._areplicas(), self.spec, streamed)
        return run_record(self.spec, streamed, status=RunStatus.running)

    async def _arun_to_completion(self, request: RunRequest) -> RunOutput:
        return await client.arun_to_completion(await self._areplicas(), self.spec, request)

    async def _astream(self, request: RunRequest) -> AsyncGenerator[BaseRunEvent]:
        async for event in client.astream_run(await self._areplicas(), self.spec, request):
            yield event
            if request.yield_run_output and event.run_id == request.run_id and event.run_output is not None:
                yield event.run_output

    async def _areplicas(self) -> Router:
        """`_replicas()` without blocking the event loop on first use (it waits for the first replica)."""
        return self._router if self._router is not None else await asyncio.to_thread(self._replicas)

    def print_response(
        self,
        input: RunInput,
        *,
        stream: bool | None = None,
        markdown: bool | None = None,
        show_message: bool = True,
        show_members_responses: bool | None = None,
        console: Console | None = None,
        **options: Unpack[RunOptions],
    ) -> None:
        """Run and show it in the terminal as Agno does (`kern.printing`): the message, tool calls, member
        responses (teams, with `show_members_responses`) and the response, live while it streams."""
        text = input_text(input, self.spec.input_schema)
        view = view_for(self, text, markdown, show_message, show_members_responses)
        events = self.run(text, stream=True, stream_events=True, **options)
        show(events, view, console, stream=self._streaming(stream))

    async def aprint_response(
        self,
        input: RunInput,
        *,
        stream: bool | None = None,
        markdown: bool | None = None,
        show_message: bool = True,
        show_members_responses: bool | None = None,
        console: Console | None = None,
        **options: Unpack[RunOptions],
    ) -> None:
        """The async twin of `print_response`."""
        text = input_text(input, self.spec.input_schema)
        view = view_for(self, text, markdown, show_message, show_members_responses)
        events = self.arun(text, stream=True, stream_events=True, **options)
        await ashow(events, view, console, stream=self._streaming(stream))

    def get_session(self, session_id: str | None = None) -> SessionRecord | None:
        """The session (this object's unless named) with its runs, from the db; None if there is none."""
        chosen = session_id or self.session_id
        return sessions.database(self.spec).get_session(chosen) if chosen else None

    def get_run_output(self, run_id: str, session_id: str | None = None) -> RunOutput | None:
        """A run of this agent or team, by id: its stored record, or while it runs, its record as its
        actor has it now (RUNNING, the partial answer so far)."""
        run = sessions.database(self.spec).get_run(run_id)
        if run is None or run.status is RunStatus.running:
            run = client.live_record(run_id) or run
        return _of_session(run, session_id)

    async def aget_run_output(self, run_id: str, session_id: str | None = None) -> RunOutput | None:
        """The async twin of `get_run_output`."""
        run = await asyncio.to_thread(sessions.database(self.spec).get_run, run_id)
        if run is None or run.status is RunStatus.running:
            run = await client.snapshot(run_id) or run
        return _of_session(run, session_id)

    def get_last_run_output(self, session_id: str | None = None) -> RunOutput | None:
        """The latest run of the session (this object's unless named)."""
        runs = sessions.top_level_runs(self.spec, self.get_session(session_id))
        return runs[-1] if runs else None

    def get_chat_history(
        self, session_id: str | None = None, last_n_runs: int | None = None
    ) -> list[Message]:
        """The user and assistant messages of the session's runs, every status included (Agno's)."""
        runs = sessions.top_level_runs(self.spec, self.get_session(session_id))
        return sessions.session_messages(
            runs, skip_roles=("system", "tool"), skip_statuses=(), last_n_runs=last_n_runs
        )

    def get_session_messages(
        self, session_id: str | None = None, last_n_runs: int | None = None
    ) -> list[Message]:
        """The messages of the session's runs (the system message once), without cancelled or failed
        runs (Agno's)."""
        runs = sessions.top_level_runs(self.spec, self.get_session(session_id))
        return sessions.session_messages(runs, last_n_runs=last_n_runs)

    def get_session_state(self, session_id: str | None = None) -> dict[str, Any]:
        """The session's stored state (this object's session unless named); the component's
        `session_state` if the session has none yet."""
        chosen = session_id or self.session_id
        stored = sessions.database(self.spec).get_session_state(chosen) if chosen else None
        return copy.deepcopy(stored or self.spec.session_state or {})

    def update_session_state(
        self, session_state_updates: dict[str, Any], session_id: str | None = None
    ) -> dict[str, Any]:
        """Merge updates into the session's state and save it (the session is made if it has no run
        yet); the new state."""
        chosen = session_id or self._sticky_session_id()
        state = self.get_session_state(chosen)
        merge(state, session_state_updates)
        sessions.database(self.spec).upsert_session(
            chosen, self.spec.kind, self.spec.id, self.user_id, session_state=state
        )
        return copy.deepcopy(state)

    def set_session_name(self, session_id: str | None = None, *, session_name: str) -> SessionRecord:
        """Name the session (this object's unless named); the session as stored."""
        chosen = session_id or self._sticky_session_id()
        db = sessions.database(self.spec)
        db.upsert_session(chosen, self.spec.kind, self.spec.id, self.user_id, session_name=session_name)
        record = db.get_session(chosen)
        assert record is not None
        return record

    def get_session_name(self, session_id: str | None = None) -> str | None:
        """The session's name, if it has one."""
        record = self.get_session(session_id)
        return record.session_name if record is not None else None

    def delete_session(self, session_id: str) -> None:
        """Delete a session and its runs from the db."""
        sessions.database(self.spec).delete_session(session_id)

    def cancel_run(self, run_id: str) -> bool:
        """Cancel a run (and its member runs) from any thread or process. True if it was in flight, or
        paused (its record is then stored CANCELLED)."""
        return client.cancel_run(run_id) or cancel_paused(self.spec, run_id)

    async def acancel_run(self, run_id: str) -> bool:
        """The async twin of `cancel_run`."""
        if await client.acancel_run(run_id):
            return True
        return await asyncio.to_thread(cancel_paused, self.spec, run_id)

    def afollow_run(self, run_id: str, from_index: int = 0) -> AsyncIterator[BaseRunEvent]:
        """Rejoin a run's stream from any process: its events from the `from_index`-th (0-based, member
        events counted, as `event_index` numbers them over HTTP), then live until its terminal event.
        Nothing if its actor no longer has it (it ended minutes ago, see `kern.engine.replay`). Leaving
        does not cancel the run."""
        return client.follow_run(run_id, from_index)

    def continue_run(
        self,
        run_response: RunOutput | None = None,
        *,
        run_id: str | None = None,
        requirements: list[RunRequirement] | None = None,
        updated_tools: list[ToolExecution] | None = None,
        stream: bool | None = None,
        stream_events: bool | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> RunOutput | Iterator[BaseRunEvent]:
        """Continue a PAUSED run, from any process: the run (`run_response`, or `run_id` read from the db)
        with every requirement answered (in place, or as `requirements` / `updated_tools`). Returns as
        `run` does; the stream starts with `RunContinued`. A run that is not paused, or a requirement
        left open, is an error before anything runs."""
        streaming = self._streaming(stream)
        record = paused_record(self.spec, run_response, run_id, session_id)
        request = continue_request(
            answered(record, requirements, updated_tools), stream=streaming, user_id=user_id
        )
        client.claim_resume(self.spec, request)
        if not streaming:
            return client.run_to_completion(self._replicas(), self.spec, request)
        events = client.stream_run(self._replicas(), self.spec, request)
        return plain(events, request.run_id) if self._plain(stream_events) else events

    def acontinue_run(
        self,
        run_response: RunOutput | None = None,
        *,
        run_id: str | None = None,
        requirements: list[RunRequirement] | None = None,
        updated_tools: list[ToolExecution] | None = None,
        stream: bool | None = None,
        stream_events: bool | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
    ) -> Coroutine[Any, Any, RunOutput] | EventStream:
        """The async twin of `continue_run` (`await` it, or `async for` over it with `stream=True`)."""
        streaming = self._streaming(stream)

        async def request() -> RunRequest:
            record = run_response or await asyncio.to_thread(
                paused_record, self.spec, None, run_id, session_id
            )
            record = paused_record(self.spec, record, None, None)
            continued = continue_request(
                answered(record, requirements, updated_tools), stream=streaming, user_id=user_id
            )
            await client.aclaim_resume(self.spec, continued)
            return continued

        if not streaming:
            return self._acontinue_to_completion(request())

        async def events() -> AsyncGenerator[BaseRunEvent]:
            async for event in self._astream(await request()):
                yield event

        root = run_id or (run_response.run_id if run_response is not None else "")
        return EventStream(aplain(events(), root) if self._plain(stream_events) else events())

    async def _acontinue_to_completion(self, request: Coroutine[Any, Any, RunRequest]) -> RunOutput:
        return await self._arun_to_completion(await request)


def _of_session(run: RunOutput | None, session_id: str | None) -> RunOutput | None:
    """`run` if it is of the session (when one is named)."""
    return run if run is not None and session_id in (None, run.session_id) else None


def with_output(events: Iterator[BaseRunEvent], run_id: str) -> Iterator[BaseRunEvent]:
    """The run's events, and with `yield_run_output` its `RunOutput` after its terminal event (Agno's).
    Leaving early closes `events`, which cancels the run."""
    try:
        for event in events:
            yield event
            if event.run_id == run_id and event.run_output is not None:
                yield event.run_output
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


def _members_first(spec: AgentSpec | TeamSpec) -> list[AgentSpec | TeamSpec]:
    """Every spec in a team's tree, members before their team, the root last."""
    nested = (
        [inner for member in spec.members for inner in _members_first(member)]
        if isinstance(spec, TeamSpec)
        else []
    )
    return [*nested, spec]


class EventStream(AsyncIterator[BaseRunEvent]):
    """What `arun(stream=True)` returns: an async iterator of the run's events. Leaving it early (break,
    `aclose`, garbage collection) cancels the run. Awaiting it gives the stream itself, so the form
    `async for event in await agent.arun(..., stream=True)` works as well."""

    def __init__(self, events: AsyncGenerator[BaseRunEvent]) -> None:
        self._events = events

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> BaseRunEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()

    def __await__(self) -> Generator[Any, None, EventStream]:
        return _itself(self).__await__()


async def _itself(stream: EventStream) -> EventStream:
    return stream
