"""A client that stops reading an SSE stream: the server holds a bounded backlog for it, then cancels the run;
the client can still read everything up to `RunCancelled`, and when it leaves the server lets go of it.

The HTTP tests each get their own `kern serve` with `KERN_MAX_UNREAD_EVENTS` small, serving one agent whose
model streams 200,000 words as fast as it can. The client is a raw socket with a small receive buffer that
reads the response headers and then nothing, so neither a client library nor kernel buffers hide the bound.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import h11
import httpx
import pytest

from kern.engine import inbox
from kern.model_server import ModelServer, RecordedRequest
from kern.run.base import BaseRunEvent, RunStatus
from kern.run.events import event_from_json
from kern.specs import new_id
from tests.http.app import FIREHOSE
from tests.http.conftest import (
    KernServer,
    app_env,
    sse_events,
    start_server,
    stop_servers,
    wait_for,
    wait_healthy,
)
from tests.support import assert_one_terminal_last

MAX_UNREAD_EVENTS = 300
AGENT = "firehose-writer"
REPLY_WORDS = FIREHOSE["reply_words"]
"""Words (one `RunContent` event each, about 300 bytes of SSE) the model would stream if nobody stopped it:
60 MB of events for a client that reads none of them."""
MAX_BACKLOG_EVENTS = REPLY_WORDS // 10
"""What a client that stopped reading finds waiting when it reads on: the server's `MAX_UNREAD_EVENTS`,
the events the run made while its cancel took effect, and what the socket buffers hold (together a few
hundred KB), far below the whole reply."""
MAX_RSS_GROWTH = 20 * 2**20
"""The server's memory growth while its client does not read (about 6 MB): less than half of what holding
the whole reply takes (46 MB measured with no cap)."""
RECEIVE_BUFFER = 4096
TIMEOUT = 60.0


@pytest.fixture
def firehose(ray_session: None, model_server: ModelServer, tmp_path: Path) -> Iterator[KernServer]:
    """A `kern serve` of `tests.http.app:firehose_os` with `KERN_MAX_UNREAD_EVENTS` small, warmed up
    (the agent's actor exists, a run has streamed)."""
    env = app_env(model_server, tmp_path, KERN_MAX_UNREAD_EVENTS=str(MAX_UNREAD_EVENTS))
    server = start_server(env, tmp_path / "serve.log", target="tests.http.app:firehose_os")
    try:
        wait_healthy(server)
        url = f"{server.url}/agents/{AGENT}/runs"
        with httpx.stream("POST", url, data={"message": "Warm up"}, timeout=TIMEOUT) as response:
            events = sse_events(response)
            assert next(events).event.value == "RunStarted"  # leaving cancels the run
        yield server
    finally:
        stop_servers(server)


def test_a_client_that_stops_reading_has_its_run_cancelled_and_reads_it_to_the_end(
    firehose: KernServer, server: ModelServer
) -> None:
    """While the client reads nothing, the run ends CANCELLED, its model stream is closed and the server's
    memory stays bounded; reading on, the client gets every event up to `RunCancelled`, a small backlog."""
    run_id = new_id()
    before = rss(firehose)
    with unread_stream(firehose, run_id) as (sock, http):
        peak = before

        def ended() -> str | None:
            nonlocal peak
            peak = max(peak, rss(firehose))
            return ended_status(firehose, run_id)

        assert wait_for(ended, timeout=TIMEOUT, what=f"run {run_id} to end") == RunStatus.cancelled
        assert pending_bytes(sock), "the client is still connected, with events waiting unread"
        assert peak - before < MAX_RSS_GROWTH, f"the server grew by {(peak - before) >> 20} MB"
        model_stream = model_request(server, run_id)
        assert model_stream.status == "disconnected" and model_stream.words_sent < REPLY_WORDS
        assert cap_warning(run_id) in firehose.log.read_text(errors="replace")

        events = read_to_the_end(sock, http)
    final = assert_one_terminal_last(events, run_id)
    assert final.event.value == "RunCancelled"
    streamed = "".join(e.content for e in events if e.event.value == "RunContent")  # type: ignore[attr-defined]
    assert streamed and streamed == final.content, "every delta reached the client, in order"
    assert len(events) < MAX_BACKLOG_EVENTS


def test_the_server_lets_go_of_a_client_that_leaves(firehose: KernServer, server: ModelServer) -> None:
    """After the client closes its socket, the run's stream (the request's task, and with it the run's
    inbox and route) ends: the server then stops without a request left to wait for or cancel."""
    run_id = new_id()
    with unread_stream(firehose, run_id):
        ended = wait_for(lambda: ended_status(firehose, run_id), timeout=TIMEOUT, what=f"run {run_id} to end")
        assert ended == RunStatus.cancelled
    model_stream = model_request(server, run_id)
    assert model_stream.status == "disconnected" and model_stream.words_sent < REPLY_WORDS
    stop_servers(firehose)
    log = firehose.log.read_text(errors="replace")
    assert "Finished server process" in log, log[-3000:]
    assert "timeout graceful shutdown exceeded" not in log, "the left stream's request was still running"


@pytest.mark.parametrize("value, cap", [(None, 20_000), ("", 20_000), ("300", 300), (" 5 ", 5)])
def test_the_cap_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, cap: int
) -> None:
    if value is None:
        monkeypatch.delenv("KERN_MAX_UNREAD_EVENTS", raising=False)
    else:
        monkeypatch.setenv("KERN_MAX_UNREAD_EVENTS", value)
    assert inbox.max_unread_frames() == cap


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "many"])
def test_a_cap_that_is_not_a_positive_integer_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("KERN_MAX_UNREAD_EVENTS", value)
    with pytest.raises(
        ValueError, match=f"KERN_MAX_UNREAD_EVENTS must be a positive number of events, got '{value}'"
    ):
        inbox.max_unread_frames()


