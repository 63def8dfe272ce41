"""The `kern up` cluster: a local Ray head node that outlives scripts, recorded in `$KERN_HOME/cluster.json`.

Scripts attach to it (`actors.runtime.ensure_ray`) instead of starting Ray themselves, and the detached
actors they create stay warm for the next script. Starting and stopping it: `kern.local_cluster_control`.
Stdlib only until a script actually attaches (it runs on every script's first Ray call).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "cluster.json"
LOG_FILE = "cluster.log"
PROBE_TIMEOUT_SECONDS = 0.5
WORKER_NICENESS = "0"
"""Ray starts its worker processes at nice 15, below the driver; kern's actors serve streams and cancels
that the driver waits on, so a cluster kern starts (or a `ray.init()` after importing kern) runs them at
the driver's priority. Measured at 200 concurrent team runs on 2 cores: see the README's load table."""


def prefer_worker_priority() -> None:
    """Make a Ray cluster started from this process (by kern or by the user's `ray.init()`) run its workers
    at `WORKER_NICENESS` unless `RAY_worker_niceness` is set; clusters started elsewhere keep theirs."""
    os.environ.setdefault("RAY_worker_niceness", WORKER_NICENESS)


def kern_home() -> Path:
    """Where kern keeps its state: `$KERN_HOME`, default `~/.kern`."""
    return Path(os.environ.get("KERN_HOME") or Path.home() / ".kern").expanduser()


@dataclass(frozen=True)
class ClusterState:
    """What `kern up` recorded about the head node it started."""

    address: str
    """The GCS address drivers attach to (`host:port`)."""
    pid: int
    """The `ray start --head --block` process; it leads its own session and process group."""
    pgid: int
    """Its session and process group id (its pid)."""
    temp_dir: str
    """Ray's temp dir for this cluster alone (so a plain `ray.init()` elsewhere never finds it)."""
    session_dir: str
    log_file: str
    num_cpus: int
    auth_mode: str
    """`token` or `disabled`: the `RAY_AUTH_MODE` the cluster was started with."""
    auth_token_path: str | None
    """`RAY_AUTH_TOKEN_PATH` at `kern up`, if set (else Ray's own lookup: `~/.ray/auth_token`)."""
    started_at: float

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host, int(port)


def state_path(home: Path | None = None) -> Path:
    return (home or kern_home()) / STATE_FILE


def read_state(home: Path | None = None) -> ClusterState | None:
    """The recorded cluster, or None (no file, or one that cannot be read: it is treated as absent)."""
    try:
        return ClusterState(**json.loads(state_path(home).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def write_state(state: ClusterState, home: Path | None = None) -> None:
    """Write the state file atomically (a reader never sees half of it)."""
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(state), indent=2) + "\n")
    partial.replace(path)


def remove_state(home: Path | None = None) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(home).unlink()


def pid_running(pid: int) -> bool:
    """The process exists and is not a zombie (a killed process waiting to be reaped is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if sys.platform.startswith("linux"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rpartition(")")[2].split()[0] not in ("Z", "X")
    return True


def port_open(host: str, port: int, timeout: float = PROBE_TIMEOUT_SECONDS) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def is_alive(state: ClusterState) -> bool:
    """Quick check (about a millisecond): the head process runs and its GCS port accepts connections."""
    return pid_running(state.pid) and port_open(*state.host_port)


def live_cluster(home: Path | None = None) -> ClusterState | None:
    """The recorded cluster if it is alive; a stale record is ignored."""
    state = read_state(home)
    return state if state is not None and is_alive(state) else None


def attach_address(home: Path | None = None) -> str | None:
    """The running `kern up` cluster's address, with this process set to authenticate to it; else None."""
    state = live_cluster(home)
    if state is None:
        return None
    use_auth(state)
    return state.address


def dead_ray_start_address(address_file: Path | None = None) -> str | None:
    """The address of the last `ray start` on this machine, as Ray records it for `ray.init()` to attach
    to (`ray_current_cluster` in Ray's temp dir), if that cluster no longer answers: it died without
    `ray stop`, and Ray would try to attach to it and fail. None if there is no record or it answers."""
    if address_file is None:
        from ray._common.utils import get_ray_address_file

        address_file = Path(get_ray_address_file(None))
    try:
        address = address_file.read_text().strip()
    except OSError:
        return None
    host, _, port = address.rpartition(":")
    if not port.isdigit() or port_open(host, int(port)):
        return None
    return address


def use_auth(state: ClusterState) -> None:
    """Authenticate this process as the cluster expects (before `ray.init`).

    Ray enables token auth on its own only for a cluster it finds by itself, never for an explicit
    address, and it reads `RAY_AUTH_MODE` once; so when the cluster uses tokens and this process did not
    say, turn token mode on as Ray's `ray.init()` does for a new local cluster. The token is Ray's
    (`RAY_AUTH_TOKEN`, `RAY_AUTH_TOKEN_PATH`, `~/.ray/auth_token`), or the file `kern up` was told about.
    """
    if state.auth_token_path and not (
        os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
    ):
        os.environ["RAY_AUTH_TOKEN_PATH"] = state.auth_token_path
    if state.auth_mode == "token" and not os.environ.get("RAY_AUTH_MODE"):
        os.environ["RAY_AUTH_MODE"] = "token"
        from ray._raylet import Config  # type: ignore[attr-defined]

        Config.initialize("")
