"""FCM HTTP v1 and the JWT-bearer grant, as strictly as Google: the real google-auth against the emulator."""

from __future__ import annotations

import time

import google.auth.transport.requests
import jwt
import pytest
import requests
from google.oauth2 import service_account

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


def session_for(info: dict) -> google.auth.transport.requests.AuthorizedSession:
    credentials = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    return google.auth.transport.requests.AuthorizedSession(credentials)


def test_a_service_account_sends_a_message_and_it_is_recorded(emulator, admin):
    info = admin.service_account("proj-1")
    sent = session_for(info).post(
        f"{emulator.url}/fcm/v1/projects/proj-1/messages:send",
        json={"message": {"token": "device-token-1", "data": {"status": "done"}}},
    )
    assert sent.status_code == 200 and sent.json()["name"].startswith("projects/proj-1/messages/")
    [message] = admin.push_messages()
    assert message["token"] == "device-token-1" and message["data"] == {"status": "done"}
    assert admin.counts()["oauth.token.jwt-bearer"] == 1


def test_an_unregistered_token_is_404_with_fcms_error_code(emulator, admin):
    info = admin.service_account("proj-1")
    admin.unregister_push_token("gone")
    answer = session_for(info).post(
        f"{emulator.url}/fcm/v1/projects/proj-1/messages:send", json={"message": {"token": "gone"}}
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["details"][0]["errorCode"] == "UNREGISTERED"


def test_non_string_data_and_another_projects_token_are_refused(emulator, admin):
    session = session_for(admin.service_account("proj-1"))
    bad = session.post(
        f"{emulator.url}/fcm/v1/projects/proj-1/messages:send", json={"message": {"token": "t", "data": {"n": 1}}}
    )
    assert bad.status_code == 400 and bad.json()["error"]["details"][0]["errorCode"] == "INVALID_ARGUMENT"
    other = session.post(f"{emulator.url}/fcm/v1/projects/proj-2/messages:send", json={"message": {"token": "t"}})
    assert other.status_code == 403


@pytest.mark.parametrize(
    "change",
    [
        {"aud": "https://elsewhere.example.com/token"},
        {"exp": int(time.time()) - 10},
        {"exp": int(time.time()) + 7200},
        {"scope": "https://www.googleapis.com/auth/cloud-platform"},
        {"iss": "someone@else.iam.gserviceaccount.com"},
    ],
)
def test_assertions_are_checked_for_audience_lifetime_scope_and_issuer(emulator, admin, change):
    info = admin.service_account("proj-1")
    now = int(time.time())
    claims = {"iss": info["client_email"], "aud": "https://oauth2.googleapis.com/token", "iat": now, "exp": now + 3600}
    claims = {**claims, "scope": SCOPE, **change}
    assertion = jwt.encode(claims, info["private_key"], algorithm="RS256", headers={"kid": info["private_key_id"]})
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    answer = requests.post(f"{emulator.url}/token", data=form)
    assert answer.status_code == 400 and answer.json()["error"] in ("invalid_grant", "invalid_scope")


def test_an_assertion_signed_by_another_key_is_refused(emulator, admin):
    info, other = admin.service_account("proj-1"), admin.service_account("proj-1")
    now = int(time.time())
    claims = {"iss": info["client_email"], "aud": f"{emulator.url}/token", "iat": now, "exp": now + 600, "scope": SCOPE}
    assertion = jwt.encode(claims, other["private_key"], algorithm="RS256", headers={"kid": info["private_key_id"]})
    answer = requests.post(
        f"{emulator.url}/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
