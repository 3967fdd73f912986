"""What the ingest app may call: record a posted code and enqueue its exchange, and read a status."""

from __future__ import annotations

from typing import Any

from workers import broker, messages, metrics
from workers.context import Context
from workers.store import submissions


def submit_if_allowed(ctx: Context, client: str, code: str, source: str) -> str | None:
    """`submit`, unless this client posted too many codes this minute (None): a flood must not flood the
    exchange queue. One call, so the web process crosses into its thread pool once per request."""
    if not ctx.ingest_limit.allow(client):
        return None
    return submit(ctx, code, source)


def submit(ctx: Context, code: str, source: str) -> str:
    """Record the code (encrypted) before enqueueing; the same code again returns the same submission."""
    submission_id, created = submissions.record(ctx.db, ctx.vault, code, source)
    if created:
        messages.exchange_code(submission_id)
        metrics.code_received()
    return submission_id


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
