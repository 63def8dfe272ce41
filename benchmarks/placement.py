"""Why members go to their team's node by default: the same load with members beside their team and
with members spread, each on a fresh three-node `ray.cluster_utils.Cluster` on this machine.

Each policy: `--teams` teams of two members (all new actors), then `--runs` team runs at once at 20
tokens/s, a tenth of them cancelled after their first member content. Reported per policy: member actors
on another node than their team's, first content and cancel -> `TeamRunCancelled` (p50 / p99), and the
CPU seconds of every process of the cluster during the runs (from /proc). Rerun:

    .venv/bin/python benchmarks/placement.py [--teams 6] [--runs 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import percentile, table
from benchmarks.proc_tree import tree

POLICIES = ("with_team", "spread")


def measure(policy: str, teams: int, runs: int) -> dict[str, Any]:
    """One policy on a fresh cluster (run in a process of its own)."""
    import ray
    from ray.cluster_utils import Cluster

    from actors.runtime import NAMESPACE
    from kern.agent import Agent
    from kern.model_server import ModelServer
    from kern.run.agent import RunEvent
    from kern.run.team import TeamRunEvent
    from kern.team import Team
    from tests.support import model

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for _ in range(2):
        cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)

    def node(kind: str, component_id: str) -> str:
        actor = ray.get_actor(f"kern:{kind}:{component_id}", namespace=NAMESPACE)
        return ray.get(actor.__ray_call__.remote(lambda _: ray.get_runtime_context().get_node_id()))

    try:
        with ModelServer() as server:
            built = [
                Team(
                    name=f"Bench Team {t}",
                    model=model(server, tokens_per_second=20, reply_words=20),
                    members=[
                        Agent(
                            name=f"Bench Writer {t}-{m}",
                            placement=policy,
                            model=model(server, tokens_per_second=20, reply_words=40),
                        )
                        for m in range(2)
                    ],
                )
                for t in range(teams)
            ]
            for team in built:  # every actor up before the clock starts
                list(team.run("Warm up", stream=True))
            away = sum(
                node("agent", member.id) != node("team", team.id) for team in built for member in team.members
            )
            first: list[float] = []
            cancels: list[float] = []

            async def one(index: int) -> None:
                team = built[index % teams]
                started, seen, asked, run_id, cancelling = time.perf_counter(), False, None, None, None
                async for event in team.arun("Write", stream=True):
                    run_id = run_id or event.run_id  # the team's run (the first event is its own)
                    if event.event == RunEvent.run_content and not seen:
                        seen = True
                        first.append(time.perf_counter() - started)
                        if index % 10 == 0:
                            asked = time.perf_counter()
                            loop = asyncio.get_running_loop()
                            cancelling = loop.run_in_executor(None, team.cancel_run, run_id)
                    if event.event == TeamRunEvent.run_cancelled and asked is not None:
                        cancels.append(time.perf_counter() - asked)
                if cancelling is not None:
                    await cancelling

            async def all_runs() -> None:
                await asyncio.gather(*(one(i) for i in range(runs)))

            before = sum(p.cpu for p in tree(os.getpid()).values())
            asyncio.run(all_runs())
            cpu = sum(p.cpu for p in tree(os.getpid()).values()) - before
            return {"away": away, "members": 2 * teams, "first": first, "cancels": cancels, "cpu": cpu}
    except BaseException:
        traceback.print_exc()  # before Ray goes down under the threads
        sys.stderr.flush()
        raise
    finally:
        ray.shutdown()
        try:
            cluster.shutdown()
        except ValueError:  # (the driver's node: already down with ray.shutdown)
            pass


def ms(values: list[float]) -> str:
    return f"{percentile(values, 0.5) * 1000:.0f} / {percentile(values, 0.99) * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--teams", type=int, default=6)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2, help="each policy this many times, alternating")
    parser.add_argument("--policy", choices=POLICIES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.policy:
        print(json.dumps(measure(args.policy, args.teams, args.runs)))
        return
    rows = []
    for policy in [policy for _ in range(args.rounds) for policy in POLICIES]:
        child = ["--policy", policy, "--teams", str(args.teams), "--runs", str(args.runs)]
        done = subprocess.run(
            [sys.executable, __file__, *child],
            capture_output=True, text=True, timeout=900, env={**os.environ, "RAY_AUTH_MODE": "token"},
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(done.stderr[-3000:])
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append([
            f"members `{policy}`", f"{result['away']} of {result['members']}", ms(result["first"]),
            ms(result["cancels"]), f"{result['cpu']:.1f}",
        ])  # fmt: skip
    print(f"{platform.node()}, {os.cpu_count()} cores, {date.today()}: {args.teams} teams of 2 members, "
          f"{args.runs} team runs at once at 20 tokens/s, every tenth cancelled\n")  # fmt: skip
    headers = ["policy", "members off their team's node", "first content p50 / p99 ms",
               "cancel p50 / p99 ms", "CPU s, all processes"]  # fmt: skip
    print(table(headers, rows))


if __name__ == "__main__":
    main()
