"""Placement on three Ray nodes; then a team on one node, its member on another: cancel across nodes,
then hang and lose the nodes.

Run by tests/test_multinode.py in its own process (it starts its own three-node Ray cluster: the head
with the driver and the supervisor, a node for the team's actor, one for the member's). Prints one
line per check, `OK <name> <seconds>`, or fails with an assertion.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import ray
from ray.cluster_utils import Cluster

from actors.runtime import NAMESPACE, ON_HEAD_NODE, supervisor
from kern.agent import Agent
from kern.model_server import ModelServer
from kern.placement import Placement, PlacementError
from kern.replicas import Replicas
from kern.run.agent import RunEvent
from kern.run.events import is_terminal
from kern.run.team import TeamRunEvent
from kern.team import Team
from tests.support import assert_one_terminal_last, model, names, until_member_content


def main() -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    team_node = cluster.add_node(num_cpus=1, resources={"team_node": 1}, labels={"zone": "a"})
    member_node = cluster.add_node(num_cpus=1, resources={"member_node": 1}, labels={"zone": "b"})
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)
    try:
        with ModelServer() as server:
            run_checks(server, cluster, team_node, member_node)
    finally:
        ray.shutdown()
        cluster.shutdown()


def node_of(component: Agent | Team) -> str:
    """The node of the component's first replica."""
    actor = ray.get_actor(f"kern:{component.spec.kind}:{component.spec.id}", namespace=NAMESPACE)
    return ray.get(actor.__ray_call__.remote(lambda _: ray.get_runtime_context().get_node_id()), timeout=30)


def node_while_replaced(component: Agent | Team) -> str | None:
    """`node_of`, or None when the replica asked is the one being removed (it may die under the call)."""
    try:
        return node_of(component)
    except (ray.exceptions.ActorDiedError, ValueError):  # (killed under the call, or its name not yet taken)
        return None


def placement_checks(server: ModelServer, team_node: Any, member_node: Any) -> None:
    zone = {team_node.node_id: "a", member_node.node_id: "b"}
    teams = [
        Team(name=f"Spread Team {i}", members=[Agent(name=f"Spread Writer {i}", model=model(server))],
             model=model(server))
        for i in range(3)
    ]  # fmt: skip
    for team in teams:
        assert names(list(team.run("Write", stream=True)))[-1] == "TeamRunCompleted"
    team_nodes = [node_of(team) for team in teams]
    assert len(set(team_nodes)) == 3, f"the default spreads teams over the nodes: {team_nodes}"
    assert [node_of(team.members[0]) for team in teams] == team_nodes, "members run with their team"
    print("OK placement: teams spread over 3 nodes, each member on its team's node", flush=True)

    pinned = Agent(id="zoned-writer", model=model(server), placement=Placement(labels={"zone": "b"}))
    assert names(list(pinned.run("Write", stream=True)))[-1] == "RunCompleted"
    assert zone.get(node_of(pinned)) == "b"
    moved = Agent(id="zoned-writer", model=model(server), placement=Placement(labels={"zone": "a"}))
    assert names(list(moved.run("Write", stream=True)))[-1] == "RunCompleted"
    deadline = time.monotonic() + 30
    while zone.get(node_while_replaced(moved)) != "a":  # the old placement's replica ends, a new one starts
        assert time.monotonic() < deadline, "the new placement was not applied"
        time.sleep(0.5)
    print("OK placement: a label pins the agent, and a new label moves it", flush=True)

    heavy = Agent(
        id="resourced-writer", model=model(server), placement=Placement(resources={"member_node": 0.01})
    )
    assert names(list(heavy.run("Write", stream=True)))[-1] == "RunCompleted"
    assert node_of(heavy) == member_node.node_id
    nowhere = Agent(id="nowhere-writer", model=model(server), placement=Placement(labels={"zone": "c"}))
    asked = time.monotonic()
    try:
        list(nowhere.run("Write", stream=True))
        raise AssertionError("a placement no node meets was accepted")
    except PlacementError as exc:
        assert "'zone': 'c'" in str(exc) and "'zone': 'b'" in str(exc), exc
    refused = time.monotonic() - asked
    assert refused < 5, refused
    print(f"OK placement: a custom resource pins the agent; no node in zone c: refused in {refused:.1f} s")

    stopped, _ = ray.get(supervisor().stop.remote(["zoned-writer"]), timeout=30)
    assert "kern:agent:zoned-writer" in stopped, stopped  # (and the replica made when it moved, if left)
    while any(a["name"] in stopped for a in ray.util.list_named_actors(all_namespaces=True)):
        assert time.monotonic() - asked < 30, "kern stop left the actor"
        time.sleep(0.2)
    assert (
        names(list(moved.run("Write", stream=True)))[-1] == "RunCompleted" and zone.get(node_of(moved)) == "a"
    )
    napping = Agent(id="napping-writer", model=model(server), replicas=Replicas(exit_idle_seconds=1),
                    placement=Placement(labels={"zone": "b"}))  # fmt: skip
    assert names(list(napping.run("Write", stream=True)))[-1] == "RunCompleted"
    while any(
        a["name"] == "kern:agent:napping-writer" for a in ray.util.list_named_actors(all_namespaces=True)
    ):
        assert time.monotonic() - asked < 60, "the idle actor did not exit"
        time.sleep(0.2)
    assert (
        names(list(napping.run("Write", stream=True)))[-1] == "RunCompleted"
        and zone.get(node_of(napping)) == "b"
    )
    print(
        "OK lifecycle: kern stop and idle exit end remote actors; the next run starts them again", flush=True
    )


