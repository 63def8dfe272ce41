"""`kern up` / `kern down`: start and stop the local head node that `kern.local_cluster` records."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from kern.local_cluster import (
    LOG_FILE,
    WORKER_NICENESS,
    ClusterState,
    is_alive,
    kern_home,
    live_cluster,
    read_state,
    remove_state,
    state_path,
    use_auth,
    write_state,
)

DEFAULT_PORT = 6379
READY_MARKER = "Ray runtime started"
"""What `ray start` logs once its GCS and raylet are up."""
PRELOAD_MODULES = ",".join(
    [
        "actors.component",
        "kern.models.openai.sse",
        "kern.models.openai.errors",
        "openai.resources.responses.responses",
        "openai.resources.chat.completions.completions",
        "anyio._backends._asyncio",
        "httpcore2",
        "truststore",
    ]
)
"""Imported by every Ray worker of the cluster before it takes work (Ray's `preload_python_modules`; best
effort: a module that cannot be imported is logged and skipped), so an idle worker is ready to host an
agent's or team's actor and its first run imports nothing: the actor's code and the openai SDK (~1 s of
imports on two cores), and what the SDK imports only at its first request (the Responses and Chat
resources, the HTTP stack, TLS trust: ~0.4 s of a new actor's first run). Not the facades (`kern.team`,
`kern.agent`: rich, markdown, ~7 MiB per worker), which actors never use. `benchmarks/actor_footprint.py`
measures what each costs."""
SPARE_WORKERS_VARIABLE = "KERN_SPARE_WORKERS"
DEFAULT_SPARE_WORKERS = "2"
"""Idle workers the cluster's supervisor keeps started on each node (`actors.spares`), unless the
variable is set for `kern up`: a new agent's or team's actor starts on one at once instead of waiting
~2-3 s for a new process. Two, so a new team's actor and its first member both find one."""
RAY = [sys.executable, "-m", "ray.scripts.scripts"]
"""Ray's CLI run by this interpreter: its workers use the same one (and find kern installed in it)."""


class ClusterError(RuntimeError):
    """`kern up` / `kern down` could not do what was asked; the message says why."""


@dataclasses.dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    session: int
    """Session id on Linux (Ray's workers leave the process group, not the session); else the pgid."""
    command: str


SESSION_COLUMN = "sid" if sys.platform.startswith("linux") else "pgid"


