"""`Placement`: which nodes of a Ray cluster run an agent's or a team's actors.

kern's default, for components that give none: a team's actors (and an agent's run on its own) spread
over the nodes that have CPUs, and a team's members run on the node of the team's actor that first uses
them. A team run then crosses the network once (caller -> team), not once per member; teams, the unit of
load, are what spreads. A node started with no CPUs (`ray start --num-cpus=0`, a head kept for the
control plane) gets no actors unless a placement asks for it by label.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Strategy = Literal["spread", "with_team"]


class PlacementError(ValueError):
    """No node of the cluster can run the actor as asked (resources, labels): raised at once."""


class Placement(BaseModel):
    """Where one agent's or team's replicas run (`Agent(placement=...)`, `Team(placement=...)`).

    - `strategy="spread"`: each replica on a different node where it can (Ray's SPREAD).
    - `strategy="with_team"`: on the node of the team's actor that uses it (a member), else anywhere.
    - `labels`: only on nodes with these labels (`ray start --labels='{"zone": "a"}'`); a value may be
      one of Ray's label operators: `"!a"`, `"in(a,b)"`, `"!in(a,b)"`.
    - `resources`: only on nodes that have these custom resources (`ray start --resources=...`); each
      replica holds this much of them.

    `None` for a strategy is kern's default: `with_team` for a team's members, `spread` otherwise.
    A placement no node of the cluster can meet fails at once, naming what was asked and what the nodes
    have. A placement (or `ray_options`) that differs from the running actors' replaces them: each takes
    no new runs and ends once its runs have, and new ones start with the new placement.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: Strategy | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    resources: dict[str, float] = Field(default_factory=dict)

    @field_validator("resources")
    @classmethod
    def _positive(cls, resources: dict[str, float]) -> dict[str, float]:
        for name, amount in resources.items():
            if amount <= 0:
                raise ValueError(f"resource {name!r} must be a positive amount, not {amount}")
            if name in ("CPU", "GPU", "memory"):
                raise ValueError(f"{name} is not a custom resource: set it in ray_options")
        return resources


def placement_of(given: Placement | Strategy | None) -> Placement:
    """The `placement=` argument as a `Placement` (a strategy name is short for `Placement(strategy=...)`)."""
    if given is None:
        return Placement()
    if isinstance(given, Placement):
        return given
    if given in ("spread", "with_team"):
        return Placement(strategy=given)
    raise ValueError(f"placement must be a Placement, 'spread' or 'with_team', not {given!r}")
