"""Where a content event's time goes, per event: building the pydantic event, and a batch crossing Ray
(serialise in the actor, deserialise at the caller)."""

from __future__ import annotations

import time

import ray.cloudpickle as cloudpickle
from common import Sample

from kern.engine.events import AGENT_EVENTS, EventFactory

BATCH = 300
"""About the batch size kern reaches on a fast stream (see the events per object rows)."""


def run(reps: int) -> dict[str, Sample]:
    identity = {
        "run_id": "r" * 36,
        "session_id": "s" * 36,
        "user_id": None,
        "parent_run_id": "p" * 36,
        "agent_id": "bench-writer",
        "agent_name": "Bench Writer",
    }
    factory = EventFactory(AGENT_EVENTS, identity)
    out = {key: Sample("us/event") for key in ("construct", "serialise", "deserialise")}
    blob = b""
    for _ in range(reps):
        t0 = time.perf_counter()
        batch = [factory.make("content", content=" word") for _ in range(BATCH)]
        t1 = time.perf_counter()
        blob = cloudpickle.dumps(batch)
        t2 = time.perf_counter()
        cloudpickle.loads(blob)
        t3 = time.perf_counter()
        out["construct"].add((t1 - t0) / BATCH * 1e6)
        out["serialise"].add((t2 - t1) / BATCH * 1e6)
        out["deserialise"].add((t3 - t2) / BATCH * 1e6)
    out["bytes"] = Sample("bytes/event", [len(blob) / BATCH])
    return out
