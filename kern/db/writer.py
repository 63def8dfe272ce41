"""Run records are written by one thread per database per process, and retried until the database answers.

A run hands its record to the writer and waits for it at most a bound of its choosing (`save`), so a
slow, locked, frozen or stopped database never holds a run's terminal event. A record that could not
be written stays queued and is retried with backoff, and at once whenever a new record comes; a newer
record of the same run replaces the queued one, so the final record is never overwritten by an older
RUNNING one. Records are written in batches, one transaction each. `pending()` and
`unsaved()` say how many records this process is holding and has given up on (`kern ps`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from kern.db.base import BaseDb, DatabaseError
from kern.run.agent import RunOutput

logger = logging.getLogger(__name__)

MAX_PENDING = 2000
"""Records one process keeps for one database while it fails; past that, new runs' records are dropped."""
BATCH = 64
"""Most records written in one transaction."""
FIRST_RETRY_SECONDS = 0.2
"""The pause after a failed write; it doubles with each failure, up to `LAST_RETRY_SECONDS`."""
LAST_RETRY_SECONDS = 5.0
"""The longest pause between two attempts: how late a record lands after the database is back."""
IDLE_SECONDS = 60.0
"""A writer with nothing to write for this long stops its thread and closes its connections."""


@dataclass(frozen=True)
class SaveResult:
    """What became of a record by the time its run stopped waiting for it."""

    cause: str | None = None
    """None when the record is in the database; else why not."""
    refused: bool = False
    """The database answered with an error (rather than not at all within the wait)."""
    lost: bool = False
    """The record is dropped; otherwise kern keeps it and retries until the database takes it."""

    @property
    def problem(self) -> str | None:
        """What the run tells its caller, or None when the record is saved."""
        if self.cause is None:
            return None
        if self.lost:
            return f"record not saved: {self.cause}; it is lost"
        return f"record not saved yet: {self.cause}; kern retries it until the database takes it"


Waiter = Callable[[SaveResult], None]


@dataclass
class _Entry:
    record: RunOutput
    waiters: list[Waiter] = field(default_factory=list)
    """Told the first outcome of the record's next attempt."""


