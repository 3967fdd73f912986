"""Picker, Library and content endpoints: Google's paths, shapes, statuses and auth rules, over HTTP."""

from __future__ import annotations

import io
import time

import requests
from PIL import Image

from emulator.world import APPENDONLY
from tests.support.google import sign_in


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (120, 80, 40)).save(out, "JPEG")
    return out.getvalue()


def test_picker_session_lifecycle_and_failed_precondition_until_picked(emulator, admin):
    user, api = sign_in(emulator.url, admin, photos=3)
    session = api.call("POST", "/picker/v1/sessions", json={}).json()
    assert {"id", "pickerUri", "pollingConfig", "expireTime", "mediaItemsSet"} <= set(session)
    assert session["mediaItemsSet"] is False and session["pollingConfig"]["pollInterval"].endswith("s")
    early = api.call("GET", "/picker/v1/mediaItems", params={"sessionId": session["id"]})
    assert early.status_code == 400 and early.json()["error"]["status"] == "FAILED_PRECONDITION"
    admin.pick(session_id=session["id"])
    assert api.call("GET", f"/picker/v1/sessions/{session['id']}").json()["mediaItemsSet"] is True
    items = api.call("GET", "/picker/v1/mediaItems", params={"sessionId": session["id"]}).json()["mediaItems"]
    assert [i["id"] for i in items] == user["media"]
    assert {"baseUrl", "mimeType", "filename"} <= set(items[0]["mediaFile"])
    assert api.call("DELETE", f"/picker/v1/sessions/{session['id']}").status_code == 200
    assert api.call("GET", f"/picker/v1/sessions/{session['id']}").status_code == 404


def test_picker_pages_with_next_page_token(emulator, admin):
    user, api = sign_in(emulator.url, admin, photos=5)
    session = api.call("POST", "/picker/v1/sessions", json={}).json()
    admin.pick(session_id=session["id"], media=user["media"] * 30)  # 150 picks
    seen, token, pages = [], None, 0
    while True:
        params = {"sessionId": session["id"], "pageSize": 1000, **({"pageToken": token} if token else {})}
        page = api.call("GET", "/picker/v1/mediaItems", params=params).json()
        assert len(page["mediaItems"]) <= 100
        seen += page["mediaItems"]
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            break
    assert len(seen) == 150 and pages == 2


def test_another_users_session_is_not_found(emulator, admin):
    _, owner = sign_in(emulator.url, admin)
    _, other = sign_in(emulator.url, admin)
    session = owner.call("POST", "/picker/v1/sessions", json={}).json()
    assert other.call("GET", f"/picker/v1/sessions/{session['id']}").status_code == 404


def test_albums_create_and_list_only_app_created(emulator, admin):
    _, api = sign_in(emulator.url, admin)
    assert api.call("GET", "/library/v1/albums").json() == {}  # Google leaves out empty lists
    album = api.call("POST", "/library/v1/albums", json={"album": {"title": "Enhanced"}}).json()
    assert album["title"] == "Enhanced" and album["isWriteable"] is True
    listed = api.call("GET", "/library/v1/albums").json()["albums"]
    assert [a["id"] for a in listed] == [album["id"]]
    assert api.call("POST", "/library/v1/albums", json={"album": {"title": ""}}).status_code == 400


def test_upload_checks_headers_and_tokens_are_single_use(emulator, admin):
    _, api = sign_in(emulator.url, admin)
    assert api.upload(jpeg_bytes(), **{"X-Goog-Upload-Protocol": "resumable"}).status_code == 400
    assert api.upload(jpeg_bytes(), **{"Content-Type": "image/jpeg"}).status_code == 400
    assert api.upload(b"").status_code == 400
    token = api.upload(jpeg_bytes()).text
    album = api.call("POST", "/library/v1/albums", json={"album": {"title": "A"}}).json()
    spec = {
        "albumId": album["id"],
        "newMediaItems": [
            {"description": "d [darkroom:1]", "simpleMediaItem": {"uploadToken": token, "fileName": "a.jpg"}}
        ],
    }
    first = api.call("POST", "/library/v1/mediaItems:batchCreate", json=spec).json()["newMediaItemResults"][0]
    assert first["status"] == {"message": "Success"} and first["mediaItem"]["description"] == "d [darkroom:1]"
    again = api.call("POST", "/library/v1/mediaItems:batchCreate", json=spec)
    assert again.status_code == 200  # 200 with a failed item inside, as Google answers
    assert again.json()["newMediaItemResults"][0]["status"]["code"] == 3


