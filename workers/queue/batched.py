"""Many messages in one Redis round trip, for the ingest hot path, with dramatiq's own enqueue preparing each.

Redis errors become Unavailable here: the caller answers 503 or leaves the message to the sweeper.
"""

from __future__ import annotations

import collections
import copy
from collections.abc import Sequence
from typing import Any

import dramatiq

from workers.queue import broker as brokers
from workers.queue.connection import ScriptCall, run_scripts, translated


def enqueue_many(messages: Sequence[dramatiq.Message[Any]], also: Sequence[ScriptCall] = ()) -> list[Any]:
    """Enqueue `messages` in one Redis round trip where dramatiq takes one each, with the script calls in
    `also` on the same pipeline (their replies are returned, in order).

    dramatiq's own RedisBroker.enqueue still prepares every message (its Redis id, the middleware hooks, the
    encoding, the dispatch arguments) on a shallow copy of the broker that only records its script calls (the
    dispatch, and the wake-up of each queue's idle consumers: one per queue here, for as many messages).
    tests/workers/queue/test_batched_redis.py holds this to what RedisBroker.enqueue writes and to what its
    workers consume, so a dramatiq upgrade that changes the protocol fails there."""
    broker = brokers.current()
    if not isinstance(broker, brokers.Redis):
        if also:
            raise RuntimeError("script calls need the Redis broker")
        for message in messages:
            broker.enqueue(message)
        return []
    calls: list[ScriptCall] = []

    def record(recorded: Sequence[ScriptCall]) -> list[Any]:
        calls.extend(recorded)
        return [None] * len(recorded)

    recorder = copy.copy(broker)
    recorder.run = record  # type: ignore[method-assign,assignment]
    with translated("enqueue"):
        for message in messages:
            recorder.enqueue(message)
        sent = [call for call in calls if call[0] is not broker.wake_script]
        woken = collections.Counter(queue for call in calls if call[0] is broker.wake_script for queue in call[1])
        wakes = [broker.wake_call(key, n) for key, n in woken.items()]
        return run_scripts(broker.client, [*sent, *wakes, *also])[len(sent) + len(wakes) :]
