"""Per-key rate limits in fixed one-minute windows: in Redis across web processes, in process otherwise."""

from __future__ import annotations

import hashlib
import threading
import time

import redis


class RateLimiter:
    def __init__(self, redis_url: str | None, per_minute: int) -> None:
        self._redis = redis.Redis.from_url(redis_url) if redis_url else None
        self.per_minute = per_minute
        self._local: dict[tuple[str, int], int] = {}
        self._guard = threading.Lock()

    def allow(self, key: str) -> bool:
        window = int(time.time() // 60)
        # Hashed: no client address is kept in Redis, even for a minute.
        name = f"darkroom:rate:{hashlib.sha256(key.encode()).hexdigest()[:24]}:{window}"
        if self._redis is not None:
            pipe = self._redis.pipeline(transaction=False)  # one round trip; INCR alone is atomic
            pipe.incr(name)
            pipe.expire(name, 120)
            count = int(pipe.execute()[0])
        else:
            with self._guard:
                self._local = {k: v for k, v in self._local.items() if k[1] >= window}
                count = self._local[(name, window)] = self._local.get((name, window), 0) + 1
        return count <= self.per_minute
