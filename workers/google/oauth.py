"""The OAuth side of Google: redeem a code, refresh, revoke, verify an ID token.

The code exchange is a raw form POST: google-auth has no public call for it, and oauthlib cannot send the
empty `redirect_uri` that iOS codes need (docs/google.md#code-exchange).
"""

from __future__ import annotations

import datetime
import json
import threading
from dataclasses import dataclass
from typing import Any

import google.auth.exceptions
import google.auth.jwt
import requests

from settings import Settings
from workers import metrics
from workers.errors import CodeRejected, GrantRevoked, Misconfigured, PermanentError, Unavailable
from workers.google.certs import CERTS
from workers.google.responses import check, error_for, translated

ISSUERS = ("accounts.google.com", "https://accounts.google.com")
# RFC 6749 §5.2: only invalid_grant says the code or the grant is dead. These say our request or our
# configuration is wrong: revoking users for them would revoke every user after one configuration slip.
_CONFIG_ERRORS = (
    "invalid_request",
    "invalid_client",
    "unauthorized_client",
    "invalid_scope",
    "redirect_uri_mismatch",
    "unsupported_grant_type",
)


_local = threading.local()


def _session() -> requests.Session:
    """This thread's session, its connection to the token endpoint kept alive: a new one for every exchange and
    refresh cost a TCP handshake (and against Google, a TLS one: tens of milliseconds the user waits for)."""
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session  # type: ignore[no-any-return]


@dataclass(frozen=True)
class TokenResponse:
    access_token: str
    expires_at: datetime.datetime  # naive UTC, as google-auth keeps expiries
    scopes: tuple[str, ...]
    refresh_token: str | None
    id_token: str | None
    # When Google ends the refresh token, if it said (refresh_token_expires_in: the user granted time-based access)
    refresh_expires_at: datetime.datetime | None = None

    def __repr__(self) -> str:  # never print the tokens
        return f"TokenResponse(scopes={self.scopes!r}, expires_at={self.expires_at!r})"


def exchange_code(
    settings: Settings, code: str, redirect_uri: str, session: requests.Session | None = None
) -> TokenResponse:
    form = {"code": code, "redirect_uri": redirect_uri}
    return _token_request(settings, "authorization_code", form, CodeRejected, session)


def refresh_access(settings: Settings, refresh_token: str, session: requests.Session | None = None) -> TokenResponse:
    return _token_request(settings, "refresh_token", {"refresh_token": refresh_token}, GrantRevoked, session)


def revoke(settings: Settings, token: str) -> bool:
    """Revoke a grant at Google (for the whole project); False when Google says it was already gone."""
    with translated("oauth.revoke"):
        response = requests.post(settings.google_revoke_uri, data={"token": token}, timeout=settings.http_timeout_s)
    if response.status_code == 400:
        metrics.google_call("oauth.revoke", 400)
        return False
    check("oauth.revoke", response.status_code, response.headers, response.content)
    return True


def verify_id_token(settings: Settings, token: str) -> dict[str, Any]:
    client_id, _ = settings.client_credentials()
    try:
        kid = google.auth.jwt.decode_header(token).get("kid")  # type: ignore[no-untyped-call]
        certs = CERTS.for_kid(settings.google_certs_uri, kid, settings.http_timeout_s)
        claims = google.auth.jwt.decode(  # type: ignore[no-untyped-call]
            token, certs=certs, audience=client_id, clock_skew_in_seconds=settings.id_token_clock_skew_s
        )
    except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
        raise CodeRejected(f"the ID token did not verify: {exc.__class__.__name__}") from None
    # verify_token checks signature, audience and expiry; the issuer is ours to check (docs/google.md#id-tokens).
    if claims.get("iss") not in ISSUERS or not claims.get("sub"):
        raise CodeRejected("the ID token is not from Google")
    return dict(claims)


def _token_request(
    settings: Settings,
    grant: str,
    fields: dict[str, str],
    rejected: type[PermanentError],
    session: requests.Session | None,
) -> TokenResponse:
    """POST a grant to the token endpoint as the web client (RFC 6749 §4.1.3, §6), its answer translated."""
    client_id, secret = settings.client_credentials()
    form = {"grant_type": grant, **fields, "client_id": client_id, "client_secret": secret}
    what, label = f"oauth.token.{grant}", f"token endpoint ({grant})"
    with translated(what):
        response = (session or _session()).post(settings.google_token_uri, data=form, timeout=settings.http_timeout_s)
    metrics.google_call(what, response.status_code)
    body = _json(response)
    if response.status_code == 200 and "access_token" in body:
        return _token_response(body)
    error = str(body.get("error", ""))
    if response.status_code in (400, 401) and error == "invalid_grant":
        raise rejected(f"{label}: {error}")
    if response.status_code == 400 and error == "redirect_uri_mismatch" and grant == "authorization_code":
        # A code is bound to the redirect URI of its sign-in: at the exchange a mismatch is the code's (a web
        # code posted without "platform": "web"), not the configuration's; a refresh sends none.
        raise rejected(f"{label}: {error}: the code is from another kind of sign-in than its platform says")
    if response.status_code in (400, 401) and error in _CONFIG_ERRORS:
        metrics.misconfigured(what, error)
        raise Misconfigured(f"{label}: {error}: check the client id, secret and redirect URI")
    if response.status_code < 400:
        raise Unavailable(f"{label}: HTTP {response.status_code} without an access token")
    raise error_for(label, response.status_code, response.headers, response.content)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (ValueError, json.JSONDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def _token_response(body: dict[str, Any]) -> TokenResponse:
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    return TokenResponse(
        access_token=body["access_token"],
        expires_at=now + datetime.timedelta(seconds=int(body.get("expires_in", 3600))),
        scopes=tuple(str(body.get("scope", "")).split()),
        refresh_token=body.get("refresh_token") or None,
        id_token=body.get("id_token"),
        refresh_expires_at=_after(now, body.get("refresh_token_expires_in")),
    )


def _after(now: datetime.datetime, seconds: Any) -> datetime.datetime | None:
    try:
        return now + datetime.timedelta(seconds=int(seconds)) if seconds is not None else None
    except (TypeError, ValueError, OverflowError):
        return None  # not a number of seconds: as if Google had said nothing