def run_checks(server: ModelServer, cluster: Cluster, team_node: Any, member_node: Any) -> None:
    placement_checks(server, team_node, member_node)
    writer = Agent(
        name="Remote Writer",
        model=model(server, tokens_per_second=50, reply_words=2000),
        ray_options={"resources": {"member_node": 0.01}},
    )
    team = Team(
        name="Remote Team",
        members=[writer],
        model=model(server),
        ray_options={"resources": {"team_node": 0.01}},
    )

    events: list[Any] = []
    stream = team.run("Write", stream=True)
    until_member_content(stream, events)
    threading.Thread(target=team.cancel_run, args=(events[0].run_id,)).start()
    events.extend(stream)
    assert names(events)[-2:] == ["RunCancelled", "TeamRunCancelled"], names(events)
    print("OK cancel reaches the member on the other node", flush=True)

    # The member's node hangs; the team's run is cancelled 3 s later.
    events = []
    stream = team.run("Write", stream=True)
    until_member_content(stream, events)
    frozen = freeze(member_node)
    time.sleep(3)
    asked = time.monotonic()
    assert team.cancel_run(events[0].run_id) is True
    answered = time.monotonic() - asked
    events.extend(stream)
    ended = time.monotonic() - asked
    assert names(events)[-2:] == ["RunCancelled", "TeamRunCancelled"], names(events)
    assert_one_terminal_last(events, events[0].run_id)
    assert answered < 3 and ended < 8, (answered, ended)
    print(
        f"OK member node hangs, cancel: answered {answered:.1f} s, TeamRunCancelled {ended:.1f} s", flush=True
    )
    thaw(frozen)

    # The member's node hangs mid-stream: the member's run ends with an error, the team carries on.
    events = []
    stream = team.run("Write", stream=True)
    until_member_content(stream, events)
    frozen = freeze(member_node)
    hung = time.monotonic()
    member_end = None
    for event in stream:
        events.append(event)
        if is_terminal(event) and event.event == RunEvent.run_error:
            member_end = time.monotonic() - hung
    thaw(frozen)
    assert events[-1].event == TeamRunEvent.run_completed, names(events)
    assert member_end is not None and member_end < 15, member_end
    assert "not responding" in next(e for e in events if e.event == RunEvent.run_error).content
    assert_one_terminal_last(events, events[0].run_id)
    print(f"OK member node hangs: member RunError after {member_end:.1f} s, the team completes", flush=True)

    # The team's node hangs mid-run: the caller gets TeamRunError once the link has been silent 10 s.
    events = []
    stream = team.run("Write", stream=True)
    until_member_content(stream, events)
    frozen = freeze(team_node)
    hung = time.monotonic()
    events.extend(stream)
    error_after = time.monotonic() - hung
    thaw(frozen)
    assert events[-1].event == TeamRunEvent.run_error and "not responding" in events[-1].content, names(
        events
    )
    assert_one_terminal_last(events, events[0].run_id)
    assert error_after < 15, error_after
    print(f"OK team node hangs: TeamRunError after {error_after:.1f} s", flush=True)

    # The team's node dies mid-run: the caller gets TeamRunError, the member's run is cancelled.
    events = []
    stream = team.run("Write", stream=True)
    until_member_content(stream, events)
    member_run = next(e.run_id for e in events if e.event == RunEvent.run_started)
    cluster.remove_node(team_node)
    lost = time.monotonic()
    events.extend(stream)
    error_after = time.monotonic() - lost
    assert events[-1].event == TeamRunEvent.run_error and events[-1].error_type == "ActorLost", names(events)
    assert_one_terminal_last(events, events[0].run_id)
    member_actor = ray.get_actor("kern:agent:remote-writer", namespace=NAMESPACE)
    while member_run in ray.get(member_actor.running.remote(), timeout=10):
        assert time.monotonic() - lost < 20, "the orphaned member run is still running"
        time.sleep(0.1)
    orphan_after = time.monotonic() - lost
    print(
        f"OK team node lost: TeamRunError {error_after:.1f} s, orphan cancelled {orphan_after:.1f} s",
        flush=True,
    )

    # The member's node dies mid-run: the member's run ends with an error, another team carries on.
    solo = Team(
        name="Head Team", members=[writer], model=model(server), ray_options={"resources": ON_HEAD_NODE}
    )
    events = []
    stream = solo.run("Write", stream=True)
    until_member_content(stream, events)
    cluster.remove_node(member_node)
    lost = time.monotonic()
    events.extend(stream)
    assert events[-1].event == TeamRunEvent.run_completed, names(events)
    tool_done = next(e for e in events if e.event == TeamRunEvent.tool_call_completed)
    assert "Remote Writer failed" in tool_done.content, tool_done.content
    assert_one_terminal_last(events, events[0].run_id)
    print(
        f"OK member node lost: member RunError, team completes in {time.monotonic() - lost:.1f} s", flush=True
    )


def freeze(node: Any) -> list[int]:
    """SIGSTOP a node's raylet and every process it started (its workers): the node hangs."""
    pids = descendants(node.all_processes["raylet"][0].process.pid)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    return pids


def thaw(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def descendants(root: int) -> list[int]:
    """`root` and every process under it (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found = [root]
    for pid in found:
        found.extend(child for child, parent in parents.items() if parent == pid)
    return found


if __name__ == "__main__":
    sys.exit(main())
