"""Firebase Cloud Messaging HTTP v1 under /fcm/v1, and the JWT-bearer grant that authorizes it (docs/google.md#fcm).

A service account the emulator mints signs its own assertions; /token checks each one's signature, issuer,
audience, lifetime and scope before it issues an access token with the firebase.messaging scope. Messages are
recorded; a token can be marked unregistered (404 UNREGISTERED, as for an app that was uninstalled).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator import keys
from emulator.http import ApiError, endpoint, json_body
from emulator.world import AccessToken, Google, OAuthError

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # what google-auth puts in `aud`, always
MAX_PAYLOAD = 4096


@dataclass
class ServiceAccount:
    project_id: str
    email: str
    key_id: str
    public_pem: bytes


@dataclass
class Messaging:
    accounts: dict[str, ServiceAccount] = field(default_factory=dict)  # by private_key_id
    unregistered: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)


def messaging(google: Google) -> Messaging:
    with google.lock:
        if not hasattr(google, "messaging"):
            google.messaging = Messaging()  # type: ignore[attr-defined]
        return google.messaging  # type: ignore[attr-defined,no-any-return]


def mint_service_account(google: Google, base: str, project_id: str = "darkroom-demo") -> dict[str, Any]:
    """A Firebase service-account JSON, as the console downloads it, whose token_uri is this emulator."""
    info, public = keys.service_account(base, project_id, "firebase-adminsdk")
    key_id, email = info["private_key_id"], info["client_email"]
    messaging(google).accounts[key_id] = ServiceAccount(project_id, email, key_id, public)
    return info


def jwt_bearer(google: Google, assertion: str, token_url: str) -> dict[str, Any]:
    """RFC 7523: an access token for the service account whose key signed `assertion`, or an OAuth error."""
    try:
        key_id = jwt.get_unverified_header(assertion).get("kid")
    except jwt.InvalidTokenError as exc:
        raise OAuthError("invalid_grant", "Invalid JWT: malformed.") from exc
    account = messaging(google).accounts.get(str(key_id))
    if account is None:
        raise OAuthError("invalid_grant", "Invalid JWT Signature.")
    try:
        claims = jwt.decode(
            assertion,
            account.public_pem,
            algorithms=["RS256"],
            audience=[GOOGLE_TOKEN_AUDIENCE, token_url],
            issuer=account.email,
            options={"require": ["iss", "aud", "iat", "exp", "scope"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise OAuthError("invalid_grant", "Invalid JWT: Token must be a short-lived token.") from exc
    except jwt.InvalidTokenError as exc:
        raise OAuthError("invalid_grant", f"Invalid JWT: {exc.__class__.__name__}.") from exc
    if int(claims["exp"]) - int(claims["iat"]) > 3600:
        raise OAuthError("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes).")
    scopes = str(claims["scope"]).split()
    if FCM_SCOPE not in scopes:
        raise OAuthError("invalid_scope", "The service account may not request these scopes.")
    return google.service_token(account.email, account.project_id, scopes)


@endpoint("fcm.messages.send", scopes=(FCM_SCOPE,))
async def send(request: Request, google: Google, token: AccessToken | None) -> Response:
    assert token is not None
    project = request.path_params["project"]
    if token.client_id != project:
        raise ApiError(403, "Permission 'cloudmessaging.messages.create' denied.", "PERMISSION_DENIED")
    body = await json_body(request)
    message = body.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("token"), str):
        raise _fcm_error(400, "INVALID_ARGUMENT", "message.token is required.")
    data = message.get("data", {})
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise _fcm_error(400, "INVALID_ARGUMENT", "data values must be strings.")
    if len(json.dumps(message).encode()) > MAX_PAYLOAD:
        raise _fcm_error(400, "INVALID_ARGUMENT", "Message is too big.")
    box = messaging(google)
    if message["token"] in box.unregistered:
        raise _fcm_error(404, "UNREGISTERED", "Requested entity was not found.")
    name = f"projects/{project}/messages/{secrets.token_hex(8)}"
    with google.lock:
        box.sent.append({"name": name, "at": time.time(), **message})
    return JSONResponse({"name": name})


def _fcm_error(code: int, error_code: str, message: str) -> ApiError:
    """FCM's error shape: Google's, with an FcmError detail naming `errorCode` (UNREGISTERED, INVALID_ARGUMENT)."""
    detail = {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}
    return ApiError(code, message, details=[detail])


routes = [Route("/fcm/v1/projects/{project}/messages:send", send, methods=["POST"])]
