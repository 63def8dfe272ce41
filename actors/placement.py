"""A replica's `Placement` as Ray actor options, and the check that some node of the cluster can meet it.

Ray places actors that ask for no resources anywhere, and its SPREAD strategy does not spread them
(measured: 5 of 6 on one of three nodes). So kern picks the node the way Ray Serve's scheduler does:
the node, among those that meet the placement, with the fewest kern actors (the team's node for a
member), named in a `NodeAffinitySchedulingStrategy`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ray
import ray._private.state
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from kern.placement import Placement, PlacementError

ACTOR_PREFIX = "kern:"
CHOSEN_MEMORY_SECONDS = 10.0
"""A node chosen for an actor counts for it this long: the actor table lists it only once it is placed,
and a burst of new actors would otherwise all go to the same emptiest node."""
NODE_ID_LABEL = "ray.io/node-id"

_lock = threading.Lock()
_chosen: list[tuple[float, str]] = []


@dataclass(frozen=True)
class Node:
    """A live node, as the placement sees it."""

    node_id: str
    resources: Mapping[str, float]
    labels: Mapping[str, str]

    def describe(self) -> str:
        shown = {name: amount for name, amount in self.resources.items() if not name.startswith("node:")}
        return f"{self.node_id[:12]} (resources {shown}, labels {dict(self.labels)})"


def live_nodes() -> list[Node]:
    return [
        Node(node["NodeID"], node.get("Resources", {}), node.get("Labels", {}))
        for node in ray.nodes()
        if node.get("Alive")
    ]


def actor_options(
    name: str, placement: Placement, near_node: str | None, ray_options: Mapping[str, Any]
) -> dict[str, Any]:
    """The Ray options that place replica `name` (before `ray_options`, which win), after checking that
    some live node can meet them; raises `PlacementError` naming what was asked and what nodes there are."""
    nodes = live_nodes()
    asked = _resources_asked(placement, ray_options)
    selector = {**placement.labels, **ray_options.get("label_selector", {})}
    fitting = [node for node in nodes if _fits(node, asked, selector)]
    if not fitting:
        raise PlacementError(
            f"No node of the cluster can run {name}: it asks for resources {asked or '{}'} and labels "
            f"{selector or '{}'}; the nodes are: " + "; ".join(node.describe() for node in nodes)
        )
    options: dict[str, Any] = {}
    if placement.resources:
        options["resources"] = {**placement.resources, **ray_options.get("resources", {})}
    if placement.labels:
        options["label_selector"] = selector
    if "scheduling_strategy" in ray_options:
        return options
    strategy = placement.strategy or ("with_team" if near_node else "spread")
    target = near_node if strategy == "with_team" and any(n.node_id == near_node for n in fitting) else None
    if target is None:
        # A node started with no CPUs is kept for Ray's control plane, unless the placement names it.
        working = [node for node in fitting if node.resources.get("CPU", 0) > 0] or fitting
        target = _least_used(working if not placement.labels else fitting)
    # Hard: Ray 2.60 ignores a soft affinity for an actor that asks for no resources. The node is alive
    # and meets the placement; if it dies first, the replica is made again, on another node.
    options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=target, soft=False)
    return options


def node_of(actor_id: str) -> str | None:
    """The node an actor runs on (None while it is not placed)."""
    found = ray._private.state.actors(actor_id=actor_id)
    node_id = found.get("Address", {}).get("NodeID", "") if found else ""
    return node_id if node_id and node_id.strip("f0") else None  # (a nil id is all f, or empty)


def _resources_asked(placement: Placement, ray_options: Mapping[str, Any]) -> dict[str, float]:
    asked = {**placement.resources, **ray_options.get("resources", {})}
    for option, resource in (("num_cpus", "CPU"), ("num_gpus", "GPU"), ("memory", "memory")):
        if ray_options.get(option):
            asked[resource] = float(ray_options[option])
    return asked


def _fits(node: Node, asked: Mapping[str, float], selector: Mapping[str, str]) -> bool:
    return all(node.resources.get(resource, 0.0) >= amount for resource, amount in asked.items()) and all(
        label_matches(node.labels.get(key), expression) for key, expression in selector.items()
    )


def label_matches(value: str | None, expression: str) -> bool:
    """Whether a node's label value meets one of Ray's label selector expressions: `v`, `!v`, `in(a,b)`,
    `!in(a,b)` (a node without the label meets only the negations)."""
    negated = expression.startswith("!")
    body = expression[1:] if negated else expression
    if body.startswith("in(") and body.endswith(")"):
        found = value in {part.strip() for part in body[3:-1].split(",")}
    else:
        found = value == body
    return found != negated


def _least_used(nodes: list[Node]) -> str:
    """The node with the fewest kern actors (alive, or chosen in the last seconds); ties: the first."""
    now = time.monotonic()
    counts = Counter(_kern_actors_per_node())
    with _lock:
        _chosen[:] = [(at, node_id) for at, node_id in _chosen if now - at < CHOSEN_MEMORY_SECONDS]
        counts.update(node_id for _, node_id in _chosen)
        target = min(nodes, key=lambda node: counts[node.node_id]).node_id
        _chosen.append((now, target))
    return target


def _kern_actors_per_node() -> dict[str, int]:
    """Node id -> kern actors alive there (from Ray's actor table)."""
    counts: Counter[str] = Counter()
    for actor in ray._private.state.actors(actor_state_name="ALIVE").values():
        if actor["Name"].startswith(ACTOR_PREFIX):
            counts[actor["Address"]["NodeID"]] += 1
    return counts
