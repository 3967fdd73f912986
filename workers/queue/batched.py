"""Many messages in one Redis round trip, for the ingest hot path, with dramatiq's own enqueue preparing each.

Redis errors become Unavailable here: the caller answers 503 or leaves the message to the sweeper.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import NoScriptError

from workers.queue import broker as brokers
from workers.queue.connection import translated

ScriptCall = tuple[Any, list[Any], list[Any]]  # a redis-py Script (for its sha and source), keys, args


def enqueue_many(messages: Sequence[dramatiq.Message[Any]], also: Sequence[ScriptCall] = ()) -> list[Any]:
    """Enqueue `messages` in one Redis round trip where dramatiq takes one each, with the script calls in
    `also` on the same pipeline (their replies are returned, in order).

    dramatiq's own RedisBroker.enqueue still prepares every message (its Redis id, the middleware hooks, the
    encoding, the dispatch arguments) on a shallow copy of the broker whose dispatch script only records the
    call. tests/workers/queue/test_batched_redis.py holds this to what RedisBroker.enqueue writes and to what its
    workers consume, so a dramatiq upgrade that changes the protocol fails there."""
    broker = brokers.current()
    if not isinstance(broker, RedisBroker):
        if also:
            raise RuntimeError("script calls need the Redis broker")
        for message in messages:
            broker.enqueue(message)
        return []
    calls: list[ScriptCall] = []
    recorder = copy.copy(broker)
    dispatch = broker.scripts["dispatch"]
    recorder.scripts = {**broker.scripts, "dispatch": lambda keys, args: calls.append((dispatch, keys, args))}
    with translated("enqueue"):
        for message in messages:
            recorder.enqueue(message)
        return run_scripts(broker.client, [*calls, *also])[len(calls) :]


def run_scripts(client: Any, calls: Sequence[ScriptCall]) -> list[Any]:
    """Run script calls on one pipeline, in order. A script Redis has forgotten (it restarted) is loaded and
    only the calls that met NOSCRIPT run again: none of them ran, and the others must not run twice."""
    replies: list[Any] = [None] * len(calls)
    todo = list(range(len(calls)))
    for attempt in range(2):
        pipe = client.pipeline(transaction=False)
        for i in todo:
            script, keys, args = calls[i]
            pipe.evalsha(script.sha, len(keys), *keys, *args)
        results = pipe.execute(raise_on_error=False)
        forgotten = []
        for i, result in zip(todo, results, strict=True):
            if isinstance(result, NoScriptError) and not attempt:
                forgotten.append(i)
            elif isinstance(result, Exception):
                raise result
            else:
                replies[i] = result
        if not forgotten:
            break
        for script in {id(calls[i][0]): calls[i][0] for i in forgotten}.values():
            client.script_load(script.script)
        todo = forgotten
    return replies
