"""Replicas per agent: Ray Serve deployment against a plain pool of kern agent actors, side by side.

    RAY_AUTH_MODE=token .venv/bin/python benchmarks/replica_choice.py            # 3 sides, ~3 min
    .venv/bin/python benchmarks/replica_choice.py --replicas 2 --runs 100 --cancels 20 --sides pool,serve

It measures the kern that `.venv/bin/python` imports (the working tree). To measure a commit while the tree
changes: `git archive HEAD | tar -x -C /tmp/kern-head`, then run /tmp/kern-head/benchmarks/replica_choice.py
with `PYTHONPATH=/tmp/kern-head` (the header names where the driver and a Ray worker imported kern from).

Starts the local model server (its own process), then measures each side in its own subprocess on its own
local Ray (`ray.init(address="local", num_cpus=2)`, `serve.shutdown()` / `ray.shutdown()` at the end):

- **pool** (what kern does): the agent with `Replicas(min=K, max=K)`, its K actors kept by kern's
  supervisor, runs placed by kern's router (least loaded), frames over kern's links, cancel with
  `cancel_local` on the run's replica.
- **serve**: a `@serve.deployment` with K replicas (autoscaling_config min = max = K, proxy disabled),
  whose streaming method hosts one run with kern's `RunHost` and yields that run's frame batches (one
  request = one run, the Serve way), called through a `DeploymentHandle` with `stream=True`; cancel with
  the response's `cancel()`, the only public Serve cancel. `serve-tuned`: the same with Serve's
  `RAY_SERVE_THROUGHPUT_OPTIMIZED=1` (direct ingress off).

Both run the same engine (`kern.engine.host.RunHost`, `Outbox` at kern's 20 ms link interval) on the same
agent spec. Measured per side: cold start to the first content, one fast run at a time (events/s, CPU per
event of every process), N concurrent runs at 20 tokens/s with some cancelled (first content, cancel
latency, worst gap, CPU by process), and idle CPU. Prints Markdown tables and writes them to
`benchmarks/results/replica_choice.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import (  # noqa: E402
    REPO,
    ModelServerProcess,
    ServerAdmin,
    fmt_number,
    log,
    machine_facts,
    model_headers,
    percentile,
    table,
    wait_or_kill_group,
)
from proc_tree import TreeMeter, machine_busy  # noqa: E402

LINK_INTERVAL_SECONDS = 0.02
"""The Serve replica's per-run outbox interval: kern's link interval (actors.component)."""
SIDES = ("pool", "serve", "serve-tuned")
SIDE_NAMES = {"pool": "actor pool", "serve": "Ray Serve", "serve-tuned": "Ray Serve tuned"}
SIDE_ENV = {"serve-tuned": {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"}}
"""Extra environment of a side. `serve-tuned`: Serve's own throughput setting (user code and router on the
replica's and the caller's main event loops, gc frozen at start), without its direct HTTP/gRPC ingress
(handles only, as on the other sides)."""
APP_NAME = "kern-replicas"
NAMESPACE = "kern"


# -- the side: one framework on its own Ray, in this process ------------------------------------------


def spec_for(base_url: str, **speed: Any) -> Any:
    from kern.models.openai import OpenAIResponses
    from kern.specs import AgentSpec

    model = OpenAIResponses(
        id="gpt-bench", api_key="bench", base_url=base_url, default_headers=model_headers(**speed)
    )
    return AgentSpec(id="bench-agent", name="Bench Agent", model=model)


def serve_app(replicas: int) -> Any:
    """The Serve deployment: one streaming request hosts one run and yields its frame batches."""
    from ray import serve

    @serve.deployment(
        name="KernAgent",
        max_ongoing_requests=1000,
        autoscaling_config={
            "min_replicas": replicas,
            "max_replicas": replicas,
            "initial_replicas": replicas,
            "target_ongoing_requests": 1000,
        },
        ray_actor_options={"num_cpus": 0},
        graceful_shutdown_timeout_s=2,
    )
    class KernAgent:
        def __init__(self) -> None:
            import kern.models.openai.sse  # noqa: F401  (as the kern actor: not on the first run's clock)
            from kern.engine.host import RunHost

            self._host = RunHost()
            gc.freeze()  # as the kern actor does

        async def run(self, spec: Any, request: Any) -> Any:
            from kern.engine.outbox import Outbox

            outbox = Outbox(LINK_INTERVAL_SECONDS)
            task = self._host.start(spec, request, outbox)
            task.add_done_callback(lambda _: outbox.close())
            try:
                async for batch in outbox.batches():
                    frames = batch.get(request.run_id)
                    if frames:
                        yield frames
            finally:
                # Serve's cancel lands here (CancelledError at the await): end the run. Its terminal
                # frame goes into an outbox nobody reads any more.
                self._host.cancel(request.run_id)

    return KernAgent.bind()


class Driver:
    """Starts runs on K replicas of one side and cancels them."""

    name: str
    objects = 0
    """Ray objects received from the replicas (pool: link batches; Serve: stream items)."""

    def start(self, index: int, spec: Any, request: Any) -> Any:
        """An async iterator of frame lists of this run."""
        raise NotImplementedError

    async def cancel(self, run: Run) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class PoolDriver(Driver):
    """kern's own replicas: `Replicas(min=K, max=K)`, runs placed by kern's router on the least loaded,
    frames over kern's links, cancel with `cancel_local` on the replica that runs the run."""

    name = "pool"

    def __init__(self, replicas: int, stamps: dict[str, float]) -> None:
        from actors.runtime import supervisor
        from kern.replicas import Replicas

        stamps["create"] = time.perf_counter()
        self.supervisor = supervisor()
        self.bounds = Replicas(min=replicas, max=replicas)
        self.placed: dict[str, Any] = {}
        self._counted: set[int] = set()
        stamps["created"] = time.perf_counter()

    def ready(self) -> None:
        """Wait until the supervisor lists all K replicas as ready."""
        import ray

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pools = ray.get(self.supervisor.pools.remote(), timeout=10)
            states = [r.state for pool in pools for r in pool.replicas]
            if states.count("ready") >= self.bounds.min:
                return
            time.sleep(0.2)
        raise TimeoutError(f"the pool did not reach {self.bounds.min} ready replicas: {pools}")

    async def _frames(self, spec: Any, request: Any) -> Any:
        from actors import routing
        from actors.link import IDLE_TIMEOUT_SECONDS
        from kern.engine.inbox import AsyncInbox

        spec = spec.model_copy(update={"replicas": self.bounds})
        placed = await routing.place(routing.router(spec), spec, request, lambda: AsyncInbox(request.run_id))
        self.placed[request.run_id] = placed
        link = placed.link
        if id(link) not in self._counted:  # count the link's Ray objects (one per batch of all its runs)
            self._counted.add(id(link))
            dispatch = link.demux.dispatch

            def counting(batch: Any) -> None:
                self.objects += 1
                dispatch(batch)

            link.demux.dispatch = counting  # type: ignore[method-assign]
        try:
            async for frames in placed.inbox.batches(IDLE_TIMEOUT_SECONDS):
                yield frames
        finally:
            placed.close()

    def start(self, index: int, spec: Any, request: Any) -> Any:
        return self._frames(spec, request)

    async def cancel(self, run: Run) -> Any:
        return await self.placed[run.run_id].handle.cancel_local.remote(run.run_id)

    def close(self) -> None:
        import ray

        ray.shutdown()


