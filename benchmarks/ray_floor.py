"""Table 1: what raw Ray streaming costs on this machine, without kern.

An async actor yields items to the driver, one per Ray object or 16 per object, directly or through a
relay actor; and `ray.cancel` of an async actor's streaming task, timed until the driver sees the end.
"""

from __future__ import annotations

import asyncio
import time

import ray
from common import CancelAt, Sample, ms, rate
from ray.exceptions import RayError

ITEM = "token"
"""One small item, like a one-word content delta."""


@ray.remote(num_cpus=0, max_concurrency=100, max_task_retries=0)
class Producer:
    async def ready(self) -> bool:
        return True

    async def stream(self, count: int, per_object: int):
        """`count` items, `per_object` to a Ray object (a list when > 1)."""
        sent = 0
        while sent < count:
            n = min(per_object, count - sent)
            yield ITEM if per_object == 1 else [ITEM] * n
            sent += n

    async def slow(self, interval: float, count: int):
        """One item every `interval` seconds (0 items then a stall when interval < 0)."""
        for _ in range(count):
            if interval < 0:
                await asyncio.sleep(3600)
            await asyncio.sleep(interval)
            yield ITEM


@ray.remote(num_cpus=0, max_concurrency=100, max_task_retries=0)
class Relay:
    async def ready(self) -> bool:
        return True

    async def relay(self, producer, count: int, per_object: int):
        """Consume the producer's stream and yield each object on, unchanged."""
        async for ref in producer.stream.options(num_returns="streaming").remote(count, per_object):
            yield await ref


def _consume(generator) -> list[float]:
    """Item arrival times at the driver (each item of a batch stamped when its object arrives)."""
    stamps: list[float] = []
    for ref in generator:
        value = ray.get(ref, timeout=60)
        now = time.perf_counter()
        stamps.extend([now] * (len(value) if isinstance(value, list) else 1))
    return stamps


def measure_throughput(producer, relay, count: int, per_object: int, via_relay: bool) -> float | None:
    if via_relay:
        generator = relay.relay.options(num_returns="streaming").remote(producer, count, per_object)
    else:
        generator = producer.stream.options(num_returns="streaming").remote(count, per_object)
    stamps = _consume(generator)
    if per_object > 1:
        # Items of one object arrive together: rate over objects, times items per object.
        firsts = sorted(set(stamps))
        objects = rate(firsts)
        return None if objects is None else objects * per_object
    return rate(stamps)


def measure_first_item(producer) -> float | None:
    """Driver -> actor -> first streamed item back (ms): the floor under "time to first event"."""
    t0 = time.perf_counter()
    generator = producer.stream.options(num_returns="streaming").remote(1, 1)
    ref = next(generator)
    ray.get(ref, timeout=30)
    first = time.perf_counter() - t0
    for _ in generator:
        pass
    return ms(first)


def measure_cancel(producer, stalled: bool) -> float | None:
    """`ray.cancel` from a second thread -> the driver sees the stream end (ms)."""
    generator = producer.slow.options(num_returns="streaming").remote(-1.0 if stalled else 0.02, 10_000)
    canceller = CancelAt(lambda: ray.cancel(generator))
    if stalled:
        canceller = CancelAt(lambda: ray.cancel(generator), delay=0.2)
        canceller.start()
    received = 0
    end: float | None = None
    try:
        while True:
            ready, _ = ray.wait([generator], timeout=10)
            if not ready:
                break
            ref = next(generator)
            ray.get(ref, timeout=10)
            received += 1
            if received == 5 and not stalled:
                canceller.start()
    except (StopIteration, RayError, asyncio.CancelledError):
        end = time.perf_counter()
    canceller.join()
    if end is None or canceller.t0 is None:
        return None
    return ms(end - canceller.t0)


def run(reps: int, items: int) -> dict[str, Sample]:
    producer, relay = Producer.remote(), Relay.remote()
    ray.get([producer.ready.remote(), relay.ready.remote()], timeout=60)
    results = {
        "direct_1": Sample("items/s"),
        "relay_1": Sample("items/s"),
        "direct_16": Sample("items/s"),
        "relay_16": Sample("items/s"),
        "first_item": Sample("ms"),
        "cancel_streaming": Sample("ms"),
        "cancel_stalled": Sample("ms"),
    }
    # Warm up both paths once.
    measure_throughput(producer, relay, 200, 1, True)
    measure_first_item(producer)
    for _ in range(reps):
        results["direct_1"].add(measure_throughput(producer, relay, items, 1, False))
        results["relay_1"].add(measure_throughput(producer, relay, items, 1, True))
        results["direct_16"].add(measure_throughput(producer, relay, items * 16, 16, False))
        results["relay_16"].add(measure_throughput(producer, relay, items * 16, 16, True))
        results["first_item"].add(measure_first_item(producer))
        results["cancel_streaming"].add(measure_cancel(producer, stalled=False))
        results["cancel_stalled"].add(measure_cancel(producer, stalled=True))
    ray.kill(producer)
    ray.kill(relay)
    return results
