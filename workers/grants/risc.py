"""Cross-Account Protection events: recorded once by jti, then applied to the user they name."""

from __future__ import annotations

import logging

from workers.context import Context
from workers.grants import revocation, tokens
from workers.store import events, grants

log = logging.getLogger(__name__)

RISC = "https://schemas.openid.net/secevent/risc/event-type/"
OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
# What each event makes darkroom do (google-apis.md §4.3). An offline-access backend has no sessions to
# end, so it takes the conservative reading: a security event stops the grant until the user consents again.
STOP = {OAUTH + "tokens-revoked", RISC + "sessions-revoked", RISC + "account-disabled"}
FORGET = {RISC + "account-purged"}


def apply(ctx: Context, jti: str) -> None:
    event = events.security_event(ctx.db, jti)
    if event is None or event.applied_at is not None:
        return
    if event.sub and grants.get(ctx.db, event.sub) is not None:
        if event.event_type in FORGET:
            revocation.revoke(ctx, event.sub, at_google=False, forget=True)
        elif event.event_type in STOP:
            tokens.revoke_locally(ctx, event.sub, "Google reported a security event: the user must consent again")
    log.info("security event applied: %s", event.event_type.rsplit("/", 1)[-1], extra={"sub": event.sub})
    events.mark_applied(ctx.db, jti)
