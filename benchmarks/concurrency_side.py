"""One side of the concurrency sweep (kern or Agno) in its own interpreter; prints one JSON object.

    .venv/bin/python benchmarks/concurrency_side.py --side kern --base-url http://127.0.0.1:PORT/v1
    .venv/bin/python benchmarks/concurrency_side.py --side kern-replicas --base-url ...
    /tmp/agno-venv/bin/python benchmarks/concurrency_side.py --side agno --base-url ...

A team (leader + one member, coordinate mode) on the local model server at 20 tokens/s: the leader
delegates, the member streams 100 tokens, the leader answers with 100. For each N, N runs at once in
this event loop (`asyncio` tasks, one consumer each), a seeded 10 % of them cancelled at a random
instant after their first content. Only public APIs: `team.arun(..., stream=True)`, `team.acancel_run`.
Side `kern` gives every component one replica; `kern-replicas` lets the pools grow (`Replicas()`, kern's
default bounds). Run by `concurrency.py`, which starts the model server and renders the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from common import log, model_headers, percentile
from proc_tree import TreeMeter, machine_busy

TOKENS_PER_SECOND = 20.0
MEMBER_WORDS = 100
LEADER_WORDS = 100
LEADER_PREFIX_WORDS = 22
"""The model server starts an answer that follows a tool result with "Based on <20 words of it>:"."""
CANCEL_WINDOW = 0.8 * (MEMBER_WORDS + LEADER_WORDS) / TOKENS_PER_SECOND
"""A cancelled run is cancelled uniformly within this many seconds after its first content."""
GAP_PLACES = {(False, False): "member", (False, True): "member -> leader", (True, True): "leader"}
GAP_PLACES[(True, False)] = "leader -> member"
CANCEL_CALL_TIMEOUT = 30.0
DRAIN_TIMEOUT = 15.0
"""After the step timeout: how long stuck runs get to end once their consumers are cancelled."""


@dataclass
class Side:
    """What the sweep needs from a framework."""

    name: str
    versions: dict[str, str]
    start: Callable[[str, str], Awaitable[AsyncIterator[Any]]]
    cancel: Callable[[str], Awaitable[Any]]
    content: frozenset[str]
    leader_content: str
    terminal: frozenset[str]
    completed: str
    cancelled: str
    error: str
    close: Callable[[], None] = lambda: None
    prepare: Callable[[int], Awaitable[dict[str, Any]]] | None = None
    """Before a step of N runs (not measured): bring the side to its steady state for that load."""


def models(base_url: str, cls: Any, **extra: Any) -> tuple[Any, Any]:
    """The member's and the leader's model on the local server, 20 tokens/s each."""

    def make(words: int) -> Any:
        headers = model_headers(tokens_per_second=TOKENS_PER_SECOND, reply_words=words)
        return cls(id="gpt-bench", api_key="bench", base_url=base_url, default_headers=headers, **extra)

    return make(MEMBER_WORDS), make(LEADER_WORDS - LEADER_PREFIX_WORDS)


def event_names(run_event: Any, team_event: Any) -> dict[str, Any]:
    """The event names a consumer looks for, from a side's own enums (kern and Agno spell them alike)."""
    return {
        "content": frozenset({run_event.run_content.value, team_event.run_content.value}),
        "leader_content": team_event.run_content.value,
        "terminal": frozenset(
            e.value for e in (team_event.run_completed, team_event.run_cancelled, team_event.run_error)
        ),
        "completed": team_event.run_completed.value,
        "cancelled": team_event.run_cancelled.value,
        "error": team_event.run_error.value,
    }


