"""Requests that prove who sent them with a Google-signed token: an app disconnecting its user, and
Cross-Account Protection events. Verified here, recorded or enqueued, applied by a worker.

Verification needs google-auth and PyJWT, so workers.google loads here, on first use only: the web process
starts without them.
"""

from __future__ import annotations

from workers.context import Context
from workers.queue import messages
from workers.store import events


def revoke_signed_in_user(ctx: Context, id_token: str) -> str:
    """The app asks to disconnect its signed-in user: verify the ID token it holds, then enqueue the revoke."""
    from workers.google.oauth import verify_id_token

    sub = str(verify_id_token(ctx.settings, id_token)["sub"])
    messages.revoke_user(sub)
    return sub


def receive_security_event(ctx: Context, token: str) -> bool:
    """RFC 8935 push delivery: verify now (the answer is 202 or 400), record once by jti, apply in a worker."""
    from workers.google.security import subject_of, verify_security_event

    claims = verify_security_event(ctx.settings, token)
    event_type, sub = subject_of(claims)
    fresh = events.record_security_event(ctx.db, str(claims["jti"]), event_type, sub)
    if fresh:
        messages.apply_security_event(str(claims["jti"]))
    return fresh
