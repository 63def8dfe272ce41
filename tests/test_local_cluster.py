"""`kern up` / `kern down`: a local Ray cluster that outlives scripts, which attach to it by themselves.

Everything runs in subprocesses (the `kern` command, fresh scripts), with a temporary KERN_HOME: the
test session's own Ray instance and a developer's cluster are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from kern.local_cluster import ClusterState, attach_address, dead_ray_start_address, read_state, write_state
from kern.local_cluster_control import cluster_processes
from kern.model_server import ModelServer

REPO = Path(__file__).resolve().parents[1]
COMMAND_TIMEOUT = 120.0
SCRIPT_TIMEOUT = 90.0

RUN_AGENT = """
import json, sys
import ray
from kern.agent import Agent
from kern.models.openai import OpenAIResponses

agent = Agent(name="Attach Probe", model=OpenAIResponses(id="m", api_key="k", base_url=sys.argv[1]))
output = agent.run("Say hello")
print(json.dumps({"gcs": ray.get_runtime_context().gcs_address, "content": output.content}))
"""

FIND_AGENT = """
import json
import ray
from actors.runtime import NAMESPACE, actor_name, ensure_ray
from kern.agent import Agent

ensure_ray()
name = actor_name(Agent(name="Attach Probe").spec)
ray.get_actor(name, namespace=NAMESPACE)  # raises if the first script's actor is not in this cluster
print(json.dumps({"gcs": ray.get_runtime_context().gcs_address, "found": name}))
"""


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "KERN_DB_URL")}
    env["KERN_HOME"] = str(home)
    return env


def kern(home: Path, *args: str, auth: bool = True) -> subprocess.CompletedProcess[str]:
    env = environment(home)
    if auth:
        env["RAY_AUTH_MODE"] = "token"
    return subprocess.run(
        [sys.executable, "-m", "kern", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )


def script(home: Path, code: str, *args: str) -> dict[str, str]:
    """A fresh script; RAY_AUTH_MODE unset, so attaching relies on what `kern up` recorded."""
    env = environment(home)
    env.pop("RAY_AUTH_MODE", None)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def force_stop(state: ClusterState | None) -> None:
    """Last resort after a failed test: no cluster is left behind."""
    if state is not None:
        for process in cluster_processes(state):
            os.kill(process.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


@pytest.mark.timeout(240)
def test_up_scripts_attach_down(tmp_path: Path, server: ModelServer) -> None:
    home = tmp_path / "kern-home"
    up = kern(home, "up", "--port", str(free_port()), "--timeout", "90")
    state = read_state(home)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert state is not None and f"Ray is up at {state.address}" in up.stdout
        assert state.auth_mode == "token"

        again = kern(home, "up")
        assert again.returncode == 0 and f"Already up at {state.address} (pid {state.pid})" in again.stdout
        assert read_state(home) == state

        status = kern(home, "status")
        assert status.returncode == 0 and f"Up at {state.address}" in status.stdout

        # The first script runs an agent; its detached actor stays in the cluster after the script exits,
        # where a second script finds it: neither started a Ray of its own.
        first = script(home, RUN_AGENT, server.base_url)
        assert first["gcs"] == state.address and first["content"]
        second = script(home, FIND_AGENT)
        assert second["gcs"] == state.address

        # The supervisor keeps two never-used workers (`actors.spares`): a new actor starts on one at once.
        # Ray alone kills idle workers once a node has more workers than CPUs (the supervisor and the
        # agent's actor take both of these two).
        deadline = time.monotonic() + 30
        while sum(p.command.startswith("ray::IDLE") for p in cluster_processes(state)) < 2:
            assert time.monotonic() < deadline, [p.command[:40] for p in cluster_processes(state)]
            time.sleep(0.5)

        for _ in range(20):  # the supervisor polls each replica once a second
            ps = kern(home, "ps")
            assert ps.returncode == 0, ps.stderr
            row = next(line for line in ps.stdout.splitlines() if line.startswith("agent attach")).split()
            if row[3] == "ready":
                break
            time.sleep(0.5)
        assert row[2:4] == ["kern:agent:attach-probe", "ready"], row
        actor_pid, memory_mib = int(row[7]), float(row[8])
        assert memory_mib > 50 and float(row[9]) >= 0, row  # memory, idle seconds
        assert "replicas 1-4" in ps.stdout

        processes = cluster_processes(state)
        assert any("raylet" in p.command for p in processes) and any(
            "gcs_server" in p.command for p in processes
        )
        assert any(p.command.startswith("ray::AgentActor") and p.pid == actor_pid for p in processes)

        stop = kern(home, "stop", "attach-probe", "no-such-agent")
        assert "kern:agent:attach-probe: stopped" in stop.stdout, stop.stdout + stop.stderr
        assert stop.returncode == 1 and "No agent or team 'no-such-agent'" in stop.stderr
        assert not any(p.pid == actor_pid for p in cluster_processes(state)), "the actor's process ended"

        down = kern(home, "down", "--timeout", "20")
        assert down.returncode == 0 and f"Stopped the cluster at {state.address}" in down.stdout, down.stderr
        assert cluster_processes(state) == [], "no Ray process of the cluster is left"
        assert read_state(home) is None and not Path(state.temp_dir).exists()

        again = kern(home, "down")
        assert again.returncode == 0 and "nothing to stop" in again.stdout
        assert kern(home, "status").returncode == 1
    finally:
        force_stop(state)


def test_a_stale_state_file_is_ignored(tmp_path: Path) -> None:
    home = tmp_path / "kern-home"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)
    stale = ClusterState(
        address=f"127.0.0.1:{free_port()}",
        pid=dead.pid,
        pgid=dead.pid,
        temp_dir=str(tmp_path / "no-such-ray"),
        session_dir=str(tmp_path / "no-such-ray" / "session_latest"),
        log_file=str(home / "cluster.log"),
        num_cpus=1,
        auth_mode="token",
        auth_token_path=None,
        started_at=0.0,
    )
    write_state(stale, home)
    assert attach_address(home) is None  # a script would start its own Ray, as without `kern up`
    ps = kern(home, "ps")
    assert ps.returncode == 1 and "No cluster to look at" in ps.stderr
    status = kern(home, "status")
    assert status.returncode == 1 and "is not running" in status.stdout
    down = kern(home, "down")
    assert down.returncode == 0 and "was not running: record removed" in down.stdout
    assert read_state(home) is None

    (home / "cluster.json").write_text("{not json")
    assert read_state(home) is None and attach_address(home) is None


def test_a_dead_ray_start_record_is_skipped(tmp_path: Path) -> None:
    """Ray records the last `ray start` for `ray.init()` to attach to; a record of a cluster that stopped
    without `ray stop` is reported, one that answers (or none, or nonsense) is not."""
    record = tmp_path / "ray_current_cluster"
    assert dead_ray_start_address(record) is None
    with socket.create_server(("127.0.0.1", 0)) as listening:
        record.write_text(f"127.0.0.1:{listening.getsockname()[1]}\n")
        assert dead_ray_start_address(record) is None
    dead = f"127.0.0.1:{free_port()}"
    record.write_text(dead)
    assert dead_ray_start_address(record) == dead
    record.write_text("not an address")
    assert dead_ray_start_address(record) is None


@pytest.mark.timeout(240)
def test_a_script_starts_its_own_ray_when_the_last_ray_start_is_dead(server: ModelServer) -> None:
    """`ray.init()` would attach to the dead cluster and fail; kern starts a local instance instead."""
    temp = Path(tempfile.mkdtemp(prefix="kr", dir="/tmp"))  # (short: Ray's socket paths must stay short)
    try:
        dead = f"127.0.0.1:{free_port()}"
        (temp / "ray").mkdir()
        (temp / "ray" / "ray_current_cluster").write_text(dead)
        env = environment(temp / "kern-home")
        env.pop("RAY_AUTH_MODE", None)
        done = subprocess.run(
            [sys.executable, "-c", RUN_AGENT, server.base_url],
            cwd=REPO,
            env={**env, "TMPDIR": str(temp)},
            capture_output=True,
            text=True,
            timeout=SCRIPT_TIMEOUT,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["content"] and result["gcs"] != dead
        assert f"names {dead}, which does not answer" in done.stderr
    finally:
        shutil.rmtree(temp, ignore_errors=True)
