"""The RISC management API as strict as Google's: the service account's own JWT for the management audience,
an hour at most and not expired; only event types Google knows; a verification only when asked for and only to
an enabled stream."""

from __future__ import annotations

import time

import jwt
import requests

from emulator.risc import AUDIENCE, PUSH, VERIFICATION


def _bearer(account: dict, **claims) -> dict[str, str]:
    now = int(time.time())
    body = {"iss": account["client_email"], "sub": account["client_email"], "aud": AUDIENCE, "iat": now}
    body.update({"exp": now + 3600, **claims})
    token = jwt.encode(body, account["private_key"], algorithm="RS256", headers={"kid": account["private_key_id"]})
    return {"Authorization": f"Bearer {token}"}


def test_only_the_service_accounts_own_short_jwt_for_the_management_audience_is_taken(emulator, admin):
    account, url = admin.risc_service_account(), f"{emulator.url}/risc/v1beta/stream/status"
    assert requests.get(url, headers=_bearer(account), timeout=5).json() == {"status": "enabled"}
    now = int(time.time())
    for wrong in (
        {"aud": "https://oauth2.googleapis.com/token"},
        {"exp": now + 7200},  # longer than an hour
        {"iat": now - 7200, "exp": now - 3600},  # expired
        {"sub": "someone-else@example.iam.gserviceaccount.com"},
    ):
        answer = requests.get(url, headers=_bearer(account, **wrong), timeout=5)
        assert answer.status_code == 401, wrong


def test_a_stream_takes_known_event_types_and_a_push_url_and_verifies_only_what_it_asked_for(emulator, admin):
    account, base = admin.risc_service_account(), f"{emulator.url}/risc/v1beta"
    assert (
        requests.post(f"{base}/stream:verify", json={"state": "s"}, headers=_bearer(account), timeout=5).json()[
            "error"
        ]["status"]
        == "FAILED_PRECONDITION"
    )  # nothing registered
    config = {"delivery": {"delivery_method": PUSH, "url": "https://app.example/v1/risc"}, "events_requested": []}
    for events in ([], ["https://schemas.openid.net/secevent/risc/event-type/made-up"]):
        config["events_requested"] = events
        answer = requests.post(f"{base}/stream:update", json=config, headers=_bearer(account), timeout=5)
        assert answer.status_code == 400
    config["events_requested"] = ["https://schemas.openid.net/secevent/risc/event-type/sessions-revoked"]
    assert requests.post(f"{base}/stream:update", json=config, headers=_bearer(account), timeout=5).status_code == 200
    assert requests.get(f"{base}/stream", headers=_bearer(account), timeout=5).json() == config
    answer = requests.post(f"{base}/stream:verify", json={"state": "s"}, headers=_bearer(account), timeout=5)
    assert answer.status_code == 200 and admin.risc_stream()["delivered"] == []  # verification was not asked for
    assert VERIFICATION not in config["events_requested"]
