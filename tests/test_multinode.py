"""Three Ray nodes on one machine (`ray.cluster_utils.Cluster`), in a process of its own: where kern places
teams and members, then a team and its member on different nodes, cancelled across nodes, then their
nodes hang and die."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_team_across_nodes_that_hang_and_die() -> None:
    # Ray's temp dir of its own (short: Ray's socket paths must stay short), so the record of the cluster
    # it starts never leads another `ray.init()` on the machine to it; its own process group, so a timeout
    # ends the nodes with the script.
    temp = Path(tempfile.mkdtemp(prefix="kn", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    script = subprocess.Popen(
        [sys.executable, "-m", "tests.scripts.node_failures"],
        cwd=REPO,
        env={**env, "TMPDIR": str(temp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = script.communicate(timeout=280)
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait(timeout=30)
        shutil.rmtree(temp, ignore_errors=True)
    print(stdout)
    assert script.returncode == 0, stdout + stderr[-4000:]
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
        assert check in stdout, stdout
