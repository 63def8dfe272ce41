"""Connecting to Ray and finding (or creating) kern's named actors."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from typing import Any

import ray
from ray.actor import ActorHandle
from ray.exceptions import ActorDiedError, ActorUnavailableError

from actors.placement import actor_options
from actors.pools import PoolConfig
from actors.supervisor import Supervisor
from kern import local_cluster
from kern.specs import AgentSpec, ComponentSpec, TeamSpec

log = logging.getLogger(__name__)

NAMESPACE = os.environ.get("KERN_NAMESPACE", "kern")
"""The Ray namespace of kern's named actors; actors are told it when they are created."""
SUPERVISOR_NAME = "kern-supervisor"
DEFAULT_ACTOR_OPTIONS: dict[str, Any] = {"num_cpus": 0, "max_concurrency": 1000, "max_task_retries": 0}
READY_TIMEOUT_SECONDS = 60.0
ON_HEAD_NODE = {"node:__internal_head__": 0.001}
"""The supervisor lives on the head node: worker nodes come and go (autoscaling, failures)."""
SUPERVISOR_TIMEOUT_SECONDS = 10.0
"""Longest wait for the supervisor's answer, a restart (Ray restarts it in about 2 s) included."""
RESTART_RETRY_SECONDS = 0.2

_lock = threading.Lock()
_supervisor: ActorHandle | None = None
_home_node: str | None = None
_connected = False
_created_on: dict[str, str] = {}
"""In a team's actor, its node: the team's members are placed near it (`Placement.strategy`)."""

local_cluster.prefer_worker_priority()


def _shut_down_here() -> bool:
    """This process was connected and has shut Ray down, and the caller is a background thread (a late
    table refresh, a link's loop): it must not connect again, to a cluster that may be going away."""
    global _connected
    if ray.is_initialized():
        _connected = True
        return False
    return _connected and threading.current_thread() is not threading.main_thread()


def ensure_ray() -> None:
    """Connect to Ray on first use: `RAY_ADDRESS` if set, else the `kern up` cluster if it is running, else
    the last `ray start` cluster on this machine if it answers (as `ray.init()` does), else a new local
    instance. Reuses an existing connection. Raises `RuntimeError` on a background thread
    once the process has shut Ray down."""
    with _lock:
        if _shut_down_here():
            raise RuntimeError("Ray was shut down in this process")
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS") or local_cluster.attach_address()
            if address is None and (dead := local_cluster.dead_ray_start_address()):
                log.warning(
                    "kern: Ray's record of the last `ray start` on this machine names %s, which does not "
                    "answer (it stopped without `ray stop`): starting a local Ray instance instead",
                    dead,
                )
                address = "local"
            ray.init(
                address=address,
                namespace=NAMESPACE,
                include_dashboard=False,
                log_to_driver=True,
            )
        _shut_down_here()  # (notes that this process is connected)


def attach_ray() -> bool:
    """Connect to a running Ray cluster, never start one (to cancel a run, a process needs the cluster
    the run is on): `RAY_ADDRESS`, else the `kern up` cluster, else one on this machine. False if none."""
    with _lock:
        if ray.is_initialized():
            return True
        if _shut_down_here():
            return False
        address = os.environ.get("RAY_ADDRESS") or local_cluster.attach_address()
        if address is None and local_cluster.dead_ray_start_address():
            return False  # the only cluster Ray knows of is gone
        try:
            ray.init(
                address=address or "auto",
                namespace=NAMESPACE,
                include_dashboard=False,
                log_to_driver=False,
            )
        except ConnectionError:
            return False
        _shut_down_here()
        return True


def use_namespace(namespace: str, home_node: str | None = None) -> None:
    """Run this process's kern lookups in `namespace` (called in each actor with its creator's, and the
    actor's node, near which the members it uses are placed)."""
    global NAMESPACE, _home_node
    NAMESPACE, _home_node = namespace, home_node


