"""Dead letters and queue depths in dramatiq's Redis broker: list, show, replay and purge them, by queue.

dramatiq keeps dead letters in `<ns>:<queue>.XQ` (ids by time) and `<ns>:<queue>.XQ.msgs` (the messages) for 7
days and offers no tool for them. Messages carry ids only, so reading them shows nothing secret. Why a message
died is the caller's to say (`reason_of`, from the row its give-up recorded): this room reads no table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis

from workers.queue.connection import translated
from workers.queue.table import QUEUES

NAMESPACE = "dramatiq"
ReasonOf = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class DeadLetter:
    redis_id: str
    queue: str
    failed_at_ms: int
    message: dict[str, Any]

    reason: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.redis_id,
            "queue": self.queue,
            "actor": self.message.get("actor_name"),
            "args": self.message.get("args"),
            "failed_at_ms": self.failed_at_ms,
            "reason": self.reason,
        }


def traceback_reason(message: dict[str, Any]) -> str:
    """The last line of the traceback dramatiq kept, when no row says more."""
    trace = [line for line in str(message.get("options", {}).get("traceback", "")).splitlines() if line]
    return trace[-1][:300] if trace else "no reason recorded (too old when delivered, or a crash)"


def _keys(queue: str) -> tuple[str, str]:
    return f"{NAMESPACE}:{queue}.XQ", f"{NAMESPACE}:{queue}.XQ.msgs"


def find(
    client: redis.Redis, reason_of: ReasonOf = traceback_reason, queue: str | None = None, reason: str | None = None
) -> list[DeadLetter]:
    with translated("dead letters"):
        letters = [letter for name in ([queue] if queue else QUEUES) for letter in _letters(client, name, reason_of)]
    return [d for d in letters if reason is None or reason.lower() in d.reason.lower()]


def _letters(client: redis.Redis, queue: str, reason_of: ReasonOf) -> Iterator[DeadLetter]:
    index, bodies = _keys(queue)
    entries: list[tuple[bytes, float]] = client.zrange(index, 0, -1, withscores=True)  # type: ignore[assignment]
    for redis_id, score in entries:
        body: bytes | None = client.hget(bodies, redis_id)  # type: ignore[assignment]
        if body is not None:
            message: dict[str, Any] = json.loads(body)
            yield DeadLetter(redis_id.decode(), queue, int(score), message, reason_of(message))


def remove(client: redis.Redis, letter: DeadLetter) -> None:
    index, bodies = _keys(letter.queue)
    with translated("dead letters"):
        client.zrem(index, letter.redis_id)
        client.hdel(bodies, letter.redis_id)


def replay(client: redis.Redis, broker: dramatiq.Broker, letter: DeadLetter) -> None:
    """Send the message again with a fresh retry budget, then drop the dead copy."""
    options = {
        k: v
        for k, v in letter.message.get("options", {}).items()
        if k not in ("retries", "traceback", "requeue_timestamp", "eta", "redis_message_id")
    }
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name=letter.queue,
        actor_name=letter.message["actor_name"],
        args=tuple(letter.message["args"]),
        kwargs=letter.message.get("kwargs") or {},
        options=options,
    )
    with translated("dead letters"):
        broker.enqueue(message)
    remove(client, letter)


def oldest_ready_s(client: redis.Redis, now_ms: int) -> dict[str, float]:
    """Per queue, how long the message at its head has been ready (since it was sent, or since its time came
    if it was delayed): 0 for an empty queue. dramatiq pushes to the tail and fetches from the head."""
    out = {}
    with translated("queue ages"):
        for queue in QUEUES:
            head = client.lindex(f"{NAMESPACE}:{queue}", 0)
            data = client.hget(f"{NAMESPACE}:{queue}.msgs", head) if head is not None else None
            try:
                message = json.loads(data) if data else {}
            except ValueError:
                message = {}
            since = max(int(message.get("message_timestamp", now_ms)), int(message.get("options", {}).get("eta", 0)))
            out[queue] = max(0.0, (now_ms - since) / 1000)
    return out


def depths(client: redis.Redis) -> dict[str, dict[str, int]]:
    """Per queue: messages ready, delayed, in flight (taken by a worker, not acked) and dead."""
    out = {}
    with translated("dead letters"):
        # Every process's ack set, <ns>:__acks__.<broker id>.<queue>: one pass over the keys for all queues (this
        # runs at every scrape of /metrics), not one per queue.
        in_flight_of = dict.fromkeys(QUEUES, 0)
        for key in client.scan_iter(f"{NAMESPACE}:__acks__.*"):
            queue = (key.decode() if isinstance(key, bytes) else str(key)).rsplit(".", 1)[-1]
            if queue in in_flight_of:
                in_flight_of[queue] += int(client.scard(key))
        for queue in QUEUES:
            in_flight = in_flight_of[queue]
            out[queue] = {
                "ready": client.llen(f"{NAMESPACE}:{queue}"),
                "delayed": client.llen(f"{NAMESPACE}:{queue}.DQ"),
                "in_flight": in_flight,
                "dead": client.zcard(f"{NAMESPACE}:{queue}.XQ"),
            }
    return out
