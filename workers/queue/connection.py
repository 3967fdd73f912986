"""The Redis boundary: clients made here, and a Redis error becomes Unavailable here, once, for every module that
talks to Redis."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError, RedisError

from workers.errors import Outage, Unavailable

ScriptCall = tuple[Any, list[Any], list[Any]]  # a redis-py Script (for its sha and source), keys, args


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
