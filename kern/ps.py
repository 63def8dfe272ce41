"""`kern ps`: every agent's and team's replicas on the cluster, with their runs and event-loop lag."""

from __future__ import annotations

import os
import sys

from kern import local_cluster
from kern.replicas import PoolStatus, ReplicaStatus


def render(pools: list[PoolStatus]) -> str:
    """The pools as a table, one line per replica."""
    if not pools:
        return "No agent or team has run on this cluster yet."
    header = f"{'COMPONENT':<32} {'REPLICA':<40} {'STATE':<9} {'RUNS':>5} {'CPU':>5} {'LAG ms':>7}  NODE"
    lines = [header]
    for pool in sorted(pools, key=lambda p: p.name):
        component = f"{pool.kind} {pool.name.split(':', 2)[-1]}"
        for replica in pool.replicas:
            node = (replica.node_id or "-")[:12]
            lines.append(
                f"{component:<32} {replica.name:<40} {replica.state:<9} {replica.runs:>5} "
                f"{replica.cpu:>5.0%} {replica.lag_ms:>7.0f}  {node}{_trouble(replica)}"
            )
            component = ""
        bounds = pool.bounds
        note = (
            f"{'':<32} replicas {bounds.min}-{bounds.max} (now at most {pool.limit}), "
            f"aiming at {bounds.target_runs} runs and {bounds.target_cpu:.0%} of a core each"
        )
        lines.append(note + (f"; last problem: {pool.problem}" if pool.problem else ""))
    return "\n".join(lines)


def _trouble(replica: ReplicaStatus) -> str:
    """What is stuck in the replica, if anything."""
    notes = [
        f"{replica.stuck_tools} tool threads stuck in cancelled runs" if replica.stuck_tools else "",
        f"{replica.records_waiting} records waiting for the database" if replica.records_waiting else "",
        f"{replica.records_lost} records lost" if replica.records_lost else "",
    ]
    found = "; ".join(note for note in notes if note)
    return f"  ({found})" if found else ""


def run_ps() -> int:
    """Print the pools of the cluster scripts attach to (`RAY_ADDRESS`, else `kern up`'s); exit code."""
    address = os.environ.get("RAY_ADDRESS") or local_cluster.attach_address()
    if address is None:
        print(
            "[kern ps] No cluster to look at: start one with `kern up`, or set RAY_ADDRESS.", file=sys.stderr
        )
        return 1
    import ray

    from actors.runtime import NAMESPACE, SUPERVISOR_NAME
    from kern.replicas import STATUS_TIMEOUT_SECONDS

    ray.init(address=address, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)
    try:
        supervisor = ray.get_actor(SUPERVISOR_NAME, namespace=NAMESPACE)
    except ValueError:
        print(render([]))
        return 0
    print(render(ray.get(supervisor.pools.remote(), timeout=STATUS_TIMEOUT_SECONDS)))
    return 0
