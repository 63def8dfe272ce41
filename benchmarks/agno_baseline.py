"""Agno in one process, on the same local model server and the same scenarios as kern's benchmark.

Runs under an interpreter that has Agno (never the project's .venv):

    python3.11 -m venv /tmp/agno-venv && /tmp/agno-venv/bin/pip install agno openai
    /tmp/agno-venv/bin/python benchmarks/agno_baseline.py --base-url http://127.0.0.1:PORT/v1

Prints one JSON object: {"agno_version": ..., "results": {key: Sample dict}}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from common import Sample, ServerAdmin, model_headers
from scenarios import cancel_latency, first_events, throughput

FAST_WORDS = 5000
LONG_WORDS = 2000
STREAM_TPS = 50
STALL_SECONDS = 60
AGNO_CANCEL_TIMEOUT = 5.0
"""Agno cancels by a flag checked between chunks: a stalled model is not interrupted, so bound the wait."""


async def slow_async_tool(topic: str) -> str:
    """Research a topic slowly (sleeps 30 s).

    Args:
        topic: The topic.
    """
    await asyncio.sleep(30)
    return "never"


slow_async_tool.__name__ = "slow_tool"


def iterate_async(factory) -> Iterator[Any]:
    """Drive an async iterator from a plain thread (Agno's `arun`), one item at a time."""
    loop = asyncio.new_event_loop()
    agen = factory()
    try:
        while True:
            try:
                item = loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                break
            yield item
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(agen.aclose())
        loop.close()


class AgnoBench:
    def __init__(self, admin: ServerAdmin) -> None:
        from agno.agent import Agent
        from agno.models.openai import OpenAIResponses
        from agno.team import Team

        self.Agent, self.Team, self.Model = Agent, Team, OpenAIResponses
        self.admin = admin

    def model(self, **speed: Any):
        return self.Model(
            id="gpt-bench",
            api_key="agno-bench",
            base_url=self.admin.base_url,
            default_headers=model_headers(**speed),
        )

    def agent(self, **speed: Any):
        return self.Agent(name="Bench Agent", model=self.model(**speed), telemetry=False)

    def team(self, *, tools: bool = False, **member_speed: Any):
        # The simulated leader fills `member_id` with "example" (Agno's member_id is a free string):
        # give the first member that id so delegation finds it.
        writer = self.Agent(
            id="example",
            name="Writer",
            description="Writes stories",
            model=self.model(**member_speed),
            tools=[slow_async_tool] if tools else None,
            telemetry=False,
        )
        editor = self.Agent(
            id="editor", name="Editor", description="Edits", model=self.model(**member_speed), telemetry=False
        )
        return self.Team(
            name="Bench Team",
            members=[writer, editor],
            model=self.model(tokens_per_second=0, reply_words=20),
            stream_member_events=True,
            telemetry=False,
        )

    @staticmethod
    def starter(component, use_async: bool = False):
        def start(prompt: str, run_id: str):
            if use_async:
                return iterate_async(
                    lambda: component.arun(prompt, stream=True, stream_events=True, run_id=run_id)
                )
            return component.run(prompt, stream=True, stream_events=True, run_id=run_id)

        return start


def run(admin: ServerAdmin, reps: int) -> dict[str, Sample]:
    bench = AgnoBench(admin)
    out: dict[str, Sample] = {}

    def sample(key: str, unit: str) -> Sample:
        return out.setdefault(key, Sample(unit))

    def cancels(
        prefix: str,
        component,
        reps: int,
        *,
        use_async: bool = False,
        check_disconnect: bool = True,
        **kwargs: Any,
    ) -> None:
        start = bench.starter(component, use_async)
        for _ in range(reps):
            result = cancel_latency(
                start,
                component.cancel_run,
                admin=admin if check_disconnect else None,
                timeout=AGNO_CANCEL_TIMEOUT,
                **kwargs,
            )
            for target, value in result.latencies.items():
                sample(f"{prefix}:{target}", "ms").add(value)
            if check_disconnect:
                disconnect = sample(f"{prefix}:disconnected", "ms")
                disconnect.add(result.disconnect_ms if result.disconnected else None)
                if not result.disconnected:
                    disconnect.note = f"(server log 3 s after the cancel: {result.server_statuses})"
            if not result.finished:
                # A run that ignores its cancel is not retried N times.
                for key, each in out.items():
                    if key.startswith(prefix) and not each.values:
                        each.note = f"(not within {AGNO_CANCEL_TIMEOUT:.0f} s; last events {result.tail})"
                return

    # Agent
    fast = bench.agent(tokens_per_second=0, reply_words=FAST_WORDS, chunk_words=1)
    start = bench.starter(fast)
    throughput(start, "RunContent")  # warm-up
    cpu, count = time.process_time(), 0
    for _ in range(reps):
        events_per_s, n = throughput(start, "RunContent")
        sample("agent:events_per_s", "events/s").add(events_per_s)
        count += n
    # CPU of this whole process (all threads) per content event: Agno, the SDK, the consumer.
    sample("agent:cpu_us_per_event", "us/event").add((time.process_time() - cpu) / max(count, 1) * 1e6)
    short = bench.agent(tokens_per_second=0, reply_words=20)
    first_events(bench.starter(short), "RunStarted", "RunContent")
    for _ in range(reps):
        first, content = first_events(bench.starter(short), "RunStarted", "RunContent")
        sample("agent:first_event", "ms").add(first)
        sample("agent:first_content", "ms").add(content)
    slow = bench.agent(tokens_per_second=STREAM_TPS, reply_words=LONG_WORDS)
    cancels(
        "agent:cancel_streaming", slow, reps, trigger="RunContent", trigger_count=5, targets=("RunCancelled",)
    )
    stalled = bench.agent(
        tokens_per_second=STREAM_TPS, first_token_delay=STALL_SECONDS, reply_words=LONG_WORDS
    )
    cancels("agent:cancel_stalled", stalled, reps, trigger="RunStarted", delay=0.3, targets=("RunCancelled",))

    # Team
    team = bench.team(tokens_per_second=0, reply_words=FAST_WORDS, chunk_words=1)
    start = bench.starter(team)
    throughput(start, "RunContent")
    cpu, count = time.process_time(), 0
    for _ in range(reps):
        events_per_s, n = throughput(start, "RunContent")
        sample("team:events_per_s", "events/s").add(events_per_s)
        count += n
    sample("team:cpu_us_per_event", "us/event").add((time.process_time() - cpu) / max(count, 1) * 1e6)
    team = bench.team(tokens_per_second=0, reply_words=20)
    first_events(bench.starter(team), "TeamRunStarted", "RunContent")
    for _ in range(reps):
        first, content = first_events(bench.starter(team), "TeamRunStarted", "RunContent")
        sample("team:first_event", "ms").add(first)
        sample("team:first_member_content", "ms").add(content)
    targets = ("RunCancelled", "TeamRunCancelled")
    team = bench.team(tokens_per_second=STREAM_TPS, reply_words=LONG_WORDS)
    cancels("team:cancel_streaming", team, reps, trigger="RunContent", trigger_count=5, targets=targets)
    team = bench.team(tokens_per_second=STREAM_TPS, first_token_delay=STALL_SECONDS, reply_words=LONG_WORDS)
    cancels("team:cancel_stalled", team, reps, trigger="RunStarted", delay=0.3, targets=targets)
    team = bench.team(tools=True, tokens_per_second=STREAM_TPS, reply_words=LONG_WORDS)
    cancels(
        "team:cancel_tool",
        team,
        reps,
        use_async=True,
        check_disconnect=False,
        trigger="ToolCallStarted",
        delay=0.2,
        targets=targets,
        prompt="Use slow_tool, then tell me a long story",
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True, help="the model server's OpenAI base_url (…/v1)")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    logging.disable(logging.WARNING)
    admin = ServerAdmin(args.base_url.rstrip("/").removesuffix("/v1"))
    # Agno may log to stdout; only our JSON goes there.
    real_stdout, sys.stdout = sys.stdout, io.StringIO()
    try:
        from importlib.metadata import version

        import agno  # noqa: F401

        results = run(admin, args.reps)
        payload = {"agno_version": version("agno"), "results": {k: v.as_dict() for k, v in results.items()}}
    finally:
        sys.stdout = real_stdout
    print(json.dumps(payload), flush=True)
    # Runs that ignored their cancel may still be blocked on a stalled model: do not wait for them.
    os._exit(0)


if __name__ == "__main__":
    main()