@contextmanager
def unread_stream(api: KernServer, run_id: str) -> Iterator[tuple[socket.socket, h11.Connection]]:
    """POST a streaming run on a raw socket with a small receive buffer, read the response headers, and
    read nothing more unless the caller does; the socket is closed on exit (with events unread: the kernel
    resets the connection)."""
    http = h11.Connection(h11.CLIENT)
    body = urlencode({"message": f"Write without end ({run_id})", "run_id": run_id}).encode()
    headers = [
        ("Host", f"127.0.0.1:{api.port}"),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Length", str(len(body))),
    ]
    request = http.send(h11.Request(method="POST", target=f"/agents/{AGENT}/runs", headers=headers))
    request += http.send(h11.Data(data=body)) + http.send(h11.EndOfMessage())
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)  # before connect: the window
        sock.settimeout(TIMEOUT)
        sock.connect(("127.0.0.1", api.port))
        sock.sendall(request)
        response = http.next_event()
        while response is h11.NEED_DATA:
            http.receive_data(sock.recv(RECEIVE_BUFFER))
            response = http.next_event()
        assert isinstance(response, h11.Response) and response.status_code == 200, response
        assert dict(response.headers)[b"x-run-id"] == run_id.encode()
        yield sock, http


def read_to_the_end(sock: socket.socket, http: h11.Connection) -> list[BaseRunEvent]:
    """Read the rest of the response (the part of the body h11 already holds included) into events."""
    body = bytearray()
    while True:
        event = http.next_event()
        if event is h11.NEED_DATA:
            data = sock.recv(65536)
            assert data, "the server closed the connection before the end of the stream"
            http.receive_data(data)
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            break
    frames = bytes(body).decode().split("\n\n")
    assert frames[-1] == "", "the body ends with a whole SSE frame"
    events = []
    for index, frame in enumerate(frames[:-1]):
        ids, name, data = frame.split("\n")
        event = event_from_json(data.removeprefix("data: "))
        assert name == f"event: {event.event.value}"
        assert ids == f"id: {index}" and event.event_index == index
        events.append(event)
    return events


def pending_bytes(sock: socket.socket) -> int:
    """Bytes the server sent that wait in the client's receive buffer (0 if the connection closed)."""
    return len(sock.recv(RECEIVE_BUFFER, socket.MSG_PEEK | socket.MSG_DONTWAIT))


def ended_status(api: KernServer, run_id: str) -> str | None:
    """The stored run's status once it has ended (None while it runs, or before it is stored)."""
    response = httpx.get(f"{api.url}/agents/{AGENT}/runs/{run_id}", timeout=10)
    status = response.json()["status"] if response.status_code == 200 else None
    return status if status in (RunStatus.completed, RunStatus.cancelled, RunStatus.error) else None


def model_request(server: ModelServer, run_id: str) -> RecordedRequest:
    """The model server's record of the run's model stream, once it has ended."""
    return server.wait_for_request(
        lambda r: r.model == "firehose" and run_id in json.dumps(r.body) and r.status != "in_progress",
        timeout=TIMEOUT,
    )


def cap_warning(run_id: str) -> str:
    return f"run {run_id} cancelled: its caller left {MAX_UNREAD_EVENTS} events unread"


def rss(api: KernServer) -> int:
    """The server process's resident memory, in bytes."""
    for line in Path(f"/proc/{api.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/<pid>/status")
