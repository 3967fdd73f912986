"""What the pipeline is doing, for `darkroom status`: queues in Redis, grants, items and recent failures."""

from __future__ import annotations

from typing import Any

import redis

from workers.broker import QUEUES
from workers.context import Context
from workers.deadletters import NAMESPACE
from workers.store import reports


def queues(client: redis.Redis) -> dict[str, dict[str, int]]:
    out = {}
    for queue in QUEUES:
        in_flight = sum(client.scard(key) for key in client.scan_iter(f"{NAMESPACE}:__acks__.*.{queue}"))
        out[queue] = {
            "ready": client.llen(f"{NAMESPACE}:{queue}"),
            "delayed": client.llen(f"{NAMESPACE}:{queue}.DQ"),
            "in_flight": in_flight,
            "dead": client.zcard(f"{NAMESPACE}:{queue}.XQ"),
        }
    return out


def report(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {"broker": "embedded (in process)"}
    if ctx.settings.redis_url:
        client = redis.Redis.from_url(ctx.settings.redis_url)
        out = {"queues": queues(client)}
        client.close()
    out.update(reports.counts(ctx.db))
    out["recent_failures"] = reports.recent_failures(ctx.db, limit=10)
    return out
