"""Cross-Account Protection: verify the security event tokens (RFC 8417) Google pushes to us.

google-auth's jwt.decode insists on an `exp` claim that security events do not carry (Google: "do not
check exp, events are historical"), so PyJWT verifies them, against keys cached per process.
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass
from typing import Any

import jwt

from settings import Settings
from workers.errors import BadSecurityToken, Unavailable


@functools.cache
def _keys(jwks_uri: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(jwks_uri, cache_keys=True, lifespan=3600, timeout=10)


def verify_security_event(settings: Settings, token: str) -> dict[str, Any]:
    """The verified claims, or BadSecurityToken with RFC 8935's error code."""
    try:
        key = _keys(settings.risc_jwks_uri).get_signing_key_from_jwt(token)
    except jwt.PyJWKClientConnectionError as exc:
        raise Unavailable("security event keys could not be fetched") from exc
    except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
        raise BadSecurityToken("invalid_key", "the token's key is not one of Google's") from exc
    try:
        return jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=settings.risc_audience_list(),
            issuer=settings.risc_issuer,
            # Events are historical: no exp check (docs/google.md#risc); a clock a little behind Google's must
            # still take a fresh iat.
            leeway=settings.risc_clock_skew_s,
            options={"verify_exp": False, "require": ["iss", "aud", "iat", "jti", "events"]},
        )
    except jwt.InvalidAudienceError as exc:
        raise BadSecurityToken("invalid_audience", "the event is not for this client") from exc
    except jwt.InvalidIssuerError as exc:
        raise BadSecurityToken("invalid_issuer", "the event is not from Google") from exc
    except jwt.InvalidTokenError as exc:
        raise BadSecurityToken("invalid_request", f"the event token is invalid: {exc.__class__.__name__}") from exc


RISC = "https://schemas.openid.net/secevent/risc/event-type/"
OAUTH = "https://schemas.openid.net/secevent/oauth/event-type/"
# The event types Google sends (docs/google.md#risc), by their short names.
EVENT_TYPES = {
    RISC + "sessions-revoked": "sessions-revoked",
    OAUTH + "tokens-revoked": "tokens-revoked",
    OAUTH + "token-revoked": "token-revoked",
    RISC + "account-disabled": "account-disabled",
    RISC + "account-enabled": "account-enabled",
    RISC + "account-credential-change-required": "account-credential-change-required",
    RISC + "verification": "verification",
}
TOKEN_ALGS = ("prefix", "hash_base64_sha512_sha512")


@dataclass(frozen=True)
class SecurityEvent:
    """One event of a security event token: who it is about, by `sub` or by a refresh token's identifier."""

    kind: str  # the short name, e.g. "tokens-revoked"
    sub: str | None = None
    token_alg: str | None = None
    token: str | None = None  # a prefix of a refresh token, or its digest: never kept, only looked up
    state: str | None = None  # a verification's: what `darkroom risc verify` asked Google to send

    def __repr__(self) -> str:
        return f"SecurityEvent(kind={self.kind!r}, sub={self.sub!r}, token_alg={self.token_alg!r})"


def events_of(claims: dict[str, Any]) -> list[SecurityEvent]:
    """Every event a verified token carries, or BadSecurityToken (RFC 8935 `invalid_request`) if one is malformed.
    Types darkroom does not know are left out: Google may add some."""
    events = claims.get("events")
    if not isinstance(events, dict) or not events:
        raise BadSecurityToken("invalid_request", "the token carries no events")
    return [_event(EVENT_TYPES[name], body) for name, body in events.items() if name in EVENT_TYPES]


def _event(kind: str, body: Any) -> SecurityEvent:
    subject = body.get("subject") if isinstance(body, dict) else None
    if kind == "verification":
        state = body.get("state") if isinstance(body, dict) else None
        return SecurityEvent(kind, state=state[:255] if isinstance(state, str) and state else None)
    if not isinstance(subject, dict):
        raise BadSecurityToken("invalid_request", f"the {kind} event has no subject")
    if subject.get("subject_type") == "oauth_token":
        alg, token = subject.get("token_identifier_alg"), subject.get("token")
        if alg not in TOKEN_ALGS or not isinstance(token, str) or not token:
            raise BadSecurityToken("invalid_request", f"the {kind} event names no refresh token darkroom can read")
        return SecurityEvent(kind, token_alg=str(alg), token=token)
    sub = subject.get("sub")
    if not isinstance(sub, str) or not sub:
        raise BadSecurityToken("invalid_request", f"the {kind} event's subject has no sub")
    return SecurityEvent(kind, sub=sub)


def token_digest(event: SecurityEvent) -> str | None:
    """A `hash_base64_sha512_sha512` identifier as hex, whichever base64 alphabet it came in; None otherwise."""
    if event.token_alg != "hash_base64_sha512_sha512" or event.token is None:
        return None
    text = event.token.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True).hex()
    except (ValueError, binascii.Error) as exc:
        raise BadSecurityToken("invalid_request", "the token-revoked hash is not base64") from exc
