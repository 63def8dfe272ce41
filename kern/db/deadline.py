"""Cutting the connections of a transaction whose server does not answer in time.

A frozen server (SIGSTOP, a hung host) leaves a blocking read waiting forever: its kernel still
acknowledges what is sent, so neither TCP keepalives nor `tcp_user_timeout` notice, and psycopg has no
timeout of its own for a query. One thread per process shuts down the sockets of transactions past
their deadline: the blocked read wakes with an error, and the pool discards the connection.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_cond = threading.Condition()
_watches: set[Watch] = set()
_thread: threading.Thread | None = None
_current = threading.local()


class Watch:
    """One transaction's deadline and the sockets it uses (duplicated, so that cutting one never hits
    an unrelated socket that reused a closed descriptor's number)."""

    def __init__(self, seconds: float) -> None:
        self.due = time.monotonic() + seconds
        self.fired = False
        """Whether the deadline passed and the sockets were cut."""
        self._sockets: dict[int, socket.socket] = {}

    def add(self, fd: int) -> None:
        """Watch a connection's socket; cut at once if the deadline has already passed."""
        with _cond:
            if fd in self._sockets:
                return
            sock = self._sockets[fd] = socket.socket(fileno=os.dup(fd))
            if self.fired:
                _cut(sock)

    def fire(self) -> None:
        """Cut every socket (called with the lock held)."""
        self.fired = True
        for sock in self._sockets.values():
            _cut(sock)

    def close(self) -> None:
        """Drop the duplicated descriptors."""
        with _cond:
            for sock in self._sockets.values():
                sock.close()
            self._sockets.clear()


@contextmanager
def deadline(seconds: float) -> Iterator[Watch]:
    """Within the block, this thread's connections (see `watch_connection`) are cut after `seconds`."""
    global _thread
    watch = Watch(seconds)
    with _cond:
        _watches.add(watch)
        if _thread is None:
            _thread = threading.Thread(target=_run, name="kern-db-deadlines", daemon=True)
            _thread.start()
        _cond.notify()
    _current.watch = watch
    try:
        yield watch
    finally:
        _current.watch = None
        with _cond:
            _watches.discard(watch)
        watch.close()


def watch_connection(fd: int) -> None:
    """Put a connection's socket under the current thread's deadline, if it has one."""
    watch: Watch | None = getattr(_current, "watch", None)
    if watch is not None:
        watch.add(fd)


def _forget_after_fork() -> None:
    """A forked child has none of the parent's threads (nor its transactions): it starts afresh."""
    global _cond, _thread
    _cond, _thread = threading.Condition(), None
    _watches.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def _run() -> None:
    with _cond:
        while True:
            now = time.monotonic()
            for watch in [w for w in _watches if w.due <= now]:
                _watches.discard(watch)
                watch.fire()
            _cond.wait(min((w.due for w in _watches), default=now + 3600) - now)


def _cut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the peer
