"""`kern ps` and `kern stop`: every agent's and team's replicas on the cluster (runs, CPU, event-loop lag,
process, memory, idle time), and ending them."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from kern import local_cluster
from kern.replicas import PoolStatus, ReplicaStatus


def render(pools: list[PoolStatus]) -> str:
    """The pools as a table, one line per replica."""
    if not pools:
        return "No agent or team has run on this cluster yet."
    header = (
        f"{'COMPONENT':<32} {'REPLICA':<40} {'STATE':<9} {'RUNS':>5} {'CPU':>5} {'LAG ms':>7} "
        f"{'PID':>8} {'MEM MiB':>8} {'IDLE s':>7}  NODE"
    )
    lines = [header]
    for pool in sorted(pools, key=lambda p: p.name):
        component = f"{pool.kind} {pool.name.split(':', 2)[-1]}"
        for replica in pool.replicas:
            node = (replica.node_id or "-")[:12]
            lines.append(
                f"{component:<32} {replica.name:<40} {replica.state:<9} {replica.runs:>5} "
                f"{replica.cpu:>5.0%} {replica.lag_ms:>7.0f} {_shown(replica.pid, 'd'):>8} "
                f"{_shown(replica.memory_mib, '.0f'):>8} {_shown(replica.idle_seconds, '.0f'):>7}  "
                f"{node}{_trouble(replica)}"
            )
            component = ""
        bounds = pool.bounds
        note = (
            f"{'':<32} replicas {bounds.min}-{bounds.max} (now at most {pool.limit}), "
            f"aiming at {bounds.target_runs} runs and {bounds.target_cpu:.0%} of a core each"
        )
        lines.append(note + (f"; last problem: {pool.problem}" if pool.problem else ""))
    return "\n".join(lines)


def _shown(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


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
    supervisor = _attach("ps")
    if supervisor is False:
        return 1
    if supervisor is None:
        print(render([]))
        return 0
    import ray

    from kern.replicas import STATUS_TIMEOUT_SECONDS

    print(render(ray.get(supervisor.pools.remote(), timeout=STATUS_TIMEOUT_SECONDS)))
    return 0


def run_stop(components: list[str] | None, timeout: float) -> int:
    """End the replicas of `components` (`<kind>:<id>` or an id; None: all) once their runs are cancelled,
    and wait (at most `timeout` seconds) until they are gone; exit code."""
    supervisor = _attach("stop")
    if supervisor is False:
        return 1
    if supervisor is None:
        print("[kern stop] No agent or team has run on this cluster.")
        return 0 if components is None else 1
    import ray

    from actors.runtime import NAMESPACE

    stopping, unknown = ray.get(supervisor.stop.remote(components), timeout=timeout)
    for component in unknown:
        print(f"[kern stop] No agent or team {component!r} runs on this cluster.", file=sys.stderr)
    deadline = time.monotonic() + timeout
    left = list(stopping)
    while left and time.monotonic() < deadline:
        left = [name for name in left if _alive(ray, name, NAMESPACE)]
        time.sleep(0.2)
    for name in stopping:
        print(f"[kern stop] {name}: {'still running' if name in left else 'stopped'}")
    if left:
        print(f"[kern stop] {len(left)} replicas did not end in {timeout:.0f} s.", file=sys.stderr)
    return 1 if left or unknown else 0


def _alive(ray: Any, name: str, namespace: str) -> bool:
    try:
        ray.get_actor(name, namespace=namespace)
    except ValueError:
        return False
    return True


def _attach(command: str) -> Any:
    """The supervisor of the cluster scripts attach to; None if it has none, False if there is no cluster."""
    address = os.environ.get("RAY_ADDRESS") or local_cluster.attach_address()
    if address is None:
        print(
            f"[kern {command}] No cluster to look at: start one with `kern up`, or set RAY_ADDRESS.",
            file=sys.stderr,
        )
        return False
    import ray

    from actors.runtime import NAMESPACE, SUPERVISOR_NAME

    ray.init(address=address, namespace=NAMESPACE, include_dashboard=False, log_to_driver=False)
    try:
        return ray.get_actor(SUPERVISOR_NAME, namespace=NAMESPACE)
    except ValueError:
        return None
