"""Spare workers: Ray worker processes started ahead on each node, so a new actor starts on one at once.

A new agent's or team's actor needs a worker process. Ray hands it an idle one if the node has one that
never ran anything; otherwise it starts a process (Python, Ray, kern's preloaded modules: ~2-3 s on two
cores), and the new actor's first run waits for it. Ray starts a few such workers when the node's first
driver connects and never again, and it kills idle ones once the node has more workers than CPUs (every
actor counts), so after the first actors every new one started cold.

The supervisor keeps `KERN_SPARE_WORKERS` of them idle on each node that has CPUs (0, the default where
the variable is unset, keeps none; `kern up` sets 2): every `POLL_SECONDS` it asks each raylet for its
workers (`GetNodeStats`) and has it start the missing ones (`PrestartWorkers`, the raylet's own RPC;
job-less, so any job's actor can take them), with a keep-alive that stops Ray from killing them while
they wait. A spare costs one idle worker's memory (about 70-80 MiB of its own, with kern preloaded).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, NamedTuple

import ray

log = logging.getLogger(__name__)

SPARES_VARIABLE = "KERN_SPARE_WORKERS"
POLL_SECONDS = 2.0
NODES_SECONDS = 30.0
"""How often the list of nodes (and their raylets' addresses) is read again."""
STARTING_SECONDS = 15.0
"""After asking a node for spares, how long to wait for them to register before asking again (a worker
starts in 1-3 s; more on a loaded node)."""
KEEP_ALIVE_SECONDS = 600
"""How long Ray keeps an unused spare even on a node with more workers than CPUs; one that expires is
replaced by a new process (a spare that nobody takes costs a restart every 10 minutes)."""
RPC_TIMEOUT_SECONDS = 5.0
_NIL = b"\xff"


def spares_wanted() -> int:
    """`KERN_SPARE_WORKERS` of this process (the supervisor's: the node's `ray start` environment)."""
    try:
        return max(0, int(os.environ.get(SPARES_VARIABLE, "0")))
    except ValueError:
        log.warning(
            "kern: %s=%r is not a number: no spare workers", SPARES_VARIABLE, os.environ[SPARES_VARIABLE]
        )
        return 0


def keep_spares() -> threading.Thread | None:
    """Start keeping the spares (a daemon thread: its gRPC calls never touch the caller's event loop)."""
    wanted = spares_wanted()
    if not wanted:
        return None
    keeper = SpareKeeper(wanted)
    thread = threading.Thread(target=keeper.run_forever, name="kern-spare-workers", daemon=True)
    thread.start()
    return thread


class SpareKeeper:
    """Keeps `wanted` never-used workers idle on every node with CPUs."""

    def __init__(self, wanted: int) -> None:
        self.wanted = wanted
        self._raylets: dict[str, Any] = {}
        self._nodes_read = -float("inf")
        self._asked: dict[str, _Asked] = {}
        """Per node: the spares asked for that have not shown up yet."""

    def run_forever(self) -> None:
        while True:
            try:
                self.tend()
            except Exception as exc:  # a raylet restarting, a node going away: try again next time
                log.debug("kern spare workers: %r", exc)
            time.sleep(POLL_SECONDS)

    def tend(self) -> None:
        now = time.monotonic()
        if now - self._nodes_read > NODES_SECONDS:
            self._read_nodes()
            self._nodes_read = now
        for node_id, stub in list(self._raylets.items()):
            try:
                self._tend_node(node_id, stub, now)
            except Exception as exc:
                log.debug("kern spare workers on node %s: %r", node_id[:12], exc)

    def _tend_node(self, node_id: str, stub: Any, now: float) -> None:
        """Ask the node for the spares it lacks, counting those asked for that are still starting (a
        worker takes 1-3 s), so a spare taken at once is replaced at once, and none is asked for twice."""
        spares = self._spares(stub)
        asked = self._asked.get(node_id)
        starting = 0
        if asked is not None and now - asked.at < STARTING_SECONDS:
            starting = max(asked.outstanding - len(spares - asked.seen), 0)
        missing = self.wanted - len(spares) - starting
        if missing > 0:
            self._prestart(stub, missing)
            self._asked[node_id] = _Asked(now, starting + missing, spares)
        elif asked is not None:
            self._asked[node_id] = asked._replace(outstanding=starting, seen=spares)

    def _read_nodes(self) -> None:
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import node_manager_pb2_grpc

        alive = {
            node["NodeID"]: f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}"
            for node in ray.nodes()
            if node["Alive"] and node.get("Resources", {}).get("CPU", 0) > 0
        }
        for node_id in set(self._raylets) - set(alive):
            del self._raylets[node_id]
            self._asked.pop(node_id, None)
        for node_id, address in alive.items():
            if node_id not in self._raylets:
                self._raylets[node_id] = node_manager_pb2_grpc.NodeManagerServiceStub(
                    init_grpc_channel(address)
                )

    @staticmethod
    def _spares(stub: Any) -> frozenset[int]:
        """Pids of the node's workers that never ran anything (no job, no actor)."""
        common_pb2, node_manager_pb2 = _protos()
        reply = stub.GetNodeStats(
            node_manager_pb2.GetNodeStatsRequest(include_memory_info=False), timeout=RPC_TIMEOUT_SECONDS
        )
        return frozenset(
            w.pid
            for w in reply.core_workers_stats
            if w.worker_type == common_pb2.WorkerType.WORKER
            and not w.job_id.strip(_NIL)
            and not w.actor_id.strip(_NIL)
        )

    @staticmethod
    def _prestart(stub: Any, count: int) -> None:
        common_pb2, node_manager_pb2 = _protos()
        stub.PrestartWorkers(
            node_manager_pb2.PrestartWorkersRequest(
                language=common_pb2.Language.PYTHON,
                num_workers=count,
                keep_alive_duration_secs=KEEP_ALIVE_SECONDS,
            ),
            timeout=RPC_TIMEOUT_SECONDS,
        )


class _Asked(NamedTuple):
    at: float
    """When spares were last asked for (ones not up `STARTING_SECONDS` later are taken as lost)."""
    outstanding: int
    """How many of them have not shown up yet."""
    seen: frozenset[int]
    """The node's spares at the last look: a new pid is one of those asked for."""


def _protos() -> tuple[Any, Any]:
    """Ray's generated protobuf modules for the raylet's RPCs (untyped)."""
    from ray.core.generated import common_pb2, node_manager_pb2

    return common_pb2, node_manager_pb2
