"""The Redis boundary: clients made here, and a Redis error becomes Unavailable here, once, for every module that
talks to Redis."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import redis
from redis.exceptions import RedisError

from workers.errors import Outage, Unavailable


def options(timeout_s: float) -> dict[str, object]:
    """How darkroom talks to Redis across a network: a Redis that stops answering (a partition drops packets, it
    refuses nothing) is an error after `timeout_s`, not a thread waiting forever; TCP keep-alive finds a dead
    peer on an idle connection."""
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "socket_keepalive": True,
        "health_check_interval": 30,
    }


def client(url: str, timeout_s: float = 10.0) -> redis.Redis:
    return redis.Redis.from_url(url, **options(timeout_s))


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise Outage(f"{what}: Redis {type(exc).__name__}") from exc
    except RedisError as exc:
        raise Unavailable(f"{what}: Redis {type(exc).__name__}") from exc
