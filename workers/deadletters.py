"""Dead letters in dramatiq's Redis broker: list, show, replay and purge them, by queue and by reason.

dramatiq keeps them in `<ns>:<queue>.XQ` (ids by time) and `<ns>:<queue>.XQ.msgs` (the messages) for 7 days
and offers no tool for them. Messages carry ids only, so reading them shows nothing secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import dramatiq
import redis

from workers.broker import QUEUES
from workers.store import items, submissions
from workers.store.db import Database

NAMESPACE = "dramatiq"


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


# The Redis broker dead-letters the payload as it was enqueued, without the traceback Retries adds, so the
# reason comes from what the GiveUp middleware recorded on the submission or item.
_SUBMISSION_ACTORS = {"exchange_code", "open_picker", "poll_picker", "scan_inbox"}


def _reason(db: Database, message: dict[str, Any]) -> str:
    actor, args = message.get("actor_name"), message.get("args") or [""]
    row: Any = None
    if actor in _SUBMISSION_ACTORS:
        row = submissions.get(db, str(args[0]))
    elif actor == "process_item":
        row = items.get(db, str(args[0]))
    if row is not None and row.error_code:
        return f"{row.error_code}: {row.error_detail or ''}"[:300]
    trace = [line for line in str(message.get("options", {}).get("traceback", "")).splitlines() if line]
    return trace[-1][:300] if trace else "no reason recorded (too old when delivered, or a crash)"


def _keys(queue: str) -> tuple[str, str]:
    return f"{NAMESPACE}:{queue}.XQ", f"{NAMESPACE}:{queue}.XQ.msgs"


def find(client: redis.Redis, db: Database, queue: str | None = None, reason: str | None = None) -> list[DeadLetter]:
    found = []
    for name in [queue] if queue else QUEUES:
        index, bodies = _keys(name)
        for redis_id, score in client.zrange(index, 0, -1, withscores=True):
            body = client.hget(bodies, redis_id)
            if body is None:
                continue
            message = json.loads(body)
            letter = DeadLetter(redis_id.decode(), name, int(score), message, _reason(db, message))
            if reason is None or reason.lower() in letter.reason.lower():
                found.append(letter)
    return found


def remove(client: redis.Redis, letter: DeadLetter) -> None:
    index, bodies = _keys(letter.queue)
    client.zrem(index, letter.redis_id)
    client.hdel(bodies, letter.redis_id)


def replay(client: redis.Redis, broker: dramatiq.Broker, letter: DeadLetter) -> None:
    """Send the message again with a fresh retry budget, then drop the dead copy."""
    options = {
        k: v
        for k, v in letter.message.get("options", {}).items()
        if k not in ("retries", "traceback", "requeue_timestamp", "eta", "redis_message_id")
    }
    broker.enqueue(
        dramatiq.Message(
            queue_name=letter.queue,
            actor_name=letter.message["actor_name"],
            args=tuple(letter.message["args"]),
            kwargs=letter.message.get("kwargs") or {},
            options=options,
        )
    )
    remove(client, letter)