class ServeDriver(Driver):
    name = "serve"

    def __init__(self, replicas: int, stamps: dict[str, float]) -> None:
        from ray import serve

        stamps["create"] = time.perf_counter()
        serve.start(proxy_location="Disabled")
        stamps["serve_started"] = time.perf_counter()
        self.handle = serve.run(serve_app(replicas), name=APP_NAME, route_prefix=None)
        stamps["created"] = time.perf_counter()
        self.stream = self.handle.options(stream=True)

    def ready(self) -> None:
        """serve.run returns once the replicas are up."""

    def start(self, index: int, spec: Any, request: Any) -> Any:
        return self.stream.run.remote(spec, request)

    async def cancel(self, run: Run) -> Any:
        run.stream.cancel()
        return True

    def close(self) -> None:
        import ray
        from ray import serve

        try:
            serve.shutdown()
        finally:
            ray.shutdown()


@dataclass
class Run:
    """What the consumer of one run saw (perf_counter seconds unless named wall)."""

    index: int
    run_id: str
    cancel_delay: float | None = None
    stream: Any = None
    t_call: float = 0.0
    t_end: float | None = None
    first_content: float | None = None
    last_content: float | None = None
    worst_gap: float | None = None
    contents: int = 0
    batches: int = 0
    terminals: list[str] = field(default_factory=list)
    terminal_at: float | None = None
    after_terminal: int = 0
    error: str | None = None
    serve_cancelled: bool = False
    """The stream ended with Serve's RequestCancelledError (no terminal frame)."""
    cancel_t0: float | None = None
    cancel_wall: float | None = None
    cancel_result: Any = None
    cancel_skipped: bool = False
    first_or_end: asyncio.Event = field(default_factory=asyncio.Event)
    """Set at the first content or the end of the stream (the canceller waits for it)."""


