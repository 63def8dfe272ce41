"""Real `kern serve` processes attached to the test session's Ray instance, and HTTP helpers.

Both servers serve `tests.http.app:os_app` on the same Ray cluster (and kern's Ray namespace), with
the same SQLite file and the session's model server.
They start together once for the package and are stopped (terminate, then kill) at its end.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import ray

from kern.model_server import ModelServer
from kern.os.sse import event_data
from kern.run.base import BaseRunEvent
from kern.run.events import event_from_json

REPO = Path(__file__).resolve().parents[2]
KERN = Path(sys.executable).with_name("kern")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
T = TypeVar("T")


@dataclass
class KernServer:
    """One `kern serve` subprocess."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(
    env: dict[str, str], log: Path, target: str | None = "tests.http.app:os_app", cwd: Path = REPO
) -> KernServer:
    """Launch `kern serve` on a free loopback port (does not wait for it)."""
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(KERN), "serve", "--port", str(port), *([target] if target else [])],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return KernServer(process, port, log)


def wait_healthy(server: KernServer, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"kern serve exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"kern serve did not answer /health within {timeout:.0f} s:\n{server.log_tail()}")


def stop_servers(*servers: KernServer) -> None:
    """Terminate them all, then wait for each; kill one that is still there after STOP_TIMEOUT."""
    running = [server.process for server in servers if server.process.poll() is None]
    for process in running:
        process.terminate()
    for process in running:
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


def server_env() -> dict[str, str]:
    """This process's environment, attached to the session's Ray cluster, without a default db."""
    env = {k: v for k, v in os.environ.items() if k not in ("KERN_DB_URL", "RAY_ADDRESS")}
    env.update(
        RAY_ADDRESS=ray.get_runtime_context().gcs_address,
        RAY_AUTH_MODE=os.environ.get("RAY_AUTH_MODE", "token"),
        PYTHONUNBUFFERED="1",
    )
    return env


def app_env(model_server: ModelServer, folder: Path, **extra: str) -> dict[str, str]:
    """`server_env()` for serving `tests.http.app`: models on `model_server`, the SQLite db in `folder`."""
    env = server_env()
    env.update(
        OPENAI_BASE_URL=model_server.base_url,
        OPENAI_API_KEY="kern-test",
        KERN_TEST_MODEL_URL=model_server.base_url,
        KERN_TEST_DB_URL=f"sqlite:///{folder / 'kern.db'}",
        **extra,
    )
    return env


@pytest.fixture(scope="package")
def http_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the servers' database and logs are."""
    return tmp_path_factory.mktemp("http")


@pytest.fixture(scope="package")
def servers(
    ray_session: None, model_server: ModelServer, http_folder: Path
) -> Iterator[tuple[KernServer, KernServer]]:
    """Two `kern serve` processes on the test session's Ray cluster, sharing one database."""
    folder = http_folder
    env = app_env(model_server, folder)
    started = [start_server(env, folder / f"serve-{name}.log") for name in ("a", "b")]
    try:
        for server in started:
            wait_healthy(server)
        yield started[0], started[1]
    finally:
        stop_servers(*started)


@pytest.fixture(scope="package")
def api(servers: tuple[KernServer, KernServer]) -> KernServer:
    """The main server."""
    return servers[0]


@pytest.fixture(scope="package")
def api_b(servers: tuple[KernServer, KernServer]) -> KernServer:
    """A second server process on the same Ray cluster."""
    return servers[1]


@pytest.fixture
def client(api: KernServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api.url, timeout=30) as http:
        yield http


def sse_events(response: httpx.Response) -> Iterator[BaseRunEvent]:
    """Events of an SSE response; checks each frame's `event:` name and that `data:` is the event's JSON."""
    name: str | None = None
    data: str | None = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and data is not None:
            event = event_from_json(data)
            assert event.event.value == name, f"frame named {name} carries a {event.event.value}"
            assert event_data(event) == data, "data is not exactly the event's JSON without its nulls"
            assert json.loads(data)["event"] == name
            yield event
            name = data = None


def wait_for(check: Callable[[], T | None], timeout: float = 15.0, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