def kern_side(base_url: str, replicas: str) -> Side:
    """kern on its own local Ray (2 CPUs); `ray.shutdown()` in `close`.

    `replicas`: "one" (one actor per component) or "auto" (kern's default bounds, `Replicas()`: the
    pools grow with the load). In "auto", each step is preceded by an unmeasured burst of the same N
    runs, held at least 12 s and until the pools stop growing, then cancelled, so the step meets the
    pools a sustained load of that size would have.
    """
    import ray

    from kern.agent import Agent
    from kern.models.openai import OpenAIResponses
    from kern.replicas import Replicas, status
    from kern.run.agent import RunEvent
    from kern.run.team import TeamRunEvent
    from kern.team import Team

    # address="local": always a cluster of our own, even when one is running on this machine.
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        namespace=f"kern-concurrency-{uuid.uuid4().hex[:8]}",
        log_to_driver=False,
    )
    bounds = Replicas() if replicas == "auto" else Replicas(min=1, max=1)
    member_model, leader_model = models(base_url, OpenAIResponses)
    writer = Agent(name="Bench Writer", description="Writes stories", model=member_model, replicas=bounds)
    team = Team(name="Bench Team", members=[writer], model=leader_model, replicas=bounds)

    async def start(prompt: str, run_id: str) -> AsyncIterator[Any]:
        return await team.arun(prompt, stream=True, run_id=run_id)

    async def pool_sizes() -> dict[str, int]:
        pools = await asyncio.to_thread(status)
        return {p.kind: sum(r.state == "ready" for r in p.replicas) for p in pools} | {
            "starting": sum(r.state == "starting" for p in pools for r in p.replicas)
        }

    async def scale_for(n: int) -> dict[str, Any]:
        started = time.perf_counter()
        ids = [str(uuid.uuid4()) for _ in range(n)]

        async def drain(run_id: str) -> None:
            async for _ in await team.arun("Warm up", stream=True, run_id=run_id):
                pass

        burst = [asyncio.create_task(drain(run_id)) for run_id in ids]
        sizes, stable_since = await pool_sizes(), time.monotonic()
        # Pools grow on CPU averaged over 10 s: hold the burst at least that long, then until stable 3 s.
        while (
            time.monotonic() - stable_since < 3.0 or time.perf_counter() - started < 12.0
        ) and time.perf_counter() - started < 60.0:
            await asyncio.sleep(0.5)
            now = await pool_sizes()
            if now != sizes or now["starting"]:
                sizes, stable_since = now, time.monotonic()
        await asyncio.gather(*(team.acancel_run(run_id) for run_id in ids))
        await asyncio.wait(burst, timeout=DRAIN_TIMEOUT)
        return {"replicas": sizes, "scale_up_s": time.perf_counter() - started}

    from importlib.metadata import version

    return Side(
        name="kern" if replicas == "one" else "kern-replicas",
        versions={"ray": ray.__version__, "kern": version("kern"), "python": sys.version.split()[0]},
        start=start,
        cancel=team.acancel_run,
        **event_names(RunEvent, TeamRunEvent),
        close=ray.shutdown,
        prepare=scale_for if replicas == "auto" else None,
    )


def agno_side(base_url: str) -> Side:
    """Agno in this one process."""
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    from importlib.metadata import version

    from agno.agent import Agent
    from agno.models.openai import OpenAIResponses
    from agno.run.agent import RunEvent
    from agno.run.team import TeamRunEvent
    from agno.team import Team

    member_model, leader_model = models(base_url, OpenAIResponses)
    # The simulated leader fills Agno's free-string `member_id` with "example": the member has that id.
    writer = Agent(
        id="example", name="Bench Writer", description="Writes stories", model=member_model, telemetry=False
    )
    team = Team(
        name="Bench Team", members=[writer], model=leader_model, stream_member_events=True, telemetry=False
    )

    async def start(prompt: str, run_id: str) -> AsyncIterator[Any]:
        return team.arun(prompt, stream=True, stream_events=True, run_id=run_id)

    return Side(
        name="agno",
        versions={"agno": version("agno"), "python": sys.version.split()[0]},
        start=start,
        cancel=team.acancel_run,
        **event_names(RunEvent, TeamRunEvent),
    )


@dataclass
class Run:
    """What the consumer of one team run saw (perf_counter seconds)."""

    index: int
    run_id: str
    cancel_delay: float | None
    t_call: float = 0.0
    t_end: float | None = None
    first_content: float | None = None
    last_content: float | None = None
    worst_gap: float | None = None
    worst_gap_at: str = ""
    """Where the worst gap was: "member", "member -> leader" (the hand-off) or "leader"."""
    last_content_name: str = ""
    contents: int = 0
    terminals: list[str] = field(default_factory=list)
    after_terminal: int = 0
    after_names: list[str] = field(default_factory=list)
    last_event: str = ""
    error: str | None = None
    cancel_t0: float | None = None
    cancel_call: float | None = None
    cancel_result: Any = None
    cancel_skipped: bool = False
    cancelled_at: float | None = None


def event_name(event: Any) -> str:
    kind = getattr(event, "event", None)
    return str(getattr(kind, "value", kind))


async def cancel_later(side: Side, run: Run) -> None:
    """Cancel `run` `cancel_delay` s after its first content, unless it has ended by then."""
    assert run.cancel_delay is not None
    await asyncio.sleep(run.cancel_delay)
    if run.terminals or run.t_end is not None:
        run.cancel_skipped = True
        return
    run.cancel_t0 = time.perf_counter()
    try:
        run.cancel_result = await asyncio.wait_for(side.cancel(run.run_id), CANCEL_CALL_TIMEOUT)
    except Exception as exc:
        run.cancel_result = f"error: {exc!r}"[:200]
    run.cancel_call = time.perf_counter() - run.cancel_t0