async def consume(driver: Driver, run: Run, spec: Any) -> None:
    from kern.engine.frames import FrameDecoder, is_terminal_frame
    from kern.specs import RunRequest

    decoder = FrameDecoder()
    request = RunRequest(input=f"Tell me a story ({run.run_id})", run_id=run.run_id)
    run.t_call = time.perf_counter()
    try:
        run.stream = driver.start(run.index, spec, request)
        async for frames in run.stream:
            now = time.perf_counter()
            run.batches += 1
            if driver.name == "serve":
                driver.objects += 1  # a Serve stream item is one Ray object
            for frame in frames:
                decoder.decode(frame)  # as a real caller does
                if run.terminals:
                    run.after_terminal += 1
                if frame[1] == "RunContent" and frame[3]:
                    if run.first_content is None:
                        run.first_content = now
                        run.first_or_end.set()
                    elif run.last_content is not None:
                        gap = now - run.last_content
                        if run.worst_gap is None or gap > run.worst_gap:
                            run.worst_gap = gap
                    run.last_content = now
                    run.contents += 1
                elif is_terminal_frame(frame):
                    run.terminals.append(frame[1])
                    run.terminal_at = now
    except Exception as exc:
        from ray.serve.exceptions import RequestCancelledError

        if isinstance(exc, RequestCancelledError):
            run.serve_cancelled = True
        else:
            run.error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        run.t_end = time.perf_counter()
        run.first_or_end.set()


async def cancel_later(driver: Driver, run: Run) -> None:
    assert run.cancel_delay is not None
    await run.first_or_end.wait()
    if run.first_content is not None:
        await asyncio.sleep(max(0.0, run.first_content + run.cancel_delay - time.perf_counter()))
    if run.t_end is not None or run.terminals:
        run.cancel_skipped = True
        return
    run.cancel_wall = time.time()
    run.cancel_t0 = time.perf_counter()
    try:
        run.cancel_result = await asyncio.wait_for(driver.cancel(run), 30)
    except Exception as exc:
        run.cancel_result = f"error: {exc!r}"[:200]


def ms_stats(values: list[float]) -> dict[str, Any]:
    data = [v * 1000.0 for v in values]
    return {
        "p50": percentile(data, 0.5) if data else None,
        "p99": percentile(data, 0.99) if data else None,
        "n": len(data),
    }


def cpu_group(label: str) -> str:
    base = label.split(" (nice")[0]
    if "ServeReplica" in base or "AgentActor" in base:
        return "replicas"
    if base == "driver":
        return "driver (caller)"
    for key, name in (
        ("ServeController", "Serve controller"),
        ("Proxy", "Serve proxy"),
        ("Supervisor", "kern supervisor"),
        ("raylet", "raylet"),
        ("gcs_server", "GCS"),
    ):
        if key in base:
            return name
    return "other Ray processes"


def grouped(by_process: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, seconds in by_process.items():
        key = cpu_group(label)
        out[key] = out.get(key, 0.0) + seconds
    return out


class Meter:
    """CPU of this process's tree (driver + Ray) and of the model server, and the rest of the machine."""

    def __init__(self, server_pid: int) -> None:
        self.side = TreeMeter(os.getpid(), interval=5.0)
        self.server = TreeMeter(server_pid, interval=5.0)

    def start(self) -> None:
        self.machine0 = machine_busy()
        self.side.start()
        self.server.start()
        self.t0 = time.perf_counter()

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.t0
        cpu, by_process = self.side.stop()
        server_cpu = self.server.stop()[0]
        machine1 = machine_busy()
        machine_cpu = machine1[0] - self.machine0[0]
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "cpu_groups": grouped(by_process),
            "cpu_by_process": by_process,
            "server_cpu_s": server_cpu,
            "others_cpu_s": max(0.0, machine_cpu - cpu - server_cpu),
        }


async def wait_quiet(threshold: float = 0.3, limit: float = 45.0) -> float:
    """Wait (at most `limit` s) until the machine is less than `threshold` busy over 1 s; returns it."""
    started = time.monotonic()
    while True:
        before = machine_busy()
        await asyncio.sleep(1.0)
        after = machine_busy()
        busy = (after[0] - before[0]) / max(after[1] - before[1], 1e-9)
        if busy <= threshold or time.monotonic() - started >= limit:
            if busy > threshold:
                log(f"machine still {busy:.0%} busy after {limit:.0f} s: measuring anyway")
            return busy


