"""Access tokens for a user: cached until shortly before expiry, refreshed single-flight across processes.

N workers that find one user's token expired take the same lock; the first refreshes, the others re-read
and use its result, so Google sees one refresh (a refresh token refreshed by two callers at once is a race).
"""

from __future__ import annotations

import datetime
import logging

from workers import metrics
from workers.context import Context
from workers.errors import DarkroomError, GrantRevoked, MediaGone, RefreshWait
from workers.google import oauth
from workers.google.photos import Gate, Photos, UserCredentials, user_credentials
from workers.store import grants, health, hotpath, items, submissions
from workers.store.grants import Access
from workers.store.models import Grant
from workers.store.states import GrantState

log = logging.getLogger(__name__)

REFRESH_ENDPOINT = "oauth.token.refresh_token"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _fresh(access: Access | None) -> bool:
    return access is not None and access.expires_at > _now()


def usable(answer: oauth.TokenResponse, margin_s: int) -> Access:
    """The token with the time until which darkroom uses it: `margin_s` before Google's expiry, or halfway
    there for a short-lived token, so a lifetime shorter than the margin never makes every call refresh."""
    lifetime = (answer.expires_at - _now()).total_seconds()
    return Access(answer.access_token, answer.expires_at - datetime.timedelta(seconds=min(margin_s, lifetime / 2)))


def access_for(ctx: Context, sub: str, grant: Grant | None = None) -> Access:
    """The user's access token, refreshed if it is stale; `grant`: the grant row already read (a photo's, with its
    attempt), not read again."""
    access = grants.access_of(ctx.db, ctx.vault, _require_active(ctx, sub, grant))  # one read of the grant
    if _fresh(access):
        assert access is not None
        return access
    return refresh(ctx, sub, stale=access.token if access else None)


def refresh(ctx: Context, sub: str, stale: str | None) -> Access:
    """Refresh once for everyone: under the user's lock, re-read, and only refresh if still stale. While the
    user's refreshes cool down after a failure, the caller waits (RefreshWait) instead."""
    _cooling(ctx, sub)  # before the lock: a queue of the user's photos does not line up on it to hear this
    with ctx.locks.hold(f"refresh:{sub}"):
        _require_active(ctx, sub)
        access = grants.access_of(ctx.db, ctx.vault, sub)
        if access is not None and access.token != stale and _fresh(access):
            return access
        _cooling(ctx, sub)  # the holder before us failed
        refresh_token = grants.refresh_token_of(ctx.db, ctx.vault, sub)
        if refresh_token is None:
            raise GrantRevoked("no refresh token is stored for this user")
        try:
            answer = oauth.refresh_access(ctx.settings, refresh_token)
        except GrantRevoked as exc:
            ctx.health.record(sub, health.REFRESH, REFRESH_ENDPOINT, exc)
            revoke_locally(ctx, sub, "Google refused the refresh token (invalid_grant): the user must consent again")
            raise
        except DarkroomError as exc:
            ctx.health.record(sub, health.REFRESH, REFRESH_ENDPOINT, exc)
            settings = ctx.settings
            wait_s = ctx.locks.cool_down(f"refresh:{sub}", settings.refresh_cooldown_s, settings.refresh_cooldown_max_s)
            log.warning("refresh failed; the user's refreshes cool down %.0f s: %s", wait_s, exc, extra={"sub": sub})
            raise RefreshWait(f"the token refresh failed ({exc.__class__.__name__}): cooling down", wait_s) from exc
        ctx.locks.warm(f"refresh:{sub}")
        ctx.health.record(sub, health.REFRESH, REFRESH_ENDPOINT)
        metrics.refreshed()
        fresh = usable(answer, ctx.settings.access_token_margin_s)
        grants.store_refresh(
            ctx.db, ctx.vault, sub, fresh, answer.refresh_token, answer.scopes, answer.refresh_expires_at
        )
        log.info("refreshed access token", extra={"sub": sub})
        return fresh


def _cooling(ctx: Context, sub: str) -> None:
    if (wait_s := ctx.locks.cooling(f"refresh:{sub}")) > 0:
        raise RefreshWait("the user's token refresh failed moments ago: cooling down", wait_s)


def revoke_locally(ctx: Context, sub: str, detail: str) -> None:
    """The grant is dead: mark it, drop its tokens, and stop the user's queued work."""
    grants.set_state(ctx.db, sub, GrantState.REVOKED, drop_tokens=True)
    stopped = items.fail_user(ctx.db, sub, GrantRevoked.error_code, detail)
    submissions.fail_user(ctx.db, sub, GrantRevoked.error_code, detail)
    log.warning("grant revoked; stopped %d queued items", stopped, extra={"sub": sub})


def _require_active(ctx: Context, sub: str, grant: Grant | None = None) -> Grant:
    grant = grant if grant is not None else hotpath.grant(ctx.db, sub)  # on the driver
    if grant is None or grant.state != GrantState.ACTIVE:
        raise GrantRevoked(f"the grant is {grant.state if grant else 'missing'}")
    return grant


def credentials_for(ctx: Context, sub: str, grant: Grant | None = None) -> UserCredentials:
    """google-auth credentials for `sub` whose every refresh goes through `refresh` (single-flight)."""
    access = access_for(ctx, sub, grant)

    def on_rejected() -> tuple[str, datetime.datetime]:
        # Expired, or Google refused the token we sent (401): refresh past it.
        renewed = refresh(ctx, sub, stale=credentials.token)
        return renewed.token, renewed.expires_at

    credentials = user_credentials(access.token, access.expires_at, on_rejected)
    return credentials


def photos_for(ctx: Context, sub: str, grant: Grant | None = None) -> Photos:
    """The user's Photos calls, each counted against (and held back by) the project's quota, and its outcome
    tallied for the grant's health."""
    return Photos(ctx.settings, credentials_for(ctx, sub, grant), _Observed(ctx.quota.for_user(sub), ctx.health, sub))


class _Observed:
    """A user's quota gate, and what Google answered each call tallied for the user's grant. A photo gone from
    the library says nothing of the grant: not a failure of it."""

    def __init__(self, gate: Gate, recorder: health.Recorder, sub: str) -> None:
        self._gate, self._recorder, self._sub = gate, recorder, sub

    def before(self, endpoint: str) -> bool:
        return self._gate.before(endpoint)

    def answered(self, endpoint: str, error: BaseException | None, probe: bool = False) -> None:
        self._gate.answered(endpoint, error, probe)
        if not isinstance(error, MediaGone):
            self._recorder.record(self._sub, health.CALL, endpoint, error)
