"""A PostgreSQL server of a test's own, to stop and freeze: never the shared one of `scripts/postgres.sh`.

It uses the same binaries, on a free port, with its data in a temporary folder; `throwaway_postgres()`
skips the test when the binaries are missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def _bindir() -> Path | None:
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if all(os.access(f"{folder}/{tool}", os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    pg_ctl = shutil.which("pg_ctl")
    return Path(os.path.realpath(pg_ctl)).parent if pg_ctl else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayPostgres:
    """One server: `start`, `stop`, `freeze` (SIGSTOP of every server process), `thaw`, `remove`."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = _free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="kern-pg-throwaway-"))
        self.data = self.folder / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        # postgres refuses to run as root: run its tools as the `postgres` user then.
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.folder, "postgres")
        self._tool("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                   "--no-locale", "--no-sync")  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.folder}'\nfsync = off\nmax_connections = 40\n"
            )
        self.frozen: list[int] = []

    def _tool(self, tool: str, *args: str, check: bool = True) -> int:
        command = [*self._as, str(self.bindir / tool), *args]
        return subprocess.run(command, check=check, capture_output=True, timeout=60).returncode

    def start(self) -> None:
        """Start the server (unless it runs) and wait until it accepts connections."""
        if self._tool("pg_ctl", "-D", str(self.data), "status", check=False) != 0:
            log = str(self.folder / "server.log")
            self._tool("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "30", "start")

    def stop(self) -> None:
        """Stop the server (fast shutdown: its connections are closed)."""
        self._tool("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def freeze(self) -> None:
        """SIGSTOP the server and every backend: connections stay open, nothing answers."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGSTOP)  # first, so that it forks no new backend
        self.frozen = [postmaster, *_children(postmaster)]
        for pid in self.frozen[1:]:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT what `freeze` stopped."""
        for pid in reversed(self.frozen):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen = []

    def remove(self) -> None:
        """Thaw, stop at once, and delete the data."""
        self.thaw()
        self._tool("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def _children(pid: int) -> list[int]:
    found = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.split("/")[2]))
    return found


def throwaway_postgres() -> ThrowawayPostgres:
    """A new, started server; skips the test when PostgreSQL's binaries are not installed."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found")
    server = ThrowawayPostgres(bindir)
    try:
        server.start()
    except BaseException:
        server.remove()
        raise
    return server