async def consume(side: Side, run: Run, cancellers: list[asyncio.Task[None]]) -> None:
    run.t_call = time.perf_counter()
    try:
        stream = await side.start(f"Tell me a story (run {run.index})", run.run_id)
        async for event in stream:
            now = time.perf_counter()
            name = event_name(event)
            run.last_event = name
            if run.terminals:
                run.after_terminal += 1
                if len(run.after_names) < 3:
                    run.after_names.append(name)
            if name in side.content and getattr(event, "content", None):
                if run.last_content is None:
                    run.first_content = now
                    if run.cancel_delay is not None:
                        cancellers.append(asyncio.create_task(cancel_later(side, run)))
                else:
                    gap = now - run.last_content
                    if run.worst_gap is None or gap > run.worst_gap:
                        run.worst_gap = gap
                        run.worst_gap_at = GAP_PLACES[
                            (run.last_content_name == side.leader_content, name == side.leader_content)
                        ]
                run.last_content = now
                run.last_content_name = name
                run.contents += 1
            elif name in side.terminal:
                run.terminals.append(name)
                if name == side.cancelled and run.cancelled_at is None:
                    run.cancelled_at = now
    except Exception as exc:
        run.error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        run.t_end = time.perf_counter()


def ms_stats(values: list[float]) -> dict[str, Any]:
    """p50 / p99 / max in ms of values in seconds, and how many."""
    data = [v * 1000.0 for v in values]
    pick = (lambda q: percentile(data, q)) if data else (lambda q: None)
    return {"p50": pick(0.5), "p99": pick(0.99), "max": max(data) if data else None, "n": len(data)}


async def step(side: Side, n: int, seed: int, fraction: float, limit: float, server_pid: int) -> dict:
    """N team runs at once; the measurements of this step."""
    rng = random.Random(f"{seed}:{n}")
    count = max(1, round(n * fraction)) if fraction > 0 else 0
    chosen = sorted(rng.sample(range(n), count))
    delays = {i: rng.uniform(0.0, CANCEL_WINDOW) for i in chosen}
    runs = [Run(i, str(uuid.uuid4()), delays.get(i)) for i in range(n)]
    cancellers: list[asyncio.Task[None]] = []
    meter, server = TreeMeter(os.getpid()), TreeMeter(server_pid) if server_pid else None
    machine0 = machine_busy()
    meter.start()
    if server:
        server.start()
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(consume(side, run, cancellers)) for run in runs]
    _, pending = await asyncio.wait(tasks, timeout=limit)
    wall = time.perf_counter() - t0
    cpu, by_process = meter.stop()
    server_cpu = server.stop()[0] if server else None
    machine1 = machine_busy()
    stuck = [run for run, task in zip(runs, tasks, strict=True) if task in pending]
    stuck_ids = {run.index for run in stuck}
    stuck_tails = [f"run {r.index}: {r.contents} contents, last {r.last_event or '-'}" for r in stuck[:5]]
    for task in [*pending, *cancellers]:
        task.cancel()
    if pending or cancellers:
        await asyncio.wait([*pending, *cancellers], timeout=DRAIN_TIMEOUT)

    def ended(r: Run) -> bool:
        return r.index not in stuck_ids

    done = [r for r in runs if ended(r)]
    cancel_latency = [
        r.cancelled_at - r.cancel_t0
        for r in done
        if r.cancelled_at is not None and r.cancel_t0 is not None and r.cancelled_at >= r.cancel_t0
    ]
    issued = [r for r in runs if r.cancel_t0 is not None]
    ncores = os.cpu_count() or 1
    contents = sum(r.contents for r in runs)
    completed = [r for r in done if r.terminals == [side.completed]]
    bad = [r for r in runs if len(r.terminals) != 1 or r.after_terminal or not ended(r)]
    return {
        "n": n,
        "wall_s": wall,
        "cancel_ms": ms_stats(cancel_latency),
        "cancel_call_ms": ms_stats([r.cancel_call for r in issued if r.cancel_call is not None]),
        "worst_gap_ms": ms_stats([r.worst_gap for r in runs if r.worst_gap is not None]),
        "worst_gap_at": dict(Counter(r.worst_gap_at for r in runs if r.worst_gap_at).most_common()),
        "first_content_ms": ms_stats([r.first_content - r.t_call for r in runs if r.first_content]),
        "completed_run_ms": ms_stats([r.t_end - r.t_call for r in completed if r.t_end]),
        "completed": len(completed),
        "cancelled": sum(1 for r in done if side.cancelled in r.terminals),
        "errored": sum(1 for r in done if r.error or side.error in r.terminals),
        "stuck": len(stuck),
        "stuck_tails": stuck_tails,
        "bad_terminal": len(bad),
        "bad_terminal_examples": [
            f"run {r.index}: terminals {r.terminals}, then {r.after_names}, error {r.error}" for r in bad[:3]
        ],
        "errors": sorted({r.error or side.error for r in done if r.error or side.error in r.terminals})[:5],
        "cancels_planned": len(chosen),
        "cancels_issued": len(issued),
        "cancels_skipped": sum(1 for r in runs if r.cancel_skipped),
        "cancel_results": dict(Counter(str(r.cancel_result) for r in issued)),
        "cancels_missed": sum(1 for r in issued if ended(r) and side.cancelled not in r.terminals),
        "contents": contents,
        "contents_per_completed_run": (
            sum(r.contents for r in completed) / len(completed) if completed else None
        ),
        "events_per_s": contents / wall if wall > 0 else None,
        "cpu_s": cpu,
        "cpu_busy": cpu / (wall * ncores),
        "cpu_by_process": by_process,
        "busiest_process": list(meter.busiest),
        "server_cpu_s": server_cpu,
        "machine_cpu_s": machine1[0] - machine0[0],
        "machine_busy": (machine1[0] - machine0[0]) / max(machine1[1] - machine0[1], 1e-9),
        "peak_rss_mb": meter.peak_rss / 2**20,
        "ncores": ncores,
    }


