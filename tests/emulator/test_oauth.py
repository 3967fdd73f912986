"""The emulator's OAuth endpoints behave as Google's do, over HTTP, and the real google-auth accepts them."""

from __future__ import annotations

import base64
import time

import google.auth.transport.requests
import pytest
import requests
from google.oauth2 import id_token
from google.oauth2.credentials import Credentials

from emulator.client import AdminClient
from emulator.world import APPENDONLY, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, PICKER_SCOPE
from tests.support.google import redeem


@pytest.fixture
def user(admin: AdminClient) -> dict:
    return admin.add_user(photos=0, name="Grace Hopper")


def test_code_exchange_returns_google_shaped_tokens(emulator, admin, user):
    body = redeem(emulator.url, admin.mint_code(user["sub"])).json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type", "id_token", "refresh_token"}
    assert body["token_type"] == "Bearer" and 3500 < body["expires_in"] <= 3600
    # short names come back as Google's long aliases, with openid added
    scopes = body["scope"].split()
    assert "https://www.googleapis.com/auth/userinfo.email" in scopes and "openid" in scopes and "email" not in scopes


def test_code_is_single_use(emulator, admin, user):
    code = admin.mint_code(user["sub"])
    assert redeem(emulator.url, code).status_code == 200
    again = redeem(emulator.url, code)
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "Code was already redeemed."}


def test_code_expires(emulator, admin, user):
    admin.set_lifetimes(code_s=0.2)
    code = admin.mint_code(user["sub"])
    time.sleep(0.3)
    response = redeem(emulator.url, code)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_unknown_code_is_invalid_grant(emulator):
    response = redeem(emulator.url, "4/0Anot-a-real-code")
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("field,value", [("client_id", "someone-else"), ("client_secret", "wrong")])
def test_client_credentials_are_checked(emulator, admin, user, field, value):
    response = redeem(emulator.url, admin.mint_code(user["sub"]), **{field: value})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_basic_auth_client_credentials_are_accepted(emulator, admin, user):
    basic = base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()
    form = {"grant_type": "authorization_code", "code": admin.mint_code(user["sub"]), "redirect_uri": ""}
    response = requests.post(f"{emulator.url}/token", data=form, headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200


def test_redirect_uri_must_match_exactly(emulator, admin, user):
    response = redeem(emulator.url, admin.mint_code(user["sub"]), redirect_uri="postmessage")
    assert response.status_code == 400 and response.json()["error"] == "redirect_uri_mismatch"


def test_redirect_uri_must_be_sent(emulator, admin, user):
    form = {
        "grant_type": "authorization_code",
        "code": admin.mint_code(user["sub"]),
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
    }
    response = requests.post(f"{emulator.url}/token", data=form)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_refresh_token_only_on_first_consent_or_prompt_consent(emulator, admin, user):
    assert "refresh_token" in redeem(emulator.url, admin.mint_code(user["sub"])).json()
    assert "refresh_token" not in redeem(emulator.url, admin.mint_code(user["sub"])).json()
    assert "refresh_token" in redeem(emulator.url, admin.mint_code(user["sub"], prompt="consent")).json()


def test_granted_scopes_can_be_narrower_than_requested(emulator, admin, user):
    code = admin.mint_code(user["sub"], granted=["openid", "email", APPENDONLY])
    scopes = redeem(emulator.url, code).json()["scope"].split()
    assert APPENDONLY in scopes and PICKER_SCOPE not in scopes


def test_refresh_grant_and_invalid_grant_after_revoke(emulator, admin, user):
    refresh = redeem(emulator.url, admin.mint_code(user["sub"])).json()["refresh_token"]
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
    }
    ok = requests.post(f"{emulator.url}/token", data=form).json()
    assert "access_token" in ok and "refresh_token" not in ok
    assert requests.post(f"{emulator.url}/revoke", data={"token": refresh}).status_code == 200
    dead = requests.post(f"{emulator.url}/token", data=form)
    assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
    again = requests.post(f"{emulator.url}/revoke", data={"token": refresh})
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"


def test_revoking_an_access_token_kills_the_whole_grant(emulator, admin, user):
    body = redeem(emulator.url, admin.mint_code(user["sub"])).json()
    assert requests.post(f"{emulator.url}/revoke", data={"token": body["access_token"]}).status_code == 200
    assert [g["revoked"] for g in admin.state()["grants"]] == [True]


def test_google_auth_refreshes_against_the_emulator(emulator, admin, user):
    body = redeem(emulator.url, admin.mint_code(user["sub"])).json()
    credentials = Credentials(
        None,
        refresh_token=body["refresh_token"],
        token_uri=f"{emulator.url}/token",
        client_id=DEMO_CLIENT_ID,
        client_secret=DEMO_CLIENT_SECRET,
    )
    credentials.refresh(_request())
    assert credentials.token and credentials.token != body["access_token"] and credentials.valid
    assert admin.counts()["oauth.token.refresh_token"] == 1


def _request() -> google.auth.transport.requests.Request:
    return google.auth.transport.requests.Request()


@pytest.mark.parametrize("path", ["/oauth2/v1/certs", "/oauth2/v3/certs"])
def test_verify_token_accepts_its_id_tokens_in_both_cert_formats(emulator, admin, user, path):
    token = redeem(emulator.url, admin.mint_code(user["sub"])).json()["id_token"]
    claims = id_token.verify_token(token, _request(), audience=DEMO_CLIENT_ID, certs_url=emulator.url + path)
    assert claims["sub"] == user["sub"] and claims["iss"] == "https://accounts.google.com"
    assert claims["email"] == user["email"] and claims["email_verified"] is True
    assert {"name", "given_name", "family_name", "picture", "locale", "at_hash", "azp"} <= set(claims)


def test_id_token_for_another_audience_is_refused(emulator, admin, user):
    token = redeem(emulator.url, admin.mint_code(user["sub"])).json()["id_token"]
    with pytest.raises(ValueError):
        id_token.verify_token(token, _request(), audience="another-client", certs_url=f"{emulator.url}/oauth2/v1/certs")


def test_certs_are_pem_and_jwks_with_the_same_kid(emulator):
    pem = requests.get(f"{emulator.url}/oauth2/v1/certs").json()
    jwks = requests.get(f"{emulator.url}/oauth2/v3/certs").json()
    [(kid, cert)] = pem.items()
    assert cert.startswith("-----BEGIN CERTIFICATE-----")
    assert [k["kid"] for k in jwks["keys"]] == [kid] and jwks["keys"][0]["alg"] == "RS256"