async def fast_phase(driver: Driver, base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """One fast run at a time (model server at full speed): events/s and CPU per event."""
    spec = spec_for(base_url, tokens_per_second=0, reply_words=args.fast_words, chunk_words=1)
    await consume(driver, Run(0, str(uuid.uuid4())), spec)  # warm: this spec's SDK client
    short = spec_for(base_url, tokens_per_second=0, reply_words=20)
    firsts = []
    for rep in range(args.first_reps):
        run = Run(rep, str(uuid.uuid4()))
        await consume(driver, run, short)
        if run.first_content is not None:
            firsts.append(run.first_content - run.t_call)
    busy = await wait_quiet()
    meter = Meter(args.server_pid)
    objects0 = driver.objects
    meter.start()
    rates, events, batches, errors = [], 0, 0, []
    for rep in range(args.fast_reps):
        run = Run(rep, str(uuid.uuid4()))
        await consume(driver, run, spec)
        if run.error or run.terminals != ["RunCompleted"]:
            errors.append(run.error or str(run.terminals))
        if run.terminal_at is not None and run.contents:
            rates.append(run.contents / (run.terminal_at - run.t_call))
        events += run.contents
        batches += run.batches
    cpu = meter.stop()
    return {
        "first_content_ms": ms_stats(firsts),
        "events_per_s": [r for r in rates if r],
        "events": events,
        "events_per_object": events / max(driver.objects - objects0, 1),
        "errors": errors,
        "busy_before": busy,
        **cpu,
    }


async def load_phase(driver: Driver, admin: ServerAdmin, base_url: str, args: argparse.Namespace) -> dict:
    """N runs at once at 20 tokens/s, some cancelled at a random instant after their first content."""
    words = args.words
    spec = spec_for(base_url, tokens_per_second=args.tps, reply_words=words)
    await asyncio.gather(*(consume(driver, Run(i, str(uuid.uuid4())), spec) for i in range(4)))  # warm
    rng = random.Random(args.seed)
    chosen = set(rng.sample(range(args.runs), min(args.cancels, args.runs)))
    window = 0.8 * words / args.tps
    runs = [
        Run(i, str(uuid.uuid4()), rng.uniform(0.0, window) if i in chosen else None) for i in range(args.runs)
    ]
    busy = await wait_quiet()
    admin.clear_requests()
    meter = Meter(args.server_pid)
    objects0 = driver.objects
    meter.start()
    cancellers = [asyncio.create_task(cancel_later(driver, r)) for r in runs if r.cancel_delay is not None]
    tasks = [asyncio.create_task(consume(driver, r, spec)) for r in runs]
    _, pending = await asyncio.wait(tasks, timeout=args.step_timeout)
    cpu = meter.stop()
    objects = driver.objects - objects0
    for task in [*pending, *cancellers]:
        task.cancel()
    await asyncio.wait([*pending, *cancellers], timeout=10)
    await asyncio.sleep(1.0)
    records = admin.requests()
    by_run: dict[str, dict[str, Any]] = {}
    for record in records:
        text = json.dumps(record.get("body"))
        for run in runs:
            if run.run_id in text:
                by_run[run.run_id] = record
                break
    issued = [r for r in runs if r.cancel_t0 is not None]
    stuck = [r for r in runs if r.t_end is None]

    def cancel_end(r: Run) -> float | None:
        if "RunCancelled" in r.terminals:
            return r.terminal_at
        return r.t_end if r.serve_cancelled else None

    disconnect = []
    for r in issued:
        rec = by_run.get(r.run_id)
        if rec and rec.get("status") == "disconnected" and rec.get("finished_at") and r.cancel_wall:
            disconnect.append(rec["finished_at"] - r.cancel_wall)
    return {
        "n": args.runs,
        "busy_before": busy,
        "first_content_ms": ms_stats([r.first_content - r.t_call for r in runs if r.first_content]),
        "cancel_to_terminal_ms": ms_stats(
            [r.terminal_at - r.cancel_t0 for r in issued if "RunCancelled" in r.terminals and r.terminal_at]
        ),
        "cancel_to_end_ms": ms_stats(
            [e - r.cancel_t0 for r in issued if (e := cancel_end(r)) is not None and r.cancel_t0 is not None]
        ),
        "cancel_to_disconnect_ms": ms_stats(disconnect),
        "worst_gap_ms": ms_stats([r.worst_gap for r in runs if r.worst_gap is not None]),
        "completed": sum(1 for r in runs if r.terminals == ["RunCompleted"]),
        "cancelled_terminal": sum(1 for r in runs if "RunCancelled" in r.terminals),
        "cancelled_stream_end": sum(1 for r in runs if r.serve_cancelled),
        "errored": sum(1 for r in runs if r.error or "RunError" in r.terminals),
        "errors": sorted({r.error for r in runs if r.error})[:3],
        "stuck": len(stuck),
        "after_terminal": sum(r.after_terminal for r in runs),
        "cancels_issued": len(issued),
        "cancels_skipped": sum(1 for r in runs if r.cancel_skipped),
        "model_in_progress_after": sum(1 for rec in records if rec.get("status") == "in_progress"),
        "disconnected": sum(1 for rec in records if rec.get("status") == "disconnected"),
        "contents": sum(r.contents for r in runs),
        "events_per_object": sum(r.contents for r in runs) / max(objects, 1),
        "objects_per_s": objects / cpu["wall_s"],
        **cpu,
    }


def _code_root() -> str:
    """Where kern's packages are imported from (a Ray worker: the same code as the driver?)."""
    import actors.link

    return str(Path(actors.link.__file__).parent.parent)


async def side_main(args: argparse.Namespace) -> dict[str, Any]:
    t_begin = time.perf_counter()
    import ray

    import actors.runtime  # sets RAY_worker_niceness=0 for the cluster it starts, as kern does

    t_imported = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
    t_ray = time.perf_counter()
    admin = ServerAdmin(args.server)
    base_url = admin.base_url
    stamps: dict[str, float] = {}
    driver: Driver = (
        PoolDriver(args.replicas, stamps) if args.side == "pool" else ServeDriver(args.replicas, stamps)
    )
    result: dict[str, Any] = {"side": args.side, "versions": {"ray": ray.__version__}}
    result["env"] = {k: os.environ[k] for k in SIDE_ENV.get(args.side, {}) if k in os.environ}
    result["code"] = {"driver": str(Path(actors.runtime.__file__).parent.parent)}
    try:
        short = spec_for(base_url, tokens_per_second=0, reply_words=20)
        first = Run(0, str(uuid.uuid4()))
        await consume(driver, first, short)
        if first.first_content is None:
            raise RuntimeError(f"the first run gave no content: {first}")
        await asyncio.to_thread(driver.ready)
        t_all_ready = time.perf_counter()
        result["code"]["workers"] = await ray.remote(num_cpus=0)(_code_root).remote()
        result["cold"] = {
            "imports_s": t_imported - t_begin,
            "ray_init_s": t_ray - t_imported,
            "create_call_s": stamps["created"] - stamps["create"],
            "serve_start_s": stamps["serve_started"] - stamps["create"]
            if "serve_started" in stamps
            else None,
            "first_content_s": first.first_content - stamps["create"],
            "all_ready_s": max(t_all_ready, stamps["created"]) - stamps["create"],
        }
        log(f"[{args.side}] cold start: first content {result['cold']['first_content_s']:.2f} s after create")
        # warm every replica (Serve routes by queue length: send a few at once)
        await asyncio.gather(
            *(consume(driver, Run(i, str(uuid.uuid4())), short) for i in range(2 * args.replicas))
        )
        if args.idle:
            await asyncio.sleep(1.0)
            meter = Meter(args.server_pid)
            meter.start()
            await asyncio.sleep(args.idle)
            result["idle"] = meter.stop()
            log(f"[{args.side}] idle: {result['idle']['cpu_s'] / args.idle * 100:.1f} % of a core")
        result["fast"] = await fast_phase(driver, base_url, args)
        log(f"[{args.side}] fast: {result['fast']['events_per_s']} events/s")
        result["load"] = await load_phase(driver, admin, base_url, args)
        load = result["load"]
        log(
            f"[{args.side}] {args.runs} runs: {load['wall_s']:.1f} s, first content p99 "
            f"{load['first_content_ms']['p99']} ms, cancel->end p99 {load['cancel_to_end_ms']['p99']} ms"
        )
    finally:
        t0 = time.perf_counter()
        driver.close()
        result["shutdown_s"] = time.perf_counter() - t0
    return result


def side_entry(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)
    real_stdout, sys.stdout = sys.stdout, io.StringIO()
    try:
        result = asyncio.run(side_main(args))
    finally:
        sys.stdout = real_stdout
    print(json.dumps(result), flush=True)
    os._exit(0)


# -- the orchestrator: model server, one subprocess per side, tables ----------------------------------


def run_side(side: str, admin: ServerAdmin, server_pid: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--side",
        side,
        "--server",
        admin.base,
        "--server-pid",
        str(server_pid),
        "--replicas",
        str(args.replicas),
        "--runs",
        str(args.runs),
        "--cancels",
        str(args.cancels),
        "--tps",
        str(args.tps),
        "--words",
        str(args.words),
        "--fast-words",
        str(args.fast_words),
        "--fast-reps",
        str(args.fast_reps),
        "--first-reps",
        str(args.first_reps),
        "--idle",
        str(args.idle),
        "--seed",
        str(args.seed),
        "--step-timeout",
        str(args.step_timeout),
    ]
    env = dict(os.environ)
    env.pop("KERN_DB_URL", None)
    env.setdefault("RAY_AUTH_MODE", "token")
    env.setdefault("OPENAI_API_KEY", "kern-bench")
    env.update(SIDE_ENV.get(side, {}))
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
        start_new_session=True,
    )
    tail: deque[str] = deque(maxlen=40)
    out: list[str] = []

    def progress() -> None:
        for line in process.stderr or []:
            if line.startswith(tuple(f"[{s}]" for s in SIDES)):
                log(line.rstrip())
            tail.append(line)

    readers = [
        threading.Thread(target=progress, daemon=True),
        threading.Thread(target=lambda: out.extend(process.stdout or []), daemon=True),
    ]
    for reader in readers:
        reader.start()
    wait_or_kill_group(process, args.side_timeout, side)
    for reader in readers:
        reader.join(timeout=5)
    leftovers = end_group(process.pid)
    if leftovers:
        log(f"[{side}] ended {leftovers} leftover process(es) of the side's group (Ray agents)")
    lines = [line for line in out if line.strip()]
    if process.returncode != 0 or not lines:
        raise RuntimeError(f"{side}: exited with {process.returncode}:\n" + "".join(tail))
    return json.loads(lines[-1])


