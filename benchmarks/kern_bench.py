"""Tables 2 and 3: a kern agent and a kern team (leader + 2 members, coordinate mode) on Ray actors."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import ray
from common import Sample, ServerAdmin, model_headers, ms, rate
from cpu_profile import cpu_per_event
from scenarios import cancel_latency, first_events, new_run_id, throughput

from kern.agent import Agent
from kern.engine.frames import is_terminal_frame
from kern.models.openai import OpenAIResponses
from kern.specs import RunRequest
from kern.team import Team

FAST_WORDS = 5000
"""A reply of several thousand one-word deltas, as fast as the model server can send them."""
LONG_WORDS = 2000
STREAM_TPS = 50
STALL_SECONDS = 60
TOOL_PROMPT = "Use slow_tool, then tell me a long story"


async def slow_tool(topic: str) -> str:
    """Research a topic slowly (sleeps 30 s).

    Args:
        topic: The topic.
    """
    await asyncio.sleep(30)
    return "never"


def model(admin: ServerAdmin, **speed: Any) -> OpenAIResponses:
    return OpenAIResponses(
        id="gpt-bench", api_key="kern-bench", base_url=admin.base_url, default_headers=model_headers(**speed)
    )


def agent(admin: ServerAdmin, **speed: Any) -> Agent:
    """One agent actor for every agent scenario: a new Agent object re-configures it."""
    return Agent(name="Bench Agent", model=model(admin, **speed))


def team(admin: ServerAdmin, *, tools: bool = False, **member_speed: Any) -> Team:
    writer = Agent(
        name="Bench Writer",
        description="Writes stories",
        model=model(admin, **member_speed),
        tools=[slow_tool] if tools else None,
    )
    editor = Agent(name="Bench Editor", description="Edits", model=model(admin, **member_speed))
    leader = model(admin, tokens_per_second=0, reply_words=20)
    return Team(name="Bench Team", members=[writer, editor], model=leader)


def starter(component: Agent | Team):
    def start(prompt: str, run_id: str):
        return component.run(prompt, stream=True, run_id=run_id)

    return start


def batch_sizes(component: Agent | Team, reps: int) -> tuple[Sample, Sample]:
    """Frames per Ray object on a link from the component's actor to this process, read from the outside
    (a link opened by hand, one run started on it); and the content frames/s measured there (no decoding,
    no client)."""
    per_object, events = Sample("events/object"), Sample("events/s")
    handle = component.actor()
    for rep in range(reps):
        link_id = f"bench-{rep}-{new_run_id()}"
        stream = handle.open_link.options(num_returns="streaming").remote(link_id)
        request = RunRequest(input="Tell me a long story", run_id=new_run_id(), stream=True)
        ray.get(handle.start.remote(link_id, [(component.spec, request)]), timeout=60)
        sizes: list[int] = []
        stamps: list[float] = []
        ended = False
        while not ended:
            batch = ray.get(next(stream), timeout=60)
            now = time.perf_counter()
            frames = [frame for route in batch.values() for frame in route]
            sizes.append(len(frames))
            stamps.extend(now for frame in frames if frame[1] == "RunContent")
            ended = any(frame[0] == request.run_id and is_terminal_frame(frame) for frame in frames)
        ray.cancel(stream)
        per_object.add(sum(sizes) / len(sizes))
        firsts = sorted(set(stamps))
        # Content events/s: events between the first and the last object holding content.
        if len(firsts) >= 2:
            events.add((len(stamps) - stamps.count(firsts[0])) / (firsts[-1] - firsts[0]))
    return per_object, events


class SdkCeiling:
    """The model server read with the openai SDK in this process, no kern: text deltas/s of the fast
    reply, and ms to the first delta of a short reply. Interleaved with kern's repetitions so both see
    the same machine load."""

    def __init__(self, admin: ServerAdmin) -> None:
        def client(**speed: Any) -> openai.OpenAI:
            headers = model_headers(tokens_per_second=0, **speed)
            return openai.OpenAI(
                api_key="bench", base_url=admin.base_url, timeout=60, max_retries=0, default_headers=headers
            )

        self.fast = client(reply_words=FAST_WORDS, chunk_words=1)
        self.short = client(reply_words=20)
        self._deltas(self.fast), self._deltas(self.short)  # warm: connection, SDK imports

    @staticmethod
    def _deltas(client: openai.OpenAI) -> tuple[float, list[float]]:
        t0 = time.perf_counter()
        stamps = []
        with client.responses.create(model="gpt-bench", input="Tell me a story", stream=True) as stream:
            for event in stream:
                if event.type == "response.output_text.delta":
                    stamps.append(time.perf_counter())
        return t0, stamps

    def rate(self) -> float | None:
        return rate(self._deltas(self.fast)[1])

    def first(self) -> float | None:
        t0, stamps = self._deltas(self.short)
        return ms(stamps[0] - t0) if stamps else None

    def close(self) -> None:
        self.fast.close()
        self.short.close()


def _cancel_reps(
    out: dict[str, Sample],
    prefix: str,
    component: Agent | Team,
    reps: int,
    *,
    admin: ServerAdmin | None,
    **kwargs: Any,
) -> None:
    start = starter(component)
    for _ in range(reps):
        result = cancel_latency(start, component.cancel_run, admin=admin, **kwargs)
        for target, value in result.latencies.items():
            out.setdefault(f"{prefix}:{target}", Sample("ms")).add(value)
        if admin is not None:
            out.setdefault(f"{prefix}:disconnected", Sample("ms")).add(
                result.disconnect_ms if result.disconnected else None
            )
            if not result.disconnected:
                out[
                    f"{prefix}:disconnected"
                ].note = f"(server log 3 s after the cancel: {result.server_statuses})"
        if not result.finished:
            out[f"{prefix}:{kwargs['targets'][-1]}"].note = f"(stream did not end; last {result.tail})"


def _cpu(component: Agent | Team, server_pid: int | None, reps: int) -> dict[str, Sample]:
    if server_pid is None:
        return {}
    start = starter(component)
    return cpu_per_event(lambda: throughput(start, "RunContent")[1], server_pid, min(reps, 3))


def run_agent(admin: ServerAdmin, reps: int, server_pid: int | None = None) -> dict[str, Sample]:
    out: dict[str, Sample] = {}
    sdk = SdkCeiling(admin)
    out["sdk:events_per_s"], out["sdk:first_content"] = Sample("events/s"), Sample("ms")
    fast = agent(admin, tokens_per_second=0, reply_words=FAST_WORDS, chunk_words=1)
    start = starter(fast)
    throughput(start, "RunContent")  # warm-up: actor start, SDK client, connection
    out["agent:events_per_s"] = Sample("events/s")
    for _ in range(reps):
        out["sdk:events_per_s"].add(sdk.rate())
        out["agent:events_per_s"].add(throughput(start, "RunContent")[0])
    out["agent:events_per_object"], out["agent:actor_events_per_s"] = batch_sizes(fast, reps)
    out.update({f"agent:cpu:{k}": v for k, v in _cpu(fast, server_pid, reps).items()})

    short = agent(admin, tokens_per_second=0, reply_words=20)
    first_events(starter(short), "RunStarted", "RunContent")
    out["agent:first_event"], out["agent:first_content"] = Sample("ms"), Sample("ms")
    for _ in range(reps):
        out["sdk:first_content"].add(sdk.first())
        first, content = first_events(starter(short), "RunStarted", "RunContent")
        out["agent:first_event"].add(first)
        out["agent:first_content"].add(content)
    out.update({f"agent:breakdown:{k}": v for k, v in first_content_breakdown(admin, short, reps).items()})
    sdk.close()

    slow = agent(admin, tokens_per_second=STREAM_TPS, reply_words=LONG_WORDS)
    _cancel_reps(
        out,
        "agent:cancel_streaming",
        slow,
        reps,
        admin=admin,
        trigger="RunContent",
        trigger_count=5,
        targets=("RunCancelled",),
    )
    stalled = agent(
        admin, tokens_per_second=STREAM_TPS, first_token_delay=STALL_SECONDS, reply_words=LONG_WORDS
    )
    _cancel_reps(
        out,
        "agent:cancel_stalled",
        stalled,
        reps,
        admin=admin,
        trigger="RunStarted",
        delay=0.3,
        targets=("RunCancelled",),
    )
    return out


def run_team(admin: ServerAdmin, reps: int, server_pid: int | None = None) -> dict[str, Sample]:
    out: dict[str, Sample] = {}
    fast = team(admin, tokens_per_second=0, reply_words=FAST_WORDS, chunk_words=1)
    start = starter(fast)
    throughput(start, "RunContent")
    out["team:events_per_s"] = Sample("events/s")
    for _ in range(reps):
        out["team:events_per_s"].add(throughput(start, "RunContent")[0])
    out["team:events_per_object"], out["team:actor_events_per_s"] = batch_sizes(fast, reps)
    out.update({f"team:cpu:{k}": v for k, v in _cpu(fast, server_pid, reps).items()})

    short = team(admin, tokens_per_second=0, reply_words=20)
    first_events(starter(short), "TeamRunStarted", "RunContent")
    out["team:first_event"], out["team:first_member_content"] = Sample("ms"), Sample("ms")
    for _ in range(reps):
        first, content = first_events(starter(short), "TeamRunStarted", "RunContent")
        out["team:first_event"].add(first)
        out["team:first_member_content"].add(content)
    out.update({f"team:breakdown:{k}": v for k, v in first_content_breakdown(admin, short, reps).items()})

    targets = ("RunCancelled", "TeamRunCancelled")
    slow = team(admin, tokens_per_second=STREAM_TPS, reply_words=LONG_WORDS)
    _cancel_reps(
        out,
        "team:cancel_streaming",
        slow,
        reps,
        admin=admin,
        trigger="RunContent",
        trigger_count=5,
        targets=targets,
    )
    stalled = team(
        admin, tokens_per_second=STREAM_TPS, first_token_delay=STALL_SECONDS, reply_words=LONG_WORDS
    )
    _cancel_reps(
        out,
        "team:cancel_stalled",
        stalled,
        reps,
        admin=admin,
        trigger="RunStarted",
        delay=0.3,
        targets=targets,
    )
    tooled = team(admin, tools=True, tokens_per_second=STREAM_TPS, reply_words=LONG_WORDS)
    _cancel_reps(
        out,
        "team:cancel_tool",
        tooled,
        reps,
        admin=None,
        trigger="ToolCallStarted",
        delay=0.2,
        targets=targets,
        prompt=TOOL_PROMPT,
    )
    return out


def first_content_breakdown(admin: ServerAdmin, component: Agent | Team, reps: int) -> dict[str, Sample]:
    """Where the warm time to the first (member) content goes, from wall-clock stamps taken in three
    processes of this machine: the caller, the actors (`created_at` of events) and the model server
    (its request log). Segments in ms, in order."""
    is_team = isinstance(component, Team)
    out: dict[str, Sample] = {}

    def add(key: str, seconds: float) -> None:
        out.setdefault(key, Sample("ms")).add(seconds * 1000.0)

    for rep in range(reps + 1):
        admin.clear_requests()
        t_call = time.time()
        first_content: tuple[float, Any] | None = None
        events = []
        for event in component.run("Tell me a short story", stream=True):
            events.append(event)
            if first_content is None and event.event.value == "RunContent":
                first_content = (time.time(), event)
        requests = sorted(admin.requests(), key=lambda r: r["started_at"])
        if first_content is None or len(requests) < (2 if is_team else 1):
            continue
        if rep == 0:
            continue  # warm-up
        arrived, content = first_content
        started = events[0].created_at
        add("call -> run started in its actor", started - t_call)
        if is_team:
            leader, member = requests[0], requests[1]
            member_started = next(e for e in events if e.event.value == "RunStarted").created_at
            add("team started -> leader's model request reaches the server", leader["started_at"] - started)
            add(
                "leader's request: server answers the delegation tool call",
                leader["finished_at"] - leader["started_at"],
            )
            add("-> member run started in its actor", member_started - leader["finished_at"])
            add(
                "member started -> member's model request reaches the server",
                member["started_at"] - member_started,
            )
            add(
                "member's request -> first content event made in the member actor",
                content.created_at - member["started_at"],
            )
            add("first content made -> received by the caller (2 Ray hops)", arrived - content.created_at)
        else:
            add("run started -> model request reaches the server", requests[0]["started_at"] - started)
            add(
                "request -> first content event made in the actor",
                content.created_at - requests[0]["started_at"],
            )
            add("first content made -> received by the caller (1 Ray hop)", arrived - content.created_at)
        add("total: call -> first content received", arrived - t_call)
    return out
