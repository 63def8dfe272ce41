"""A flood of runs at one agent, with and without admission limits: how fast the runs past the queue are
refused, how long the admitted ones take, and how many runs the replica holds at once.

    .venv/bin/python benchmarks/admission.py [--runs 1000] [--max-runs 100] [--max-queued 100]

One local Ray (`ray.init(address="local", num_cpus=2)`), `kern model-server` in its own process at 20
tokens/s, 40 words a reply (2 s a run). Each row fires `--runs` non-streamed `arun` calls at once from one
event loop at a fresh agent: "no limits" with the defaults (1000 in flight, 1000 queued per replica),
then "admission" with `Admission(max_runs, max_queued)`. Prints Markdown: outcomes, refusal latency,
completed-run latency (p50 / p99), the most runs the replica held, and the CPU of every process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import ModelServerProcess, log, machine_facts, model_headers, percentile, table  # noqa: E402
from proc_tree import tree  # noqa: E402

KERN_CLI = str(Path(sys.executable).parent / "kern")


def cpu_seconds() -> float:
    """CPU of this process and every process under it (the Ray cluster it started)."""
    return sum(proc.cpu + proc.reaped for proc in tree(os.getpid()).values())


REPLY_WORDS = 40
TOKENS_PER_SECOND = 20.0


async def flood(agent: Any, runs: int) -> dict[str, Any]:
    """`runs` runs at once; each one's outcome and how long it took."""
    from kern.exceptions import TooManyRunsError

    async def one() -> tuple[str, float]:
        started = time.monotonic()
        try:
            output = await agent.arun("Write")
        except TooManyRunsError:
            return "refused", time.monotonic() - started
        except Exception as exc:  # (counted, with its type)
            return type(exc).__name__, time.monotonic() - started
        return str(output.status.value).lower(), time.monotonic() - started

    started = time.monotonic()
    outcomes = await asyncio.gather(*(one() for _ in range(runs)))
    return {"outcomes": outcomes, "wall": time.monotonic() - started}


def most_runs_held(agent_id: str, stop: asyncio.Event) -> asyncio.Task[int]:
    """Polls the agent's replica for its runs in flight (queued included) until `stop`; the most seen."""
    import ray

    from actors.runtime import NAMESPACE

    async def poll() -> int:
        actor = ray.get_actor(f"kern:agent:{agent_id}", namespace=NAMESPACE)
        most = 0
        while not stop.is_set():
            most = max(most, len(await actor.running.remote()))
            await asyncio.sleep(0.05)
        return most

    return asyncio.ensure_future(poll())


async def measure(server_url: str, runs: int, max_runs: int, max_queued: int) -> list[dict[str, Any]]:
    from kern.admission import Admission
    from kern.agent import Agent
    from kern.models.openai import OpenAIResponses

    headers = model_headers(tokens_per_second=TOKENS_PER_SECOND, reply_words=REPLY_WORDS)
    rows = []
    for label, admission in [
        ("no limits (defaults)", Admission()),
        (
            f"admission (max_runs={max_runs}, max_queued={max_queued})",
            Admission(max_runs=max_runs, max_queued=max_queued),
        ),
    ]:
        name = f"Flooded {len(rows)}"
        model = OpenAIResponses(id="flood", base_url=server_url, api_key="bench", default_headers=headers)
        agent = Agent(name=name, model=model, admission=admission)
        await agent.arun("Warm up")
        cpu_before = cpu_seconds()
        stop = asyncio.Event()
        held = most_runs_held(agent.spec.id, stop)
        result = await flood(agent, runs)
        stop.set()
        result.update(label=label, most_held=await held, cpu=cpu_seconds() - cpu_before)
        rows.append(result)
        log(f"{label}: {result['wall']:.1f} s")
    rows[-1]["one_by_one"] = await refused_one_by_one(agent, max_runs + max_queued)
    return rows


async def refused_one_by_one(agent: Any, room: int, tries: int = 20) -> list[float]:
    """With the replica full (`room` runs in flight and waiting), runs sent one at a time: how long
    each took to be refused (seconds)."""
    from kern.exceptions import TooManyRunsError

    filling = asyncio.gather(*(agent.arun("Write") for _ in range(room)), return_exceptions=True)
    await asyncio.sleep(1.0)
    took = []
    for _ in range(tries):
        started = time.monotonic()
        try:
            await agent.arun("Write")
        except TooManyRunsError:
            took.append(time.monotonic() - started)
    await filling
    return took


def report(rows: list[dict[str, Any]], runs: int) -> str:
    lines = []
    for row in rows:
        by = {}
        for outcome, seconds in row["outcomes"]:
            by.setdefault(outcome, []).append(seconds * 1000)
        refused, completed = by.pop("refused", []), by.pop("completed", [])
        other = ", ".join(f"{name} {len(values)}" for name, values in sorted(by.items())) or "0"
        lines.append([
            row["label"], str(len(completed)), str(len(refused)), other,
            f"{percentile(refused, 0.5):.0f} / {percentile(refused, 0.99):.0f}" if refused else "-",
            f"{percentile(completed, 0.5) / 1000:.2f} / {percentile(completed, 0.99) / 1000:.2f}",
            str(row["most_held"]), f"{row['cpu']:.1f}", f"{row['wall']:.1f}",
        ])  # fmt: skip
    headers = [
        f"{runs} runs at once at one agent", "completed", "refused (`TooManyRunsError`)", "other",
        "refused after, p50 / p99 (ms)", "completed after, p50 / p99 (s)", "most runs the replica held",
        "CPU s (all processes)", "wall (s)",
    ]  # fmt: skip
    alone = [seconds * 1000 for seconds in rows[-1].get("one_by_one", [])]
    if alone:
        lines.append([
            f"one run at a time while the replica is full ({len(alone)} runs)", "0", str(len(alone)), "0",
            f"{percentile(alone, 0.5):.1f} / {percentile(alone, 0.99):.1f}", "-", "-", "-", "-",
        ])  # fmt: skip
    return table(headers, lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--max-runs", type=int, default=100)
    parser.add_argument("--max-queued", type=int, default=100)
    args = parser.parse_args()
    import ray

    from actors.runtime import NAMESPACE

    facts = machine_facts()
    with ModelServerProcess(KERN_CLI) as admin:
        ray.init(
            address="local", num_cpus=2, include_dashboard=False, namespace=NAMESPACE, log_to_driver=False
        )
        try:
            rows = asyncio.run(measure(admin.base_url, args.runs, args.max_runs, args.max_queued))
        finally:
            ray.shutdown()
    print(
        f"kern admission under a flood, {facts['date'][:10]}, {facts['cpus']} CPUs ({facts['cpu_model']}), "
        f"model at {TOKENS_PER_SECOND:g} tokens/s, {REPLY_WORDS} words a run\n"
    )
    print(report(rows, args.runs))


if __name__ == "__main__":
    main()