class RecordWriter:
    """The queue and thread that write one database's run records in this process."""

    def __init__(self, db: BaseDb) -> None:
        self.db = db
        """The instance (and so the engine) this process uses for the database: reads too."""
        self.unsaved = 0
        """Records given up: the queue was full, or the database can never accept them."""
        self._cond = threading.Condition()
        self._queue: OrderedDict[str, _Entry] = OrderedDict()
        self._writing = 0
        self._trouble: str | None = None
        """The last failure, while the database keeps failing."""
        self._retry_at = 0.0
        """No attempt before this time (monotonic): the pause after a failure."""
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Records queued or being written."""
        with self._cond:
            return len(self._queue) + self._writing

    def submit(self, record: RunOutput, waiter: Waiter | None) -> SaveResult | None:
        """Queue a run's record, replacing a queued older one of the same run, and have the writer try
        at once (even while it pauses after a failure).

        Returns None, and `waiter` (if any) is told, on the writer's thread, the outcome of the record's
        next attempt; or, when the queue is full, says that the record is dropped.
        """
        with self._cond:
            entry = self._queue.get(record.run_id)
            if entry is None and len(self._queue) >= MAX_PENDING:
                self.unsaved += 1
                problem = f"{len(self._queue)} records already wait for {self.db.description}"
                logger.error("Run %s's record is lost: %s", record.run_id, problem)
                return SaveResult(problem, refused=True, lost=True)
            if entry is None:
                entry = self._queue[record.run_id] = _Entry(record)
            entry.record = record
            if waiter is not None:
                entry.waiters.append(waiter)
            self._retry_at = 0.0
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="kern-db-writer", daemon=True)
                self._thread.start()
            self._cond.notify()
            return None

    def _work(self) -> None:
        delay = FIRST_RETRY_SECONDS
        while (batch := self._next_batch()) is not None:
            failure, again = self._write(batch)
            with self._cond:
                self._writing = 0
                if failure is None:
                    if self._trouble is not None:
                        logger.warning("%s answers again: its records are being saved", self.db.description)
                    self._trouble, delay = None, FIRST_RETRY_SECONDS
                    continue
                if self._trouble is None:
                    logger.warning("Records not saved, kern retries them: %s", failure)
                self._trouble, self._retry_at = failure, time.monotonic() + delay
                delay = min(delay * 2, LAST_RETRY_SECONDS)
                for entry in reversed(again):  # back to the front; a newer record of the same run wins
                    newer = self._queue.setdefault(entry.record.run_id, entry)
                    if newer is not entry:
                        newer.waiters += entry.waiters
                    self._queue.move_to_end(entry.record.run_id, last=False)
                _tell(list(self._queue.values()), SaveResult(failure, refused=True))
        self.db.close()

    def _next_batch(self) -> list[_Entry] | None:
        """The next records to write, once the pause after a failure is over; None after being idle
        for `IDLE_SECONDS` (the thread then ends)."""
        with self._cond:
            while not self._queue or time.monotonic() < self._retry_at:
                timeout = self._retry_at - time.monotonic() if self._queue else IDLE_SECONDS
                if not self._cond.wait(timeout) and not self._queue:
                    self._thread = None
                    return None
            batch = [self._queue.popitem(last=False)[1] for _ in range(min(BATCH, len(self._queue)))]
            self._writing = len(batch)
            return batch

    def _write(self, batch: list[_Entry]) -> tuple[str | None, list[_Entry]]:
        """Write a batch; returns the failure and the records to retry. A record the database can never
        take is dropped (the batch is retried record by record, so it does not cost the others)."""
        try:
            self.db.save_runs([entry.record for entry in batch])
        except Exception as exc:
            if isinstance(exc, DatabaseError) and exc.transient:
                return str(exc), batch
            if len(batch) > 1:
                results = [self._write([entry]) for entry in batch]
                again = [entry for _, entries in results for entry in entries]
                return next((failure for failure, _ in results if failure is not None), None), again
            logger.exception("Run %s's record is lost", batch[0].record.run_id)
            with self._cond:
                self.unsaved += 1
            _tell(batch, SaveResult(str(exc), refused=True, lost=True))
            return None, []
        _tell(batch, SaveResult())
        return None, []


def _tell(batch: list[_Entry], result: SaveResult) -> None:
    for entry in batch:
        waiters, entry.waiters = entry.waiters, []
        for waiter in waiters:
            waiter(result)


_lock = threading.Lock()
_writers: dict[str, RecordWriter] = {}


def _forget_after_fork() -> None:
    """A forked child has none of the parent's threads: it starts with writers of its own."""
    global _lock
    _lock = threading.Lock()
    _writers.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


def writer_for(db: BaseDb) -> RecordWriter:
    """This process's writer for the database (the first instance seen of its configuration is used)."""
    with _lock:
        writer = _writers.get(db.key)
        if writer is None:
            writer = _writers[db.key] = RecordWriter(db)
        return writer


async def save(db: BaseDb, record: RunOutput, wait: float) -> SaveResult:
    """Hand a run's record to the writer and wait at most `wait` seconds for it to be saved."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[SaveResult] = loop.create_future()

    def tell(result: SaveResult) -> None:
        try:
            loop.call_soon_threadsafe(_settle, answer, result)
        except RuntimeError:
            pass  # the run's event loop is gone

    known = writer_for(db).submit(record, tell)
    if known is not None:
        return known
    try:
        return await asyncio.wait_for(asyncio.shield(answer), wait)
    except TimeoutError:
        return SaveResult(f"{db.description} did not answer within {wait:g} s")


def enqueue(db: BaseDb, record: RunOutput) -> None:
    """Hand a run's record to the writer without waiting for it."""
    writer_for(db).submit(record, None)


def _settle(answer: asyncio.Future[SaveResult], result: SaveResult) -> None:
    if not answer.done():
        answer.set_result(result)


def pending() -> int:
    """Records this process holds for its databases: queued, or being written."""
    with _lock:
        writers = list(_writers.values())
    return sum(writer.pending for writer in writers)


def unsaved() -> int:
    """Records this process has given up on since it started (full queue, or refused for good)."""
    with _lock:
        writers = list(_writers.values())
    return sum(writer.unsaved for writer in writers)
