"""Google's RISC management API (Cross-Account Protection), under /risc/v1beta as at risc.googleapis.com/v1beta:
register a receiver (stream:update), read it (GET stream), enable or disable it (stream/status), and ask for a
verification event (stream:verify), which is pushed to the receiver signed like every security event.

Strict as Google (../shared/reference/operations.md §5): every call carries a JWT its service account signed
(RS256, `kid` its key), `iss` = `sub` = the account's email, `aud` the management service, at most an hour
long and not expired; the account must hold the RISC Configuration Admin role. A verification is sent only if
the stream asked for that event type and only while it is enabled; a disabled stream sends nothing and keeps
nothing for later.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
import requests
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator import keys
from emulator.http import ApiError, endpoint, json_body
from emulator.world import AccessToken, Google, event_type

AUDIENCE = "https://risc.googleapis.com/google.identity.risc.v1beta.RiscManagementService"
PUSH = "https://schemas.openid.net/secevent/risc/delivery-method/push"
VERIFICATION = event_type("verification")
KNOWN_EVENTS = {
    event_type(name)
    for name in (
        "sessions-revoked",
        "tokens-revoked",
        "token-revoked",
        "account-disabled",
        "account-enabled",
        "account-credential-change-required",
        "account-purged",
        "verification",
    )
}
DELIVERY_TRIES = 3  # Google retries a delivery a few times, then the event is lost


@dataclass
class Account:
    email: str
    public_pem: bytes
    admin: bool  # holds the RISC Configuration Admin role


@dataclass
class Stream:
    accounts: dict[str, Account] = field(default_factory=dict)  # by private_key_id
    config: dict[str, Any] | None = None
    status: str = "enabled"
    delivered: list[dict[str, Any]] = field(default_factory=list)  # every push: url, state, status


def stream(google: Google) -> Stream:
    with google.lock:
        if not hasattr(google, "risc"):
            google.risc = Stream()  # type: ignore[attr-defined]
        return google.risc  # type: ignore[attr-defined,no-any-return]


def mint_service_account(google: Google, base: str, project_id: str = "darkroom-demo", admin: bool = True) -> dict:
    """A service-account JSON as the console downloads it; `admin`: granted RISC Configuration Admin."""
    info, public = keys.service_account(base, project_id, "risc-admin")
    stream(google).accounts[info["private_key_id"]] = Account(info["client_email"], public, admin)
    return info


def _caller(google: Google, request: Request) -> Account:
    header = request.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        raise ApiError(401, "Request is missing required authentication credential.", "UNAUTHENTICATED")
    token = header[len("Bearer ") :].strip()
    try:
        key_id = jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError as exc:
        raise ApiError(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED") from exc
    account = stream(google).accounts.get(str(key_id))
    if account is None:
        raise ApiError(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
    try:
        claims = jwt.decode(
            token,
            account.public_pem,
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=account.email,
            options={"require": ["iss", "sub", "aud", "iat", "exp"]},
        )
    except jwt.InvalidTokenError as exc:
        raise ApiError(401, f"Request had invalid authentication credentials: {type(exc).__name__}.") from exc
    if claims["sub"] != account.email or int(claims["exp"]) - int(claims["iat"]) > 3600:
        raise ApiError(401, "Request had invalid authentication credentials.", "UNAUTHENTICATED")
    if not account.admin:
        raise ApiError(403, "The caller does not have permission", "PERMISSION_DENIED")
    return account


@endpoint("risc.stream.update")
async def update(request: Request, google: Google, _: AccessToken | None) -> Response:
    _caller(google, request)
    body = await json_body(request)
    delivery, wanted = body.get("delivery"), body.get("events_requested")
    if not isinstance(delivery, dict) or delivery.get("delivery_method") != PUSH:
        raise ApiError(400, f"delivery.delivery_method must be {PUSH}.")
    url = delivery.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ApiError(400, "delivery.url must be an absolute URL on one of the project's authorized domains.")
    if not isinstance(wanted, list) or not wanted or not all(isinstance(w, str) for w in wanted):
        raise ApiError(400, "events_requested must list at least one event type.")
    unknown = sorted(set(wanted) - KNOWN_EVENTS)
    if unknown:
        raise ApiError(400, f"Unknown event types: {', '.join(unknown)}.")
    with google.lock:
        stream(google).config = {"delivery": {"delivery_method": PUSH, "url": url}, "events_requested": wanted}
    return JSONResponse({})


@endpoint("risc.stream.get")
async def get(request: Request, google: Google, _: AccessToken | None) -> Response:
    _caller(google, request)
    config = stream(google).config
    if config is None:
        raise ApiError(404, "No stream is configured for this project.")
    return JSONResponse(config)


@endpoint("risc.stream.status")
async def status(request: Request, google: Google, _: AccessToken | None) -> Response:
    _caller(google, request)
    current = stream(google)
    if request.method == "POST":
        wanted = (await json_body(request)).get("status")
        if wanted not in ("enabled", "disabled"):
            raise ApiError(400, "status must be enabled or disabled.")
        with google.lock:
            current.status = str(wanted)
    return JSONResponse({"status": current.status})


@endpoint("risc.stream.verify")
async def verify(request: Request, google: Google, _: AccessToken | None) -> Response:
    _caller(google, request)
    state = (await json_body(request)).get("state", "")
    if not isinstance(state, str):
        raise ApiError(400, "state must be a string.")
    current = stream(google)
    if current.config is None:
        raise ApiError(400, "No stream is configured for this project.", "FAILED_PRECONDITION")
    # Google answers 200 either way; it sends nothing to a disabled stream, nor a type the stream did not ask for.
    if current.status == "enabled" and VERIFICATION in current.config["events_requested"]:
        token = google.signer.sign(
            {
                "iss": "https://accounts.google.com/",
                "aud": list(google.clients),
                "iat": int(time.time()),
                "jti": secrets.token_hex(16),
                "events": {VERIFICATION: {"state": state}},
            }
        )
        url = current.config["delivery"]["url"]
        threading.Thread(target=_push, args=(current, url, token, state), daemon=True).start()
    return JSONResponse({})


def _push(current: Stream, url: str, token: str, state: str) -> None:
    """RFC 8935 push, as Google delivers: retried a few times, then lost."""
    for attempt in range(DELIVERY_TRIES):
        try:
            answer = requests.post(url, data=token, headers={"Content-Type": "application/secevent+jwt"}, timeout=10)
            code: int | str = answer.status_code
        except requests.RequestException as exc:
            code = type(exc).__name__
        current.delivered.append({"url": url, "state": state, "status": code, "at": time.time()})
        if code == 202 or (isinstance(code, int) and 400 <= code < 500):
            return
        time.sleep(1.0 * (attempt + 1))


routes = [
    Route("/risc/v1beta/stream:update", update, methods=["POST"]),
    Route("/risc/v1beta/stream", get, methods=["GET"]),
    Route("/risc/v1beta/stream/status", status, methods=["GET"]),
    Route("/risc/v1beta/stream/status:update", status, methods=["POST"]),
    Route("/risc/v1beta/stream:verify", verify, methods=["POST"]),
]
