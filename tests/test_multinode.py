"""Two Ray nodes on one machine (`ray.cluster_utils.Cluster`), in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(240)
def test_team_across_two_nodes() -> None:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.scripts.two_node_team"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert "OK cancel reaches the member on the other node" in done.stdout
    assert "OK losing the member's node ends the member, the team carries on" in done.stdout
