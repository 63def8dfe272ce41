"""A team whose member runs on a second Ray node: stream, cancel, then lose the member's node.

Run by tests/test_multinode.py in its own process (it starts its own two-node Ray cluster).
Prints one line per check, `OK <name>` or fails with an assertion.
"""

from __future__ import annotations

import sys
import threading

import ray
from ray.cluster_utils import Cluster

from actors.runtime import ON_HEAD_NODE
from kern.agent import Agent
from kern.model_server import ModelServer
from kern.run.agent import RunEvent
from kern.run.team import TeamRunEvent
from kern.team import Team
from tests.support import model, names


def main() -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    member_node = cluster.add_node(num_cpus=1, resources={"member_node": 1})
    ray.init(address=cluster.address, namespace="kern", log_to_driver=False)
    try:
        with ModelServer() as server:
            run_checks(server, cluster, member_node)
    finally:
        ray.shutdown()
        cluster.shutdown()


def run_checks(server: ModelServer, cluster: Cluster, member_node: object) -> None:
    writer = Agent(
        name="Remote Writer",
        model=model(server, tokens_per_second=50, reply_words=2000),
        ray_options={"resources": {"member_node": 0.01}},
    )
    team = Team(
        name="Remote Team", members=[writer], model=model(server), ray_options={"resources": ON_HEAD_NODE}
    )

    events: list = []
    for event in team.run("Write", stream=True):
        events.append(event)
        if event.event == RunEvent.run_content and sum(e.event == RunEvent.run_content for e in events) == 5:
            threading.Thread(target=team.cancel_run, args=(events[0].run_id,)).start()
    assert names(events)[-2:] == ["RunCancelled", "TeamRunCancelled"], names(events)
    print("OK cancel reaches the member on the other node", flush=True)

    events = []
    for event in team.run("Write", stream=True):
        events.append(event)
        if event.event == RunEvent.run_content and member_node in cluster.worker_nodes:
            cluster.remove_node(member_node)
    assert events[-1].event == TeamRunEvent.run_completed, names(events)
    tool_done = next(e for e in events if e.event == TeamRunEvent.tool_call_completed)
    assert "Remote Writer failed" in tool_done.content, tool_done.content
    print("OK losing the member's node ends the member, the team carries on", flush=True)


if __name__ == "__main__":
    sys.exit(main())
