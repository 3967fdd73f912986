"""Group commit: posts that arrive while a batch runs go together in the next one; a lone post goes at once."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ingest.batching import Batcher


class Recorder:
    """Work that records each batch and, when asked, holds the batch until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.hold = threading.Event()
        self.hold.set()
        self.started = threading.Event()

    def __call__(self, items):
        self.batches.append(list(items))
        self.started.set()
        self.hold.wait(5)
        if any(item < 0 for item in items):
            raise ValueError("negative")
        return [item * 10 for item in items]


def test_posts_arriving_during_a_batch_make_up_the_next_one():
    work = Recorder()
    batcher = Batcher(work)

    async def scenario():
        work.hold.clear()
        first = asyncio.create_task(batcher.submit(1))
        await asyncio.to_thread(work.started.wait, 5)  # the first batch is running, holding [1]
        rest = [asyncio.create_task(batcher.submit(n)) for n in (2, 3, 4, 5)]
        await asyncio.sleep(0.05)
        work.hold.set()
        return await first, await asyncio.gather(*rest)

    assert asyncio.run(scenario()) == (10, [20, 30, 40, 50])
    assert work.batches == [[1], [2, 3, 4, 5]]
    batcher.close()


def test_a_failing_batch_fails_its_posts_only():
    work = Recorder()
    batcher = Batcher(work, max_batch=2)

    async def scenario():
        work.hold.clear()
        first = asyncio.create_task(batcher.submit(1))
        await asyncio.to_thread(work.started.wait, 5)
        bad, also_bad, good = (asyncio.create_task(batcher.submit(n)) for n in (-1, 2, 3))
        await asyncio.sleep(0.05)
        work.hold.set()
        with pytest.raises(ValueError):
            await bad
        with pytest.raises(ValueError):
            await also_bad  # same batch as -1
        return await first, await good

    assert asyncio.run(scenario()) == (10, 30)
    assert work.batches == [[1], [-1, 2], [3]]  # at most max_batch at a time
    batcher.close()


def test_a_closed_batcher_starts_again_on_the_next_post():
    batcher = Batcher(Recorder())
    assert asyncio.run(batcher.submit(4)) == 40
    batcher.close()
    assert asyncio.run(batcher.submit(5)) == 50
    batcher.close()
