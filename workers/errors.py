"""darkroom's one error tree. Every failure darkroom raises or translates is a leaf of it: permanent errors go to
dead letters at once, transient ones retry with a bounded budget, and only a bug of ours is anything else.

DarkroomError
├── PermanentError        (error_code: what the app reads in the submission status)
│   ├── CodeRejected      code redeemed, expired or foreign: sign in again
│   ├── GrantRevoked      invalid_grant on refresh, or no refresh token: consent again
│   ├── ScopeMissing      the user granted fewer scopes than the source needs
│   ├── PickerExpired     the picker session ended before the user picked
│   ├── MediaGone         the item or its base URL is gone
│   ├── UnusableImage     the bytes are not a photo we can decode
│   ├── BadRequest        Google refused our request: our bug or bad input
│   ├── Misconfigured     client id/secret or redirect URI refused by Google
│   ├── BadSecurityToken  a security event token that does not verify (RFC 8935 `err`)
│   ├── GaveUp            delivered too often without finishing
│   ├── VaultError        a ciphertext no configured key opens, or moved to another row
│   ├── ConfigurationError  a setting is missing or malformed (settings.py raises it)
│   └── UsageError        a command line that cannot be carried out
└── TransientError
    ├── Unavailable       5xx, timeouts, connection errors; the database, Redis or a lock out of reach
    └── RateLimited       429, with the delay to wait
        └── GoogleWait    Google cannot be asked yet: wait, shared, failing nothing, spending no retry
            ├── QuotaWait     Google's quota is spent or being hit
            └── RefreshWait   the user's token refresh failed moments ago: its cool-down

Third-party exceptions are translated into these once, at their own boundary: workers.google for Google,
workers.store for the database, workers.queue and workers.intake.limits for Redis.
"""

from __future__ import annotations

import datetime


class DarkroomError(Exception):
    """`error_code` is what the app reads in a submission's status; a leaf names its own in its class line."""

    error_code = "internal"

    def __init_subclass__(cls, error_code: str | None = None, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if error_code is not None:
            cls.error_code = error_code


class PermanentError(DarkroomError):
    """Retrying cannot help: the message goes to the dead letters at once, with its reason recorded."""


class CodeRejected(PermanentError, error_code="code_rejected"):
    """The code was redeemed, expired or issued to another client: the app signs the user in again."""


class GrantRevoked(PermanentError, error_code="grant_revoked"):
    """invalid_grant on refresh, or no refresh token at all: the user must consent again."""


class ScopeMissing(PermanentError, error_code="insufficient_scope"):
    def __init__(self, missing: list[str]) -> None:
        super().__init__("the grant lacks scopes: " + " ".join(missing))
        self.missing = missing


class PickerExpired(PermanentError, error_code="picker_expired"):
    """The picker session ended before the user picked."""


class MediaGone(PermanentError, error_code="media_gone"):
    """The item, or its base URL, is gone."""


class UnusableImage(PermanentError, error_code="unusable_image"):
    """The bytes are not a photo darkroom can decode."""


class BadRequest(PermanentError):
    """Google refused the request: darkroom's bug, or input it cannot take."""


class Misconfigured(PermanentError):
    """Google refused the client id, the secret, the redirect URI or the request: an operator must fix the
    settings (the detail says which; `darkroom status` shows it). The user's grant stays; the app sees
    `internal`, as nothing it can do will help."""


class BadSecurityToken(PermanentError, error_code="unauthenticated"):
    """`err` is RFC 8935's code for the push receiver's 400 answer."""

    def __init__(self, err: str, description: str) -> None:
        super().__init__(description)
        self.err = err


class GaveUp(PermanentError, error_code="gave_up"):
    """Delivered too often without finishing (a photo that crashes its worker)."""


class VaultError(PermanentError):
    """A ciphertext that no configured key opens, or that was moved to another row."""


class ConfigurationError(PermanentError):
    """A setting is missing or malformed; the message says how to fix it."""


class UsageError(PermanentError):
    """A command line that cannot be carried out; the message says why."""


class TransientError(DarkroomError):
    """It may work later: retried with backoff, within a bounded budget."""


class Unavailable(TransientError):
    """A 5xx, a timeout or a connection error; the database, Redis or a lock out of reach."""


class Outage(Unavailable):
    """darkroom's own database or Redis out of reach (refused, reset, timed out): not the work's fault, so it
    spends no retry budget and comes back every few seconds until the outage is over (docs/faults.md).
    `reconnect`: a pooled connection turned out dead (the server restarted) and the pool has let go of them
    all: the next try reconnects at once, so it need not wait."""

    def __init__(self, message: str, reconnect: bool = False) -> None:
        super().__init__(message)
        self.reconnect = reconnect


class RateLimited(TransientError):
    """`delay_s` is Google's Retry-After, if it sent one; the actors wait at least the configured minimum."""

    def __init__(self, message: str, delay_s: float | None = None) -> None:
        super().__init__(message)
        self.delay_s = delay_s


class GoogleWait(RateLimited):
    """Google cannot be asked yet: the work waits until `until` (naive UTC), shared by every caller it concerns,
    without failing and spending no retry (workers.actors.run). `daily`: until a quota's day turns."""

    def __init__(self, message: str, until: datetime.datetime, *, daily: bool, delay_s: float | None = None) -> None:
        if delay_s is None:
            delay_s = max(0.0, (until - datetime.datetime.now(datetime.UTC).replace(tzinfo=None)).total_seconds())
        super().__init__(message, delay_s)
        self.until, self.daily = until, daily


class QuotaWait(GoogleWait, error_code="google_quota"):
    """Google's quota is spent for the day (`daily`) or being hit (a per-minute or hidden limit), for every
    caller of that API."""


class RefreshWait(GoogleWait, error_code="token_refresh"):
    """A refresh of the user's access token failed moments ago, for any reason but invalid_grant (a 5xx, a
    timeout, a refused client): the user's refreshes cool down, shared by every process, and work that needs a
    token waits `delay_s` as for Google's quota, rather than refreshing again, failing or spending a retry."""

    def __init__(self, message: str, wait_s: float) -> None:
        until = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(seconds=wait_s)
        super().__init__(message, until, daily=False, delay_s=wait_s)
