"""CPU time per content event, by process, read from /proc around a few fast runs (Linux only).

Shows which process a fast stream is bound by, and how much CPU the rest of the machine (other users'
processes) took meanwhile: on 2 cores that is the noise in the events/s rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from common import Sample

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _snapshot() -> dict[int, tuple[str, float]]:
    out: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(entry)] = (command, (int(fields[11]) + int(fields[12])) / TICK)
    return out


def _group(pid: int, command: str, server_pid: int) -> str:
    if pid == os.getpid():
        return "caller (this process: client, flattening)"
    if pid == server_pid:
        return "model server"
    if command.startswith("ray::AgentActor"):
        return "agent actor (SDK parsing, run loop, events)"
    if command.startswith("ray::TeamActor"):
        return "team actor (relay of member batches)"
    if command.startswith("ray::") or "/ray/" in command or "raylet" in command or "gcs_server" in command:
        return "other Ray processes (raylet, GCS, supervisor, ...)"
    return "rest of the machine (not this benchmark)"


def cpu_per_event(run_once: Callable[[], int], server_pid: int, reps: int) -> dict[str, Sample]:
    """us of CPU per content event for each process group, over `reps` runs of `run_once` (which
    returns its number of content events); plus each group's share of one core."""
    if not os.path.isdir("/proc"):
        return {}
    before = _snapshot()
    started = time.perf_counter()
    events = sum(run_once() for _ in range(reps))
    wall = time.perf_counter() - started
    after = _snapshot()
    groups: dict[str, float] = {}
    for pid, (command, cpu) in after.items():
        if pid in before:
            key = _group(pid, command, server_pid)
            groups[key] = groups.get(key, 0.0) + cpu - before[pid][1]
    out: dict[str, Sample] = {}
    for key, cpu in sorted(groups.items(), key=lambda kv: -kv[1]):
        out[key] = Sample(
            "us/event", [cpu / max(events, 1) * 1e6], note=f"({cpu / wall * 100:.0f} % of a core)"
        )
    return out
