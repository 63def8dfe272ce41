"""Placement as Ray options, on a described cluster: the default spreads teams over nodes with CPUs and
keeps members with their team, labels and resources narrow the nodes, and what no node can meet fails
with a message that names what was asked and what the nodes have."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from actors import placement
from actors.placement import Node, actor_options, label_matches
from kern.agent import Agent
from kern.placement import Placement, PlacementError, placement_of

HEAD = Node("c" * 56, {"memory": 4e9}, {"role": "head"})
"""A head node started with no CPUs (kept for Ray's control plane)."""
ZONE_A = Node("a" * 56, {"CPU": 2.0}, {"zone": "a"})
ZONE_B = Node("b" * 56, {"CPU": 2.0, "gpu_node": 1.0}, {"zone": "b"})


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Three nodes; the returned counts are kern actors per node id (edit them in a test)."""
    counts: dict[str, int] = {}
    monkeypatch.setattr(placement, "live_nodes", lambda: [HEAD, ZONE_A, ZONE_B])
    monkeypatch.setattr(placement, "_kern_actors_per_node", lambda: counts)
    monkeypatch.setattr(placement, "_chosen", [])
    return counts


def target(options: dict[str, Any]) -> tuple[str, bool]:
    strategy = options["scheduling_strategy"]
    return strategy.node_id, strategy.soft


def test_default_goes_to_the_least_used_node_with_cpus(cluster: dict[str, int]) -> None:
    cluster.update({ZONE_A.node_id: 3, ZONE_B.node_id: 1})
    assert target(actor_options("kern:team:t", Placement(), None, {})) == (ZONE_B.node_id, False)
    # The choice counts at once: a burst of new actors does not all land on the emptiest node.
    cluster.update({ZONE_B.node_id: 2})
    assert target(actor_options("kern:team:u", Placement(), None, {})) == (ZONE_A.node_id, False)


def test_members_go_to_their_teams_node_unless_told_to_spread(cluster: dict[str, int]) -> None:
    cluster.update({ZONE_A.node_id: 5})
    assert target(actor_options("kern:agent:m", Placement(), ZONE_A.node_id, {}))[0] == ZONE_A.node_id
    spread = actor_options("kern:agent:m", Placement(strategy="spread"), ZONE_A.node_id, {})
    assert target(spread)[0] == ZONE_B.node_id


def test_labels_and_resources_narrow_the_nodes(cluster: dict[str, int]) -> None:
    options = actor_options("kern:agent:g", Placement(resources={"gpu_node": 0.5}), None, {})
    assert options["resources"] == {"gpu_node": 0.5} and target(options)[0] == ZONE_B.node_id
    labelled = actor_options("kern:agent:h", Placement(labels={"role": "head"}), None, {})
    assert labelled["label_selector"] == {"role": "head"} and target(labelled)[0] == HEAD.node_id
    # A member whose team is on a node its labels exclude goes where its labels say.
    near = actor_options("kern:agent:m", Placement(labels={"zone": "!a"}), ZONE_A.node_id, {})
    assert target(near)[0] != ZONE_A.node_id


def test_raw_ray_scheduling_strategy_is_kept(cluster: dict[str, int]) -> None:
    assert actor_options("kern:agent:r", Placement(), None, {"scheduling_strategy": "SPREAD"}) == {}


def test_what_no_node_meets_fails_naming_the_request_and_the_nodes(cluster: dict[str, int]) -> None:
    with pytest.raises(PlacementError) as raised:
        actor_options("kern:agent:x", Placement(resources={"tpu_node": 1}, labels={"zone": "b"}), None, {})
    message = str(raised.value)
    assert "kern:agent:x" in message and "'tpu_node': 1.0" in message and "'zone': 'b'" in message
    assert all(node.node_id[:12] in message for node in (HEAD, ZONE_A, ZONE_B))
    with pytest.raises(PlacementError, match=r"'GPU': 1\.0"):
        actor_options("kern:agent:y", Placement(), None, {"num_gpus": 1})


@pytest.mark.parametrize(
    ("value", "expression", "matches"),
    [
        ("a", "a", True), ("a", "b", False), (None, "a", False),
        ("a", "!a", False), (None, "!a", True),
        ("b", "in(a, b)", True), ("c", "in(a,b)", False),
        ("c", "!in(a,b)", True), (None, "!in(a,b)", True), ("a", "!in(a,b)", False),
    ],
)  # fmt: skip
def test_label_expressions_follow_rays(value: str | None, expression: str, matches: bool) -> None:
    assert label_matches(value, expression) is matches


def test_bad_placements_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="placement must be a Placement, 'spread' or 'with_team'"):
        placement_of("pack")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="CPU is not a custom resource"):
        Placement(resources={"CPU": 1})
    with pytest.raises(ValidationError, match="must be a positive amount"):
        Placement(resources={"gpu_node": 0})
    with pytest.raises(ValidationError, match="both say where the actors go"):
        Agent(name="Both", placement="spread", ray_options={"scheduling_strategy": "DEFAULT"})
    assert Agent(name="Short", placement="with_team").spec.placement == Placement(strategy="with_team")
