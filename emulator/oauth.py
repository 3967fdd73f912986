"""Google's OAuth endpoints: /token (authorization_code, refresh_token), /revoke, and the ID token certs."""

from __future__ import annotations

import base64
import binascii
from html import escape
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from emulator import fcm
from emulator.http import endpoint, oauth_error, origin, run
from emulator.world import AccessToken, Google, OAuthError


async def token(request: Request) -> Response:
    form = await _form(request)
    grant_type = form.get("grant_type", "")
    names = {"authorization_code": "authorization_code", "refresh_token": "refresh_token", fcm.JWT_BEARER: "jwt-bearer"}
    name = f"oauth.token.{names[grant_type]}" if grant_type in names else "oauth.token"

    async def handle(request: Request, google: Google, _: AccessToken | None) -> Response:
        try:
            if request.headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
                raise OAuthError("invalid_request", "Invalid content type.")
            if grant_type == fcm.JWT_BEARER:  # a service account authenticates by its signed assertion alone
                answer = fcm.jwt_bearer(google, form.get("assertion", ""), f"{origin(request)}/token")
                return JSONResponse(answer, headers={"Cache-Control": "no-store"})
            client_id, secret = _client_credentials(request, form)
            google.check_client(client_id, secret)
            return JSONResponse(
                _grant(google, grant_type, form, client_id or ""), headers={"Cache-Control": "no-store"}
            )
        except OAuthError as exc:
            return oauth_error(exc.status, exc.error, exc.description)

    return await run(name, request, handle, None, oauth=True)


def _grant(google: Google, grant_type: str, form: dict[str, str], client_id: str) -> dict[str, object]:
    if grant_type == "authorization_code":
        if not form.get("code"):
            raise OAuthError("invalid_request", "Missing required parameter: code")
        return google.redeem(form["code"], client_id, form.get("redirect_uri"))
    if grant_type == "refresh_token":
        if not form.get("refresh_token"):
            raise OAuthError("invalid_request", "Missing required parameter: refresh_token")
        return google.refresh(form["refresh_token"], client_id)
    raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")


@endpoint("oauth.revoke", oauth=True)
async def revoke(request: Request, google: Google, _: AccessToken | None) -> Response:
    form = await _form(request)
    value = form.get("token") or request.query_params.get("token")
    if not value:
        return oauth_error(400, "invalid_request", "Missing required parameter: token")
    try:
        google.revoke_token(value)
    except OAuthError as exc:
        return oauth_error(400, exc.error, exc.description)
    return JSONResponse({})


@endpoint("oauth.certs.v1")
async def certs_v1(request: Request, google: Google, _: AccessToken | None) -> Response:
    return JSONResponse(google.signer.pem_certs(), headers={"Cache-Control": "public, max-age=3600"})


@endpoint("oauth.certs.v3")
async def certs_v3(request: Request, google: Google, _: AccessToken | None) -> Response:
    return JSONResponse(google.signer.jwks(), headers={"Cache-Control": "public, max-age=3600"})


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", "replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """client_secret_post or client_secret_basic, both of which Google accepts."""
    header = request.headers.get("authorization", "")
    if header.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client", "Unauthorized", 401) from exc
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


async def authorize(request: Request) -> Response:
    """Google's authorization endpoint as a browser meets it: GET shows the account chooser (the project's users,
    a button each), POST is the choice, answered with a redirect to the client's redirect URI carrying the code
    and the state. A client or redirect URI Google does not know gets Google's error page, and no redirect."""
    google: Google = request.app.state.google
    params = dict(request.query_params) if request.method == "GET" else await _form(request)
    client_id, redirect_uri = str(params.get("client_id", "")), str(params.get("redirect_uri", ""))
    if client_id not in google.clients:
        return _error_page(401, "invalid_client", "The OAuth client was not found.")
    if redirect_uri not in google.redirect_uris.get(client_id, set()):
        return _error_page(400, "redirect_uri_mismatch", "The redirect URI is not registered for this client.")
    if params.get("response_type") != "code" or "openid" not in str(params.get("scope", "")).split():
        return _error_page(400, "invalid_request", "response_type must be code, with the openid scope.")
    if request.method == "GET":
        google.record("oauth.authorize", "GET", 200)
        return HTMLResponse(_chooser(google, params))
    sub = str(params.get("sub", ""))
    if sub not in google.users:
        return _error_page(400, "invalid_request", "Choose an account.")
    code = google.mint_code(
        sub, scopes=str(params["scope"]).split(), client_id=client_id, redirect_uri=redirect_uri,
        nonce=str(params.get("nonce") or "") or None,
    )  # fmt: skip
    google.record("oauth.authorize", "POST", 302)
    answer = {
        "code": code,
        "scope": str(params["scope"]),
        **({"state": params["state"]} if params.get("state") else {}),
    }
    return RedirectResponse(f"{redirect_uri}?{urlencode(answer)}", status_code=302)


def _chooser(google: Google, params: dict[str, str]) -> str:
    kept = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(str(v))}">'
        for k, v in params.items()
        if k in ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce")
    )
    accounts = "".join(
        f'<form method="post" action="/o/oauth2/v2/auth">{kept}<input type="hidden" name="sub" value="{escape(u.sub)}">'
        f'<button type="submit">{escape(u.email)}</button></form>'
        for u in google.users.values()
    )
    head = '<!doctype html><title>Sign in - Google Accounts</title><link rel="icon" href="data:,">'
    return f"{head}<h1>Choose an account</h1>{accounts}"


def _error_page(status: int, error: str, description: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><title>Error</title><h1>Error {status}: {escape(error)}</h1>"
                        f"<p>{escape(description)}</p>", status_code=status)  # fmt: skip


routes = [
    Route("/o/oauth2/v2/auth", authorize, methods=["GET", "POST"]),
    Route("/token", token, methods=["POST"]),
    Route("/revoke", revoke, methods=["POST"]),
    Route("/oauth2/v1/certs", certs_v1, methods=["GET"]),
    Route("/oauth2/v3/certs", certs_v3, methods=["GET"]),
]
