"""Per-key rate limits in fixed one-minute windows: in Redis across web processes, in process otherwise.

A Redis out of reach is Unavailable (the post is answered 503), never a pass."""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
import weakref
from collections.abc import Sequence
from typing import Any

from workers.context import Context
from workers.queue.connection import client, translated

# INCR each key (a key may repeat) and start its window's expiry on the first hit; the counts, in order.
_COUNT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  if counts[i] == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return counts
"""


class RateLimiter:
    def __init__(self, redis_url: str | None, per_minute: int, hash_key: bytes | None = None) -> None:
        """`hash_key` keys the hash that names a client in Redis: every web process of a deployment shares one
        (derived from the token keys); an unkeyed hash of an IPv4 address is undone by trying them all."""
        self._hash_key = hash_key or os.urandom(32)
        self._redis = client(redis_url) if redis_url else None
        self._count = self._redis.register_script(_COUNT) if self._redis is not None else None
        self.per_minute = per_minute
        self._local: dict[tuple[str, int], int] = {}
        self._guard = threading.Lock()

    @property
    def in_redis(self) -> bool:
        return self._count is not None

    def allow(self, key: str) -> bool:
        return self.allow_many([key])[0]

    def allow_many(self, keys: Sequence[str]) -> list[bool]:
        """One answer per key, in order, counting each occurrence: one Redis round trip for the lot."""
        if self._count is None:
            return self._allow_here(keys)
        script, names, args = self.count_call(keys)
        with translated("rate limit"):
            return self.decide(script(keys=names, args=args))

    def count_call(self, keys: Sequence[str]) -> tuple[Any, list[str], list[int]]:
        """The script call that counts `keys` in Redis (atomic across web processes), for a caller that sends it
        with other commands; `decide` reads its reply."""
        window = int(time.time() // 60)
        # Keyed hashes: no client address is kept in Redis, even for a minute, nor one that can be recovered.
        names = [f"darkroom:rate:{self._name(key)}:{window}" for key in keys]
        return self._count, names, [120]

    def _name(self, key: str) -> str:
        return hmac.new(self._hash_key, key.encode(), hashlib.sha256).hexdigest()[:24]

    def decide(self, counts: Sequence[Any]) -> list[bool]:
        return [int(count) <= self.per_minute for count in counts]

    def _allow_here(self, keys: Sequence[str]) -> list[bool]:
        window = int(time.time() // 60)
        with self._guard:
            self._local = {k: v for k, v in self._local.items() if k[1] >= window}
            counts = []
            for key in keys:
                counts.append(self._local.get((key, window), 0) + 1)
                self._local[(key, window)] = counts[-1]
        return self.decide(counts)


_limiters: weakref.WeakKeyDictionary[Context, RateLimiter] = weakref.WeakKeyDictionary()
_limiters_guard = threading.Lock()


def of(ctx: Context) -> RateLimiter:
    """The process's limit on codes and disconnects per client, made once per Context: its client names are
    hashed under a key derived from the token keys, so every web process of a deployment names a client alike."""
    with _limiters_guard:
        limiter = _limiters.get(ctx)
        if limiter is None:
            key = hmac.new(ctx.settings.token_key_bytes()[0], b"darkroom rate limit", hashlib.sha256).digest()
            limiter = _limiters[ctx] = RateLimiter(ctx.settings.redis_url, ctx.settings.rate_limit_per_minute, key)
        return limiter
