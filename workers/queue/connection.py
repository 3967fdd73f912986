"""The Redis boundary: clients made here, and a Redis error becomes Unavailable here, once, for every module that
talks to Redis."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis
from redis.exceptions import RedisError

from workers.errors import Unavailable


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise Unavailable(f"{what}: Redis {type(exc).__name__}") from exc