def list_processes() -> list[Process]:
    """Every live (non-zombie) process, from `ps` (Linux and macOS)."""
    output = subprocess.run(
        ["ps", "-A", "-ww", "-o", f"pid=,ppid=,{SESSION_COLUMN}=,stat=,command="],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    found = []
    for line in output.splitlines():
        parts = line.split(None, 4)
        if len(parts) >= 4 and not parts[3].startswith("Z"):
            command = parts[4] if len(parts) > 4 else ""
            found.append(Process(int(parts[0]), int(parts[1]), int(parts[2]), command))
    return found


def cluster_processes(state: ClusterState) -> list[Process]:
    """The cluster's live processes: those naming its temp dir (`ray start`, GCS, raylet, agents), and the
    descendants and session of `ray start` while it is the one recorded (not a reused pid)."""
    everything = list_processes()
    ours = any(p.pid == state.pid and state.temp_dir in p.command for p in everything)
    found = {p.pid for p in everything if state.temp_dir in p.command or (ours and p.session == state.pgid)}
    children: dict[int, list[int]] = {}
    for p in everything:
        children.setdefault(p.ppid, []).append(p.pid)
    stack = list(found)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return [p for p in everything if p.pid in found]


@contextlib.contextmanager
def locked(home: Path) -> Iterator[None]:
    """One `kern up` / `kern down` at a time per KERN_HOME."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "cluster.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("", port))
        except OSError:
            return False
        return True


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _temp_dir(home: Path) -> Path:
    """Short (Ray's socket paths must fit in ~107 bytes) and unique to this KERN_HOME."""
    digest = hashlib.sha1(str(home.resolve()).encode()).hexdigest()[:8]
    return Path(os.environ.get("RAY_TMPDIR") or "/tmp") / f"kern-{os.getuid()}-{digest}"


def _auth() -> tuple[str, str | None]:
    """The auth mode for the cluster (token unless `RAY_AUTH_MODE=disabled`, as for `ray.init()`), with a
    token generated in Ray's default place if none exists; and `RAY_AUTH_TOKEN_PATH` if set."""
    mode = "disabled" if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled" else "token"
    token_path = os.environ.get("RAY_AUTH_TOKEN_PATH") or None
    if mode == "token" and not os.environ.get("RAY_AUTH_TOKEN"):
        if token_path:
            if not Path(token_path).is_file():
                raise ClusterError(f"RAY_AUTH_TOKEN_PATH={token_path} does not exist")
        elif not (Path.home() / ".ray" / "auth_token").is_file():
            subprocess.run(
                [*RAY, "get-auth-token", "--generate"],
                env={**os.environ, "RAY_AUTH_MODE": "token"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
                timeout=60,
            )
    return mode, token_path


def _wait_ready(process: subprocess.Popen[bytes], log_file: Path, address_file: Path, timeout: float) -> None:
    """Until `ray start` says it started and has written the cluster's address (which it writes after
    saying so: reading it at the first sign of life was a race)."""
    deadline = time.monotonic() + timeout
    while READY_MARKER not in log_file.read_text(errors="replace") or not address_file.exists():
        if process.poll() is not None:
            raise ClusterError(f"ray start exited with {process.returncode}:\n{_tail(log_file)}")
        if time.monotonic() > deadline:
            raise ClusterError(f"Ray did not start within {timeout:.0f} s:\n{_tail(log_file)}")
        time.sleep(0.1)


def _tail(log_file: Path, lines: int = 20) -> str:
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def _check_attach(state: ClusterState, timeout: float) -> None:
    """Attach a driver as a script would (token auth included) and start the namespace's supervisor
    actor, so the first script finds it running; then leave."""
    import ray

    from actors.runtime import NAMESPACE, supervisor

    use_auth(state)
    ray.init(address=state.address, namespace=NAMESPACE, log_to_driver=False, logging_level=logging.WARNING)
    try:
        ray.get(supervisor().live_runs.remote(), timeout=timeout)
    finally:
        ray.shutdown()


def up(
    *, num_cpus: int | None = None, port: int | None = None, timeout: float = 90.0, home: Path | None = None
) -> tuple[ClusterState, bool]:
    """Start the head node unless the recorded one is alive; returns (its state, started now?)."""
    home = home or kern_home()
    with locked(home):
        state = read_state(home)
        if state is not None:
            if is_alive(state):
                return state, False
            if cluster_processes(state):
                raise ClusterError(
                    f"the recorded cluster (pid {state.pid}) has processes left but does not answer at "
                    f"{state.address}: run `kern down` first"
                )
            remove_state(home)
        return _start(home, num_cpus or os.cpu_count() or 1, port, timeout), True


def _start(home: Path, num_cpus: int, port: int | None, timeout: float) -> ClusterState:
    if port and not _free(port):
        raise ClusterError(f"port {port} is in use: choose another with --port, or leave it out")
    port = port or (DEFAULT_PORT if _free(DEFAULT_PORT) else _free_port())
    auth_mode, token_path = _auth()
    temp_dir = _temp_dir(home)
    shutil.rmtree(temp_dir, ignore_errors=True)
    log_file = home / LOG_FILE
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # SIGTERM means stop now: no 30 s drain for Ray Serve replicas that kern does not have.
    env.update(
        RAY_AUTH_MODE=auth_mode,
        RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
        RAY_preload_python_modules=PRELOAD_MODULES,
        RAY_worker_niceness=WORKER_NICENESS,
    )
    env.setdefault(SPARE_WORKERS_VARIABLE, DEFAULT_SPARE_WORKERS)
    command = [
        *RAY, "start", "--head", "--block", "--disable-usage-stats",
        "--port", str(port),
        "--num-cpus", str(num_cpus),
        "--temp-dir", str(temp_dir),
        "--include-dashboard", "false",
        "--dashboard-port", str(_free_port()),
        "--dashboard-agent-listen-port", "0",
        "--ray-client-server-port", str(_free_port()),
    ]  # fmt: skip
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state = ClusterState(
        address="",
        pid=process.pid,
        pgid=process.pid,
        temp_dir=str(temp_dir),
        session_dir="",
        log_file=str(log_file),
        num_cpus=num_cpus,
        auth_mode=auth_mode,
        auth_token_path=token_path,
        started_at=time.time(),
    )
    try:
        address_file = temp_dir / "ray_current_cluster"
        _wait_ready(process, log_file, address_file, timeout)
        state = dataclasses.replace(
            state,
            # Ray's choice of node IP (it avoids loopback addresses), as `ray start` recorded it.
            address=address_file.read_text().strip(),
            session_dir=str((temp_dir / "session_latest").resolve()),
        )
        _check_attach(state, timeout)
    except BaseException as error:
        _stop(state, timeout=10.0)
        if isinstance(error, Exception) and not isinstance(error, ClusterError):
            raise ClusterError(
                f"a driver could not attach to the new cluster ({error!r}); log: {log_file}"
            ) from error
        raise
    write_state(state, home)
    return state


@dataclasses.dataclass(frozen=True)
class Stopped:
    state: ClusterState | None
    """The cluster that was recorded (None: there was none)."""
    running: int
    """How many of its processes were running (0: the record was stale)."""


def down(*, timeout: float = 20.0, home: Path | None = None) -> Stopped:
    """Stop the recorded cluster (if any), verify none of its processes is left, forget it."""
    home = home or kern_home()
    if not state_path(home).exists():
        return Stopped(None, 0)
    with locked(home):
        state = read_state(home)
        if state is None:
            remove_state(home)  # unreadable: nothing to stop
            return Stopped(None, 0)
        running = len(cluster_processes(state))
        if running:
            _stop(state, timeout)
        remove_state(home)
        if Path(state.temp_dir).name.startswith("kern-"):
            shutil.rmtree(state.temp_dir, ignore_errors=True)
        return Stopped(state, running)


def _stop(state: ClusterState, timeout: float) -> None:
    """SIGTERM to `ray start` (it stops the raylet, then the GCS, ...), then to all, then SIGKILL."""
    deadline = time.monotonic() + timeout
    with contextlib.suppress(ProcessLookupError):
        os.kill(state.pid, signal.SIGTERM)
    if _wait_gone(state, time.monotonic() + timeout / 2):
        return
    _signal_all(state, signal.SIGTERM)
    if _wait_gone(state, deadline):
        return
    until = time.monotonic() + 5.0
    while left := cluster_processes(state):
        if time.monotonic() > until:
            names = ", ".join(f"{p.pid} {p.command[:60]}" for p in left)
            raise ClusterError(f"processes of the cluster are still running after SIGKILL: {names}")
        _signal_all(state, signal.SIGKILL)
        time.sleep(0.2)


def _signal_all(state: ClusterState, sig: signal.Signals) -> None:
    for process in cluster_processes(state):
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, sig)


def _wait_gone(state: ClusterState, until: float) -> bool:
    while cluster_processes(state):
        if time.monotonic() > until:
            return False
        time.sleep(0.2)
    return True


def run_command(args: argparse.Namespace) -> int:
    """`kern up`, `kern down`, `kern status`: print what happened; the exit code."""
    home = kern_home()
    commands = {"up": _up_command, "down": _down_command, "status": _status_command}
    try:
        return commands[args.command](args, home)
    except ClusterError as error:
        print(f"[kern {args.command}] {error}", file=sys.stderr)
        return 1


def _up_command(args: argparse.Namespace, home: Path) -> int:
    if (state := live_cluster(home)) is None:
        print(f"[kern up] Starting a local Ray cluster (state in {home})...", flush=True)
    state, started = up(num_cpus=args.num_cpus, port=args.port, timeout=args.timeout, home=home)
    if started:
        print(f"[kern up] Ray is up at {state.address} ({state.num_cpus} CPUs, pid {state.pid}).")
        print("[kern up] Scripts attach to it (unless RAY_ADDRESS is set); `kern down` stops it.")
    else:
        print(f"[kern up] Already up at {state.address} (pid {state.pid}).")
    return 0


def _down_command(args: argparse.Namespace, home: Path) -> int:
    stopped = down(timeout=args.timeout, home=home)
    if stopped.state is None:
        print(f"[kern down] No kern cluster is recorded in {home}: nothing to stop.")
    elif stopped.running:
        address, count = stopped.state.address, stopped.running
        print(f"[kern down] Stopped the cluster at {address} ({count} processes).")
    else:
        print(f"[kern down] The cluster at {stopped.state.address} was not running: record removed.")
    return 0


def _status_command(args: argparse.Namespace, home: Path) -> int:
    state = read_state(home)
    if state is None:
        print(f"[kern status] No kern cluster is recorded in {home}.")
        return 1
    if not is_alive(state):
        print(
            f"[kern status] The cluster recorded at {state.address} is not running (`kern down` forgets it)."
        )
        return 1
    print(
        f"[kern status] Up at {state.address}: pid {state.pid}, {state.num_cpus} CPUs, auth {state.auth_mode}"
    )
    print(f"[kern status] Session {state.session_dir}, log {state.log_file}")
    return 0
