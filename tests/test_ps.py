"""`kern ps` tells what is stuck in a replica: tool threads of cancelled runs, records not saved."""

from __future__ import annotations

from kern.ps import render
from kern.replicas import PoolStatus, Replicas, ReplicaStatus


def test_kern_ps_shows_stuck_tools_and_records_waiting_for_the_database() -> None:
    replica = ReplicaStatus(
        name="kern:agent:clerk", state="ready", runs=2, lag_ms=3.0, cpu=0.1, node_id="abc",
        stuck_tools=3, records_waiting=12, records_lost=1,
    )  # fmt: skip
    healthy = replica.model_copy(update={"name": "kern:agent:clerk#1", "stuck_tools": 0,
                                         "records_waiting": 0, "records_lost": 0})  # fmt: skip
    pool = PoolStatus(name="kern:agent:clerk", kind="agent", bounds=Replicas(), limit=2,
                      replicas=[replica, healthy], problem=None)  # fmt: skip
    lines = render([pool]).splitlines()
    assert lines[1].endswith(
        "(3 tool threads stuck in cancelled runs; 12 records waiting for the database; 1 records lost)"
    )
    assert lines[2].endswith("abc"), "a healthy replica has no notes"


def test_kern_ps_shows_each_replicas_process_memory_and_idle_time() -> None:
    polled = ReplicaStatus(
        name="kern:agent:clerk", state="ready", runs=0, lag_ms=1.0, cpu=0.0, node_id="abc",
        pid=4242, memory_mib=97.6, idle_seconds=12.4,
    )  # fmt: skip
    starting = ReplicaStatus(name="kern:agent:clerk#1", state="starting", runs=0, lag_ms=0.0, cpu=0.0,
                             node_id=None)  # fmt: skip
    pool = PoolStatus(name="kern:agent:clerk", kind="agent", bounds=Replicas(), limit=2,
                      replicas=[polled, starting], problem=None)  # fmt: skip
    header, first, second, _ = render([pool]).splitlines()
    assert header.split()[7:] == ["PID", "MEM", "MiB", "IDLE", "s", "NODE"]
    assert first.split()[7:] == ["4242", "98", "12", "abc"]
    assert second.split()[5:] == ["-", "-", "-", "-"], "a replica not polled yet shows no process"
