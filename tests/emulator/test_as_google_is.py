"""What the emulator learned of Google as it really is (docs/google.md), over HTTP."""

from __future__ import annotations

import base64
import hashlib
import json
import time

from tests.support.google import redeem, sign_in


def picked(api, admin, session_id: str) -> list[dict]:
    admin.pick(session_id=session_id)
    return api.call("GET", "/picker/v1/mediaItems", params={"sessionId": session_id}).json()["mediaItems"]


def test_a_pick_holds_videos_whose_bytes_are_at_dv_and_unicode_names(emulator, admin):
    user = admin.add_user(photos=1, width=64, height=48, videos=1, names=["写真 🌅.jpg"])
    _, api = sign_in(emulator.url, admin)
    api.headers["Authorization"] = "Bearer " + _token_of(emulator, admin, user)
    session = api.call("POST", "/picker/v1/sessions", json={}).json()
    photo, video = picked(api, admin, session["id"])
    assert photo["type"] == "PHOTO" and photo["mediaFile"]["filename"] == "写真 🌅.jpg"
    assert video["type"] == "VIDEO" and video["mediaFile"]["mimeType"] == "video/mp4"
    clip = api.call("GET", video["mediaFile"]["baseUrl"] + "=dv")
    still = api.call("GET", video["mediaFile"]["baseUrl"] + "=d")
    assert clip.headers["content-type"] == "video/mp4" and still.headers["content-type"] == "image/jpeg"


def _token_of(emulator, admin, user) -> str:
    return redeem(emulator.url, admin.mint_code(user["sub"])).json()["access_token"]


def test_polling_time_counts_down_to_zero_before_the_session_expires(emulator, admin):
    admin.set_lifetimes(picker_timeout_s=0.5)
    _, api = sign_in(emulator.url, admin)
    session = api.call("POST", "/picker/v1/sessions", json={}).json()
    assert 0 < float(session["pollingConfig"]["timeoutIn"].rstrip("s")) <= 0.5
    time.sleep(0.6)
    again = api.call("GET", f"/picker/v1/sessions/{session['id']}").json()
    assert again["pollingConfig"]["timeoutIn"] == "0.000s"  # stop polling: the session itself lives on


def test_an_album_the_user_deleted_answers_404_not_found(emulator, admin):
    _, api = sign_in(emulator.url, admin)
    album = api.call("POST", "/library/v1/albums", json={"album": {"title": "A"}}).json()
    admin.delete_album(album["id"])
    token = api.upload(b"\xff\xd8 not much").text
    spec = {"albumId": album["id"], "newMediaItems": [{"simpleMediaItem": {"uploadToken": token}}]}
    answer = api.call("POST", "/library/v1/mediaItems:batchCreate", json=spec)
    assert answer.status_code == 404 and answer.json()["error"]["status"] == "NOT_FOUND"


def test_batch_create_takes_a_unicode_name_and_fails_a_long_or_control_one(emulator, admin):
    _, api = sign_in(emulator.url, admin)
    names = ["写真.jpg", "x" * 256 + ".jpg", "a\r\nb.jpg"]
    items = [{"simpleMediaItem": {"uploadToken": api.upload(b"bytes").text, "fileName": n}} for n in names]
    results = api.call("POST", "/library/v1/mediaItems:batchCreate", json={"newMediaItems": items}).json()
    assert [r["status"].get("code", 0) for r in results["newMediaItemResults"]] == [0, 3, 3]
    found = api.call("POST", "/library/v1/mediaItems:search", json={}).json()["mediaItems"]
    assert [i["filename"] for i in found] == ["写真.jpg"] and found[0]["description"] == ""


def test_security_tokens_carry_several_events_and_name_refresh_tokens_both_ways(emulator, admin):
    user = admin.add_user()
    refresh = redeem(emulator.url, admin.mint_code(user["sub"])).json()["refresh_token"]
    token = admin.security_event(user["sub"], ["token-revoked", "account-enabled"], token_alg="prefix")
    events = _claims(token)["events"]
    revoked = events["https://schemas.openid.net/secevent/oauth/event-type/token-revoked"]["subject"]
    assert revoked["token_identifier_alg"] == "prefix" and revoked["token"] == refresh[:16]
    assert (
        events["https://schemas.openid.net/secevent/risc/event-type/account-enabled"]["subject"]["sub"] == user["sub"]
    )
    hashed = _claims(admin.security_event(user["sub"], "token-revoked", token_alg="hash_base64_sha512_sha512"))
    subject = hashed["events"]["https://schemas.openid.net/secevent/oauth/event-type/token-revoked"]["subject"]
    digest = hashlib.sha512(hashlib.sha512(refresh.encode()).digest()).digest()
    assert base64.b64decode(subject["token"]) == digest


def test_a_fault_on_the_token_endpoint_names_its_oauth_error(emulator, admin):
    user = admin.add_user()
    admin.inject_fault("oauth.token.authorization_code", status=400, error="invalid_request")
    assert redeem(emulator.url, admin.mint_code(user["sub"])).json()["error"] == "invalid_request"
    admin.inject_fault("oauth.token.authorization_code", status=400)
    assert redeem(emulator.url, admin.mint_code(user["sub"])).json()["error"] == "invalid_grant"


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _quota_info(response) -> dict:
    error = response.json()["error"]
    assert response.status_code == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    [info] = [d for d in error["details"] if d["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"]
    assert info["reason"] == "RATE_LIMIT_EXCEEDED"
    return info["metadata"]


def test_the_library_quota_is_the_projects_per_day_and_comes_back_on_a_new_day(emulator, admin):
    admin.quota(daily_limit=3)
    _, api = sign_in(emulator.url, admin)
    _, other = sign_in(emulator.url, admin)  # another user of the same project shares the quota
    answers = [api.call("GET", "/library/v1/albums"), other.upload(b"bytes"), api.call("GET", "/library/v1/albums")]
    assert [a.status_code for a in answers] == [200, 200, 200]
    refused = other.call("GET", "/library/v1/albums")
    assert _quota_info(refused)["quota_limit"] == "AllRequestsPerDayPerProject"
    assert other.call("GET", "/picker/v1/sessions/none").status_code != 429  # the Picker API is counted apart
    assert admin.quota()["used_today"] == 3 and admin.quota()["refused"] == 1  # a refusal is not counted
    admin.new_day()
    assert api.call("GET", "/library/v1/albums").status_code == 200


def test_a_per_minute_limit_answers_429_naming_the_minute(emulator, admin):
    admin.quota(minute_limit=2)
    _, api = sign_in(emulator.url, admin)
    assert [api.call("GET", "/library/v1/albums").status_code for _ in range(2)] == [200, 200]
    assert _quota_info(api.call("GET", "/library/v1/albums"))["quota_limit"] == "AllRequestsPerMinutePerProject"
