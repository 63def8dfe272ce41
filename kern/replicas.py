"""`Replicas`: how many actors serve one agent or team, and when kern adds or removes one."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from kern.settings import from_environment

ENVIRONMENT = {
    "min": "KERN_MIN_REPLICAS",
    "max": "KERN_MAX_REPLICAS",
    "target_runs": "KERN_TARGET_RUNS_PER_REPLICA",
    "target_cpu": "KERN_TARGET_CPU_PER_REPLICA",
    "idle_seconds": "KERN_REPLICA_IDLE_SECONDS",
    "exit_idle_seconds": "KERN_EXIT_IDLE_SECONDS",
}
"""Environment variables that set the default for components that give no `replicas`."""
STATUS_TIMEOUT_SECONDS = 10.0


class Replicas(BaseModel):
    """Bounds and targets of one component's replicas (`Agent(..., replicas=Replicas(max=8))`).

    kern keeps between `min` and `max` actors for the component, and no more than the cluster has CPUs
    (a replica is one process: more of them than cores only adds overhead). It adds one as soon as the
    replicas are busy: more than `target_runs` runs in flight each, or more than `target_cpu` of a core
    each (averaged over 10 s). It removes one once fewer would have done for `idle_seconds`: a removed
    replica takes no new runs and ends when its runs have finished. With `exit_idle_seconds`, every
    replica, the first included, ends after that long with no run in flight (its process and memory are
    given back); the next run starts them again (a second or two).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    min: int = Field(default=1, ge=1)
    max: int = Field(default=4, ge=1)
    target_runs: int = Field(default=200, ge=1)
    """Runs in flight per replica that the pool aims for at most."""
    target_cpu: float = Field(default=0.5, gt=0, le=1)
    """Cores per replica the pool aims for: one process runs Python on one core at a time, and a busy
    event loop delays every stream and cancel on it. One replica streams 200 team runs at 20 tokens/s
    on about 0.4 of a core (benchmarks/concurrency.py)."""
    idle_seconds: float = Field(default=60.0, ge=0)
    """How long the load must stay low before a replica is removed."""
    exit_idle_seconds: float | None = Field(default=None, ge=1)
    """How long with no run before all replicas end (None: never, the default: they stay warm)."""

    @model_validator(mode="after")
    def _ordered(self) -> Replicas:
        if self.max < self.min:
            raise ValueError(f"max replicas ({self.max}) is below min ({self.min})")
        return self


class ReplicaStatus(BaseModel):
    """One replica as the supervisor last saw it."""

    name: str
    state: Literal["starting", "ready", "draining"]
    """Draining: being removed, it takes no new runs and ends once its runs have."""
    runs: int
    lag_ms: float
    """The longest its event loop was late in the last second."""
    cpu: float
    """Cores it used, averaged over the last 10 s."""
    node_id: str | None
    stuck_tools: int = 0
    """Sync tool threads still busy in runs that were cancelled (kern.tools.threads)."""
    records_waiting: int = 0
    """Run records its database has not taken yet: slow, locked or down (kern.db.writer retries them)."""
    records_lost: int = 0
    """Run records it gave up on (the database refused them for good, or too many waited)."""
    pid: int | None = None
    memory_mib: float | None = None
    """Resident memory of its process."""
    idle_seconds: float | None = None
    """How long it has had no run in flight (None until it first answers)."""


class PoolStatus(BaseModel):
    """One component's replicas (`kern ps`)."""

    name: str
    kind: str
    bounds: Replicas
    limit: int
    """The most replicas it may have now: `bounds.max`, or the cluster's CPU count if fewer."""
    replicas: list[ReplicaStatus]
    problem: str | None
    """The last thing that went wrong (a replica that died, would not start, or stopped answering)."""


def default_replicas() -> Replicas:
    """The default: `Replicas()` with any `KERN_*REPLICA*` environment variables applied."""
    return from_environment(Replicas, ENVIRONMENT, "replica")


def status() -> list[PoolStatus]:
    """Every component's replicas in the current Ray namespace, as the supervisor sees them (`kern ps`)."""
    import ray

    from actors.runtime import supervisor

    return ray.get(supervisor().pools.remote(), timeout=STATUS_TIMEOUT_SECONDS)