def test_upload_tokens_expire(emulator, admin):
    _, api = sign_in(emulator.url, admin)
    admin.set_lifetimes(upload_token_s=0.1)
    token = api.upload(jpeg_bytes()).text
    time.sleep(0.2)
    spec = {"newMediaItems": [{"simpleMediaItem": {"uploadToken": token}}]}
    result = api.call("POST", "/library/v1/mediaItems:batchCreate", json=spec).json()["newMediaItemResults"][0]
    assert result["status"]["code"] == 3


def test_batch_create_takes_at_most_50_and_mixes_statuses(emulator, admin):
    _, api = sign_in(emulator.url, admin)
    items = [{"simpleMediaItem": {"uploadToken": f"t{n}"}} for n in range(51)]
    too_many = api.call("POST", "/library/v1/mediaItems:batchCreate", json={"newMediaItems": items})
    assert too_many.status_code == 400 and too_many.json()["error"]["status"] == "INVALID_ARGUMENT"
    good = api.upload(jpeg_bytes()).text
    mixed = [{"simpleMediaItem": {"uploadToken": good}}, {"simpleMediaItem": {"uploadToken": "bogus"}}]
    results = api.call("POST", "/library/v1/mediaItems:batchCreate", json={"newMediaItems": mixed}).json()
    assert [r["status"].get("code", 0) for r in results["newMediaItemResults"]] == [0, 3]


def test_foreign_album_is_refused(emulator, admin):
    _, owner = sign_in(emulator.url, admin)
    _, other = sign_in(emulator.url, admin)
    album = owner.call("POST", "/library/v1/albums", json={"album": {"title": "mine"}}).json()
    token = other.upload(jpeg_bytes()).text
    spec = {"albumId": album["id"], "newMediaItems": [{"simpleMediaItem": {"uploadToken": token}}]}
    assert other.call("POST", "/library/v1/mediaItems:batchCreate", json=spec).status_code == 400


def test_search_and_get_see_only_app_created_items(emulator, admin):
    user, api = sign_in(emulator.url, admin, photos=2)
    album = api.call("POST", "/library/v1/albums", json={"album": {"title": "A"}}).json()
    token = api.upload(jpeg_bytes()).text
    spec = {"albumId": album["id"], "newMediaItems": [{"simpleMediaItem": {"uploadToken": token}}]}
    created = api.call("POST", "/library/v1/mediaItems:batchCreate", json=spec).json()
    media_id = created["newMediaItemResults"][0]["mediaItem"]["id"]
    found = api.call("POST", "/library/v1/mediaItems:search", json={"albumId": album["id"]}).json()["mediaItems"]
    assert [m["id"] for m in found] == [media_id]
    everything = api.call("POST", "/library/v1/mediaItems:search", json={}).json()["mediaItems"]
    assert [m["id"] for m in everything] == [media_id]  # the user's own photos stay invisible
    assert api.call("GET", f"/library/v1/mediaItems/{media_id}").json()["id"] == media_id
    assert api.call("GET", f"/library/v1/mediaItems/{user['media'][0]}").status_code == 404


def test_content_needs_a_bearer_with_the_scope_and_expires(emulator, admin):
    user, api = sign_in(emulator.url, admin, photos=1)
    session = api.call("POST", "/picker/v1/sessions", json={}).json()
    admin.pick(session_id=session["id"])
    admin.set_lifetimes(base_url_s=0.5)
    item = api.call("GET", "/picker/v1/mediaItems", params={"sessionId": session["id"]}).json()["mediaItems"][0]
    base = item["mediaFile"]["baseUrl"]
    assert requests.get(base + "=d").status_code == 401
    original = api.call("GET", base + "=d")
    assert original.status_code == 200 and original.content == admin.media_bytes(user["media"][0])
    small = Image.open(io.BytesIO(api.call("GET", base + "=w32-h32").content))
    assert max(small.size) <= 32
    assert api.call("GET", base).status_code == 400
    time.sleep(0.6)
    assert api.call("GET", base + "=d").status_code == 403


def test_auth_rules_401_and_403(emulator, admin):
    _, narrow = sign_in(emulator.url, admin, granted=["openid", APPENDONLY])
    unauthenticated = requests.post(f"{emulator.url}/picker/v1/sessions", json={})
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"]["status"] == "UNAUTHENTICATED"
    forbidden = narrow.call("POST", "/picker/v1/sessions", json={})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["status"] == "PERMISSION_DENIED"
    assert narrow.call("GET", "/library/v1/albums").status_code == 403  # listing needs appcreateddata
    assert narrow.call("POST", "/library/v1/albums", json={"album": {"title": "ok"}}).status_code == 200


def test_expired_access_token_gets_401(emulator, admin):
    admin.set_lifetimes(access_token_s=0.2)
    _, api = sign_in(emulator.url, admin)
    time.sleep(0.3)
    assert api.call("GET", "/library/v1/albums").status_code == 401
