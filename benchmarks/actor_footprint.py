"""What one kern actor costs: memory against Ray's own idle worker, and the first run on a new actor.

    .venv/bin/python benchmarks/actor_footprint.py [--reps 5] [--json out.json] [--skip-floor]

1. **Memory** (RSS, PSS and USS from `/proc/<pid>/smaps_rollup`; USS is what the process alone holds):
   the floor (a `@ray.remote(num_cpus=0) class Empty` actor on a plain `ray.init()` cluster, whose
   workers import nothing of kern), then on a `kern up` cluster: a spare worker (started, never used),
   an `Empty` actor, the supervisor, an agent's actor ready but before any run, after its first run and
   after 20, a team's and its member's actors after their first run; and what 20 teams of 4 members
   would hold at those sizes.
2. **First run on a new actor**: `await agent.arun(..., stream=True)` on a brand-new agent id (so a new
   actor) to its first content event, medians of `--reps`: with a spare worker idle on the node ("with
   prewarm"; if the cluster keeps none, the benchmark starts one itself through the raylet's
   `PrestartWorkers`), and with none (the benchmark first occupies every spare with placeholder
   actors); the same for a new one-member team. Then how long the cluster takes to have a spare again.
3. **Where it goes**: import time (`python -X importtime`) of what kern up's workers preload, by
   package; memory and time of the big packages imported alone after Ray; and an actor's first run
   emulated in a fresh process (`RunHost`, no Ray): its time and what it imports and allocates.

`kern up` runs with a temporary KERN_HOME (never the user's cluster) and `kern down` always runs; the
model server (`kern model-server`, 20 words, no delay) runs in its own process. The code measured is
the kern that `PYTHONPATH` / the venv provides (the `kern up` workers inherit it). Linux only (/proc).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import ModelServerProcess, log, machine_facts, table  # noqa: E402

PYTHON = sys.executable
KERN_CLI = str(Path(sys.executable).parent / "kern")
SETTLE_SECONDS = 1.0
"""Pause before reading a process's memory after it was created or ran (its allocations settle)."""
SPARE_WAIT_SECONDS = 20.0
"""How long to wait for the cluster to have a spare worker before starting one for the measurement."""
MIB = 2**20
BIG_PACKAGES = ["openai", "sqlalchemy", "aiohttp", "rich", "httpx2", "pydantic"]
"""Measured one by one, each imported alone after Ray in a fresh process."""


# -- memory and processes ----------------------------------------------------------------------------


