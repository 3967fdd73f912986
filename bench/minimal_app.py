"""The baseline for bench/ingest.py: an ASGI app that only pushes the posted body to Redis and says 202."""

from __future__ import annotations

import os

import redis.asyncio as redis

_client = redis.Redis.from_url(os.environ.get("DARKROOM_REDIS_URL", "redis://127.0.0.1:6379/9"))


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await _client.lpush("bench:minimal", body)
    await send({"type": "http.response.start", "status": 202, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"queued": true}'})
