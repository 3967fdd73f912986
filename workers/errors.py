"""darkroom's one error tree. Permanent errors go to dead letters at once; transient ones retry, bounded.

DarkroomError
├── PermanentError        (error_code: what the app reads in the submission status)
│   ├── CodeRejected      code redeemed, expired or foreign: sign in again
│   ├── GrantRevoked      invalid_grant on refresh, or no refresh token: consent again
│   ├── ScopeMissing      the user granted fewer scopes than the source needs
│   ├── PickerExpired     the picker session ended before the user picked
│   ├── MediaGone         the item or its base URL is gone
│   ├── UnusableImage     the bytes are not a photo we can decode
│   ├── BadRequest        Google refused our request: our bug or bad input
│   └── Misconfigured     client id/secret or redirect URI refused by Google
└── TransientError
    ├── Unavailable       5xx, timeouts, connection errors
    └── RateLimited       429, with the delay to wait
"""

from __future__ import annotations


class DarkroomError(Exception):
    error_code = "internal"


class PermanentError(DarkroomError):
    pass


class CodeRejected(PermanentError):
    error_code = "code_rejected"


class GrantRevoked(PermanentError):
    error_code = "grant_revoked"


class ScopeMissing(PermanentError):
    error_code = "insufficient_scope"

    def __init__(self, missing: list[str]) -> None:
        super().__init__("the grant lacks scopes: " + " ".join(missing))
        self.missing = missing


class PickerExpired(PermanentError):
    error_code = "picker_expired"


class MediaGone(PermanentError):
    error_code = "media_gone"


class UnusableImage(PermanentError):
    error_code = "unusable_image"


class BadRequest(PermanentError):
    pass


class Misconfigured(PermanentError):
    pass


class BadSecurityToken(PermanentError):
    """`err` is RFC 8935's code for the push receiver's 400 answer."""

    error_code = "unauthenticated"

    def __init__(self, err: str, description: str) -> None:
        super().__init__(description)
        self.err = err


class GaveUp(PermanentError):
    error_code = "gave_up"


class TransientError(DarkroomError):
    pass


class Unavailable(TransientError):
    pass


class RateLimited(TransientError):
    """`delay_s` is Google's Retry-After, if it sent one; the actors wait at least the configured minimum."""

    def __init__(self, message: str, delay_s: float | None = None) -> None:
        super().__init__(message)
        self.delay_s = delay_s
