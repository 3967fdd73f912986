"""Requests that prove who sent them with a Google-signed token: an app disconnecting its user, and
Cross-Account Protection events. Verified here, recorded or enqueued, applied by a worker.

Verification needs google-auth and PyJWT, so workers.google loads here, on first use only: the web process
starts without them.
"""

from __future__ import annotations

import base64
import json
import re

from workers.context import Context
from workers.errors import CodeRejected
from workers.queue import messages
from workers.store import grants, security_events

_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")


def revoke_signed_in_user(ctx: Context, id_token: str) -> str:
    """The app asks to disconnect its signed-in user: verify the ID token it holds, then enqueue the revoke.
    A token that is not even shaped like one of Google's is refused before anything is fetched."""
    if not looks_like_a_google_jwt(id_token):
        raise CodeRejected("the bearer token is not a Google ID token")
    from workers.google.oauth import verify_id_token

    sub = str(verify_id_token(ctx.settings, id_token)["sub"])
    messages.revoke_user(sub)
    return sub


def looks_like_a_google_jwt(token: str) -> bool:
    """Three base64url segments whose header names RS256 and a key id: Google's ID tokens, and nothing cheaper."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(p) for p in parts) or len(token) > 8192:
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except ValueError:
        return False
    return isinstance(header, dict) and header.get("alg") == "RS256" and isinstance(header.get("kid"), str)


def receive_security_event(ctx: Context, token: str) -> bool:
    """RFC 8935 push delivery: verify now (the answer is 202 or 400), record every event once by jti with the
    user it is about, apply in a worker. A token-revoked event names a refresh token, not a user: it is
    matched to its grant here by keyed hash, so nothing of the token is kept."""
    from workers.google.security import events_of, token_digest, verify_security_event

    claims = verify_security_event(ctx.settings, token)
    found = events_of(claims)
    subs = [e.sub or _owner(ctx, token_digest(e), e.token if e.token_alg == "prefix" else None) for e in found]
    sub = next((s for s in subs if s), None)
    kinds = " ".join(e.kind for e in found)
    # The row is an outbox: recorded once, then sent to a worker until it is applied. A redelivery of an event
    # whose message was lost (Redis down after the row was written: a 503, so Google delivers again) sends it.
    state = next((e.state for e in found if e.state), None)
    fresh = security_events.record_security_event(ctx.db, str(claims["jti"]), kinds, sub, state)
    if fresh or not security_events.is_applied(ctx.db, str(claims["jti"])):
        messages.apply_security_event(str(claims["jti"]))
    return fresh


def _owner(ctx: Context, digest: str | None, prefix: str | None) -> str | None:
    if digest is None and prefix is None:
        return None
    return grants.find_by_refresh_token(ctx.db, ctx.vault, digest, prefix)
