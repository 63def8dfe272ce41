"""Three Ray nodes on one machine (`ray.cluster_utils.Cluster`), in a process of its own: where kern places
teams and members, then a team and its member on different nodes, cancelled across nodes, then their
nodes hang and die."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_team_across_nodes_that_hang_and_die() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.scripts.node_failures"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    for check in [
        "OK placement: teams spread over 3 nodes, each member on its team's node",
        "OK placement: a label pins the agent, and a new label moves it",
        "OK placement: a custom resource pins the agent; no node in zone c: refused in",
        "OK lifecycle: kern stop and idle exit end remote actors; the next run starts them again",
        "OK cancel reaches the member on the other node",
        "OK member node hangs, cancel",
        "OK member node hangs: member RunError",
        "OK team node hangs",
        "OK team node lost",
        "OK member node lost",
    ]:
        assert check in done.stdout, done.stdout
