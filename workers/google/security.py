"""Cross-Account Protection: verify the security event tokens (RFC 8417) Google pushes to us.

google-auth's jwt.decode insists on an `exp` claim that security events do not carry (Google: "do not
check exp, events are historical"), so PyJWT verifies them, against keys cached per process.
"""

from __future__ import annotations

import functools
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
            options={"verify_exp": False, "require": ["iss", "aud", "iat", "jti", "events"]},
        )
    except jwt.InvalidAudienceError as exc:
        raise BadSecurityToken("invalid_audience", "the event is not for this client") from exc
    except jwt.InvalidIssuerError as exc:
        raise BadSecurityToken("invalid_issuer", "the event is not from Google") from exc
    except jwt.InvalidTokenError as exc:
        raise BadSecurityToken("invalid_request", f"the event token is invalid: {exc.__class__.__name__}") from exc


def subject_of(claims: dict[str, Any]) -> tuple[str, str | None]:
    """(event type, sub) of a verified security event token."""
    events = claims.get("events") or {}
    if not isinstance(events, dict) or not events:
        return "", None
    event_type, body = next(iter(events.items()))
    subject = body.get("subject", {}) if isinstance(body, dict) else {}
    return str(event_type), subject.get("sub") if isinstance(subject, dict) else None