async def wait_quiet(pause: float, threshold: float, limit: float) -> tuple[float, float]:
    """Wait until the machine's CPU, over `pause` s, is below `threshold` busy (other users' load: a
    shared machine), at most `limit` s. Returns the seconds waited and the last busy fraction."""
    started = time.monotonic()
    while True:
        before = machine_busy()
        await asyncio.sleep(pause)
        after = machine_busy()
        busy = (after[0] - before[0]) / max(after[1] - before[1], 1e-9)
        waited = time.monotonic() - started
        if busy <= threshold or waited >= limit:
            return waited, busy


async def sweep(side: Side, args: argparse.Namespace) -> list[dict]:
    log(f"[{side.name}] warm-up: one run")
    warm = await step(side, 1, args.seed, 0.0, args.step_timeout or 120.0, 0)
    if warm["completed"] != 1:
        raise RuntimeError(f"{side.name}: the warm-up run did not complete: {warm}")
    out = []
    for n in args.runs:
        waited, busy = await wait_quiet(args.pause, args.quiet, args.quiet_wait)
        if busy > args.quiet:
            log(f"[{side.name}] machine still {busy:.0%} busy after {waited:.0f} s: measuring anyway")
        timeout = args.step_timeout or 60.0 + 0.4 * n
        prepared: dict[str, Any] = {}
        if side.prepare is not None:
            prepared = await side.prepare(n)
            log(f"[{side.name}] prepared for {n} runs: {prepared}")
            await wait_quiet(args.pause, args.quiet, args.quiet_wait)
        log(f"[{side.name}] {n} runs at once (timeout {timeout:.0f} s)")
        result = await step(side, n, args.seed, args.cancel_fraction, timeout, args.server_pid)
        result.update(prepared)
        log(
            f"[{side.name}] {n} runs: {result['wall_s']:.1f} s, cancel p99 {result['cancel_ms']['p99']} ms, "
            f"CPU {result['cpu_busy'] * 100:.0f} %, stuck {result['stuck']}"
        )
        out.append({**result, "quiet_wait_s": waited, "machine_busy_before": busy})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--side", choices=("kern", "kern-replicas", "agno"), required=True)
    parser.add_argument("--base-url", required=True, help="the model server's OpenAI base_url (.../v1)")
    parser.add_argument("--runs", type=lambda s: [int(x) for x in s.split(",")], default=[10, 100])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cancel-fraction", type=float, default=0.1)
    parser.add_argument("--step-timeout", type=float, default=0.0, help="seconds (default 60 + 0.4 N)")
    parser.add_argument("--pause", type=float, default=2.0, help="seconds of quiet before each step")
    parser.add_argument("--quiet", type=float, default=0.25, help="machine busy fraction to wait below")
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="at most this many s of waiting")
    parser.add_argument("--server-pid", type=int, default=0, help="the model server's pid (its CPU)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    # Frameworks may print to stdout; only our JSON goes there.
    real_stdout, sys.stdout = sys.stdout, io.StringIO()
    if args.side == "agno":
        side = agno_side(args.base_url)
    else:
        side = kern_side(args.base_url, "auto" if args.side == "kern-replicas" else "one")
    try:
        steps = asyncio.run(sweep(side, args))
    finally:
        side.close()
        sys.stdout = real_stdout
    print(json.dumps({"side": side.name, "versions": side.versions, "steps": steps}), flush=True)
    os._exit(0)  # a stuck run's leftovers (threads, sockets) must not hold the exit


if __name__ == "__main__":
    main()
