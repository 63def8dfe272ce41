"""Shared by the benchmark modules: timing statistics, the model server subprocess, Markdown tables.

Nothing here imports Ray or kern, so `agno_baseline.py` (run by another interpreter) can use it too.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def machine_facts() -> dict[str, Any]:
    """What a result was measured on (Linux): date, CPUs and their model, memory, Python, load average."""
    with open("/proc/cpuinfo") as f:
        cpu_model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    with open("/proc/meminfo") as f:
        mem_gib = int(next(line for line in f if line.startswith("MemTotal")).split()[1]) / 2**20
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "mem_gib": round(mem_gib, 1),
        "python": platform.python_version(),
        "load_before": round(os.getloadavg()[0], 2),
    }


# -- statistics ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class Sample:
    """Repeated measurements of one quantity, plus how many repetitions failed (timed out...)."""

    unit: str
    values: list[float] = field(default_factory=list)
    failures: int = 0
    note: str = ""

    def add(self, value: float | None) -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            self.failures += 1
        else:
            self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else math.nan

    @property
    def p90(self) -> float:
        return percentile(self.values, 0.9)

    def as_dict(self) -> dict[str, Any]:
        return {
            "unit": self.unit,
            "median": None if math.isnan(self.median) else self.median,
            "p90": None if math.isnan(self.p90) else self.p90,
            "n": len(self.values),
            "failures": self.failures,
            "values": self.values,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        return cls(
            unit=data["unit"],
            values=list(data.get("values", [])),
            failures=data.get("failures", 0),
            note=data.get("note", ""),
        )


def rate(timestamps: Sequence[float]) -> float | None:
    """Events per second between the first and the last timestamp (None if fewer than 2)."""
    if len(timestamps) < 2 or timestamps[-1] <= timestamps[0]:
        return None
    return (len(timestamps) - 1) / (timestamps[-1] - timestamps[0])


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


# -- Markdown ------------------------------------------------------------------------------------


def fmt_number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit == "us/event":
        return f"{value:.1f}"
    if unit == "ms":
        return f"{value:.1f}" if value < 100 else f"{value:.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def fmt_sample(sample: Sample | None) -> str:
    """`median (p90 x)` with the failures, if any."""
    if sample is None:
        return "-"
    if not sample.values:
        text = "timeout" if sample.failures else "n/a"
    else:
        text = fmt_number(sample.median, sample.unit)
        if len(sample.values) > 1:
            text += f" (p90 {fmt_number(sample.p90, sample.unit)})"
    if sample.failures:
        text += f" [{sample.failures} failed]"
    if sample.note:
        text += f" {sample.note}"
    return text


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# -- waiting ---------------------------------------------------------------------------------------


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.01) -> Any:
    """Poll until `predicate()` is truthy; return its value, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


class CancelAt:
    """Cancels from a second thread: stamps `perf_counter` right before the cancel call is made."""

    def __init__(self, cancel: Callable[[], Any], delay: float = 0.0) -> None:
        self._cancel = cancel
        self._delay = delay
        self.t0: float | None = None
        self.wall0: float | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> CancelAt:
        self.thread.start()
        return self

    def _run(self) -> None:
        if self._delay:
            time.sleep(self._delay)
        self.wall0 = time.time()
        self.t0 = time.perf_counter()
        try:
            self.result = self._cancel()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 15.0) -> None:
        self.thread.join(timeout)


# -- the model server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerAdmin:
    """The model server's `/admin` API (plain urllib: usable from any interpreter)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    @property
    def base_url(self) -> str:
        return self.base + "/v1"

    def _call(self, method: str, path: str, timeout: float = 5.0) -> Any:
        request = urllib.request.Request(self.base + path, method=method)
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def healthy(self) -> bool:
        try:
            return self._call("GET", "/healthz", timeout=1.0) == {"status": "ok"}
        except OSError:
            return False

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "/admin/requests")

    def clear_requests(self) -> None:
        self._call("DELETE", "/admin/requests")

    def statuses(self, marker: str) -> list[str]:
        """Statuses of the logged model requests whose body mentions `marker`."""
        return [r.get("status", "?") for r in self.requests() if marker in json.dumps(r.get("body"))]

    def wait_disconnected(self, marker: str, timeout: float = 3.0) -> dict[str, Any] | None:
        """The logged model request whose body mentions `marker`, once its status is "disconnected"."""

        def find() -> dict[str, Any] | None:
            for record in self.requests():
                if marker in json.dumps(record.get("body")) and record.get("status") == "disconnected":
                    return record
            return None

        return wait_until(find, timeout, interval=0.02)


def model_headers(
    tokens_per_second: float | None = None,
    first_token_delay: float | None = None,
    reply_words: int | None = None,
    chunk_words: int | None = None,
) -> dict[str, str]:
    """The model server's per-request overrides, as `default_headers` of an OpenAI client."""
    values = {
        "x-kern-tokens-per-second": tokens_per_second,
        "x-kern-first-token-delay": first_token_delay,
        "x-kern-reply-words": reply_words,
        "x-kern-chunk-words": chunk_words,
    }
    return {key: str(value) for key, value in values.items() if value is not None}


class ModelServerProcess:
    """`kern model-server` in its own process (it must not share the benchmark's GIL)."""

    def __init__(self, kern_cli: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.kern_cli = kern_cli
        self.process: subprocess.Popen[bytes] | None = None
        self.admin = ServerAdmin(f"http://127.0.0.1:{self.port}")

    def __enter__(self) -> ServerAdmin:
        log = open(os.devnull, "wb")
        self.process = subprocess.Popen(
            [
                self.kern_cli,
                "model-server",
                "--port",
                str(self.port),
                "--tokens-per-second",
                "0",
                "--reply-words",
                "20",
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        if not wait_until(self.admin.healthy, timeout=30.0, interval=0.1):
            self.__exit__(None, None, None)
            raise RuntimeError(f"the model server did not come up on port {self.port}")
        return self.admin

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def wait_or_kill_group(process: subprocess.Popen[Any], timeout: float, what: str) -> None:
    """Wait for a side started with `start_new_session=True`; past `timeout`, end its whole process
    group (the side and its Ray: SIGTERM, then SIGKILL) and raise."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=wait)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue
        raise RuntimeError(f"{what}: no result within {timeout:.0f} s (killed)") from None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
