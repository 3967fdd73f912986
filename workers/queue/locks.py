"""Named locks and claims: in Redis across processes and machines, or in process for the embedded default.

A lock that cannot be had in time, or a Redis out of reach, is Unavailable: the work is retried later.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator

from redis.exceptions import RedisError
from redis.lock import Lock

from workers.errors import Unavailable
from workers.queue.connection import client, translated

LEASE_S = 15.0  # a dead holder's lock is free this long after its last renewal

# KEYS: the cool-down, the count of failures in a row; ARGV: the shortest and the longest cool-down (ms). The
# count outlives the longest cool-down fourfold: failures an hour apart still double.
_COOL_DOWN = """
local failures = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 4 * tonumber(ARGV[2]))
local ms = math.min(tonumber(ARGV[1]) * 2 ^ math.min(failures - 1, 30), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], failures, 'PX', math.floor(ms))
return math.floor(ms)
"""


def _renew(lock: Lock, lease_s: float, done: threading.Event) -> None:
    """Renew the lease every third of it until `done`; a lease that could not be renewed (Redis out of reach,
    or it expired and another took it) is left to expire: the holder's work is checked against the ledger."""
    while not done.wait(lease_s / 3):
        try:
            lock.reacquire()
        except RedisError:  # LockNotOwnedError too
            return


class Locks:
    def __init__(self, redis_url: str | None, timeout_s: float = 10.0) -> None:
        self._redis = client(redis_url, timeout_s) if redis_url else None
        self._local: dict[str, threading.Lock] = {}
        self._claims: dict[str, float] = {}
        self._cooling: dict[str, float] = {}  # in process: name -> monotonic end of its cool-down
        self._failures: dict[str, int] = {}
        self._guard = threading.Lock()
        self._memory = uuid.uuid4().hex

    def claim(self, name: str, ttl_s: float) -> bool:
        """True for the one caller, cluster-wide, that claims `name` in a window of `ttl_s` seconds."""
        if self._redis is not None:
            with translated(f"claim {name}"):
                return bool(self._redis.set(f"darkroom:claim:{name}", "1", nx=True, px=int(ttl_s * 1000)))
        with self._guard:
            now = time.monotonic()
            if self._claims.get(name, 0.0) > now:
                return False
            self._claims[name] = now + ttl_s
            return True

    def cool_down(self, name: str, base_s: float, max_s: float) -> float:
        """Count a failure of `name`: it cools down for `base_s`, doubling with each failure in a row up to
        `max_s`, for every caller cluster-wide. The seconds it cools down for."""
        if self._redis is not None:
            keys = (f"darkroom:cool:{name}", f"darkroom:failures:{name}")
            with translated(f"cool down {name}"):
                ms = self._redis.eval(_COOL_DOWN, 2, *keys, int(base_s * 1000), int(max_s * 1000))
            return int(ms) / 1000
        with self._guard:
            failures = self._failures.get(name, 0) + 1
            self._failures[name] = failures
            wait_s = float(min(base_s * 2 ** min(failures - 1, 30), max_s))
            self._cooling[name] = time.monotonic() + wait_s
            return wait_s

    def cooling(self, name: str) -> float:
        """The seconds left of `name`'s cool-down (0: none)."""
        if self._redis is not None:
            with translated(f"cooling {name}"):
                ms = int(self._redis.pttl(f"darkroom:cool:{name}"))
            return max(0, ms) / 1000
        with self._guard:
            return max(0.0, self._cooling.get(name, 0.0) - time.monotonic())

    def warm(self, name: str) -> None:
        """`name` succeeded: no cool-down, and the next failure starts again from the shortest."""
        if self._redis is not None:
            with translated(f"warm {name}"):
                self._redis.delete(f"darkroom:cool:{name}", f"darkroom:failures:{name}")
            return
        with self._guard:
            self._cooling.pop(name, None)
            self._failures.pop(name, None)

    def memory(self) -> str:
        """A name for Redis's memory: the same for as long as Redis keeps its data, new after a restart that
        kept nothing (or a flush). In process: one for the process's life."""
        if self._redis is None:
            return self._memory
        with translated("memory"):
            self._redis.set("darkroom:memory", uuid.uuid4().hex, nx=True)
            seen = self._redis.get("darkroom:memory")
        return seen.decode() if isinstance(seen, bytes) else str(seen)

    def release(self, name: str) -> None:
        """End a claim before its window is over: the next `claim` of `name` succeeds."""
        if self._redis is not None:
            with translated(f"release {name}"):
                self._redis.delete(f"darkroom:claim:{name}")
            return
        with self._guard:
            self._claims.pop(name, None)

    @contextlib.contextmanager
    def hold(self, name: str, timeout_s: float = 60.0, lease_s: float = LEASE_S) -> Iterator[None]:
        """Hold `name`, waiting up to `timeout_s` for it. Held on a lease of `lease_s`, renewed while the holder
        lives: a holder that dies (kill -9, a host cut off) frees it `lease_s` later, not when its work would
        have been done."""
        if self._redis is None:
            with self._held_here(name, timeout_s):
                yield
            return
        lock = self._redis.lock(
            f"darkroom:lock:{name}",
            timeout=lease_s,
            blocking_timeout=timeout_s,
            thread_local=False,  # renewed by another thread
        )
        with translated(f"lock {name}"):
            acquired = lock.acquire()
        if not acquired:
            raise Unavailable(f"lock {name} not acquired in {timeout_s} s")
        done = threading.Event()
        renewer = threading.Thread(target=_renew, args=(lock, lease_s, done), name=f"lease-{name}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            with contextlib.suppress(RedisError):  # expired meanwhile, or Redis gone: it frees itself
                lock.release()

    @contextlib.contextmanager
    def _held_here(self, name: str, timeout_s: float) -> Iterator[None]:
        with self._guard:
            lock = self._local.setdefault(name, threading.Lock())
        if not lock.acquire(timeout=timeout_s):
            raise Unavailable(f"lock {name} not acquired in {timeout_s} s")
        try:
            yield
        finally:
            lock.release()
