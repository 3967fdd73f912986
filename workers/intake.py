"""What the ingest app may call: record a posted code and enqueue its exchange, and read a status."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from dramatiq.brokers.redis import RedisBroker
from redis.exceptions import RedisError

from workers import broker, messages, metrics
from workers.context import Context
from workers.errors import TransientError
from workers.store import submissions
from workers.store.db import StoreError

log = logging.getLogger(__name__)


class Post(NamedTuple):
    client: str  # the address the rate limit counts
    code: str
    source: str


class Intake:
    """The ingest hot path of one web process, fed one batch of concurrent posts at a time (by
    ingest.batching.Batcher, from a single thread).

    A batch costs one Redis round trip and one database statement: the rate counts for this batch travel
    with the enqueue of the previous batch's new submissions. Their rows were committed before their posts
    were answered, so a message waits at most for the next batch, or for `flush` when no batch follows (the
    Batcher calls it when it runs out of posts). Should Redis fail in between, the sweeper sends them."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._unsent: list[str] = []

    def submit_many(self, posts: Sequence[Post]) -> list[str | None]:
        """Record each post whose client is within its rate limit (its code encrypted; the same code again is the
        same submission) and answer its submission id; None for the others: a flood must not flood the
        exchange queue. Raises TransientError when nothing was recorded (the database or Redis is
        down: the app says 503, and the client sends the code again)."""
        try:
            allowed = self._count_and_send([post.client for post in posts])
            accepted = [post for post, ok in zip(posts, allowed, strict=True) if ok]
            recorded = submissions.record_many(self._ctx.db, self._ctx.vault, [(p.code, p.source) for p in accepted])
        except (RedisError, StoreError) as exc:
            raise TransientError(f"could not record the codes: {type(exc).__name__}") from exc
        fresh = [submission_id for submission_id, created in recorded if created]
        self._unsent += fresh
        metrics.code_received(len(fresh))
        ids = iter(submission_id for submission_id, _ in recorded)
        return [next(ids) if ok else None for ok in allowed]

    def flush(self) -> None:
        """Enqueue what the last batch recorded; a failure is logged and left to the sweeper."""
        try:
            self._count_and_send([])
        except RedisError as exc:
            log.warning("%d new submissions not enqueued (%s): the sweeper sends them", len(self._unsent), exc)
            self._unsent = []

    def _count_and_send(self, clients: list[str]) -> list[bool]:
        limiter = self._ctx.ingest_limit
        unsent = [messages.message("exchange_code", submission_id) for submission_id in self._unsent]
        if limiter.in_redis and isinstance(broker.current(), RedisBroker):
            count = [limiter.count_call(clients)] if clients else []
            replies = broker.enqueue_many(unsent, also=count)
            allowed = limiter.decide(replies[0]) if clients else []
        else:  # the embedded default: no Redis
            broker.enqueue_many(unsent)
            allowed = limiter.allow_many(clients)
        self._unsent = []
        return allowed


def status(ctx: Context, submission_id: str) -> dict[str, Any] | None:
    return submissions.status_view(ctx.db, submission_id)


def readiness(ctx: Context) -> dict[str, bool]:
    """Can this process reach what it needs: the database and the broker."""
    return {"database": ctx.db.ping(), "broker": broker_ping()}


def broker_ping() -> bool:
    client = getattr(broker.current(), "client", None)
    if client is None:
        return True  # the in-process broker is always there
    try:
        return bool(client.ping())
    except Exception:
        return False


def revoke_signed_in_user(ctx: Context, id_token: str) -> str:
    """The app asks to disconnect its signed-in user: verify the ID token it holds, then enqueue the revoke.

    Verification needs Google's certs, so google-auth loads here, on first use only."""
    from workers.google.oauth import verify_id_token

    sub = str(verify_id_token(ctx.settings, id_token)["sub"])
    messages.revoke_user(sub)
    return sub


def receive_security_event(ctx: Context, token: str) -> bool:
    """RFC 8935 push delivery: verify now (the answer is 202 or 400), record once by jti, apply in a worker."""
    from workers.google.security import verify_security_event
    from workers.risc import subject_of
    from workers.store import events

    claims = verify_security_event(ctx.settings, token)
    event_type, sub = subject_of(claims)
    fresh = events.record_security_event(ctx.db, str(claims["jti"]), event_type, sub)
    if fresh:
        messages.apply_security_event(str(claims["jti"]))
    return fresh
