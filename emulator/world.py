"""The emulator's in-memory Google: users, OAuth grants and tokens, faults and the request log.

Imports nothing from darkroom. Route modules read and change it under `Google.lock`.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from emulator import keys
from emulator.quota import Quota

PICKER_SCOPE = "https://www.googleapis.com/auth/photospicker.mediaitems.readonly"
APPENDONLY = "https://www.googleapis.com/auth/photoslibrary.appendonly"
APPCREATED = "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata"
DRIVE_APPDATA = "https://www.googleapis.com/auth/drive.appdata"
# Google answers short scope names with their long aliases, and adds openid (docs/google.md#code-exchange).
SCOPE_ALIASES = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}
DEFAULT_SCOPES = ("openid", "email", "profile", PICKER_SCOPE, APPENDONLY, APPCREATED)
# A refresh token unused this long ends: "six months" (developers.google.com/identity/protocols/oauth2#expiration),
# read as its shortest, 180 days.
UNUSED_REFRESH_TOKEN_S = 180 * 86_400
DEMO_CLIENT_ID = "darkroom-demo.apps.googleusercontent.com"
DEMO_CLIENT_SECRET = "demo-client-secret"


class OAuthError(Exception):
    """An OAuth error as Google's token endpoint reports it."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(error)
        self.error, self.description, self.status = error, description, status


@dataclass
class Lifetimes:
    code_s: float = 600.0
    access_token_s: float = 3599.0
    base_url_s: float = 3600.0
    upload_token_s: float = 86400.0
    picker_session_s: float = 3600.0
    picker_timeout_s: float = 3600.0  # pollingConfig.timeoutIn counts down from this: stop polling at 0
    poll_interval_s: float = 1.0
    rotate_refresh_tokens: bool = False  # Google may answer a refresh with a new refresh token
    latency_s: float = 0.0  # added to every Google endpoint, for load runs that feel like the real network


@dataclass
class User:
    sub: str
    email: str
    name: str
    locale: str = "en"
    media: list[str] = field(default_factory=list)
    consented: set[str] = field(default_factory=set)

    @property
    def claims(self) -> dict[str, Any]:
        given, _, family = self.name.partition(" ")
        return {
            "email": self.email,
            "email_verified": True,
            "name": self.name,
            "given_name": given,
            "family_name": family,
            "picture": f"https://lh3.googleusercontent.com/a/{self.sub}",
            "locale": self.locale,
        }


@dataclass
class Media:
    id: str
    sub: str
    filename: str
    mime_type: str
    data: bytes
    width: int
    height: int
    create_time: str
    description: str = ""
    album_id: str | None = None
    client_id: str | None = None  # set on items an app created
    type: str = "PHOTO"  # PickedMediaItem.type: PHOTO or VIDEO (bytes at =dv)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Code:
    sub: str
    client_id: str
    scopes: list[str]
    redirect_uri: str
    expires_at: float
    offline: bool
    azp: str
    used: bool = False
    refresh_lifetime_s: float | None = None  # time-based access: the user chose how long darkroom may act
    nonce: str | None = None  # the sign-in's, echoed in the ID token


@dataclass
class Grant:
    refresh_token: str
    sub: str
    client_id: str
    scopes: list[str]
    revoked: bool = False
    used_at: float = 0.0  # issued or last used to refresh, on Google's clock: unused for six months, it ends
    expires_at: float | None = None  # time-based access: it ends then, whatever its use


@dataclass
class AccessToken:
    sub: str
    client_id: str
    scopes: list[str]
    expires_at: float
    grant: Grant | None


@dataclass
class Fault:
    endpoint: str
    status: int | None
    count: int
    retry_after_s: int | None = None
    delay_s: float = 0.0
    error: str | None = None  # on OAuth endpoints: the RFC 6749 error code of the answer
    until: float | None = None  # a fault for a while (`for_s` when injected): every request until then, uncounted


