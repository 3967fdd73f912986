"""Group commit for the ingest hot path: posts that arrive together are recorded together.

Each post awaits a future; one batch at a time runs on a worker thread, and the posts that arrive while it
runs make up the next one. A lone post goes straight through (no timer, no added wait); under load the
batches grow by themselves, and the cost that does not depend on the batch size (thread handoff, Redis
round trips, the database statement) is paid once per batch rather than once per request.
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


class Batcher(Generic[Item, Result]):
    def __init__(
        self,
        work: Callable[[Sequence[Item]], list[Result]],
        idle: Callable[[], None] | None = None,
        max_batch: int = 64,
    ) -> None:
        """`work` answers a batch, in order; `idle` runs (on the same thread) whenever the posts run out."""
        self._work = work
        self._idle = idle
        self._max_batch = max_batch
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
        if line.drain is None:
            line.drain = asyncio.create_task(self._run(line))
        return await future

    async def _run(self, line: _Line[Item, Result]) -> None:
        loop = asyncio.get_running_loop()
        if self._thread is None:  # one thread: one batch runs at a time, which is what lets the next one gather
            self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-batch")
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
        while line.pending:
            batch, line.pending = line.pending[: self._max_batch], line.pending[self._max_batch :]
            try:
                results = await loop.run_in_executor(self._thread, self._work, [item for item, _ in batch])
                answers = list(zip(batch, results, strict=True))
            except Exception as exc:  # noqa: BLE001 - whatever the batch raised, each waiting post gets it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
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
