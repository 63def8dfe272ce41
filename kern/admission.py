"""`Admission`: how many runs a component lets in at once, how many wait, and when the rest are refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from kern.settings import from_environment

ENVIRONMENT = {
    "max_runs": "KERN_MAX_RUNS_PER_REPLICA",
    "max_queued": "KERN_MAX_QUEUED_PER_REPLICA",
    "queue_seconds": "KERN_QUEUE_SECONDS",
    "max_runs_per_node": "KERN_MAX_RUNS_PER_NODE",
}
"""Environment variables that set the default for components that give no `admission`."""


class Admission(BaseModel):
    """Limits on a component's runs in flight (`Agent(..., admission=Admission(max_runs=50))`).

    They count the runs callers start (a team's runs on the team, an agent's own runs on the agent), not
    the member runs of a team run already let in. A run past a limit waits its turn, first come first
    served, before it starts (no event until then); a run that finds `max_queued` runs waiting already is
    refused at once with `kern.exceptions.TooManyRunsError` (HTTP 429 with `Retry-After`), once every
    replica of the component has refused it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_runs: int = Field(default=1000, ge=1)
    """Runs in flight per replica. One replica streams 500 team runs at 20 tokens/s on one core
    (benchmarks/concurrency.py); past that its event loop delays every stream and cancel on it."""
    max_queued: int = Field(default=1000, ge=0)
    """Runs waiting per replica (and per node) for a turn; past it new runs are refused."""
    queue_seconds: float = Field(default=60.0, gt=0)
    """How long a run waits for its turn; then it ends with `RunError` (`error_type` "QueueTimeout")."""
    max_runs_per_node: int | None = Field(default=None, ge=1)
    """Runs in flight on one Ray node, over every component's replicas there that set it (None: no limit)."""


def default_admission() -> Admission:
    """The default: `Admission()` with any `KERN_MAX_*` / `KERN_QUEUE_SECONDS` environment variables."""
    return from_environment(Admission, ENVIRONMENT, "admission")