class Google:
    """One emulated Google project: its web client(s), users and everything they granted."""

    def __init__(self, clients: dict[str, str] | None = None) -> None:
        self.lock = threading.RLock()
        self.clients = dict(clients or {DEMO_CLIENT_ID: DEMO_CLIENT_SECRET})
        self.lifetimes = Lifetimes()
        self.signer = keys.Signer()
        self.users: dict[str, User] = {}
        self.media: dict[str, Media] = {}
        self.codes: dict[str, Code] = {}
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.faults: list[Fault] = []
        self.log: list[dict[str, Any]] = []
        self.sessions: dict[str, Any] = {}
        self.albums: dict[str, Any] = {}
        self.deleted_albums: set[str] = set()
        self.uploads: dict[str, Any] = {}
        self.base_urls: dict[str, Any] = {}
        self.quota = Quota()  # the Library API's, for the whole project
        self.clock_offset_s = 0.0  # how far Google's clock was moved ahead (/_admin/clock): months in a test
        # the redirect URIs registered for each web client (the console's sign-in must use one of them)
        self.redirect_uris: dict[str, set[str]] = {client: set() for client in self.clients}

    def now(self) -> float:
        """Google's clock for what ends with time (codes, tokens, grants): the real one, moved by the offset."""
        return time.time() + self.clock_offset_s

    # --- users and codes (the control surface) -------------------------------------------------

    def add_user(self, *, sub: str | None = None, email: str | None = None, name: str = "Demo User") -> User:
        with self.lock:
            sub = sub or str(secrets.randbelow(10**21)).rjust(21, "1")
            user = self.users.get(sub) or User(sub=sub, email=email or f"user{sub[-6:]}@example.com", name=name)
            self.users[sub] = user
            return user

    def add_media(
        self, sub: str, filename: str, mime_type: str, data: bytes, width: int, height: int, kind: str = "PHOTO"
    ) -> Media:
        with self.lock:
            item = Media(new_id(), sub, filename, mime_type, data, width, height, rfc3339(time.time()), type=kind)
            self.media[item.id] = item
            self.users[sub].media.append(item.id)
            return item

    def mint_code(
        self,
        sub: str,
        *,
        scopes: list[str] | None = None,
        granted: list[str] | None = None,
        client_id: str | None = None,
        redirect_uri: str = "",
        prompt: str | None = None,
        azp: str | None = None,
        refresh_token_expires_in: float | None = None,
        nonce: str | None = None,
    ) -> str:
        """A one-time code as the app's sign-in returns it; `granted` narrows what the user allowed, and
        `refresh_token_expires_in` grants time-based access (the refresh token ends after so many seconds)."""
        with self.lock:
            client_id = client_id or next(iter(self.clients))
            user = self.users[sub]
            offline = prompt == "consent" or client_id not in user.consented
            user.consented.add(client_id)
            chosen = list(granted if granted is not None else (scopes or DEFAULT_SCOPES))
            code = "4/0A" + secrets.token_urlsafe(60)
            expires = self.now() + self.lifetimes.code_s
            self.codes[code] = Code(
                sub, client_id, chosen, redirect_uri, expires, offline, azp or client_id,
                refresh_lifetime_s=refresh_token_expires_in, nonce=nonce,
            )  # fmt: skip
            return code

    def revoke_user(self, sub: str) -> int:
        with self.lock:
            return sum(self._revoke_grant(g) for g in self.grants.values() if g.sub == sub and not g.revoked)

    def expire_access_tokens(self, sub: str) -> int:
        """Make a user's access tokens invalid now, as Google may before their expiry: the next call gets 401."""
        with self.lock:
            mine = [t for t in self.access_tokens.values() if t.sub == sub]
            for token in mine:
                token.expires_at = 0
            return len(mine)

    # --- OAuth (the token and revoke endpoints) ------------------------------------------------

    def check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if not client_id or client_id not in self.clients:
            raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
        if not secrets.compare_digest(self.clients[client_id], client_secret or ""):
            raise OAuthError("invalid_client", "Unauthorized", 401)

    def redeem(self, code_value: str, client_id: str, redirect_uri: str | None) -> dict[str, Any]:
        with self.lock:
            code = self.codes.get(code_value)
            if code is None:
                raise OAuthError("invalid_grant", "Malformed auth code.")
            if code.used:
                raise OAuthError("invalid_grant", "Code was already redeemed.")
            if code.expires_at < self.now():
                raise OAuthError("invalid_grant", "Bad Request")
            if code.client_id != client_id:
                raise OAuthError("unauthorized_client", "Unauthorized")
            if redirect_uri is None:
                raise OAuthError("invalid_request", "Missing parameter: redirect_uri")
            if redirect_uri != code.redirect_uri:
                raise OAuthError("redirect_uri_mismatch", "Bad Request")
            code.used = True
            grant = None
            if code.offline:
                grant = Grant("1//0" + secrets.token_urlsafe(80), code.sub, client_id, code.scopes, used_at=self.now())
                if code.refresh_lifetime_s is not None:
                    grant.expires_at = self.now() + code.refresh_lifetime_s
                self.grants[grant.refresh_token] = grant
            return self._token_response(
                code.sub, client_id, code.scopes, grant, code.azp, with_refresh=True, nonce=code.nonce
            )

    def refresh(self, refresh_token: str, client_id: str) -> dict[str, Any]:
        with self.lock:
            grant, now = self.grants.get(refresh_token), self.now()
            if grant is not None and not grant.revoked and self._ended(grant, now):
                grant.revoked = True  # for good: using it later does not bring it back
            if grant is None or grant.revoked or grant.client_id != client_id:
                raise OAuthError("invalid_grant", "Token has been expired or revoked.")
            grant.used_at = now
            rotate = self.lifetimes.rotate_refresh_tokens
            if rotate:  # the old refresh token dies, as Google's do when it issues a new one
                del self.grants[refresh_token]
                grant.refresh_token = "1//0" + secrets.token_urlsafe(80)
                self.grants[grant.refresh_token] = grant
            return self._token_response(grant.sub, client_id, grant.scopes, grant, client_id, with_refresh=rotate)

    @staticmethod
    def _ended(grant: Grant, now: float) -> bool:
        """Unused for six months, or past the end of time-based access (developers.google.com/identity/protocols/
        oauth2#expiration): Google answers invalid_grant, as for a revoked one."""
        unused = now - grant.used_at > UNUSED_REFRESH_TOKEN_S
        return unused or (grant.expires_at is not None and now >= grant.expires_at)

    def revoke_token(self, token: str) -> None:
        with self.lock:
            grant = self.grants.get(token)
            if grant is None and token in self.access_tokens:
                grant = self.access_tokens[token].grant
            if grant is None or grant.revoked:
                raise OAuthError("invalid_token", "Token expired or revoked")
            # Revoking is per project: every grant of this user in the project goes (docs/google.md#code-exchange).
            self.revoke_user(grant.sub)

    def _revoke_grant(self, grant: Grant) -> int:
        grant.revoked = True
        for value, token in list(self.access_tokens.items()):
            if token.grant is grant:
                del self.access_tokens[value]
        return 1

    def _token_response(
        self,
        sub: str,
        client_id: str,
        scopes: list[str],
        grant: Grant | None,
        azp: str,
        *,
        with_refresh: bool,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        access = "ya29." + secrets.token_urlsafe(100)
        expires = self.now() + self.lifetimes.access_token_s
        self.access_tokens[access] = AccessToken(sub, client_id, scopes, expires, grant)
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": int(self.lifetimes.access_token_s),
            "scope": " ".join(response_scopes(scopes)),
            "token_type": "Bearer",
        }
        if {"openid", "email", "profile"} & set(scopes):
            body["id_token"] = self._id_token(sub, client_id, scopes, azp, access, nonce)
        if with_refresh and grant is not None:
            body["refresh_token"] = grant.refresh_token
        if grant is not None and grant.expires_at is not None:  # time-based access: what is left of it
            body["refresh_token_expires_in"] = max(0, int(grant.expires_at - self.now()))
        return body

    def _id_token(
        self, sub: str, client_id: str, scopes: list[str], azp: str, access: str, nonce: str | None = None
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": "https://accounts.google.com", "azp": azp, "aud": client_id, "sub": sub}
        claims["at_hash"] = keys.at_hash(access)
        claims.update({"iat": now, "exp": now + 3600})
        if nonce:
            claims["nonce"] = nonce
        profile = self.users[sub].claims
        if "email" in scopes:
            claims.update({k: profile[k] for k in ("email", "email_verified")})
        if "profile" in scopes:
            claims.update({k: v for k, v in profile.items() if k not in ("email", "email_verified")})
        return self.signer.sign(claims)

    def security_event(
        self,
        sub: str,
        event: str | list[str],
        *,
        jti: str | None = None,
        audience: str | None = None,
        iat_offset_s: float = 0,
        token_alg: str = "prefix",
        subject: dict[str, Any] | None = None,
    ) -> str:
        """A Cross-Account Protection token (RFC 8417) for `sub` carrying one event or several, signed like
        Google's: `token-revoked` names the user's refresh token by `token_alg` (`prefix`, its first 16
        characters, or `hash_base64_sha512_sha512`); the others name the user by `iss-sub`. `subject` replaces
        the subject of every event (to send a malformed one); `iat_offset_s` moves Google's clock."""
        events = {}
        for name in [event] if isinstance(event, str) else event:
            events[event_type(name)] = {"subject": subject or self._event_subject(sub, name, token_alg)}
            if name == "account-disabled":
                events[event_type(name)]["reason"] = "hijacking"
        return self.signer.sign(
            {
                "iss": "https://accounts.google.com/",
                "aud": audience or next(iter(self.clients)),
                "iat": int(time.time() + iat_offset_s),
                "jti": jti or secrets.token_hex(16),
                "events": events,
            }
        )

    def _event_subject(self, sub: str, event: str, token_alg: str) -> dict[str, Any]:
        if event != "token-revoked":
            return {"subject_type": "iss-sub", "iss": "https://accounts.google.com/", "sub": sub}
        with self.lock:
            token = next(g.refresh_token for g in self.grants.values() if g.sub == sub and not g.revoked)
        if token_alg == "prefix":
            identifier = token[:16]
        else:
            identifier = base64.b64encode(hashlib.sha512(hashlib.sha512(token.encode()).digest()).digest()).decode()
        return {
            "subject_type": "oauth_token",
            "token_type": "refresh_token",
            "token_identifier_alg": token_alg,
            "token": identifier,
        }

    def service_token(self, email: str, project_id: str, scopes: list[str]) -> dict[str, Any]:
        """An access token for a service account (the JWT-bearer grant), for `project_id`'s APIs."""
        with self.lock:
            access = "ya29.c." + secrets.token_urlsafe(100)
            expires = time.time() + self.lifetimes.access_token_s
            self.access_tokens[access] = AccessToken(email, project_id, scopes, expires, None)
            return {"access_token": access, "expires_in": int(self.lifetimes.access_token_s), "token_type": "Bearer"}

    def authenticate(self, header: str | None) -> AccessToken | None:
        if not header or not header.startswith("Bearer "):
            return None
        with self.lock:
            token = self.access_tokens.get(header[len("Bearer ") :].strip())
            if token is None or token.expires_at < self.now():
                return None
            return token

    # --- faults and the request log -----------------------------------------------------------

    def inject_fault(self, endpoint: str, *, status: int | None = None, count: int = 1, **kw: Any) -> None:
        with self.lock:
            until = time.time() + float(kw["for_s"]) if kw.get("for_s") is not None else None
            fault = Fault(
                endpoint, status, count, kw.get("retry_after_s"), kw.get("delay_s", 0.0), kw.get("error"), until
            )
            self.faults.append(fault)

    def take_fault(self, endpoint: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if not fnmatch.fnmatchcase(endpoint, fault.endpoint):
                    continue
                if fault.until is not None:
                    if time.time() < fault.until:
                        return fault
                elif fault.count > 0:
                    fault.count -= 1
                    return fault
            return None

    def record(self, endpoint: str, method: str, status: int, peer: str = "", took_s: float = 0.0) -> None:
        """One request: `peer` is the client's address and port, so a test can tell its connections apart;
        `took_s`, Google's time on it (a benchmark tells it from darkroom's: bench/latency.py)."""
        with self.lock:
            entry = {"endpoint": endpoint, "method": method, "status": status, "at": time.time(), "peer": peer}
            entry["took_s"] = took_s
            self.log.append(entry)

    def counts(self) -> dict[str, int]:
        with self.lock:
            counts: dict[str, int] = {}
            for entry in self.log:
                counts[entry["endpoint"]] = counts.get(entry["endpoint"], 0) + 1
            return counts


def response_scopes(scopes: list[str]) -> list[str]:
    out = [SCOPE_ALIASES.get(s, s) for s in scopes]
    if ("email" in scopes or "profile" in scopes) and "openid" not in out:
        out.append("openid")
    return sorted(set(out))


def new_id() -> str:
    return "A" + secrets.token_urlsafe(40).replace("-", "x").replace("_", "y")


def rfc3339(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"


def event_type(name: str) -> str:
    """A RISC event type from its short name; the OAuth ones live under their own schema."""
    if name.startswith("https://"):
        return name
    family = "oauth" if name in ("tokens-revoked", "token-revoked") else "risc"
    return f"https://schemas.openid.net/secevent/{family}/event-type/{name}"
