"""Group commit for the ingest hot path: posts that arrive together are recorded together.

Each post awaits a future; up to `in_flight` batches at a time run on worker threads, and the posts that
arrive while they run make up the next one. A lone post goes straight through (no timer, no added wait);
under load the batches grow by themselves, and the cost that does not depend on the batch size (thread
handoff, Redis round trips, the database statement) is paid once per batch rather than once per request.
With the data a network away a batch mostly waits on it: a second batch in flight meanwhile (the app runs two
on PostgreSQL) keeps the process busy.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
Item = TypeVar("Item")
Result = TypeVar("Result")


class _Line(Generic[Item, Result]):
    """One event loop's posts: a server runs one loop per process, a test client may run one per request."""

    def __init__(self) -> None:
        self.pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self.drain: asyncio.Task[None] | None = None
        self.arrived = asyncio.Event()  # a post came while batches ran: one may start if there is room


class Batcher(Generic[Item, Result]):
    def __init__(
        self,
        work: Callable[[Sequence[Item]], list[Result]],
        idle: Callable[[], None] | None = None,
        max_batch: int = 64,
        in_flight: int = 1,
    ) -> None:
        """`work` answers a batch, in order (from up to `in_flight` threads at once); `idle` runs on one of them
        whenever the posts run out."""
        self._work = work
        self._idle = idle
        self._max_batch = max_batch
        self._in_flight = in_flight
        self._lines: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Line[Item, Result]] = (
            weakref.WeakKeyDictionary()
        )
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None

    async def submit(self, item: Item) -> Result:
        """`work([item, ...])`'s answer for `item`, or the exception its batch raised."""
        loop = asyncio.get_running_loop()
        line = self._lines.get(loop) or self._lines.setdefault(loop, _Line())
        future: asyncio.Future[Result] = loop.create_future()
        line.pending.append((item, future))
        line.arrived.set()
        if line.drain is None:
            line.drain = asyncio.create_task(self._run(line))
        return await future

    async def _run(self, line: _Line[Item, Result]) -> None:
        loop = asyncio.get_running_loop()
        if self._thread is None:  # few threads: few batches at a time, which is what lets the next one gather
            self._thread = concurrent.futures.ThreadPoolExecutor(
                max_workers=self._in_flight, thread_name_prefix="ingest-batch"
            )
        try:
            while True:
                await self._drain(loop, line)
                if self._idle is None:
                    break
                try:
                    await loop.run_in_executor(self._thread, self._idle)
                except Exception:
                    log.exception("the ingest batcher's idle task failed")
                if not line.pending:
                    break
        finally:  # no await since the last check: a post arriving now finds no drain and starts one
            line.drain = None

    async def _drain(self, loop: asyncio.AbstractEventLoop, line: _Line[Item, Result]) -> None:
        running: set[asyncio.Future[None]] = set()
        while line.pending or running:
            while line.pending and len(running) < self._in_flight:
                batch, line.pending = line.pending[: self._max_batch], line.pending[self._max_batch :]
                running.add(asyncio.ensure_future(self._answer(loop, batch)))
            line.arrived.clear()
            room = asyncio.ensure_future(self._arrival(line)) if len(running) < self._in_flight else None
            done, _ = await asyncio.wait({*running, *([room] if room else [])}, return_when=asyncio.FIRST_COMPLETED)
            if room is not None:
                room.cancel()
            running -= done

    @staticmethod
    async def _arrival(line: _Line[Item, Result]) -> None:
        await line.arrived.wait()

    async def _answer(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await loop.run_in_executor(self._thread, self._work, [item for item, _ in batch])
            answers = list(zip(batch, results, strict=True))
        except Exception as exc:  # noqa: BLE001 - whatever the batch raised, each waiting post gets it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in answers:
            if not future.done():  # a cancelled request still had its post recorded
                future.set_result(result)

    def close(self) -> None:
        """Stop the thread once the batch in flight is done, then run `idle` a last time; a later post starts
        a new thread."""
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = None
        if self._idle is not None:
            self._idle()
