"""Thread-safe shared state of a model server: config, fault queue and request log."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kern.model_server.config import Fault, ModelServerConfig, RecordedRequest

RECORDED_HEADERS = ("content-type", "user-agent", "x-stainless-retry-count", "openai-organization")


def recorded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The subset of request headers kept in the log (never credentials)."""
    return {
        key.lower(): value
        for key, value in headers.items()
        if key.lower().startswith("x-kern-") or key.lower() in RECORDED_HEADERS
    }


class ServerState:
    """Everything the HTTP app shares with the controlling (test) thread."""

    def __init__(self, config: ModelServerConfig | None = None) -> None:
        self._config = config or ModelServerConfig()
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._index: dict[str, RecordedRequest] = {}
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._aborters: dict[int, Callable[[], None]] = {}
        self._aborter_ids = itertools.count(1)

    # -- config -----------------------------------------------------------------
    @property
    def config(self) -> ModelServerConfig:
        with self._cond:
            return self._config

    def configure(self, **fields: Any) -> ModelServerConfig:
        """Validate and apply a partial config update; returns the new config."""
        with self._cond:
            merged = {**self._config.model_dump(), **fields}
            self._config = ModelServerConfig.model_validate(merged)
            return self._config

    # -- faults -----------------------------------------------------------------
    def add_fault(self, fault: Fault) -> None:
        with self._cond:
            self._faults.append(fault.model_copy())

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        with self._cond:
            return [fault.model_copy() for fault in self._faults]

    def take_fault(self, model: str | None) -> Fault | None:
        """Consume one use of the first queued fault matching ``model``."""
        with self._cond:
            for position, fault in enumerate(self._faults):
                if not fault.matches(model):
                    continue
                if fault.times <= 1:
                    del self._faults[position]
                else:
                    self._faults[position] = fault.model_copy(update={"times": fault.times - 1})
                return fault.model_copy(update={"times": 1})
            return None

    # -- request log --------------------------------------------------------------
    def start_request(
        self,
        path: str,
        method: str,
        model: str | None,
        body: object,
        headers: Mapping[str, str],
        stream: bool,
    ) -> str:
        """Record a new in-progress request and return its id."""
        with self._cond:
            record = RecordedRequest(
                id=f"req_{next(self._ids):06d}",
                path=path,
                method=method,
                model=model,
                body=body,
                headers=recorded_headers(headers),
                stream=stream,
                started_at=time.time(),
            )
            self._requests.append(record)
            self._index[record.id] = record
            self._cond.notify_all()
            return record.id

    def update_request(self, request_id: str, **changes: Any) -> None:
        """Update fields of a recorded request (ignored if the log was cleared meanwhile)."""
        with self._cond:
            record = self._index.get(request_id)
            if record is None:
                return
            for key, value in changes.items():
                setattr(record, key, value)
            self._cond.notify_all()

    def finish_request(
        self, request_id: str, status: str, status_code: int | None = None, **changes: Any
    ) -> None:
        """Mark a recorded request as finished."""
        self.update_request(
            request_id, status=status, status_code=status_code, finished_at=time.time(), **changes
        )

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot (copies) of the request log, oldest first."""
        with self._cond:
            return [record.model_copy(deep=True) for record in self._requests]

    def clear_requests(self) -> None:
        with self._cond:
            self._requests.clear()
            self._index.clear()

    def wait_for_request(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float = 5.0
    ) -> RecordedRequest:
        """Block until a logged request satisfies ``predicate``; raises ``TimeoutError``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in self._requests:
                    if predicate(record):
                        return record.model_copy(deep=True)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no recorded request matched within {timeout}s")
                self._cond.wait(remaining)

    # -- in-flight generations ----------------------------------------------------
    def register_aborter(self, abort: Callable[[], None]) -> int:
        """Register a thread-safe callback that aborts one in-flight generation."""
        with self._cond:
            token = next(self._aborter_ids)
            self._aborters[token] = abort
            return token

    def unregister_aborter(self, token: int) -> None:
        with self._cond:
            self._aborters.pop(token, None)

    def abort_all(self) -> None:
        """Abort every in-flight generation (used on shutdown)."""
        with self._cond:
            aborters = list(self._aborters.values())
        for abort in aborters:
            abort()
