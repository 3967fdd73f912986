"""Cross-Account Protection events: recorded once by jti, then applied to the user they name."""

from __future__ import annotations

import logging

from workers.context import Context
from workers.grants import tokens
from workers.store import grants, security_events

log = logging.getLogger(__name__)

# What each event makes darkroom do (docs/google.md#risc). An offline-access backend has no sessions to
# end, so it takes the conservative reading: an event that says the account or its tokens may be in other
# hands stops the grant until the user consents again. The others are recorded and logged.
STOP = {"sessions-revoked", "tokens-revoked", "token-revoked", "account-disabled"}


def apply_security_event(ctx: Context, jti: str) -> None:
    event = security_events.security_event(ctx.db, jti)
    if event is None or event.applied_at is not None:
        return
    kinds = event.event_type.split()
    if event.sub and grants.get(ctx.db, event.sub) is not None and STOP & set(kinds):
        tokens.revoke_locally(ctx, event.sub, "Google reported a security event: the user must consent again")
    log.info("security events applied: %s", " ".join(kinds), extra={"sub": event.sub, "jti": jti})
    security_events.mark_applied(ctx.db, jti)
