"""Where a content event's time goes, per event, on the way from a member's actor to the caller: as a
pydantic event (how kern sent them before links) and as a compact frame (how it sends them now).

Steps: build it in the producer, serialise a batch (Ray pickles it), deserialise it in the consumer, and
for frames decode into the `RunContentEvent` the caller gets. A team actor forwarding a member's frames
does no per-event work beyond the deserialise and the serialise of its own batch.
"""

from __future__ import annotations

import time

import ray.cloudpickle as cloudpickle
from common import Sample

from kern.engine.events import EventFactory
from kern.engine.frames import FrameDecoder, content_frame, event_frame

BATCH = 300
"""About the batch size a fast stream reaches (see the events per object rows)."""


def run(reps: int) -> dict[str, Sample]:
    identity = {
        "run_id": "r" * 36,
        "session_id": "s" * 36,
        "user_id": None,
        "parent_run_id": "p" * 36,
        "agent_id": "bench-writer",
        "agent_name": "Bench Writer",
    }
    factory = EventFactory(False, identity)
    keys = ("construct", "serialise", "deserialise")
    out = {f"{form} {key}": Sample("us/event") for form in ("event", "frame") for key in keys}
    out["frame decode"] = Sample("us/event")
    sizes: dict[str, int] = {}
    for _ in range(reps):
        t0 = time.perf_counter()
        events = [factory.make("content", content=" word") for _ in range(BATCH)]
        t1 = time.perf_counter()
        blob = cloudpickle.dumps(events)
        t2 = time.perf_counter()
        cloudpickle.loads(blob)
        t3 = time.perf_counter()
        sizes["event"] = len(blob)
        for key, seconds in zip(keys, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            out[f"event {key}"].add(seconds / BATCH * 1e6)

        decoder = FrameDecoder()
        decoder.decode(event_frame(factory.make("started")))
        t0 = time.perf_counter()
        frames = {
            identity["run_id"]: [
                content_frame(identity["run_id"], "RunContent", " word") for _ in range(BATCH)
            ]
        }
        t1 = time.perf_counter()
        blob = cloudpickle.dumps(frames)
        t2 = time.perf_counter()
        received = cloudpickle.loads(blob)
        t3 = time.perf_counter()
        for frame in received[identity["run_id"]]:
            decoder.decode(frame)
        t4 = time.perf_counter()
        sizes["frame"] = len(blob)
        for key, seconds in zip(keys, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            out[f"frame {key}"].add(seconds / BATCH * 1e6)
        out["frame decode"].add((t4 - t3) / BATCH * 1e6)
    for form, size in sizes.items():
        out[f"{form} bytes"] = Sample("bytes/event", [size / BATCH])
    return out