def supervisor(*, refresh: bool = False) -> ActorHandle:
    """The namespace's supervisor (detached, restarted by Ray if it dies); looked up once per process."""
    global _supervisor
    ensure_ray()
    with _lock:
        if _supervisor is None or refresh:
            _supervisor = Supervisor.options(  # type: ignore[attr-defined]
                name=SUPERVISOR_NAME,
                namespace=NAMESPACE,
                get_if_exists=True,
                lifetime="detached",
                resources=ON_HEAD_NODE,
            ).remote(NAMESPACE)
        return _supervisor


def forget_supervisor(handle: ActorHandle) -> None:
    """The supervisor behind `handle` is gone for good (killed): the next `supervisor()` finds or makes
    a new one."""
    global _supervisor
    with _lock:
        if _supervisor is handle:
            _supervisor = None


def ask_supervisor(method: str, *args: Any, wait_seconds: float = SUPERVISOR_TIMEOUT_SECONDS) -> Any:
    """Call the supervisor and wait (bounded) for its answer, from any thread.

    While Ray restarts it, the call is sent again; if it is gone for good, a new one is made (it learns
    the runs in flight from their actors) and asked instead. Raises `GetTimeoutError` after `wait_seconds`.
    """
    deadline = time.monotonic() + wait_seconds
    while True:
        handle = supervisor()
        try:
            return ray.get(getattr(handle, method).remote(*args), timeout=max(deadline - time.monotonic(), 0))
        except (ActorUnavailableError, ActorDiedError) as exc:
            _after_failure(handle, exc, deadline)
            time.sleep(RESTART_RETRY_SECONDS)


async def aask_supervisor(method: str, *args: Any, wait_seconds: float = SUPERVISOR_TIMEOUT_SECONDS) -> Any:
    """The async twin of `ask_supervisor` (raises `TimeoutError`)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        handle = supervisor()
        try:
            call = getattr(handle, method).remote(*args)
            return await asyncio.wait_for(call, max(deadline - time.monotonic(), 0))
        except (ActorUnavailableError, ActorDiedError) as exc:
            _after_failure(handle, exc, deadline)
            await asyncio.sleep(RESTART_RETRY_SECONDS)


def _after_failure(handle: ActorHandle, exc: Exception, deadline: float) -> None:
    if time.monotonic() + RESTART_RETRY_SECONDS > deadline:
        raise exc
    if isinstance(exc, ActorDiedError):
        forget_supervisor(handle)


def actor_name(spec: ComponentSpec) -> str:
    """Actors are found by kind and id, so another process can reach the same agent or team. This is the
    name of the component's first replica; the others add `#1`, `#2`..."""
    return f"kern:{spec.kind}:{spec.id}"


def pool_config(spec: AgentSpec | TeamSpec, near_node: str | None = None) -> PoolConfig:
    """What the supervisor needs to keep the component's replicas (a member's: near its team's node,
    `near_node`, else this actor's)."""
    return PoolConfig(
        name=actor_name(spec),
        kind=spec.kind,
        ray_options=spec.ray_options,
        bounds=spec.replicas,
        placement=spec.placement,
        near_node=near_node or _home_node,
    )


def replica_actor(config: PoolConfig, index: int) -> ActorHandle:
    """Get or create one replica of a component (its options apply when it is created; one that exists
    with other options is replaced by its pool). Raises `PlacementError` if no node can run it.

    Replicas are detached: they serve every process of the namespace and live as long as the Ray
    cluster (a local `ray.init()` cluster ends with its driver), or until the supervisor removes them.
    """
    from actors.component import AgentActor, TeamActor

    ensure_ray()
    name = config.replica_name(index)
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        pass
    placed = actor_options(name, config.placement, config.near_node, config.ray_options)
    options = {**DEFAULT_ACTOR_OPTIONS, **config.ray_options, **placed, "name": name}
    actor_class = TeamActor if config.kind == "team" else AgentActor
    handle = actor_class.options(  # type: ignore[union-attr]
        namespace=NAMESPACE, get_if_exists=True, lifetime="detached", **options
    ).remote(NAMESPACE, config.options_key)
    target = getattr(options.get("scheduling_strategy"), "node_id", None)
    if target is not None:
        with _lock:
            _created_on[name] = target
    return handle


def created_on(name: str) -> str | None:
    """The node this process sent the replica `name` to when it made it (None if it did not)."""
    with _lock:
        return _created_on.get(name)
