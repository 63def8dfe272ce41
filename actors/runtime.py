"""Connecting to Ray and finding (or creating) kern's named actors."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import ray
from ray.actor import ActorHandle
from ray.exceptions import ActorDiedError, ActorUnavailableError

from actors.pools import PoolConfig
from actors.supervisor import Supervisor
from kern import local_cluster
from kern.specs import AgentSpec, ComponentSpec, TeamSpec

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

local_cluster.prefer_worker_priority()


def ensure_ray() -> None:
    """Connect to Ray on first use: `RAY_ADDRESS` if set, else the `kern up` cluster if it is running, else
    a new local instance. Reuses an existing connection."""
    with _lock:
        if not ray.is_initialized():
            ray.init(
                address=os.environ.get("RAY_ADDRESS") or local_cluster.attach_address(),
                namespace=NAMESPACE,
                include_dashboard=False,
                log_to_driver=True,
            )


def attach_ray() -> bool:
    """Connect to a running Ray cluster, never start one (to cancel a run, a process needs the cluster
    the run is on): `RAY_ADDRESS`, else the `kern up` cluster, else one on this machine. False if none."""
    with _lock:
        if ray.is_initialized():
            return True
        try:
            ray.init(
                address=os.environ.get("RAY_ADDRESS") or local_cluster.attach_address() or "auto",
                namespace=NAMESPACE,
                include_dashboard=False,
                log_to_driver=False,
            )
        except ConnectionError:
            return False
        return True


def use_namespace(namespace: str) -> None:
    """Run this process's kern lookups in `namespace` (called in each actor with its creator's)."""
    global NAMESPACE
    NAMESPACE = namespace


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


def pool_config(spec: AgentSpec | TeamSpec) -> PoolConfig:
    """What the supervisor needs to keep the component's replicas."""
    return PoolConfig(
        name=actor_name(spec), kind=spec.kind, ray_options=spec.ray_options, bounds=spec.replicas
    )


def replica_actor(config: PoolConfig, index: int) -> ActorHandle:
    """Get or create one replica of a component (its options apply when it is created).

    Replicas are detached: they serve every process of the namespace and live as long as the Ray
    cluster (a local `ray.init()` cluster ends with its driver), or until the supervisor removes them.
    """
    from actors.component import AgentActor, TeamActor

    ensure_ray()
    actor_class = TeamActor if config.kind == "team" else AgentActor
    options = {**DEFAULT_ACTOR_OPTIONS, **config.ray_options, "name": config.replica_name(index)}
    return actor_class.options(  # type: ignore[union-attr]
        namespace=NAMESPACE, get_if_exists=True, lifetime="detached", **options
    ).remote(NAMESPACE)