def memory(pid: int) -> dict[str, float] | None:
    """RSS, PSS and USS (private clean + dirty) of a process, MiB; None if it is gone."""
    fields: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[-1] == "kB":
                    fields[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        return None
    return {
        "rss": fields.get("Rss", 0) / 1024,
        "pss": fields.get("Pss", 0) / 1024,
        "uss": (fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) / 1024,
    }


def own_memory() -> dict[str, float]:
    found = memory(os.getpid())
    assert found is not None
    return found


# -- the floor: a plain Ray worker (child process) --------------------------------------------------------


def floor_child() -> None:
    """On a new local cluster without kern's preload: two idle `Empty` actors' memory, as JSON."""
    import ray

    @ray.remote(num_cpus=0)
    class Empty:
        def pid(self) -> tuple[int, int]:
            return os.getpid(), len(sys.modules)

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        actors = [Empty.remote() for _ in range(2)]
        found = ray.get([actor.pid.remote() for actor in actors], timeout=120)
        time.sleep(2 * SETTLE_SECONDS)
        print(json.dumps([{**(memory(pid) or {}), "modules": modules} for pid, modules in found]))
    finally:
        ray.shutdown()


def measure_floor() -> list[dict[str, float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_") or k == "RAY_AUTH_MODE"}
    env.pop("PYTHONPATH", None)  # the floor is Ray's: no kern preloaded, whatever kern is measured
    done = subprocess.run(
        [PYTHON, __file__, "--floor-child"], env=env, capture_output=True, text=True, timeout=300, cwd=HERE
    )
    if done.returncode != 0:
        raise RuntimeError(f"the floor measurement failed:\n{done.stderr[-2000:]}")
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


# -- the kern up cluster ---------------------------------------------------------------------------------


def kern_cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "-m", "kern", *args], env=env, capture_output=True, text=True, timeout=240, cwd=HERE
    )
    if done.returncode != 0:
        raise RuntimeError(f"kern {' '.join(args)} failed:\n{done.stdout}\n{done.stderr[-2000:]}")
    return done.stdout


class Raylets:
    """The cluster's raylets over gRPC: which workers each node has, and starting spare ones."""

    def __init__(self) -> None:
        import ray
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import node_manager_pb2_grpc

        self._stubs = [
            node_manager_pb2_grpc.NodeManagerServiceStub(
                init_grpc_channel(f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}")
            )
            for node in ray.nodes()
            if node["Alive"]
        ]

    def workers(self) -> list[Any]:
        from ray.core.generated import node_manager_pb2

        request = node_manager_pb2.GetNodeStatsRequest(include_memory_info=False)
        return [w for stub in self._stubs for w in stub.GetNodeStats(request, timeout=10).core_workers_stats]

    def spares(self) -> list[int]:
        """Pids of the workers that never ran anything (no job, no actor): any new actor can take one."""
        nil = b"\xff"
        return [
            w.pid
            for w in self.workers()
            if w.worker_type == 0 and w.job_id.strip(nil) == b"" and w.actor_id.strip(nil) == b""
        ]

    def prestart(self, count: int, keep_alive_seconds: int = 120) -> None:
        from ray.core.generated import common_pb2, node_manager_pb2

        request = node_manager_pb2.PrestartWorkersRequest(
            language=common_pb2.Language.PYTHON,
            num_workers=count,
            keep_alive_duration_secs=keep_alive_seconds,
        )
        self._stubs[0].PrestartWorkers(request, timeout=10)

    def wait_spares(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.spares()) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True


def ensure_spares(raylets: Raylets, count: int, notes: list[str], root: int | None = None) -> None:
    """At least `count` spare workers idle, done with their preload: the cluster's own, else started
    by the benchmark; with `root` (the cluster's `ray start` pid), also every other process quiet."""
    if not raylets.wait_spares(count, SPARE_WAIT_SECONDS):
        missing = count - len(raylets.spares())
        note = "the cluster kept no spare worker: the benchmark started them (raylet PrestartWorkers)"
        if note not in notes:
            notes.append(note)
        raylets.prestart(missing)
        if not raylets.wait_spares(count, 60.0):
            raise RuntimeError("no spare worker came up within 60 s")
    wait_quiet(raylets.spares())
    if root is not None:
        wait_cluster_quiet(root)


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return -1.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_cluster_quiet(root: int, timeout: float = 20.0, cores: float = 0.3) -> None:
    """Until the cluster's processes (the `ray start` tree) use less than `cores` over a second: workers
    still starting (a spare being refilled, say) would take the CPU from the run measured next."""
    from proc_tree import tree

    deadline = time.monotonic() + timeout
    before = {pid: p.cpu for pid, p in tree(root).items()}
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = {pid: p.cpu for pid, p in tree(root).items()}
        used = sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items())
        if used < cores:
            return
        before = now


def wait_quiet(pids: list[int], timeout: float = 30.0) -> None:
    """Until these processes stop using CPU: a worker registers with the raylet before it imports the
    preloaded modules, and an idle spare has long finished doing so."""
    deadline = time.monotonic() + timeout
    before = [cpu_seconds(pid) for pid in pids]
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = [cpu_seconds(pid) for pid in pids]
        if now == before:
            return
        before = now


def occupy_spares(raylets: Raylets) -> list[Any]:
    """Placeholder actors on every spare worker, so the next actor needs a new worker process."""
    import ray

    @ray.remote(num_cpus=0)
    class Placeholder:
        def ready(self) -> bool:
            return True

    holders: list[Any] = []
    for _ in range(3):  # a cluster that keeps spares may start new ones meanwhile
        count = len(raylets.spares())
        if not count:
            break
        batch = [Placeholder.remote() for _ in range(count)]
        ray.get([h.ready.remote() for h in batch], timeout=120)
        holders += batch
    return holders


def actor_probe(handle: Any) -> dict[str, Any]:
    """The actor's pid, its memory and how many modules it has imported (run inside it)."""
    import ray

    def inside(_: Any) -> tuple[int, int, list[str]]:
        names = sorted({name.split(".")[0] for name in sys.modules})
        return os.getpid(), len(sys.modules), names

    pid, modules, packages = ray.get(handle.__ray_call__.remote(inside), timeout=60)
    return {**(memory(pid) or {}), "pid": pid, "modules": modules, "packages": packages}