def group_members(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z" and int(fields[2]) == pgid:  # state, pgrp (proc(5))
                pids.append(int(entry))
    return pids


def end_group(pgid: int, grace: float = 5.0) -> int:
    """Processes of the side's own group still alive after it exited (Ray's agents sometimes outlive
    `ray.shutdown()`): given `grace` s, then SIGTERM, then SIGKILL. Returns how many there were."""
    deadline = time.monotonic() + grace
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    count = len(group_members(pgid))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not group_members(pgid):
            break
        try:
            os.killpg(pgid, sig)  # the group this script created for the side
        except ProcessLookupError:
            break
        time.sleep(2.0)
    return count


def machine_line(ray_version: str) -> str:
    m = machine_facts()
    return (
        f"{m['date']}, {m['cpus']} CPUs ({m['cpu_model']}, {m['mem_gib']:.1f} GiB), Python {m['python']}, "
        f"Ray {ray_version}, load average {m['load_before']:.1f}"
    )


def _num(value: float | None, unit: str = "ms") -> str:
    return "-" if value is None else fmt_number(value, unit)


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def _dig(data: dict[str, Any] | None, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


Cell = tuple[str, float | None, float | None]
"""What a table cell shows, and the one or two numbers compared against the pool (p50, p99)."""


def stats_cell(stats: dict[str, Any] | None) -> Cell:
    if not stats or stats.get("p50") is None:
        return "n/a", None, None
    return f"{_num(stats['p50'])} / {_num(stats['p99'])} (n={stats['n']})", stats["p50"], stats["p99"]


def num_cell(value: float | None, unit: str) -> Cell:
    return _num(value, unit), value, None


def rows_for(results: dict[str, dict[str, Any]], specs: list[tuple[str, Any]], ratios: bool = True) -> list:
    """One row per (name, cell function of a side's result), a column per side, then X / pool ratios."""
    sides = list(results)
    others = [s for s in sides if s != "pool"] if "pool" in sides and ratios else []
    rows = []
    for name, cell in specs:
        cells = {side: cell(results[side]) for side in sides}
        row = [name, *(cells[side][0] for side in sides)]
        for side in others:
            (_, a50, a99), (_, b50, b99) = cells["pool"], cells[side]
            text = _ratio(b50, a50)
            if a99 is not None or b99 is not None:
                text += f" / {_ratio(b99, a99)}"
            row.append(text if a50 is not None and b50 is not None else "")
        rows.append(row)
    return rows


def heads_for(results: dict[str, dict[str, Any]], ratios: bool = True) -> list[str]:
    sides = list(results)
    others = [s for s in sides if s != "pool"] if "pool" in sides and ratios else []
    return ["Measurement", *(SIDE_NAMES[s] for s in sides), *(f"{SIDE_NAMES[s]} / pool" for s in others)]


def group_specs(results: dict[str, dict[str, Any]], phase: str, scale: Any, unit: str) -> list:
    """A row per process group of `phase` (largest first), CPU seconds scaled by `scale(result, s)`."""
    totals: dict[str, float] = {}
    for result in results.values():
        for group, seconds in (_dig(result, f"{phase}.cpu_groups") or {}).items():
            totals[group] = totals.get(group, 0.0) + seconds

    def cell(group: str) -> Any:
        def get(result: dict[str, Any]) -> Cell:
            seconds = (_dig(result, f"{phase}.cpu_groups") or {}).get(group)
            return num_cell(None if seconds is None else scale(result, seconds), unit)

        return get

    return [(f"... {group}", cell(group)) for group in sorted(totals, key=lambda g: -totals[g])]


def render(results: dict[str, dict[str, Any]], args: argparse.Namespace, header: str) -> str:
    heads = heads_for(results)
    out = [f"### Replicas per agent: Ray Serve vs actor pool (K={args.replicas})", "", header, ""]

    def cold(key: str) -> Any:
        return lambda r: num_cell(
            None if _dig(r, f"cold.{key}") is None else _dig(r, f"cold.{key}") * 1e3, "ms"
        )

    specs = [
        ("`ray.init()`, same for both, not in the rows below (ms)", cold("ray_init_s")),
        ("`serve.start()`: the Serve controller is up (ms)", cold("serve_start_s")),
        (
            "create call returns: pool `.remote()` x K / Serve `serve.run`, K replicas up (ms)",
            cold("create_call_s"),
        ),
        ("create -> first content of the first run (ms)", cold("first_content_s")),
        ("create -> all K replicas answer (ms)", cold("all_ready_s")),
    ]
    out += [
        "**Cold start**: from a fresh local Ray with nothing on it to the first content of the first run",
        "",
    ]
    out += [table(heads, rows_for(results, specs)), ""]

    def fast_rate(r: dict[str, Any]) -> Cell:
        values = _dig(r, "fast.events_per_s") or []
        if not values:
            return "n/a", None, None
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        return f"{_num(p50, 'n')} / {_num(p99, 'n')}", p50, p99

    def per_event(r: dict[str, Any], seconds: float) -> float | None:
        events = _dig(r, "fast.events")
        return seconds * 1e6 / events if events else None

    def fast_cpu(key: str) -> Any:
        return lambda r: num_cell(
            None if _dig(r, f"fast.{key}") is None else per_event(r, _dig(r, f"fast.{key}")), "us/event"
        )

    specs = [
        (
            "warm: call -> first content, one run at a time, 20-token reply (ms), p50 / p99",
            lambda r: stats_cell(_dig(r, "fast.first_content_ms")),
        ),
        ("content events/s at the caller, call -> terminal frame, median / p99 over the runs", fast_rate),
        (
            "content events per Ray object to the caller",
            lambda r: num_cell(_dig(r, "fast.events_per_object"), "n"),
        ),
        ("CPU per content event, all processes of the side (us)", fast_cpu("cpu_s")),
        *group_specs(results, "fast", per_event, "us/event"),
        ("model server (us per event, not in the total)", fast_cpu("server_cpu_s")),
        (
            "rest of the machine during the phase (CPU s; other users)",
            lambda r: num_cell(_dig(r, "fast.others_cpu_s"), "s"),
        ),
    ]
    out += [
        f"**Per-token overhead**: one run at a time, {args.fast_reps} runs of {args.fast_words} one-word "
        "deltas with the model server at full speed (CPU from /proc: us per content event)",
        "",
        table(heads, rows_for(results, specs)),
        "",
    ]

    def outcome(r: dict[str, Any]) -> Cell:
        load = r.get("load")
        if not load:
            return "-", None, None
        text = (
            f"{load['completed']} completed, {load['cancelled_terminal']} `RunCancelled`, "
            f"{load['cancelled_stream_end']} `RequestCancelledError`, {load['errored']} errors, "
            f"{load['stuck']} stuck; model requests left open: {load['model_in_progress_after']}"
        )
        return text, None, None

    def load_stats(key: str) -> Any:
        return lambda r: stats_cell(_dig(r, f"load.{key}"))

    def load_num(key: str, unit: str) -> Any:
        return lambda r: num_cell(_dig(r, f"load.{key}"), unit)

    specs = [
        ("call -> first content (ms)", load_stats("first_content_ms")),
        (
            "cancel call -> the run's `RunCancelled` frame at the caller (ms)",
            load_stats("cancel_to_terminal_ms"),
        ),
        (
            "cancel call -> the caller's stream ends (Serve: at once, locally, `RequestCancelledError`) (ms)",
            load_stats("cancel_to_end_ms"),
        ),
        (
            "cancel call -> the run really stops: model server sees its HTTP stream closed (ms)",
            load_stats("cancel_to_disconnect_ms"),
        ),
        ("worst gap between two content events of a run (ms)", load_stats("worst_gap_ms")),
        ("outcomes", outcome),
        ("wall time of the step (s)", load_num("wall_s", "s")),
        ("Ray objects to the caller per second", load_num("objects_per_s", "n")),
        ("content events per Ray object to the caller", load_num("events_per_object", "n")),
        ("CPU s, all processes of the side", load_num("cpu_s", "s")),
        *group_specs(results, "load", lambda r, s: s, "s"),
        ("model server (CPU s, not in the total)", load_num("server_cpu_s", "s")),
        ("rest of the machine (CPU s; other users)", load_num("others_cpu_s", "s")),
    ]
    out += [
        f"**Under load**: {args.runs} runs at once at {args.tps:g} tokens/s ({args.words} tokens each), "
        f"{args.cancels} of them cancelled at a random instant 0-{0.8 * args.words / args.tps:.0f} s after "
        "their first content; p50 / p99 (n)",
        "",
        table(heads, rows_for(results, specs)),
        "",
    ]

    if any("idle" in r for r in results.values()):

        def pct(r: dict[str, Any], seconds: float) -> float | None:
            wall = _dig(r, "idle.wall_s")
            return seconds / wall * 100 if wall else None

        specs = [
            (
                "all processes of the side (% of a core)",
                lambda r: num_cell(
                    None if _dig(r, "idle.cpu_s") is None else pct(r, _dig(r, "idle.cpu_s")), "%"
                ),
            ),
            *group_specs(results, "idle", pct, "%"),
        ]
        out += [f"**Idle**: {args.idle:g} s, replicas up, no run (% of a core)", ""]
        out += [table(heads, rows_for(results, specs)), ""]
    shutdown = ", ".join(f"{SIDE_NAMES[s]} {r.get('shutdown_s', 0):.1f} s" for s, r in results.items())
    out += [
        "Notes: Serve's cancel is `DeploymentResponseGenerator.cancel()`, only from the process holding the "
        "response: the caller's stream ends with `RequestCancelledError`, and the run's own `RunCancelled` "
        "(made in the replica once Serve cancels the request) is never delivered. Serve has no public way "
        "to cancel a request from another process by run id (kern's `cancel_run` goes through the "
        "supervisor to the actor owning the run). The pool side registers each run with kern's supervisor "
        "(as kern does); the Serve side does not. Ray Serve tuned is Serve with "
        "`RAY_SERVE_THROUGHPUT_OPTIMIZED=1` (user code and router on the main event loops, gc frozen) and "
        "`RAY_SERVE_ENABLE_DIRECT_INGRESS=0` (handles only). Serve ran with `proxy_location=Disabled`. "
        f"Shutdown (`serve.shutdown()` + `ray.shutdown()`): {shutdown}.",
        "",
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sides", default=",".join(SIDES), help=f"comma-separated, of {', '.join(SIDES)}")
    parser.add_argument("--replicas", type=int, default=2, help="K replicas (actors) per side")
    parser.add_argument("--runs", type=int, default=100, help="N concurrent runs")
    parser.add_argument("--cancels", type=int, default=20, help="how many of the N are cancelled")
    parser.add_argument("--tps", type=float, default=20.0, help="tokens/s of the N runs")
    parser.add_argument("--words", type=int, default=100, help="tokens per run of the N")
    parser.add_argument("--fast-words", type=int, default=5000, help="one-word deltas of a fast run")
    parser.add_argument("--fast-reps", type=int, default=5, help="fast runs, one at a time")
    parser.add_argument("--first-reps", type=int, default=20, help="warm short runs, one at a time")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU measured (0: skip)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--step-timeout", type=float, default=60.0)
    parser.add_argument("--side-timeout", type=float, default=240.0)
    parser.add_argument("--output", default=str(HERE / "results" / "replica_choice.md"))
    parser.add_argument("--append", action="store_true", help="keep earlier results below the new ones")
    parser.add_argument("--note", default="", help="a sentence added to the results' header")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        side_entry(args)
        return
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    sides = [s for s in args.sides.split(",") if s]
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    server = ModelServerProcess(str(Path(sys.executable).with_name("kern")))
    with server as admin:
        pid = server.process.pid if server.process else 0
        for side in sides:
            log(f"[{side}] starting ({SIDE_NAMES[side]}, K={args.replicas})")
            results[side] = run_side(side, admin, pid, args)
            time.sleep(2.0)  # the side's Ray processes go
    versions = next((r["versions"] for r in results.values()), {})
    code = sorted({root for r in results.values() for root in r.get("code", {}).values()})
    header = (
        f"{machine_line(versions.get('ray', '?'))}; {time.perf_counter() - started:.0f} s in all. "
        "Each side in its own process on its own local Ray (2 CPUs, workers at nice 0 as kern sets), "
        f"the same model server (its own process) for both. kern code from {', '.join(code)}. {args.note}"
    ).rstrip()
    text = render(results, args, header)
    print(text, flush=True)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    previous = output.read_text() if args.append and output.exists() else ""
    output.write_text(text + "\n" + ("\n" + previous if previous else ""))
    log(f"written to {output}")


if __name__ == "__main__":
    main()
