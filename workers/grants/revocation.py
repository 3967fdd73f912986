"""Revoking a user: at Google (which kills the grant for the whole project), then here."""

from __future__ import annotations

import logging

from workers.context import Context
from workers.google import oauth
from workers.grants import tokens
from workers.store import grants

log = logging.getLogger(__name__)


def revoke_user(ctx: Context, sub: str, *, at_google: bool = True, forget: bool = True) -> bool:
    """Revoke the grant and stop the user's work; with `forget`, delete their tokens and personal data.

    Returns False when darkroom holds no grant for `sub`."""
    grant = grants.get(ctx.db, sub)
    if grant is None:
        return False
    token = grants.refresh_token_of(ctx.db, ctx.vault, sub) or _access_token(ctx, sub)
    if at_google and token is not None:
        oauth.revoke(ctx.settings, token)  # a 400 (already gone) is fine; 5xx raises and is retried
    tokens.revoke_locally(ctx, sub, "the grant was revoked: the user must consent again")
    if forget:
        grants.forget(ctx.db, sub)
    log.info("user revoked%s", " and forgotten" if forget else "", extra={"sub": sub})
    return True


def _access_token(ctx: Context, sub: str) -> str | None:
    access = grants.access_of(ctx.db, ctx.vault, sub)
    return access.token if access else None