def is_content(event: Any) -> bool:
    kind = getattr(event, "event", None)
    return str(getattr(kind, "value", kind)).endswith("RunContent") and bool(getattr(event, "content", None))


async def first_content(component: Any, prompt: str) -> dict[str, float]:
    """`arun(stream=True)` -> first content event, and -> the terminal event (s)."""
    start = time.perf_counter()
    stream = await component.arun(prompt, stream=True)
    first = None
    async for event in stream:
        if first is None and is_content(event):
            first = time.perf_counter() - start
    return {
        "first_content": first if first is not None else float("nan"),
        "done": time.perf_counter() - start,
    }


def new_id(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


async def measure_cluster(base_url: str, reps: int, memory_reps: int, root: int) -> dict[str, Any]:
    """Everything measured on the `kern up` cluster this process is attached to."""
    import ray

    from actors.runtime import NAMESPACE, supervisor
    from kern.agent import Agent
    from kern.local_cluster_control import PRELOAD_MODULES
    from kern.models.openai import OpenAIResponses
    from kern.team import Team

    def model() -> OpenAIResponses:
        return OpenAIResponses(id="gpt-bench", api_key="bench", base_url=base_url)

    def agent(name: str) -> Agent:
        return Agent(name=name, description="Writes stories", model=model())

    def member_handle(team: Team) -> Any:
        return ray.get_actor(f"kern:agent:{team.spec.members[0].id}", namespace=NAMESPACE)

    raylets = Raylets()
    notes: list[str] = []
    result: dict[str, Any] = {"preload": PRELOAD_MODULES, "memory": {}, "timing": {}, "notes": notes}
    rows: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)

    # Warm this process (imports, its link loop, the supervisor) on an agent of its own.
    await first_content(agent(new_id("Warm-up")), "Warm up")

    # Memory: a spare, an Empty actor, the supervisor.
    await asyncio.to_thread(ensure_spares, raylets, 1, notes)
    spare = (await asyncio.to_thread(raylets.spares))[0]
    await asyncio.sleep(SETTLE_SECONDS)
    rows["spare worker (started, never used)"].append(memory(spare) or {})

    @ray.remote(num_cpus=0)
    class Empty:
        def ready(self) -> bool:
            return True

    for _ in range(min(2, memory_reps)):
        empty = Empty.remote()
        ray.get(empty.ready.remote(), timeout=120)
        await asyncio.sleep(SETTLE_SECONDS)
        rows["`Empty` actor (preloaded worker)"].append(await asyncio.to_thread(actor_probe, empty))
    rows["supervisor"].append(await asyncio.to_thread(actor_probe, supervisor()))

    # Memory: agents' actors, each with a spare worker to start on (as with prewarm).
    for _ in range(memory_reps):
        await asyncio.to_thread(ensure_spares, raylets, 1, notes)
        fresh = agent(new_id("Memory"))
        handle = await asyncio.to_thread(fresh.actor)
        await asyncio.sleep(SETTLE_SECONDS)
        rows["agent actor, ready, before any run"].append(await asyncio.to_thread(actor_probe, handle))
        await first_content(fresh, "Tell me a short story")
        await asyncio.sleep(SETTLE_SECONDS)
        rows["agent actor, after its first run"].append(await asyncio.to_thread(actor_probe, handle))
        for _ in range(19):
            await first_content(fresh, "Tell me a short story")
        await asyncio.sleep(SETTLE_SECONDS)
        rows["agent actor, after 20 runs"].append(await asyncio.to_thread(actor_probe, handle))
    for _ in range(max(1, memory_reps // 2)):
        await asyncio.to_thread(ensure_spares, raylets, 2, notes)
        team = Team(name=new_id("Memory Team"), members=[agent(new_id("Member"))], model=model())
        await first_content(team, "Tell me a short story")
        await asyncio.sleep(SETTLE_SECONDS)
        leader, member = await asyncio.to_thread(team.actor), member_handle(team)
        rows["team actor, after its first run"].append(await asyncio.to_thread(actor_probe, leader))
        rows["member actor, after its first run"].append(await asyncio.to_thread(actor_probe, member))
    result["memory"] = rows
    result["actor_packages"] = rows["agent actor, after its first run"][-1].get("packages", [])

    # First run on a new actor, with a spare worker idle and with none.
    timing: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
    refill: list[float | None] = []
    for rep in range(reps):
        log(f"first runs: repetition {rep + 1}/{reps}")
        await asyncio.to_thread(ensure_spares, raylets, 1, notes, root)
        spares_before = len(await asyncio.to_thread(raylets.spares))
        fresh = agent(new_id("Cold"))
        timing["new agent, a spare worker idle (prewarm)"].append(
            await first_content(fresh, "Tell me a story")
        )
        refill.append(await asyncio.to_thread(_refill_seconds, raylets, spares_before))

        await asyncio.to_thread(wait_cluster_quiet, root)
        holders = await asyncio.to_thread(occupy_spares, raylets)
        fresh = agent(new_id("Cold"))
        timing["new agent, no spare worker"].append(await first_content(fresh, "Tell me a story"))
        for holder in holders:
            ray.kill(holder)

        await asyncio.to_thread(ensure_spares, raylets, 2, notes, root)
        team = Team(name=new_id("Cold Team"), members=[agent(new_id("Member"))], model=model())
        timing["new team + member, 2 spare workers idle (prewarm)"].append(
            await first_content(team, "Tell me a story")
        )
        await asyncio.to_thread(wait_cluster_quiet, root)
        holders = await asyncio.to_thread(occupy_spares, raylets)
        team = Team(name=new_id("Cold Team"), members=[agent(new_id("Member"))], model=model())
        timing["new team + member, no spare worker"].append(await first_content(team, "Tell me a story"))
        for holder in holders:
            ray.kill(holder)
    result["timing"] = timing
    result["refill_seconds"] = refill
    return result


def _refill_seconds(raylets: Raylets, count: int, timeout: float = 20.0) -> float | None:
    """After a new actor took a spare: seconds until the cluster has `count` again (None: not in time)."""
    start = time.monotonic()
    return time.monotonic() - start if raylets.wait_spares(count, timeout) else None


# -- where it goes: imports and the first run, in fresh processes ------------------------------------


def importtime(preload: str) -> dict[str, Any]:
    """`-X importtime` of Ray then the preloaded modules, self time and modules by top-level package."""
    code = "import ray\n" + "".join(f"import {m}\n" for m in preload.split(",") if m)
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", code], capture_output=True, text=True, timeout=120, cwd=HERE
    )
    by_time: collections.Counter[str] = collections.Counter()
    by_count: collections.Counter[str] = collections.Counter()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _, name = line[len("import time:") :].split("|")
        package = name.strip().split(".")[0]
        by_time[package] += int(self_us)
        by_count[package] += 1
    return {"self_ms": {k: v / 1000 for k, v in by_time.items()}, "modules": dict(by_count)}


def import_child(packages: list[str]) -> None:
    """Import Ray, then each package in turn: USS/RSS growth, modules and seconds of each (JSON)."""
    import ray  # noqa: F401

    out = []
    before, count = own_memory(), len(sys.modules)
    for name in packages:
        start = time.perf_counter()
        __import__(name)
        seconds = time.perf_counter() - start
        after = own_memory()
        out.append(
            {
                "package": name,
                "uss": after["uss"] - before["uss"],
                "rss": after["rss"] - before["rss"],
                "modules": len(sys.modules) - count,
                "seconds": seconds,
            }
        )
        before, count = after, len(sys.modules)
    print(json.dumps({"rows": out, "total": own_memory(), "total_modules": len(sys.modules)}))


def run_child(args: list[str]) -> dict[str, Any]:
    done = subprocess.run([PYTHON, __file__, *args], capture_output=True, text=True, timeout=300, cwd=HERE)
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def emulate_child(spec_file: str, preload: str) -> None:
    """An actor's first runs without Ray: Ray and the preload imported, the spec unpickled as an actor
    receives it, then two runs on a `RunHost`."""
    import pickle

    import ray  # noqa: F401

    for name in preload.split(","):
        if name:
            __import__(name)
    before, modules_before = own_memory(), set(sys.modules)
    from kern.engine.host import RunHost
    from kern.engine.outbox import DiscardingOutbox
    from kern.specs import RunRequest

    spec = pickle.loads(Path(spec_file).read_bytes())
    runs: list[dict[str, float]] = []

    async def main() -> None:
        host = RunHost()
        for index in range(2):
            request = RunRequest(input="Tell me a story", stream=True, run_id=f"run-{index}", session_id="s")
            start = time.perf_counter()
            await host.start(spec, request, DiscardingOutbox())
            runs.append({"seconds": time.perf_counter() - start, "uss": own_memory()["uss"] - before["uss"]})

    asyncio.run(main())
    new = sorted(set(sys.modules) - modules_before)
    packages = collections.Counter(name.split(".")[0] for name in new)
    print(json.dumps({"runs": runs, "new_modules": len(new), "new_packages": dict(packages), "names": new}))


def emulate(base_url: str, preload: str) -> dict[str, Any]:
    """`emulate_child` on an agent's spec built here (the facade stays out of the child)."""
    import pickle

    from kern.agent import Agent
    from kern.models.openai import OpenAIResponses

    model = OpenAIResponses(id="gpt-bench", api_key="bench", base_url=base_url)
    with tempfile.NamedTemporaryFile(suffix=".pickle") as f:
        f.write(pickle.dumps(Agent(name="Emulated", model=model).spec))
        f.flush()
        return run_child(["--emulate-child", f.name, preload])


# -- report ---------------------------------------------------------------------------------------------


def med(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def mem_cells(samples: list[dict[str, Any]]) -> list[str]:
    return [f"{med([s[k] for s in samples if k in s]):.0f}" for k in ("rss", "pss", "uss")] + [
        f"{med([s['modules'] for s in samples if 'modules' in s]):.0f}"
        if any("modules" in s for s in samples)
        else "-"
    ]


def report(data: dict[str, Any]) -> str:
    m = data["machine"]
    out = [
        f"### Actor footprint ({m['date']}; {m['cpus']} CPUs {m['cpu_model']}, {m['mem_gib']} GiB; "
        f"Python {m['python']}, Ray {m['ray']}; load {m['load_before']} before)\n",
        f"kern up preloads: `{data['cluster']['preload']}`\n",
        "**Memory of one process (MiB, median)**\n",
    ]
    rows = []
    if data.get("floor"):
        rows.append(["Ray's floor: `Empty` actor, plain `ray.init()` cluster", *mem_cells(data["floor"])])
    memory_rows = data["cluster"]["memory"]
    for label, samples in memory_rows.items():
        rows.append([f"kern up: {label}", *mem_cells(samples)])
    out.append(table(["process", "RSS", "PSS", "USS", "modules"], rows))
    leader = memory_rows.get("team actor, after its first run")
    member = memory_rows.get("member actor, after its first run")
    if leader and member:
        for key in ("rss", "uss"):
            total = 20 * (med([s[key] for s in leader]) + 4 * med([s[key] for s in member])) / 1024
            out.append(f"\n20 teams of 4 members at these sizes: {total:.1f} GiB {key.upper()}")
    out.append("\n**First run on a new actor: `arun` -> first content (s, median (min-max))**\n")
    body = []
    for label, samples in data["cluster"]["timing"].items():
        firsts = [s["first_content"] for s in samples]
        dones = [s["done"] for s in samples]
        body.append(
            [
                label,
                f"{med(firsts):.2f} ({min(firsts):.2f}-{max(firsts):.2f})",
                f"{med(dones):.2f}",
                str(len(samples)),
            ]
        )
    out.append(table(["", "first content", "whole run", "n"], body))
    refill = data["cluster"]["refill_seconds"]
    got = [r for r in refill if r is not None]
    out.append(
        "\nAfter a new agent took a spare worker, the cluster had as many spares as before again in: "
        + (f"{med(got):.1f} s (median of {len(got)})" if got else "never within 20 s")
        + (f"; not within 20 s {len(refill) - len(got)} times" if got and len(got) < len(refill) else "")
    )
    for note in data["cluster"]["notes"]:
        out.append(f"\nNote: {note}.")
    imports = data.get("imports")
    if imports:
        out.append("\n**Import time of a worker's preload (`-X importtime`, self time by package)**\n")
        times, counts = imports["importtime"]["self_ms"], imports["importtime"]["modules"]
        top = sorted(times, key=lambda k: -times[k])[:12]
        body = [[k, f"{times[k]:.0f}", str(counts[k])] for k in top]
        body.append(["all", f"{sum(times.values()):.0f}", str(sum(counts.values()))])
        out.append(table(["package", "ms", "modules"], body))
        out.append("\n**Big packages, each imported alone after Ray (fresh process)**\n")
        packages = data["cluster"].get("actor_packages", [])
        body = [
            [
                row["package"],
                f"{row['uss']:.1f}",
                f"{row['rss']:.1f}",
                str(row["modules"]),
                f"{row['seconds'] * 1000:.0f}",
                "yes" if row["package"] in packages else "no",
            ]
            for row in imports["packages"]
        ]
        out.append(
            table(
                ["package", "+USS MiB", "+RSS MiB", "+modules", "ms", "in an agent actor after a run"], body
            )
        )
        preload = imports["preload"]
        out.append(
            "\nRay, then the preload, in one fresh process: "
            f"+{sum(r['uss'] for r in preload['rows']):.1f} MiB USS over `import ray`, "
            f"{preload['total_modules']} modules in all ("
            + ", ".join(f"{r['package']} +{r['uss']:.1f}" for r in preload["rows"])
            + ")"
        )
        emulated = imports.get("emulated")
        if emulated:
            first, second = emulated["runs"]
            top_new = sorted(emulated["new_packages"].items(), key=lambda kv: -kv[1])[:8]
            out.append(
                f"\nAn actor's first run emulated in-process (RunHost, no Ray): {first['seconds']:.3f} s "
                f"(second {second['seconds']:.3f} s), +{first['uss']:.1f} MiB USS, "
                f"{emulated['new_modules']} modules imported by it: "
                + ", ".join(f"{k} {v}" for k, v in top_new)
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=5, help="first runs per condition (default 5)")
    parser.add_argument("--memory-reps", type=int, default=3, help="agents measured for memory (default 3)")
    parser.add_argument("--json", help="also write the raw numbers here")
    parser.add_argument("--skip-floor", action="store_true", help="no plain Ray cluster for the floor")
    parser.add_argument("--skip-imports", action="store_true", help="no import breakdown")
    parser.add_argument("--floor-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--import-child", help=argparse.SUPPRESS)
    parser.add_argument("--emulate-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_child:
        return floor_child()
    if args.import_child is not None:
        return import_child([p for p in args.import_child.split(",") if p])
    if args.emulate_child:
        return emulate_child(*args.emulate_child)

    os.environ.setdefault("RAY_AUTH_MODE", "token")
    for name in ("RAY_ADDRESS", "KERN_DB_URL", "OPENAI_BASE_URL"):
        os.environ.pop(name, None)
    data: dict[str, Any] = {"machine": {**machine_facts(), "ray": version("ray")}}
    if not args.skip_floor:
        log("floor: a plain Ray cluster")
        data["floor"] = measure_floor()
    with (
        tempfile.TemporaryDirectory(prefix="kern-footprint-") as home,
        ModelServerProcess(KERN_CLI) as admin,
    ):
        os.environ["KERN_HOME"] = home
        env = dict(os.environ)
        try:
            log("kern up")
            started = time.perf_counter()
            kern_cli(env, "up")
            data["kern_up_seconds"] = time.perf_counter() - started
            from kern.local_cluster import read_state, use_auth

            state = read_state()
            assert state is not None
            use_auth(state)
            os.environ["RAY_ADDRESS"] = state.address  # this cluster, never a new local one by accident
            import ray

            from actors.runtime import NAMESPACE

            # As a script attaches (`ensure_ray`), without the workers' logs on this output.
            ray.init(address=state.address, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)
            data["cluster"] = asyncio.run(
                measure_cluster(admin.base_url, args.reps, args.memory_reps, state.pid)
            )
            ray.shutdown()
        finally:
            log("kern down")
            kern_cli(env, "down")
            os.environ.pop("RAY_ADDRESS", None)
        if not args.skip_imports:
            log("imports and an emulated first run")
            preload = data["cluster"]["preload"]
            data["imports"] = {
                "importtime": importtime(preload),
                "packages": [run_child(["--import-child", p])["rows"][0] for p in BIG_PACKAGES],
                "preload": run_child(["--import-child", preload]),
                "emulated": emulate(admin.base_url, preload),
            }
    print(report(data))
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
